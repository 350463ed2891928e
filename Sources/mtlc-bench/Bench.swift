// mtlc-bench: how fast the compiled graphs train, and how close to the machine's matrix-product
// rate. Run through scripts/bench (release build). Prints a table and writes JSON; docs/performance.md
// says how to read it.
import ArgumentParser
import CFMAPeak
import CMallocCounter
import Foundation
import MTLCompiler
import MTLData
import MTLGraph
import MTLKernels
import MTLRuntime
import MTLTrain

@main
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mtlc-bench", abstract: "Benchmark training speed of the reference specs.")

  /// As `mtlc` does: OpenBLAS on the core this CPU should have (`BLAS.coreTypeToRequest`).
  static func main() {
    BLAS.reexecOnPreferredCore(environment: ProcessInfo.processInfo.environment)
    Bench.main(nil)
  }

  @Option(help: "Specs to run (names in specs/).") var specs: [String] = [
    "shared_bottom", "mmoe", "cgc", "ple", "esmm",
  ]
  @Option(help: "Epochs per measurement; the first is warm-up.") var epochs = 3
  @Option(help: "Thread counts to measure.") var threads: [Int] = [1, 2]
  @Option(name: .customLong("json-out"), help: "Where to write the JSON report.") var jsonOut = "out/bench.json"
  @Option(help: "The mtlc binary timed end to end (process start to metrics printed).")
  var mtlc = ".build/release/mtlc"
  @Flag(name: .customLong("no-vocab"), help: "Skip the vocabulary-size scaling benchmark.") var noVocab = false
  @Flag(name: .customLong("no-e2e"), help: "Skip the end-to-end runs of the mtlc binary.") var noE2E = false

  func run() throws {
    BLAS.setThreads(1)
    let machine = Machine.describe()
    print("mtlc-bench: \(machine.cpu), \(machine.cores) cores, load \(machine.load)")
    let chosen = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { ", OPENBLAS_CORETYPE=\($0)" } ?? ""
    print(BLAS.summary + chosen)
    let peak = GemmRate.large()
    print(
      String(
        format: "sgemm 1024^3, one thread (%@): %.1f GFLOP/s",
        BLAS.library(M: 1024, N: 1024, K: 1024).rawValue as NSString, peak))
    let fmaPeak = mtlc_fma_peak_gflops(0.5)
    let isa = String(cString: mtlc_fma_peak_isa())
    print(String(format: "FP32 FMA peak, one core (measured, %@): %.1f GFLOP/s", isa as NSString, fmaPeak))
    let graphs = try specs.map { try compile($0) }
    let products = try ProductTable.measure(graphs: graphs, threads: threads)
    print("\n" + ProductRow.header)
    for p in products { print(p.line) }
    print("")
    var rows: [Row] = []
    for (name, graph) in zip(specs, graphs) {
      let data = try LoadedData.load(graph.pipeline)
      let bound = data.fitted.bind(graph)
      let flops = Flops.perSample(bound)
      for t in threads {
        let m = try Measure.training(graph: graph, data: data, threads: t, epochs: epochs)
        let limit = GemmRate.limit(bound, threads: t)
        let e2e = noE2E || t != Session.defaultThreads ? nil : EndToEnd.run(mtlc, spec: "specs/\(name).yaml")
        let r = Row(
          spec: name, threads: t, samplesPerSecond: m.samplesPerSecond, msPerStep: m.msPerStep,
          mflopPerSample: flops / 1e6, gflops: flops * m.samplesPerSecond / 1e9,
          fractionOfFMAPeak: flops * m.samplesPerSecond / 1e9 / (fmaPeak * Double(t)),
          fractionOfShapeLimit: m.samplesPerSecond / limit, shapeLimit: limit, allocsPerStep: m.allocsPerStep,
          allocsPerEpoch: m.allocsPerEpoch, endToEndSeconds: e2e?.seconds, peakMB: e2e?.peakMB)
        rows.append(r)
        print(r.line)
      }
    }
    var vocab: [VocabRow] = []
    if !noVocab { vocab = try VocabScaling.run(buckets: [1_000, 100_000, 10_000_000], epochs: 2) }
    let report = Report(
      machine: machine, gemm: BLAS.summary + chosen, gemmLargeOneThread: peak, fmaPeakOneCore: fmaPeak,
      fmaPeakISA: isa, products: products, rows: rows, vocabulary: vocab)
    try report.write(jsonOut)
    print("\n" + report.table)
    print("wrote \(jsonOut)")
  }

  func compile(_ name: String) throws -> Graph {
    var o = Compiler.Options()
    o.readData = false
    let r = Compiler.compile(path: "specs/\(name).yaml", options: o)
    guard let g = r.graph else { throw ValidationError("specs/\(name).yaml does not compile:\n\(r.rendered)") }
    return g
  }
}

