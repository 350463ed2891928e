import MTLGraph

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The executor's whole memory, computed from the graph before anything is allocated, so that a
/// model too large for the machine (or a hostile model file) is refused with the bytes it would
/// need instead of dying in the allocator.
///
/// The figure is an upper bound of what `Executor.init` allocates: parameters, summed gradients and
/// optimiser state (`SharedState`); per worker thread, every activation and one gradient buffer per
/// activation (the gradient plan shares some of them, so it needs less), the batch inputs, its own
/// parameter gradients (every worker but the first) and the row sets of each embedding table.
public enum MemoryPlan {
  public struct TooLarge: Error, CustomStringConvertible {
    public var bytes: Double
    public var limit: Int
    public var batch: Int
    public var threads: Int
    public var description: String {
      "the model needs \(MemoryPlan.text(bytes)) of memory to train with batch \(batch) on \(threads) threads, over the limit of \(MemoryPlan.text(Double(limit))) (\(MemoryPlan.limitSource)); lower `training.batch_size` or the embedding and layer sizes, or raise MTLC_MEMORY_LIMIT"
    }
  }

  /// Bytes `Executor(graph:maxBatch:threads:)` allocates at most (a Double: a hostile graph's
  /// sizes may not fit an Int).
  public static func bytes(graph g: Graph, maxBatch: Int, threads: Int) -> Double {
    let t = Double(max(1, min(threads, maxBatch)))
    let capacity = (Double(maxBatch) / t).rounded(.up)
    let counts = g.params.map { Double($0.count) }
    let padded = counts.map { ($0 / 16).rounded(.up) * 16 }
    let total = counts.reduce(0, +)
    let states = Double(Optimizer.stateCount(g.training.optimizer))
    var floats = 2 * padded.reduce(0, +) + states * total
    let rowWidths = g.values.map { Double($0.rowWidth) }
    let perRow =
      2 * rowWidths.reduce(0, +) + (rowWidths.max() ?? 0) + Double(max(g.pipeline.dense.count, 1))
      + Double(max(g.pipeline.labels.count, 1)) + Double(g.pipeline.idColumns)
    floats += t * capacity * perRow + (t - 1) * padded.reduce(0, +)
    // Row sets: a byte of marks and an Int32 per table row, once shared and once per worker.
    let tableRows = g.params.filter { $0.kind == .embedding }.map { Double($0.shape.first ?? 0) }.reduce(0, +)
    var sets = t + 1
    // Per-task gradients (`TaskGradients`, for gradnorm and pcgrad, or the cosine diagnostic): a copy of every gradient and a
    // row set per table for each loss; PCGrad also flattens each loss's gradient of the shared
    // parameters twice (original and projected: a table contributes at most a batch of rows).
    if g.training.lossBalancing == .pcgrad || g.training.lossBalancing == .gradnorm
      || (g.training.gradientCosine == true && g.losses.count > 1)
    {
      let T = Double(g.losses.count)
      floats += T * counts.map { max($0, 1) }.reduce(0, +)
      sets += T
      if g.training.lossBalancing == .pcgrad {
        let shared = g.sharedParams()
        var flat = 0.0
        for (i, p) in g.params.enumerated() where shared[i] {
          let width = Double(p.kind == .embedding ? (p.shape.last ?? 0) : p.count)
          flat += p.kind == .embedding ? min(Double(p.count), Double(maxBatch) * width) : Double(p.count)
        }
        floats += 2 * T * max(flat, 1)
      }
    }
    return 4 * floats + 5 * tableRows * sets
  }

  /// The limit: `MTLC_MEMORY_LIMIT` (bytes, or with a K, M, G or T suffix) when set, else three
  /// quarters of the machine's memory (its cgroup's limit when that is lower).
  public static var limit: Int { configuredLimit ?? machineMemory / 4 * 3 }

  static var limitSource: String {
    configuredLimit != nil ? "MTLC_MEMORY_LIMIT" : "3/4 of this machine's \(text(Double(machineMemory)))"
  }

  /// `MTLC_MEMORY_LIMIT` holds something that is not a size.
  public struct BadLimit: Error, CustomStringConvertible {
    public var value: String
    public var description: String {
      "MTLC_MEMORY_LIMIT is `\(value)`, not a size: give bytes, or a number with K, M, G or T (e.g. 8G)"
    }
  }

  public static func check(graph: Graph, maxBatch: Int, threads: Int) throws {
    if let s = getenv("MTLC_MEMORY_LIMIT").map({ String(cString: $0) }), parseBytes(s) == nil {
      throw BadLimit(value: s)
    }
    let need = bytes(graph: graph, maxBatch: maxBatch, threads: threads)
    if need > Double(limit) { throw TooLarge(bytes: need, limit: limit, batch: maxBatch, threads: threads) }
  }

  static var configuredLimit: Int? {
    guard let s = getenv("MTLC_MEMORY_LIMIT").map({ String(cString: $0) }) else { return nil }
    return parseBytes(s)
  }

  /// "512M" -> 536870912; nil when not a size.
  public static func parseBytes(_ s: String) -> Int? {
    let t = trimmed(s).uppercased()
    let units: [Character: Int] = ["K": 10, "M": 20, "G": 30, "T": 40]
    var digits = Substring(t)
    var shift = 0
    if let last = t.last, let u = units[last] {
      shift = u
      digits = t.dropLast()
    }
    if digits.hasSuffix("I") || digits.hasSuffix("B") { return nil }
    guard let n = Int(digits), n > 0, n <= Int.max >> shift else { return nil }
    return n << shift
  }

  static var machineMemory: Int {
    let phys = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    var m = phys > 0 ? phys : 1 << 34
    // A container's cgroup v2 limit, when it has one.
    if let f = fopen("/sys/fs/cgroup/memory.max", "r") {
      defer { fclose(f) }
      var buf = [CChar](repeating: 0, count: 64)
      let text = buf.withUnsafeMutableBufferPointer { b -> String? in
        fgets(b.baseAddress, 64, f) != nil ? String(cString: b.baseAddress!) : nil
      }
      if let text, let n = Int(trimmed(text)), n > 0 {
        m = min(m, n)
      }
    }
    return m
  }

  static func text(_ bytes: Double) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var v = bytes
    var u = 0
    while v >= 1024 && u < units.count - 1 {
      v /= 1024
      u += 1
    }
    if u == 0 { return "\(Int(v)) bytes" }
    let r = (v * 10).rounded() / 10
    return (r >= 1000 || v > 1e15 ? "\(Int(r))" : "\(r)") + " " + units[u]
  }
}

/// `s` without white space around it (the runtime does not import Foundation).
private func trimmed(_ s: String) -> String {
  var t = Substring(s)
  while let c = t.first, c.isWhitespace { t = t.dropFirst() }
  while let c = t.last, c.isWhitespace { t = t.dropLast() }
  return String(t)
}
