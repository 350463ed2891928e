import MTLData
import MTLGraph
import MTLSupport

/// `mtlc predict` and `mtlc evaluate` as library calls: a compiled graph plus a checkpoint
/// (weights and the fitted feature pipeline) applied to a CSV file.
public enum Inference {
  /// A session restored from the checkpoint in `dir`.
  public static func restore(_ graph: Graph, checkpointDir dir: String) throws -> Session {
    let c = try Checkpoint.read(fromDirectory: dir)
    let s = Session(graph: graph, fitted: c.fitted, seed: c.seed, threads: c.threads)
    try s.restore(c)
    return s
  }

  /// One prediction column per task (unlabelled tasks too), for every row of `dataPath`.
  public static func predict(_ s: Session, dataPath: String) throws -> (rows: Int, csv: String) {
    let table = try RawTable.read(dataPath, delimiter: s.graph.pipeline.delimiter)
    let data = try s.fitted.encode(table: table, rows: Array(0..<table.rowCount), labels: false)
    let preds = s.predict(data)
    var out = s.graph.tasks.map(\.name).joined(separator: ",") + "\n"
    out.reserveCapacity(data.count * 12 * max(1, preds.count))
    for i in 0..<data.count {
      out += preds.map { shortest($0[i]) }.joined(separator: ",")
      out += "\n"
    }
    return (data.count, out)
  }

  /// Metrics of every task on a labelled file.
  public static func evaluate(_ s: Session, dataPath: String) throws -> [TaskMetrics] {
    let table = try RawTable.read(dataPath, delimiter: s.graph.pipeline.delimiter)
    let data = try s.fitted.encode(table: table, rows: Array(0..<table.rowCount))
    return s.evaluate(data)
  }

  /// The shortest decimal that reads back as the same Float (Swift's description).
  static func shortest(_ x: Float) -> String { "\(x)" }
}
