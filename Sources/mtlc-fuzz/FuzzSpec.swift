// Target `spec`: the front end (YAML reader, spec decoder, validator, passes, lowering) and every
// printer of their results, on spec text. Seeds: specs/, the invalid-spec fixtures and the saved
// crashers (Tests/MTLFrontEndTests/Fixtures/fuzz); dictionary fuzz/yaml.dict.
import MTLCompiler
import MTLDiagnostics
import MTLGraph
import MTLIR

enum SpecTarget {
  /// Compiles `bytes` as a spec and exercises everything that prints or stores the result.
  /// Errors in the input are fine; a trap, a hang, runaway memory, an internal compiler error,
  /// a failure without a diagnostic, or a graph that does not survive its file format are not.
  static func run(_ bytes: [UInt8]) {
    var options = Compiler.Options()
    options.readData = false  // no file system: the data files named in the spec are not read
    options.verify = true  // the IR verifier after every pass
    options.tracePasses = true  // the IR printer on every intermediate module
    let r = Compiler.compile(bytes: bytes, path: "fuzz.yaml", options: options)

    // Diagnostics render whatever their spans say: all of them (as the CLI shows them: the
    // first `maxShown` with their source lines), and each one without the source.
    let rendered = DiagnosticRenderer.render(r.diagnostics, source: r.source)
    precondition(r.diagnostics.all.isEmpty || !rendered.isEmpty)
    for d in r.diagnostics.all {
      precondition(!DiagnosticRenderer.render(d, source: nil).isEmpty)
    }
    if r.diagnostics.all.contains(where: { $0.code == .internalError }) {
      fatalError("internal compiler error on fuzz input:\n\(rendered)")
    }
    guard let graph = r.graph else {
      precondition(r.diagnostics.hasErrors, "compilation stopped without an error")
      return
    }
    precondition(r.succeeded, "a graph was produced alongside errors:\n\(rendered)")

    if let ir = r.ir {
      precondition(!IRPrinter.print(ir).isEmpty)
      precondition(DotEmitter.emit(ir).hasPrefix("digraph"))
    }
    precondition(!GraphPrinter.print(graph).isEmpty)
    precondition(!Summary.render(graph).isEmpty)
    let encoded = GraphFile.encode(graph)
    do {
      let decoded = try GraphFile.decode(encoded, path: "fuzz.mtlc.json")
      precondition(decoded == graph, "the graph changed in a GraphFile round trip")
    } catch {
      fatalError("a compiled graph does not read back: \(error)")
    }
  }
}
