// Validation sets, early stopping and the best epoch kept (issue 11): the rule on constructed
// curves, the split, the parameters kept, and resumes that continue the rule exactly.
import Foundation
import MTLCompiler
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
    // Binomial around 10% of the rows (σ ≈ 54): each row's set is a seeded hash of its index.
    #expect(abs(v.count - 3256) < 220)
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

  /// The MMoE paper's synthetic regression tasks (section 3.2; bench/mmoe_synthetic.py has the
  /// benchmark's constants), smaller: d inputs, c = 10, m = 10 sines, correlation 0.5.
  func synthetic(_ dir: URL, d: Int, rows: [(String, Int)]) throws {
    var rng = SeededRNG(seed: 2018)
    func unit(_ v: [Double]) -> [Double] {
      let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
      return v.map { $0 / n }
    }
    let u1 = unit((0..<d).map { _ in rng.nextNormal() })
    var u2 = (0..<d).map { _ in rng.nextNormal() }
    let dot = zip(u1, u2).reduce(0) { $0 + $1.0 * $1.1 }
    u2 = unit(zip(u2, u1).map { $0 - dot * $1 })
    let w1 = u1.map { 10 * $0 }
    let w2 = zip(u1, u2).map { 10 * (0.5 * $0 + 0.75.squareRoot() * $1) }
    let alpha = (0..<10).map { _ in rng.nextNormal() }
    let beta = (0..<10).map { _ in rng.nextNormal() }
    for (name, n) in rows {
      var text = ((0..<d).map { "x\($0)" } + ["y1", "y2"]).joined(separator: ",") + "\n"
      for _ in 0..<n {
        let x = (0..<d).map { _ in rng.nextNormal() }
        var cells = x.map { String(format: "%.5f", $0) }
        for w in [w1, w2] {
          let wx = zip(w, x).reduce(0) { $0 + $1.0 * $1.1 }
          let y = wx + zip(alpha, beta).reduce(0) { $0 + sin($1.0 * wx + $1.1) } + 0.1 * rng.nextNormal()
          cells.append(String(format: "%.5f", y))
        }
        text += cells.joined(separator: ",") + "\n"
      }
      try text.write(to: dir.appendingPathComponent("\(name).csv"), atomically: true, encoding: .utf8)
    }
  }

  @Test("on the MMoE paper's synthetic data, the kept epoch tests better than the last one")
  func syntheticProtocol() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mtlc-synthetic-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let d = 100
    try synthetic(dir, d: d, rows: [("train", 3000), ("validation", 500), ("test", 1000)])
    let features = (0..<d).map { "  - {name: x\($0), kind: dense, normalize: none}" }.joined(separator: "\n")
    let spec = """
      mtlc: 1
      name: synthetic
      data: {train: train.csv, validation: validation.csv, test: test.csv}
      features:
      \(features)
      tasks:
        y1: {type: regression, label: {column: y1}}
        y2: {type: regression, label: {column: y2}}
      experts:
        shared: {count: 8, input: features, units: [16]}
      gates:
        y1: {input: features, experts: [shared]}
        y2: {input: features, experts: [shared]}
      towers:
        y1: {input: gates.y1, units: [8]}
        y2: {input: gates.y2, units: [8]}
      training:
        optimizer: {type: adam, learning_rate: 0.003}
        batch_size: 64
        epochs: 40
        seed: 7
        early_stopping: {monitor: loss, patience: 100}

      """
    let path = dir.appendingPathComponent("synthetic.yaml").path
    try spec.write(toFile: path, atomically: true, encoding: .utf8)
    var options = Compiler.Options()
    options.fitVocabularies = false
    let r = Compiler.compile(path: path, options: options)
    let g = try #require(r.graph, "\(r.rendered)")
    var job = RunJob(graph: g)
    job.checkpointDir = dir.appendingPathComponent("ck").path
    let result = try job.run()
    let s = result.session
    let best = try #require(s.best)
    let losses = s.history.map { $0.validationLoss! }
    // Patience 100 never stops a 40-epoch run; the model overfits well before its end.
    #expect(!s.stoppedEarly && s.epochsDone == 40)
    #expect(best.epoch < 30 && losses.last! > 1.1 * best.value, "\(losses)")
    // The run ends with the best epoch: its test MSE is the kept parameters', below the last epoch's.
    let kept = result.metrics.map { $0.mse! }
    let last = try Inference.restore(g, checkpointDir: job.checkpointDir!, last: true)
    let lastMSE = last.evaluate(result.data.test).map { $0.mse! }
    #expect(zip(kept, lastMSE).allSatisfy { $0 < 0.95 * $1 }, "kept \(kept), last \(lastMSE)")
    let restored = try Inference.restore(g, checkpointDir: job.checkpointDir!)
    #expect(restored.evaluate(result.data.test).map { $0.mse! } == kept)
  }
}
