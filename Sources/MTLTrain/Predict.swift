import MTLData
import MTLGraph
import MTLSupport

/// `mtlc predict` and `mtlc evaluate` as library calls: a compiled graph plus a checkpoint
/// (weights and the fitted feature pipeline) applied to a CSV file.
public enum Inference {
  /// A session restored from the checkpoint in `dir`.
  public static func restore(_ graph: Graph, checkpointDir dir: String) throws -> Session {
    let c = try Checkpoint.read(fromDirectory: dir)
    try Session.preflight(graph: graph, fitted: c.fitted, threads: c.threads)
    let s = Session(graph: graph, fitted: c.fitted, seed: c.seed, threads: c.threads)
    try s.restore(c)
    return s
  }

  /// The file's rows, read under the spec's `on_bad_row`: with `skip`, bad rows are dropped and
  /// reported (`skipped`), as in training.
  static func table(_ s: Session, _ path: String, labels: Bool) throws -> RawTable {
    let p = s.fitted.pipeline
    let t = try RawTable.read(path, delimiter: p.delimiter, onBadRow: p.onBadRow)
    return p.onBadRow == .skip ? try t.droppingBadRows(for: p, labels: labels) : t
  }

  /// One prediction column per task (unlabelled tasks too), for every row of `dataPath`. Under
  /// `on_bad_row: skip`, bad rows get no prediction, and a first column `line` gives the file
  /// line of each predicted row so the output can be joined back.
  public static func predict(_ s: Session, dataPath: String) throws -> (rows: Int, csv: String, skipped: SkipReport?) {
    let table = try table(s, dataPath, labels: false)
    let data = try s.fitted.encode(table: table, rows: Array(0..<table.rowCount), labels: false)
    let preds = s.predict(data)
    let lines = s.fitted.pipeline.onBadRow == .skip
    var out = (lines ? "line," : "") + s.graph.tasks.map(\.name).joined(separator: ",") + "\n"
    out.reserveCapacity(data.count * 12 * max(1, preds.count))
    for i in 0..<data.count {
      if lines { out += "\(table.line(ofRow: i))," }
      out += preds.map { shortest($0[i]) }.joined(separator: ",")
      out += "\n"
    }
    return (data.count, out, table.skipped.count > 0 ? table.skipped : nil)
  }

  /// Metrics of every task on a labelled file (bad rows dropped under `on_bad_row: skip`).
  public static func evaluate(_ s: Session, dataPath: String) throws -> (metrics: [TaskMetrics], skipped: SkipReport?) {
    let table = try table(s, dataPath, labels: true)
    let data = try s.fitted.encode(table: table, rows: Array(0..<table.rowCount))
    return (s.evaluate(data), table.skipped.count > 0 ? table.skipped : nil)
  }

  /// The shortest decimal that reads back as the same Float (Swift's description).
  static func shortest(_ x: Float) -> String { "\(x)" }
}
