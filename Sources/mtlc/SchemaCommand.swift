import ArgumentParser
import MTLSpec
import MTLSupport

struct Schema: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write the JSON Schema (draft 2020-12) of the spec language.",
    discussion: """
      Editors that read `# yaml-language-server: $schema=PATH` (the YAML extension of VS Code, \\
      Neovim's yamlls) then complete keys and flag structural mistakes as you type; `mtlc validate` \\
      checks the rest (references, shapes, data).
      """)

  @Option(name: .shortAndLong, help: "Where to write it (`-`: standard output).") var output = "-"
  @Flag(help: "Overwrite an existing file.") var force = false

  func run() throws {
    let out = Output(output)
    try refuseOverwrites([out], force: force)
    do { try out.write(SpecSchema.json()) } catch { throw exitFor(error) }
  }
}
