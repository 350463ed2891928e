// The libFuzzer harness for mtlc's readers of untrusted input. `scripts/fuzz` builds and runs it;
// see docs/spec.md, "Fuzzing". One target per run, chosen by the environment variable
// `MTLC_FUZZ_TARGET` (`scripts/fuzz --target NAME` sets it):
// - `spec` (the default): the front end on YAML text (FuzzSpec.swift);
// - `model`: `GraphFile.decode` of a compiled model file, then binding, the memory plan and one
//   training step of the executor (FuzzModel.swift);
// - `checkpoint`: `Checkpoint.decode`, then `Session.restore` into a fixed tiny model and one
//   step (FuzzCheckpoint.swift);
// - `csv`: the CSV reader under both bad-row policies and two delimiters, then fitting and
//   encoding a feature pipeline derived from the table (FuzzCSV.swift).
// Every target's contract is the same: an input may be refused with the reader's own error type,
// or accepted; a trap, an address error, a hang, runaway memory, another error type, or an
// accepted input that breaks what the next stage relies on is a finding.
//
// How it builds: two entry points chosen by `#if MTLC_FUZZ`.
// - A plain `swift build` builds every executable target, and an executable whose only code is
//   `LLVMFuzzerTestOneInput` has no `main` and does not link. So without `MTLC_FUZZ` this file has
//   a small `@main` that runs the chosen target once on each file named on the command line (a
//   reproducer that needs no sanitizer). No sanitizer flag goes in the manifest.
// - libFuzzer's own `main` cannot be used either: SwiftPM renames every executable's entry point
//   to `mtlc_fuzz_main` and links with `--defsym main=mtlc_fuzz_main`. So with `MTLC_FUZZ`
//   (`scripts/fuzz` passes `-D MTLC_FUZZ -sanitize=fuzzer,address -parse-as-library` and the
//   `Extern` feature) `@main` hands the command line to libFuzzer's `LLVMFuzzerRunDriver`.

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The readers the harness can fuzz.
enum FuzzTargetName: String, CaseIterable {
  case spec, model, checkpoint, csv

  /// `MTLC_FUZZ_TARGET`, or `spec` when unset; an unknown name stops the program.
  static let current: FuzzTargetName = {
    guard let raw = getenv("MTLC_FUZZ_TARGET").map({ String(cString: $0) }), !raw.isEmpty else { return .spec }
    guard let t = FuzzTargetName(rawValue: raw) else {
      let names = allCases.map(\.rawValue).joined(separator: ", ")
      print("mtlc-fuzz: unknown MTLC_FUZZ_TARGET `\(raw)` (one of \(names))")
      exit(2)
    }
    return t
  }()

  func run(_ bytes: [UInt8]) {
    switch self {
    case .spec: SpecTarget.run(bytes)
    case .model: ModelTarget.run(bytes)
    case .checkpoint: CheckpointTarget.run(bytes)
    case .csv: CSVTarget.run(bytes)
    }
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  FuzzTargetName.current.run(Array(UnsafeBufferPointer(start: data, count: size)))
  return 0
}

/// Stops the program with a finding (libFuzzer saves the input that caused it).
func finding(_ message: String) -> Never {
  fatalError("fuzz finding (\(FuzzTargetName.current.rawValue)): \(message)")
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
      FuzzTargetName.current.prepare()
      var argc = CommandLine.argc
      var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
      exit(LLVMFuzzerRunDriver(&argc, &argv, fuzz))
    }
  }
#else
  /// Without libFuzzer: runs the chosen target once on each file given (e.g. a saved crasher).
  @main
  enum FuzzMain {
    static func main() {
      let files = CommandLine.arguments.dropFirst()
      if files.isEmpty {
        print(
          "usage: [MTLC_FUZZ_TARGET=spec|model|checkpoint|csv] mtlc-fuzz FILE...  (runs the fuzz harness on each file; scripts/fuzz fuzzes)"
        )
        exit(2)
      }
      let target = FuzzTargetName.current
      target.prepare()
      for f in files {
        guard let bytes = readFile(f) else {
          print("mtlc-fuzz: cannot open \(f)")
          exit(1)
        }
        target.run(bytes)
        print("\(f): ok (\(target.rawValue))")
      }
    }
  }

  func readFile(_ path: String) -> [UInt8]? {
    guard let fp = fopen(path, "rb") else { return nil }
    defer { fclose(fp) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = fread(&chunk, 1, chunk.count, fp)
      if n <= 0 { break }
      bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
  }
#endif

extension FuzzTargetName {
  /// One-time set-up before the first input (the checkpoint target compiles its model), so that
  /// it is not charged to the first input's time.
  func prepare() {
    if self == .checkpoint { _ = CheckpointTarget.graph }
  }
}
