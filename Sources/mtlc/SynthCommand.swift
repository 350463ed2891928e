import ArgumentParser
import MTLSupport
import MTLSynth

struct Synth: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write synthetic data whose truth is known (streamed: any number of rows).",
    subcommands: [ClickLog.self, MMoE.self])

  /// Writes `body`'s rows to `output` (atomically; `-`: standard output) and the companion JSON
  /// beside it (OUTPUT.json), refusing existing files unless `force`.
  static func write(
    _ output: String, force: Bool, constants: [String: String],
    _ body: (StreamingFile) throws -> MTLSynth.Synth.Summary
  ) throws {
    let json = output == "-" ? nil : Output(output + ".json")
    try refuseOverwrites([Output(output), json], force: force)
    do {
      let file = try StreamingFile(output)
      let summary = try body(file)
      try file.commit()
      let text = MTLSynth.Synth.companion(constants, summary)
      if let json { try json.write(text) } else { eprint(text) }
      if output != "-" { eprint("wrote \(output): \(summary.rows) rows; constants in \(output).json") }
    } catch { throw exitFor(error) }
  }

  struct ClickLog: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "clicklog",
      abstract: "An impression -> click -> purchase log with the true click and conversion probabilities.")
    @Option(help: "Impressions (rows).") var rows = 100_000
    @Option(help: "Distinct users.") var users = 50_000
    @Option(help: "Distinct items.") var items = 10_000
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(name: .shortAndLong, help: "The CSV to write (`-`: standard output).") var output: String
    @Flag(help: "Overwrite existing files.") var force = false

    func validate() throws {
      guard rows >= 0, users >= 1, items >= 1 else { throw ValidationError("--rows ≥ 0, --users and --items ≥ 1") }
      guard users <= 100_000_000, items <= 100_000_000 else {
        throw ValidationError("--users and --items are at most 100,000,000 (their factors are held in memory)")
      }
    }

    func run() throws {
      var o = MTLSynth.Synth.ClickLogOptions()
      (o.rows, o.users, o.items, o.seed) = (rows, users, items, seed)
      try Synth.write(output, force: force, constants: MTLSynth.Synth.clickLogConstants(o)) {
        try MTLSynth.Synth.clickLog(o, to: $0)
      }
    }
  }

  struct MMoE: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "mmoe",
      abstract: "The MMoE paper's two regression tasks (Ma et al. 2018, §3.2) with task correlation p.")
    @Option(help: "The cosine between the tasks' weight vectors, in [-1, 1].") var p = 0.5
    @Option(help: "Rows.") var rows = 10_000
    @Option(help: "Random seed.") var seed: UInt64 = 2018
    @Option(name: .shortAndLong, help: "The CSV to write (`-`: standard output).") var output: String
    @Flag(help: "Overwrite existing files.") var force = false

    func validate() throws {
      guard (-1...1).contains(p) else { throw ValidationError("--p must lie in [-1, 1]") }
      guard rows >= 0 else { throw ValidationError("--rows must not be negative") }
    }

    func run() throws {
      var o = MTLSynth.Synth.MMoEOptions()
      (o.p, o.rows, o.seed) = (p, rows, seed)
      try Synth.write(output, force: force, constants: MTLSynth.Synth.mmoeConstants(o)) {
        try MTLSynth.Synth.mmoe(o, to: $0)
      }
    }
  }
}
