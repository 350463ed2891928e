/// Per-task quality metrics.
public enum Metrics {
  /// ROC AUC by ranks (Mann–Whitney U); tied scores share their average rank. nil when the
  /// labels hold only one class.
  public static func auc(labels: [Float], scores: [Float]) -> Double? {
    precondition(labels.count == scores.count)
    let n = scores.count
    let order = (0..<n).sorted { scores[$0] < scores[$1] }
    var rankSumPos = 0.0
    var nPos = 0.0
    var i = 0
    while i < n {
      var j = i
      while j + 1 < n && scores[order[j + 1]] == scores[order[i]] { j += 1 }
      let avgRank = Double(i + j) / 2 + 1  // 1-based average rank of the tie group
      for k in i...j where labels[order[k]] > 0.5 {
        rankSumPos += avgRank
        nPos += 1
      }
      i = j + 1
    }
    let nNeg = Double(n) - nPos
    guard nPos > 0 && nNeg > 0 else { return nil }
    return (rankSumPos - nPos * (nPos + 1) / 2) / (nPos * nNeg)
  }

  /// Mean binary cross-entropy of probabilities, clipped to [1e-7, 1 - 1e-7] as Keras does.
  public static func logloss(labels: [Float], probabilities: [Float]) -> Double {
    var s = 0.0
    for (y, p) in zip(labels, probabilities) {
      let q = min(max(Double(p), 1e-7), 1 - 1e-7)
      s -= Double(y) * _log(q) + (1 - Double(y)) * _log(1 - q)
    }
    return labels.isEmpty ? 0 : s / Double(labels.count)
  }

  public static func mse(labels: [Float], predictions: [Float]) -> Double {
    var s = 0.0
    for (y, p) in zip(labels, predictions) { s += (Double(p) - Double(y)) * (Double(p) - Double(y)) }
    return labels.isEmpty ? 0 : s / Double(labels.count)
  }

  public static func mae(labels: [Float], predictions: [Float]) -> Double {
    var s = 0.0
    for (y, p) in zip(labels, predictions) { s += abs(Double(p) - Double(y)) }
    return labels.isEmpty ? 0 : s / Double(labels.count)
  }

  public static func mean(_ xs: [Float]) -> Double {
    xs.isEmpty ? 0 : xs.reduce(0.0) { $0 + Double($1) } / Double(xs.count)
  }
}

#if canImport(Glibc)
  import Glibc
  @inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
#else
  import Darwin
  @inline(__always) func _log(_ x: Double) -> Double { Darwin.log(x) }
#endif

/// The quality of one task on one dataset.
public struct TaskMetrics: Codable, Equatable, Sendable {
  public var task: String
  public var type: String
  public var count: Int
  /// Binary tasks with a label.
  public var auc: Double?
  public var logloss: Double?
  public var positiveRate: Double?
  public var meanPrediction: Double
  /// Regression tasks with a label.
  public var mse: Double?
  public var mae: Double?
  /// False for unlabelled tasks (ESMM's cvr): only the mean prediction is known.
  public var labelled: Bool

  enum CodingKeys: String, CodingKey {
    case task, type, count, auc, logloss, mse, mae, labelled
    case positiveRate = "positive_rate"
    case meanPrediction = "mean_prediction"
  }
}
