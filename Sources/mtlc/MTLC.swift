// The mtlc command line: argument parsing and printing only. Every command is a library call.
import ArgumentParser
import Foundation
import MTLCompiler
import MTLDiagnostics
import MTLGraph
import MTLIR
import MTLKernels
import MTLSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Exit codes (README, "Exit codes").
enum Exit {
  static let ok: Int32 = 0
  static let specError: Int32 = 1
  static let dataError: Int32 = 2
  static let numericalError: Int32 = 3
  static let usage: Int32 = 64
  static let ioError: Int32 = 74
  static let internalError: Int32 = 70
}

/// Writes to standard error (diagnostics, progress, notes), always ending in a newline.
func eprint(_ s: String) {
  var s = s
  if !s.hasSuffix("\n") { s += "\n" }
  let bytes = Array(s.utf8)
  _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// 70 when the compiler itself failed (E09xx), else 1.
func specFailure(_ d: Diagnostics) -> Int32 {
  d.errors.contains { $0.code.id.hasPrefix("E09") } ? Exit.internalError : Exit.specError
}

@main
struct MTLC: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtlc",
    abstract: "A compiler for multi-task recommender models: YAML spec in, trained model out.",
    version: MTLVersion.string,
    subcommands: [Validate.self, Compile.self, Schema.self, LSP.self] + runtimeCommands)

  /// Start-up: OpenBLAS is loaded with the process and picks its core then, so when it fell back
  /// to a generic core on a CPU it serves well (`BLAS.coreTypeToRequest`), `mtlc` runs itself
  /// again with `OPENBLAS_CORETYPE` set; then the command.
  static func main() {
    BLAS.reexecOnPreferredCore(environment: ProcessInfo.processInfo.environment)
    MTLC.main(nil)
  }

  /// `mtlc` alone is a usage error (exit 64), with the list of commands.
  func run() throws {
    let names = MTLC.configuration.subcommands.map { $0._commandName }
    throw ValidationError("missing command; one of: \(names.joined(separator: ", ")) (see `mtlc --help`)")
  }
}

struct Validate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check specs and report every error with its file:line:col.",
    discussion: """
      Several specs at once (`mtlc validate specs/*.yaml`) end with one summary line; the exit status \
      is 1 when any fails. --format json or sarif writes the diagnostics to standard output for tools \
      (SARIF 2.1.0 for code-scanning services).
      """)

  enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, sarif }

  @Argument(help: "The YAML specs.") var specs: [String]
  @Flag(
    name: .customLong("no-data"),
    help: "Do not read the data files (which checks that they exist, their columns and label values).")
  var noData = false
  @Option(
    name: .customLong("set"),
    help: ArgumentHelp("Set a spec key, checked like the spec (repeatable).", valueName: "key=value"))
  var overrides: [String] = []
  @Option(help: "How to report: text (standard error), json or sarif (standard output).") var format: Format = .text
  @Flag(name: .customLong("warnings-as-errors"), help: "A spec with a warning fails too.") var warningsAsErrors = false

  func validate() throws {
    guard !specs.isEmpty else { throw ValidationError("give at least one spec") }
  }

  func run() throws {
    var opts = Compiler.Options()
    opts.readData = !noData
    opts.overrides = overrides
    var checked: [CheckedFile] = []
    var internalError = false
    for spec in specs {
      let r = Compiler.frontEnd(path: spec, options: opts)
      if format == .text && !r.diagnostics.all.isEmpty { eprint(r.rendered) }
      internalError = internalError || r.diagnostics.errors.contains { $0.code.id.hasPrefix("E09") }
      var summary: String?
      if let ir = r.ir, !r.diagnostics.hasErrors {
        func n(_ k: Int, _ w: String) -> String { "\(k) \(w)\(k == 1 ? "" : "s")" }
        summary = "valid (\(n(ir.blocks.count, "block")), \(n(ir.tasks.count, "task")))"
      }
      checked.append(CheckedFile(path: spec, diagnostics: r.diagnostics.sorted, summary: summary))
    }
    let failed = checked.filter { f in
      f.summary == nil || (warningsAsErrors && f.diagnostics.contains { $0.severity == .warning })
    }
    switch format {
    case .text:
      for f in checked where f.summary != nil && !failed.contains(where: { $0.path == f.path }) {
        print("\(f.path): \(f.summary!)")
      }
      for f in failed where f.summary != nil { print("\(f.path): fails with --warnings-as-errors") }
      if specs.count > 1 {
        let errors = checked.reduce(0) { $0 + $1.diagnostics.filter { $0.severity == .error }.count }
        let warnings = checked.reduce(0) { $0 + $1.diagnostics.filter { $0.severity == .warning }.count }
        print(
          "\(specs.count) specs: \(specs.count - failed.count) valid, \(failed.count) failed (\(errors) errors, \(warnings) warnings)"
        )
      }
    case .json: print(MachineReadable.json(checked, warningsAsErrors: warningsAsErrors), terminator: "")
    case .sarif:
      print(
        MachineReadable.sarif(checked, version: MTLVersion.string, warningsAsErrors: warningsAsErrors), terminator: "")
    }
    if internalError { throw ExitCode(Exit.internalError) }
    if !failed.isEmpty { throw ExitCode(Exit.specError) }
  }
}

