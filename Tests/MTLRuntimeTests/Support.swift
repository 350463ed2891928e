import Foundation
import MTLCompiler
import MTLData
import MTLGraph
import MTLSupport
import MTLTrain
import Testing

enum Repo {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static func path(_ p: String) -> String { root.appendingPathComponent(p).path }

  /// A reference spec compiled with the repo root as the base for data paths (`name` may be a
  /// path under the repo, `bench/specs/x`). Specs with multiclass tasks read their classes from
  /// the data.
  static func graph(_ name: String, batch: Int? = nil, epochs: Int? = nil) throws -> Graph {
    var opts = Compiler.Options()
    let file = name.contains("/") ? path("\(name).yaml") : path("specs/\(name).yaml")
    opts.readData = (try? String(contentsOfFile: file, encoding: .utf8))?.contains("multiclass") ?? false
    opts.fitVocabularies = false
    let r = Compiler.compile(path: file, options: opts)
    guard var g = r.graph else { throw TestFailure("\(name) did not compile:\n\(r.rendered)") }
    if let batch { g.training.batchSize = batch }
    if let epochs { g.training.epochs = epochs }
    return g
  }

  /// The adult data per the graph's pipeline (cached: loading takes ~50 ms in release, more in debug).
  static func data(_ g: Graph) throws -> LoadedData {
    try LoadedData.load(g.pipeline, cache: nil)
  }
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}

/// A small slice of a dataset (the first `n` examples).
func slice(_ d: Dataset, _ n: Int) -> Dataset {
  let n = min(n, d.count)
  return Dataset(
    count: n, sparseWidth: d.sparseWidth, denseWidth: d.denseWidth, labelWidth: d.labelWidth,
    sparse: Array(d.sparse[0..<(n * d.sparseWidth)]), dense: Array(d.dense[0..<(n * d.denseWidth)]),
    labels: Array(d.labels[0..<(n * d.labelWidth)]), rows: Array(d.rows[0..<n]), missingCounts: d.missingCounts,
    unseenCounts: d.unseenCounts, unseenClassCounts: d.unseenClassCounts)
}

/// Trains `session` until it is stopped between steps after `batch` batches of epoch
/// `epochsDone + 1`, as SIGINT would stop it (through a flag of its own), and returns its checkpoint
/// read back through the file format. Records an issue when training was never interrupted.
func interruptedCheckpoint(
  _ session: Session, _ data: Dataset, epochs: Int, epochsDone: Int, batch: Int
) throws -> Checkpoint {
  let stop = StopFlag()
  session.stop = stop
  do {
    try session.train(
      data, epochs: epochs,
      onBatch: { b, _, _ in if session.epochsDone == epochsDone && b == batch { stop.request() } })
    Issue.record("not interrupted")
  } catch is Interrupted {}
  return try Checkpoint.decode(session.checkpoint().encode(), path: "mem")
}
