import Foundation
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport
import MTLTrain
import Testing

struct TrainingTests {
  @Test("loss goes down on a small slice")
  func lossDecreases() throws {
    let g = try Repo.graph("mmoe", batch: 64)
    let data = try Repo.data(g)
    let small = slice(data.train, 2048)
    let s = Session(graph: g, fitted: data.fitted, seed: 3)
    try s.train(small, epochs: 6)
    let losses = s.history.map(\.loss)
    #expect(losses.last! < losses.first! * 0.8, "\(losses)")
    for t in ["income", "marital"] {
      #expect(s.history.last!.taskLoss[t]! < s.history.first!.taskLoss[t]!)
    }
  }

  @Test("the same spec, data and seed give bit-identical parameters and metrics")
  func deterministic() throws {
    let g = try Repo.graph("esmm", batch: 128)
    let data = try Repo.data(g)
    let small = slice(data.train, 3000)
    func once(_ seed: UInt64) throws -> ([[Float]], [TaskMetrics]) {
      let s = Session(graph: g, fitted: data.fitted, seed: seed)
      try s.train(small, epochs: 2)
      return (s.executor.parameterArrays(), s.evaluate(data.test))
    }
    let a = try once(5)
    let b = try once(5)
    #expect(a.0 == b.0)
    #expect(a.1 == b.1)
    let c = try once(6)
    #expect(a.0 != c.0, "a different seed should give a different model")
  }

  @Test("resuming from a checkpoint ends where an uninterrupted run ends")
  func resumeEquivalence() throws {
    let g = try Repo.graph("mmoe", batch: 128)
    let data = try Repo.data(g)
    let small = slice(data.train, 4000)
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-resume-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }

    let full = Session(graph: g, fitted: data.fitted, seed: 11)
    try full.train(small, epochs: 3)

    let first = Session(graph: g, fitted: data.fitted, seed: 11)
    try first.train(small, epochs: 2, afterEpoch: { _ in try first.checkpoint().write(toDirectory: dir) })
    let second = Session(graph: g, fitted: data.fitted, seed: 11)
    try second.restore(try Checkpoint.read(fromDirectory: dir))
    #expect(second.epochsDone == 2)
    try second.train(small, epochs: 3)
    #expect(second.executor.parameterArrays() == full.executor.parameterArrays())
    #expect(second.evaluate(data.test) == full.evaluate(data.test))
    #expect(second.history.map(\.loss) == full.history.map(\.loss))
  }

  @Test("a checkpoint round-trips, and a corrupted or truncated one is refused")
  func checkpointIntegrity() throws {
    let g = try Repo.graph("esmm", batch: 64)
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 1)
    try s.train(slice(data.train, 256), epochs: 1)
    let c = s.checkpoint()
    var bytes = c.encode()
    #expect(try Checkpoint.decode(bytes, path: "c") == c)
    bytes[bytes.count / 2] ^= 0x40
    #expect(throws: CheckpointError.self) { try Checkpoint.decode(bytes, path: "c") }
    let truncated = Array(c.encode().dropLast(100))
    #expect(throws: CheckpointError.self) { try Checkpoint.decode(truncated, path: "c") }
    // A checkpoint of another model is refused on restore.
    let other = Session(graph: try Repo.graph("mmoe", batch: 64), fitted: data.fitted, seed: 1)
    #expect(throws: CheckpointError.self) { try other.restore(c) }
  }

  @Test("predictions are probabilities and ESMM's ctcvr is ctr x cvr")
  func esmmProduct() throws {
    let g = try Repo.graph("esmm", batch: 64)
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 2)
    try s.train(slice(data.train, 512), epochs: 1)
    let p = s.predict(slice(data.test, 300))
    let names = s.graph.tasks.map(\.name)
    let ctr = p[names.firstIndex(of: "ctr")!]
    let cvr = p[names.firstIndex(of: "cvr")!]
    let ctcvr = p[names.firstIndex(of: "ctcvr")!]
    for i in 0..<300 {
      #expect(ctr[i] > 0 && ctr[i] < 1 && cvr[i] > 0 && cvr[i] < 1)
      #expect(abs(ctcvr[i] - ctr[i] * cvr[i]) <= 1e-7)
    }
  }
}

struct MetricsTests {
  /// AUC by counting pairs (ties count one half): the definition, O(n^2).
  func pairwiseAUC(_ y: [Float], _ s: [Float]) -> Double {
    var num = 0.0
    var den = 0.0
    for i in y.indices where y[i] > 0.5 {
      for j in y.indices where y[j] < 0.5 {
        den += 1
        num += s[i] > s[j] ? 1 : (s[i] == s[j] ? 0.5 : 0)
      }
    }
    return num / den
  }

  @Test func aucMatchesPairCountingWithTies() {
    var rng = SeededRNG(seed: 4)
    for _ in 0..<20 {
      let n = 50 + rng.nextInt(below: 100)
      // Scores on a coarse grid so there are many ties.
      let s = (0..<n).map { _ in Float(rng.nextInt(below: 7)) / 7 }
      let y = (0..<n).map { i in Float(rng.nextDouble() < 0.3 + 0.5 * Double(s[i]) ? 1 : 0) }
      guard y.contains(1), y.contains(0) else { continue }
      let a = Metrics.auc(labels: y, scores: s)!
      #expect(abs(a - pairwiseAUC(y, s)) < 1e-12)
    }
    #expect(Metrics.auc(labels: [1, 1], scores: [0.1, 0.2]) == nil)
    #expect(Metrics.auc(labels: [0, 1], scores: [0.1, 0.2]) == 1)
    #expect(Metrics.auc(labels: [1, 0], scores: [0.1, 0.2]) == 0)
    #expect(Metrics.auc(labels: [1, 0], scores: [0.5, 0.5]) == 0.5)
  }

  @Test func loglossAndRegressionMetrics() {
    #expect(abs(Metrics.logloss(labels: [1, 0], probabilities: [0.5, 0.5]) - log(2.0)) < 1e-12)
    // Clipped: a certain wrong answer costs -log(1e-7), not infinity.
    #expect(abs(Metrics.logloss(labels: [1], probabilities: [0]) + log(1e-7)) < 1e-9)
    #expect(Metrics.mse(labels: [1, 2], predictions: [2, 4]) == 2.5)
    #expect(Metrics.mae(labels: [1, 2], predictions: [2, 4]) == 1.5)
  }
}