struct Compile: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compile a spec to an executable model file and print its summary.")

  enum Emit: String, ExpressibleByArgument, CaseIterable { case ir, graph, dot, summary }

  @Argument(help: "The YAML spec.") var spec: String
  @Option(name: .shortAndLong, help: "Write the compiled model (JSON) here (`-`: standard output).") var output: String?
  @Option(
    name: .customLong("set"),
    help: ArgumentHelp("Set a spec key, checked like the spec (repeatable).", valueName: "key=value"))
  var overrides: [String] = []
  @Option(help: "Print this to standard output instead of the summary: ir, graph, dot or summary.") var emit: Emit?
  @Option(name: .customLong("print-ir-after"), help: "Print the IR after this pass (to standard error).")
  var printAfter: [String] = []
  @Flag(name: .customLong("print-ir-after-all"), help: "Print the IR after every pass (to standard error).")
  var printAfterAll = false
  @Flag(name: .customLong("no-data"), help: "Do not read the data files.") var noData = false
  @Flag(help: "Overwrite the output file if it exists.") var force = false

  func validate() throws {
    if output == "-" && emit != nil { throw ValidationError("-o - and --emit both write to standard output") }
    let names = Passes.default.map(\.name)
    for p in printAfter where !names.contains(p) {
      throw ValidationError("unknown pass `\(p)`; passes: \(names.joined(separator: ", "))")
    }
  }

  func run() throws {
    var opts = Compiler.Options()
    opts.readData = !noData
    opts.tracePasses = printAfterAll || !printAfter.isEmpty
    opts.overrides = overrides
    let out = output.map(Output.init)
    try refuseOverwrites([out], force: force)
    let r = Compiler.compile(path: spec, options: opts)
    if !r.diagnostics.all.isEmpty { eprint(r.rendered) }
    guard r.succeeded, let graph = r.graph, let ir = r.ir else { throw ExitCode(specFailure(r.diagnostics)) }
    for t in r.trace where printAfterAll || printAfter.contains(t.name) {
      eprint("; IR after pass `\(t.name)` (\(t.changed ? "changed" : "unchanged"))\n" + t.ir)
    }
    if let out {
      do {
        switch out {
        case .file(let path): try GraphFile.write(graph, to: path)
        case .standardOutput: try out.write(GraphFile.encode(graph, relativeTo: "."))
        }
      } catch {
        eprint("error: cannot write `\(out)`: \(error)")
        throw ExitCode(Exit.ioError)
      }
    }
    let summary =
      Summary.render(r.boundGraph ?? graph) + (r.dataNote.map { "note: embedding rows unknown: \($0)\n" } ?? "")
    switch emit {
    case nil where out == .standardOutput: eprint(summary)
    case .ir?: print(IRPrinter.print(ir), terminator: "")
    case .graph?: print(GraphPrinter.print(r.boundGraph ?? graph), terminator: "")
    case .dot?: print(DotEmitter.emit(ir), terminator: "")
    case .summary?, nil: print(summary, terminator: "")
    }
    if let out { eprint("wrote \(out)") }
  }
}
