import ArgumentParser
import MTLLanguageServer

/// `mtlc lsp`: the language server, on standard input and output.
struct LSP: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lsp",
    abstract:
      "Serve the Language Server Protocol on standard input/output (diagnostics, hover, completion, definition).",
    discussion: """
      For editors: point the client at `mtlc lsp` for YAML spec files. Diagnostics are those of \
      `mtlc validate` (the data files read too), published on open and on every change.
      """)

  func run() throws {
    let status = LanguageServer().run()
    if status != 0 { throw ExitCode(status) }
  }
}
