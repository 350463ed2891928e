import MTLGraph

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

  /// Multiclass quality of probabilities `p` [N, K] against class indices `y` [N]: accuracy
  /// (the arg-max, first on ties), mean cross-entropy (probabilities clipped to [1e-7, 1]),
  /// one-vs-rest AUC and support per class, and the macro AUC (the mean over the classes whose
  /// AUC is defined: present and absent among the rows).
  public static func multiclass(labels y: [Float], probabilities p: [Float], classes K: Int) -> (
    accuracy: Double, logloss: Double, auc: Double?, perClass: [(auc: Double?, support: Int)]
  ) {
    let n = y.count
    precondition(p.count == n * K)
    var correct = 0
    var ll = 0.0
    for r in 0..<n {
      let c = Int(y[r])
      var best = 0
      for k in 1..<K where p[r * K + k] > p[r * K + best] { best = k }
      if best == c { correct += 1 }
      ll -= _log(min(max(Double(p[r * K + c]), 1e-7), 1))
    }
    var perClass: [(auc: Double?, support: Int)] = []
    for k in 0..<K {
      let yk = y.map { Int($0) == k ? Float(1) : 0 }
      let sk = (0..<n).map { p[$0 * K + k] }
      perClass.append((auc(labels: yk, scores: sk), yk.reduce(0) { $0 + Int($1) }))
    }
    let defined = perClass.compactMap(\.auc)
    return (
      n > 0 ? Double(correct) / Double(n) : 0, n > 0 ? ll / Double(n) : 0,
      defined.isEmpty ? nil : defined.reduce(0, +) / Double(defined.count), perClass
    )
  }

  /// The quality of one task: `predictions` [N] ([N, K] for a multiclass task) and its labels
  /// [N] in the task's units (NaN: the row is not scored), or nil for a task without a label.
  /// Rows without a label are left out of every figure but `count`; `scored` counts the others.
  public static func task(
    _ task: TaskOutput, predictions: [Float], labels: [Float]?, rows: Int, unseenClasses: Int = 0
  ) -> TaskMetrics {
    let K = task.width
    var m = TaskMetrics(
      task: task.name, type: task.type.rawValue, count: rows,
      meanPrediction: task.type == .multiclass ? nil : mean(predictions), labelled: labels != nil)
    guard let labels else { return m }
    let scoredRows = labels.indices.filter { !labels[$0].isNaN }
    let y = scoredRows.map { labels[$0] }
    m.scored = y.count
    switch task.type {
    case .binary:
      let p = scoredRows.map { predictions[$0] }
      m.auc = auc(labels: y, scores: p)
      m.logloss = logloss(labels: y, probabilities: p)
      m.positiveRate = mean(y)
    case .regression:
      let p = scoredRows.map { predictions[$0] }
      m.mse = mse(labels: y, predictions: p)
      m.mae = mae(labels: y, predictions: p)
    case .multiclass:
      var p: [Float] = []
      p.reserveCapacity(y.count * K)
      for r in scoredRows { p.append(contentsOf: predictions[(r * K)..<((r + 1) * K)]) }
      let mc = multiclass(labels: y, probabilities: p, classes: K)
      m.accuracy = mc.accuracy
      m.logloss = mc.logloss
      m.auc = mc.auc
      let names = task.classes ?? []
      m.perClass = zip(names, mc.perClass).map { TaskMetrics.ClassMetrics(name: $0, auc: $1.auc, support: $1.support) }
      m.unseenClasses = unseenClasses
    }
    return m
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
  /// Rows predicted.
  public var count: Int
  /// Rows the task was scored on: those with a label in its sample space (labelled tasks).
  public var scored: Int? = nil
  /// Binary tasks with a label; the macro one-vs-rest AUC of a multiclass task.
  public var auc: Double? = nil
  /// Binary and multiclass tasks with a label (the cross-entropy of the multiclass prediction).
  public var logloss: Double? = nil
  public var positiveRate: Double? = nil
  /// Binary and regression tasks (a multiclass prediction has K probabilities: nil).
  public var meanPrediction: Double?
  /// Regression tasks with a label, in the label's own units.
  public var mse: Double? = nil
  public var mae: Double? = nil
  /// Multiclass tasks with a label: the share of scored rows whose most probable class is theirs.
  public var accuracy: Double? = nil
  /// Multiclass tasks with a label: per class, its one-vs-rest AUC and how many rows hold it.
  public var perClass: [ClassMetrics]? = nil
  /// Multiclass tasks with a label: rows whose class is not one of the task's (not scored).
  public var unseenClasses: Int? = nil
  /// False for unlabelled tasks (ESMM's cvr): only the mean prediction is known.
  public var labelled: Bool

  public struct ClassMetrics: Codable, Equatable, Sendable {
    public var name: String
    public var auc: Double?
    public var support: Int
    enum CodingKeys: String, CodingKey {
      case name = "class"
      case auc, support
    }
  }

  public init(task: String, type: String, count: Int, meanPrediction: Double?, labelled: Bool) {
    self.task = task
    self.type = type
    self.count = count
    self.meanPrediction = meanPrediction
    self.labelled = labelled
  }

  enum CodingKeys: String, CodingKey {
    case task, type, count, scored, auc, logloss, mse, mae, accuracy, labelled
    case positiveRate = "positive_rate"
    case meanPrediction = "mean_prediction"
    case perClass = "per_class"
    case unseenClasses = "unseen_classes"
  }
}
