import Foundation
import MTLData
import MTLGraph
import MTLSupport

/// `mtlc predict` and `mtlc evaluate` as library calls: a compiled graph plus a checkpoint
/// (weights and the fitted feature pipeline) applied to a CSV file.
public enum Inference {
  /// A session restored from the checkpoint in `dir`, with the best epoch's parameters when
  /// early stopping kept them (what the run ended with), unless `last`: the last epoch's.
  public static func restore(_ graph: Graph, checkpointDir dir: String, last: Bool = false) throws -> Session {
    let c = try Checkpoint.read(fromDirectory: dir)
    try Session.preflight(graph: graph, fitted: c.fitted, threads: c.threads)
    let s = Session(graph: graph, fitted: c.fitted, seed: c.seed, threads: c.threads)
    try s.restore(c)
    if !last { s.useBestParameters() }
    return s
  }

  /// The file's rows, read under the spec's `on_bad_row`: with `skip`, bad rows are dropped and
  /// reported (`skipped`), as in training.
  static func table(_ s: Session, _ path: String, labels: Bool) throws -> RawTable {
    let p = s.fitted.pipeline
    let t = try RawTable.read(path, delimiter: p.delimiter, onBadRow: p.onBadRow, columns: p.columns)
    return p.onBadRow == .skip ? try t.droppingBadRows(for: p, labels: labels) : t
  }

  /// One prediction column per task (unlabelled tasks too; a multiclass task has one probability
  /// column per class, `task:class`, then its most probable class), for every row of `dataPath`, after
  /// the input columns named in `keep` (copied as they are, to join the predictions back by an
  /// id). Under `on_bad_row: skip`, bad rows get no prediction, and a first column `line` gives
  /// the file line of each predicted row.
  public static func predict(_ s: Session, dataPath: String, keep: [String] = []) throws -> (
    rows: Int, csv: String, skipped: SkipReport?
  ) {
    let table = try table(s, dataPath, labels: false)
    let kept = try keep.map { try table.column(named: $0).index }
    let data = try s.fitted.encode(table: table, rows: Array(0..<table.rowCount), labels: false)
    let preds = s.predict(data)
    let lines = s.fitted.pipeline.onBadRow == .skip
    let tasks = s.graph.tasks
    // A multiclass task: one probability column per class (`task:class`), then the most probable
    // class (`task`); other tasks: one column.
    let taskColumns = tasks.flatMap { t in (t.classes ?? []).map { "\(t.name):\($0)" } + [t.name] }
    let header = (lines ? ["line"] : []) + keep + taskColumns
    var out = header.map(csvField).joined(separator: ",") + "\n"
    out.reserveCapacity(data.count * 12 * max(1, taskColumns.count + kept.count))
    for i in 0..<data.count {
      if lines { out += "\(table.line(ofRow: i))," }
      for c in kept { out += csvField(table.cell(row: i, column: c)) + "," }
      var fields: [String] = []
      for (t, task) in tasks.enumerated() {
        guard let classes = task.classes else {
          fields.append(shortest(preds[t][i]))
          continue
        }
        let K = classes.count
        let row = preds[t][(i * K)..<((i + 1) * K)]
        fields += row.map(shortest)
        var best = row.startIndex
        for k in row.indices where row[k] > row[best] { best = k }
        fields.append(csvField(classes[best - row.startIndex]))
      }
      out += fields.joined(separator: ",")
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

  /// A CSV field: quoted (quotes doubled) when it holds a comma, a quote or a line break.
  static func csvField(_ s: String) -> String {
    guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
    return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
  }
}
