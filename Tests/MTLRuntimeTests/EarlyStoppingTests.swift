// Validation sets, early stopping and the best epoch kept (issue 11): the rule on constructed
// curves, the split, the parameters kept, and resumes that continue the rule exactly.
import Foundation
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport
import MTLTrain
import Testing

struct EarlyStoppingTests {
  /// Runs the rule over a curve; returns the best epoch, its value and the epoch training stops
  /// after (nil: it ran to the end).
  func run(_ curve: [Double], _ rule: EarlyStopping) -> (best: Int, value: Double, stop: Int?) {
    var b = Session.BestEpoch(epoch: 0, value: .nan, wait: 0)
    for (i, v) in curve.enumerated() {
      let (_, stop) = b.observe(epoch: i + 1, value: v, rule: rule)
      if stop { return (b.epoch, b.value, i + 1) }
    }
    return (b.epoch, b.value, nil)
  }

  @Test("the rule picks the best epoch of a constructed curve and stops after `patience` epochs without one")
  func constructedCurves() {
    // A validation loss that bottoms out at epoch 4 and then overfits.
    let loss = [0.9, 0.7, 0.6, 0.55, 0.56, 0.58, 0.57, 0.61, 0.65]
    let r1 = run(loss, EarlyStopping(monitor: "loss", patience: 3, minDelta: 0))
    #expect(r1.best == 4 && r1.value == 0.55 && r1.stop == 7)
    // Patience larger than the rest of the run: no stop, the best is still epoch 4.
    let r2 = run(loss, EarlyStopping(monitor: "loss", patience: 100, minDelta: 0))
    #expect(r2.best == 4 && r2.stop == nil)
    // Patience 0 stops at the first epoch without an improvement.
    let r3 = run(loss, EarlyStopping(monitor: "loss", patience: 0, minDelta: 0))
    #expect(r3.best == 4 && r3.stop == 5)
    // min_delta: 0.6 -> 0.55 is an improvement of 0.05, not more than 0.05.
    let r4 = run(loss, EarlyStopping(monitor: "loss", patience: 2, minDelta: 0.05))
    #expect(r4.best == 3 && r4.stop == 5)
    // AUC is maximised; a NaN (AUC undefined) never improves and counts as a wait.
    let auc = [0.80, .nan, 0.85, 0.84, 0.86, 0.85, 0.85]
    let r5 = run(auc, EarlyStopping(monitor: "income.auc", patience: 2, minDelta: 0))
    #expect(r5.best == 5 && r5.value == 0.86 && r5.stop == 7)
    // A first epoch that is NaN: the first number is the best.
    let r6 = run([.nan, 0.5, 0.6], EarlyStopping(monitor: "hours.mse", patience: 5, minDelta: 0))
    #expect(r6.best == 2 && r6.stop == nil)
  }

  @Test("validation_fraction holds out seeded rows of the training rows, disjoint from test and train")
  func validationSplit() throws {
    var g = try Repo.graph("mmoe", batch: 256)
    g.pipeline.validationFraction = 0.1
    let data = try Repo.data(g)
    let v = try #require(data.validationRows)
    #expect(v.count == Int((32_561 * 0.1).rounded()))
    #expect(Set(v).isDisjoint(with: data.trainRows) && Set(v).isDisjoint(with: data.testRows))
    #expect(v.count + data.trainRows.count + data.testRows.count == 32_561)
    // The test split is the one without a validation set: the validation rows come out of training.
    var plain = g
    plain.pipeline.validationFraction = 0
    let before = try Repo.data(plain)
    #expect(before.testRows == data.testRows)
    #expect(Set(before.trainRows) == Set(data.trainRows).union(v))
    // The fit is on the rows that train.
    #expect(data.fitted.trainRowCount == data.trainRows.count)
    // Seeded: the same again.
    #expect(try Repo.data(g).validationRows == v)
  }