struct Row: Codable {
  var spec: String
  var threads: Int
  var samplesPerSecond: Double
  var msPerStep: Double
  var mflopPerSample: Double
  var gflops: Double
  /// Of the measured FMA peak (threads × one core's).
  var fractionOfFMAPeak: Double
  var fractionOfShapeLimit: Double
  var shapeLimit: Double
  var allocsPerStep: Double
  var allocsPerEpoch: Double
  var endToEndSeconds: Double?
  var peakMB: Double?

  static let header =
    "spec           thr  samples/s  ms/step  MFLOP/smp  GFLOP/s  of FMA  of shape-limit  allocs/step  e2e s  peak MB"
  var line: String {
    String(
      format: "%@ %4d %10.0f %8.3f %10.3f %8.1f %6.0f%% %14.0f%% %12.1f %6@ %8@",
      spec.padding(toLength: max(13, spec.count), withPad: " ", startingAt: 0) as NSString, threads,
      samplesPerSecond, msPerStep, mflopPerSample, gflops, 100 * fractionOfFMAPeak,
      100 * fractionOfShapeLimit,
      allocsPerStep, (endToEndSeconds.map { String(format: "%.2f", $0) } ?? "-") as NSString,
      (peakMB.map { String(format: "%.0f", $0) } ?? "-") as NSString)
  }
}

/// One product shape of a step: which library computes it and what each would reach (one thread).
struct ProductRow: Codable {
  var shape: String
  var perStep: Int
  var chosen: String
  var libxsmmGFLOPS: Double?
  var openblasGFLOPS: Double

  static let header = "product (MxNxK, op)  calls/step  library   LIBXSMM GFLOP/s  OpenBLAS GFLOP/s"
  var line: String {
    func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
    let xsmm = libxsmmGFLOPS.map { String(format: "%.1f", $0) } ?? "-"
    return pad(shape, 20) + String(format: "%11d  ", perStep) + pad(chosen, 8)
      + String(repeating: " ", count: max(0, 16 - xsmm.count)) + xsmm + String(format: "%18.1f", openblasGFLOPS)
  }
}

enum ProductTable {
  /// Every distinct product of the specs' steps at each thread count (rows = that thread's share).
  static func measure(graphs: [Graph], threads: [Int]) throws -> [ProductRow] {
    var all: [GemmRate.Shape: Int] = [:]
    for g in graphs { for t in threads { all.merge(GemmRate.products(g, threads: t)) { max($0, $1) } } }
    return all.keys.sorted().map { s in
      let flop = 2 * Double(s.M) * Double(s.N) * Double(s.K)
      return ProductRow(
        shape: s.name, perStep: all[s]!,
        chosen: BLAS.library(M: s.M, N: s.N, K: s.K, alpha: 1, beta: 1).rawValue,
        libxsmmGFLOPS: BLAS.xsmmAvailable ? flop / GemmRate.time(s, using: .libxsmm) / 1e9 : nil,
        openblasGFLOPS: flop / GemmRate.time(s, using: .openblas) / 1e9)
    }
  }
}

struct VocabRow: Codable {
  var buckets: Int
  var samplesPerSecond: Double
  var msPerStep: Double
}

struct Report: Codable {
  var machine: Machine
  /// Which library computes which products, and on which kernels (`BLAS.summary`).
  var gemm: String
  /// One thread's sgemm rate on 1024³.
  var gemmLargeOneThread: Double
  /// The measured FP32 FMA peak of one core, and the instruction set of the loop.
  var fmaPeakOneCore: Double
  var fmaPeakISA: String
  /// Every product shape of the measured specs: the library chosen and both libraries' rates.
  var products: [ProductRow]
  var rows: [Row]
  var vocabulary: [VocabRow]

  var table: String {
    var s = Row.header + "\n" + rows.map(\.line).joined(separator: "\n") + "\n"
    if !vocabulary.isEmpty {
      s += "\nMMOE with `native-country` hashed into N buckets (step time must not grow with N):\n"
      let base = vocabulary[0].samplesPerSecond
      for v in vocabulary {
        s += String(
          format: "  %10d buckets: %9.0f samples/s  %7.3f ms/step  (%.2fx the first)\n", v.buckets, v.samplesPerSecond,
          v.msPerStep, base / v.samplesPerSecond)
      }
    }
    return s
  }

  func write(_ path: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try enc.encode(self).write(to: URL(fileURLWithPath: path))
  }
}

struct Machine: Codable {
  var cpu: String
  var cores: Int
  var load: String
  var date: String

  static func describe() -> Machine {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let cpu =
      info.split(separator: "\n").first { $0.hasPrefix("model name") }.map {
        String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces)
      } ?? "unknown CPU"
    let load = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "").split(separator: " ").prefix(3)
      .joined(separator: " ")
    return Machine(
      cpu: cpu, cores: ProcessInfo.processInfo.activeProcessorCount, load: load,
      date: ISO8601DateFormatter().string(from: Date()))
  }
}

func now() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
