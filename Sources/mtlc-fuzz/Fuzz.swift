// The libFuzzer harness for the front end: YAML reader, spec decoder, validator, passes,
// lowering, and every printer of their results. `scripts/fuzz` builds and runs it; see
// docs/spec.md, "Fuzzing".
//
// How it builds: one file, two entry points chosen by `#if MTLC_FUZZ`.
// - A plain `swift build` builds every executable target, and an executable whose only code is
//   `LLVMFuzzerTestOneInput` has no `main` and does not link. So without `MTLC_FUZZ` the file has
//   a small `@main` that runs the harness once on each file named on the command line (a
//   reproducer that needs no sanitizer). No sanitizer flag goes in the manifest.
// - libFuzzer's own `main` cannot be used either: SwiftPM renames every executable's entry point
//   to `mtlc_fuzz_main` and links with `--defsym main=mtlc_fuzz_main`. So with `MTLC_FUZZ`
//   (`scripts/fuzz` passes `-D MTLC_FUZZ -sanitize=fuzzer,address -parse-as-library` and the
//   `Extern` feature) `@main` hands the command line to libFuzzer's `LLVMFuzzerRunDriver`.
import MTLCompiler
import MTLDiagnostics
import MTLGraph
import MTLIR

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  FuzzTarget.run(Array(UnsafeBufferPointer(start: data, count: size)))
  return 0
}

enum FuzzTarget {
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

#if MTLC_FUZZ
  /// libFuzzer's entry point for programs that have their own `main` (LLVM 12 and later).
  @_extern(c, "LLVMFuzzerRunDriver")
  func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
  ) -> CInt

  @main
  enum FuzzMain {
    static func main() {
      var argc = CommandLine.argc
      var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
      exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
    }
  }
#else
  /// Without libFuzzer: runs the harness once on each file given (e.g. a saved crasher).
  @main
  enum FuzzMain {
    static func main() {
      let files = CommandLine.arguments.dropFirst()
      if files.isEmpty {
        print("usage: mtlc-fuzz FILE...  (runs the fuzz harness on each file; scripts/fuzz fuzzes)")
        exit(2)
      }
      for f in files {
        guard let fp = fopen(f, "rb") else {
          print("mtlc-fuzz: cannot open \(f)")
          exit(1)
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
          let n = fread(&chunk, 1, chunk.count, fp)
          if n <= 0 { break }
          bytes.append(contentsOf: chunk[0..<n])
        }
        fclose(fp)
        FuzzTarget.run(bytes)
        print("\(f): ok")
      }
    }
  }
#endif