  @Test("the best epoch's parameters are those a run of that many epochs ends with, and predict uses them")
  func bestParametersAreKept() throws {
    var g = try Repo.graph("mmoe", batch: 128)
    g.pipeline.validationFraction = 0.15
    g.training.earlyStopping = EarlyStopping(monitor: "loss", patience: 2, minDelta: 0)
    let data = try Repo.data(g)
    let small = slice(data.train, 3000)
    let validation = try #require(data.validation)
    let s = Session(graph: g, fitted: data.fitted, seed: 4)
    try s.train(small, epochs: 30, validation: validation)
    let best = try #require(s.best)
    #expect(s.stoppedEarly, "30 epochs on 3000 rows should overfit: \(s.history.map { $0.validationLoss! })")
    #expect(best.epoch >= 1 && best.epoch < s.epochsDone && best.wait == 2)
    let losses = s.history.map { $0.validationLoss! }
    #expect(best.value == losses[best.epoch - 1] && losses.min() == best.value)
    // Training with early stopping is training: a run of `best.epoch` epochs has the same parameters.
    let plain = Session(graph: g, fitted: data.fitted, seed: 4)
    try plain.train(small, epochs: best.epoch)
    #expect(s.bestParams == plain.executor.parameterArrays())
    #expect(s.executor.parameterArrays() != plain.executor.parameterArrays())
    #expect(s.useBestParameters())
    #expect(s.evaluate(data.test) == plain.evaluate(data.test))

    // Through a checkpoint: the best by default, the last with `last`.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-best-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let again = Session(graph: g, fitted: data.fitted, seed: 4)
    try again.train(small, epochs: 30, validation: validation)
    try again.checkpoint().write(toDirectory: dir)
    let restored = try Inference.restore(g, checkpointDir: dir)
    #expect(restored.executor.parameterArrays() == plain.executor.parameterArrays())
    let last = try Inference.restore(g, checkpointDir: dir, last: true)
    #expect(last.executor.parameterArrays() == again.executor.parameterArrays())
    #expect(last.best == again.best && last.stoppedEarly)
  }

  @Test("a run interrupted mid-epoch resumes with its early-stopping state, to the same end")
  func resumeKeepsTheRule() throws {
    var g = try Repo.graph("mmoe", batch: 128)
    g.pipeline.validationFraction = 0.15
    g.training.earlyStopping = EarlyStopping(monitor: "loss", patience: 1, minDelta: 0)
    let data = try Repo.data(g)
    let small = slice(data.train, 2500)
    let validation = try #require(data.validation)
    let full = Session(graph: g, fitted: data.fitted, seed: 8)
    try full.train(small, epochs: 25, validation: validation)
    #expect(full.stoppedEarly, "the test needs a run that stops: \(full.history.map { $0.validationLoss! })")

    for epochsDone in [1, max(2, (full.best?.epoch ?? 2))] where epochsDone < full.epochsDone {
      let first = Session(graph: g, fitted: data.fitted, seed: 8)
      let stop = StopFlag()
      first.stop = stop
      do {
        try first.train(
          small, epochs: 25, validation: validation,
          onBatch: { b, _, _ in if first.epochsDone == epochsDone && b == 5 { stop.request() } })
        Issue.record("not interrupted")
      } catch is Interrupted {}
      let c = try Checkpoint.decode(first.checkpoint().encode(), path: "mem")
      let second = Session(graph: g, fitted: data.fitted, seed: 8)
      try second.restore(c)
      try second.train(small, epochs: 25, validation: validation)
      #expect(second.best == full.best && second.stoppedEarly == full.stoppedEarly)
      #expect(second.epochsDone == full.epochsDone)
      #expect(second.bestParams == full.bestParams)
      #expect(second.executor.parameterArrays() == full.executor.parameterArrays())
      #expect(second.history.map(\.validationLoss) == full.history.map(\.validationLoss))
    }
  }

  @Test("a validation loss is each task's mean over its rows, weighted by the fixed loss weights")
  func validationLossIsTheMean() throws {
    var g = try Repo.graph("mixed_mmoe", batch: 100)
    g.losses[0].weight = 2
    let data = try Repo.data(g)
    let v = slice(data.test, 250)  // batches of 100, 100 and 50
    let s = Session(graph: g, fitted: data.fitted, seed: 1)
    let (total, perTask) = s.validationLosses(v)
    // Independently: one batch of all 250 rows (a session with a larger batch, same parameters).
    var wide = g
    wide.training.batchSize = 250
    let w = Session(graph: wide, fitted: data.fitted, seed: 1)
    let (wideTotal, widePerTask) = w.validationLosses(v)
    for (k, x) in perTask { #expect(abs(x - widePerTask[k]!) < 1e-6, "\(k)") }
    #expect(abs(total - wideTotal) < 1e-6)
    #expect(abs(total - (2 * perTask["income"]! + perTask["relationship"]! + perTask["hours"]!)) < 1e-9)
  }
}
