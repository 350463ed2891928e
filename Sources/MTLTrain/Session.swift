import MTLData
import MTLGraph
import MTLKernels
import MTLRuntime
import MTLSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Training stopped because a loss or gradient stopped being a finite number.
public struct NumericalError: Error, CustomStringConvertible {
  public var epoch: Int
  /// The optimiser step (1-based, counted over the whole run) that went wrong.
  public var step: Int
  /// What went non-finite: a task's loss or a parameter's gradient.
  public var what: String
  /// Where the first non-finite value appeared: the spec block and its location.
  public var block: String?
  public var location: String?
  public var description: String {
    var s = "training diverged at epoch \(epoch), step \(step): \(what)"
    if let block { s += "; the first non-finite value appears in `\(block)`" + (location.map { " (\($0))" } ?? "") }
    return s + "\nhelp: lower the learning rate, or set `training.clip_norm`; the last checkpoint is left as it was"
  }
}

/// Training stopped on SIGINT or SIGTERM, between two steps.
public struct Interrupted: Error, CustomStringConvertible {
  public var signal: Int32
  public var epoch: Int
  public var batch: Int
  public var description: String {
    "interrupted (signal \(signal)) during epoch \(epoch), after \(batch) batches"
  }
}

/// What one epoch did.
public struct EpochReport: Codable, Equatable, Sendable {
  public var epoch: Int
  /// Mean over batches of the total loss (weighted task losses plus L2).
  public var loss: Double
  /// Mean over batches of each labelled task's loss, by task name.
  public var taskLoss: [String: Double]
  public var seconds: Double
  public var samplesPerSecond: Double
  /// With learned loss balancing: each task's loss weight after the epoch.
  public var taskWeight: [String: Double]? = nil
  /// With a method that keeps each task's gradient: the epoch's mean cosine between each pair
  /// of tasks' gradients on the shared parameters (negative: the tasks pull apart).
  public var gradientCosine: [TaskPair]? = nil
  /// With a validation set: Σ loss_weight × each task's mean loss on it (the spec's fixed weights,
  /// also under loss balancing), each task's mean loss, and each task's metrics.
  public var validationLoss: Double? = nil
  public var validationTaskLoss: [String: Double]? = nil
  public var validation: [TaskMetrics]? = nil
  /// With `training.schedule`: the learning rate of each of the epoch's steps, in order.
  public var learningRate: [Float]? = nil

  public struct TaskPair: Codable, Equatable, Sendable {
    public var a: String
    public var b: String
    public var cosine: Double
  }

  enum CodingKeys: String, CodingKey {
    case epoch, loss, seconds
    case taskWeight = "task_weight"
    case gradientCosine = "gradient_cosine"
    case taskLoss = "task_loss"
    case samplesPerSecond = "samples_per_second"
    case validationLoss = "validation_loss"
    case learningRate = "learning_rate"
    case validationTaskLoss = "validation_task_loss"
    case validation
  }
}

/// A model being trained: the bound graph, its executor, and the data it learns from.
public final class Session {
  public let graph: Graph
  public let fitted: FittedPipeline
  public let executor: Executor
  public let seed: UInt64
  /// Polled between steps: training stops with `Interrupted` when it is set (by SIGINT or
  /// SIGTERM for the process's flag).
  public var stop: StopFlag = Interrupt.process
  /// Epochs completed so far (a resumed session starts past 0).
  public private(set) var epochsDone = 0
  public private(set) var history: [EpochReport] = []
  /// Progress inside the current epoch: batches done and their loss sums (so a run interrupted
  /// mid-epoch resumes at the next batch, to the same result).
  public private(set) var batchInEpoch = 0
  /// The examples of the batch being loaded (one allocation, reused).
  private var batch: [Int] = []
  private var partialTotal = 0.0
  private var partialPerLoss: [Double] = []
  /// Early stopping (`training.earlyStopping`, with a validation set): the best epoch so far and
  /// its monitored value and parameters, the epochs since, and whether training stopped.
  public private(set) var best: BestEpoch?
  public private(set) var bestParams: [[Float]]?
  public private(set) var stoppedEarly = false

  /// The best epoch so far under early stopping (epoch 0, value NaN: none yet).
  public struct BestEpoch: Codable, Equatable, Sendable {
    public var epoch: Int
    public var value: Double
    /// Epochs trained since it without an improvement.
    public var wait: Int

    public init(epoch: Int, value: Double, wait: Int) {
      self.epoch = epoch
      self.value = value
      self.wait = wait
    }

    /// The rule after epoch `epoch` scored `value`: a value better than the best by more than
    /// `minDelta` (in the metric's direction) becomes the best; otherwise one more epoch without
    /// improvement, and training stops once there have been `patience` of them (at the first for
    /// patience 0). A value that is not a number never improves.
    public mutating func observe(epoch e: Int, value v: Double, rule: EarlyStopping) -> (improved: Bool, stop: Bool) {
      let improved =
        value.isNaN ? !v.isNaN : (rule.maximizes ? v > value + rule.minDelta : v < value - rule.minDelta)
      if improved {
        self = BestEpoch(epoch: e, value: v, wait: 0)
        return (true, false)
      }
      wait += 1
      return (false, wait >= max(rule.patience, 1))
    }
  }

  /// The default thread count: 2 on every machine (not the machine's core count), so that the
  /// same spec, data and seed give the same bits everywhere; `--threads` changes it.
  public static let defaultThreads = 2

  /// What `init` would allocate, checked first: the graph bound to the fitted vocabularies must
  /// be sound (a vocabulary can push a table past the limits) and its memory plan within
  /// `MemoryPlan.limit`. Throws `GraphProblem` or `MemoryPlan.TooLarge`.
  public static func preflight(graph: Graph, fitted: FittedPipeline, threads: Int) throws {
    let bound = fitted.bind(graph)
    if let p = bound.check() { throw p }
    if let i = bound.params.firstIndex(where: { p in p.shape.contains { $0 <= 0 } }) {
      throw GraphProblem(
        "params[\(i)]",
        "the fitted pipeline has no vocabulary for `\(bound.params[i].rowsFrom ?? bound.params[i].name)`; it belongs to another model"
      )
    }
    if let v = bound.values.first(where: { $0.width <= 0 }) {
      throw GraphProblem(
        "values", "the fitted pipeline has no classes for task `\(v.widthFrom ?? v.name)`; it belongs to another model")
    }
    try MemoryPlan.check(graph: bound, maxBatch: graph.training.batchSize, threads: threads)
  }

  /// Binds the graph to the fitted vocabularies and draws the initial parameters from `seed`.
  /// With `communicator`, one rank of a data-parallel run (Communicator.swift): every rank builds
  /// the same session and trains on its workers' shares of each batch.
  public init(
    graph: Graph, fitted: FittedPipeline, seed: UInt64, threads: Int = Session.defaultThreads,
    communicator: Communicator? = nil
  ) {
    self.graph = fitted.bind(graph)
    self.fitted = fitted
    self.seed = seed
    // mtlc splits each batch across its own threads; OpenBLAS runs single-threaded inside each
    // (its own threading is erratic on these small products).
    BLAS.setThreads(1)
    executor = Executor(
      graph: self.graph, maxBatch: graph.training.batchSize, threads: threads, communicator: communicator)
    executor.initialize(seed: seed)
  }

  /// Loads examples `indices` of `data` as the executor's batch.
  func load(_ data: any Examples, _ indices: ArraySlice<Int>) {
    let lo = indices.startIndex
    executor.setBatch(rows: indices.count) { first, count, sparse, dense, labels in
      data.gather(indices: indices[(lo + first)..<(lo + first + count)], into: sparse, dense: dense, labels: labels)
    }
  }

  /// Loads examples lo..<hi of `data`, in order (evaluation, prediction).
  func loadRange(_ data: any Examples, _ lo: Int, _ hi: Int) {
    batch.removeAll(keepingCapacity: true)
    batch.append(contentsOf: lo..<hi)
    load(data, batch[...])
  }

  /// Trains until `epochs` epochs are done in all, or early stopping ends it. With `validation`,
  /// each epoch is scored on it (`EpochReport.validation...`) and, with `training.earlyStopping`,
  /// the best epoch's parameters are kept (`bestParams`; `useBestParameters()` puts them in).
  /// `afterEpoch` runs after each (checkpoints, progress); `onBatch` after each step with (batch
  /// index, batches, running mean loss).
  public func train(
    _ data: Dataset, epochs: Int, validation: Dataset? = nil, afterEpoch: (EpochReport) throws -> Void = { _ in },
    onBatch: ((Int, Int, Double) -> Void)? = nil
  ) throws {
    try train(
      MemoryExamples(data), epochs: epochs, validation: validation.map(MemoryExamples.init), afterEpoch: afterEpoch,
      onBatch: onBatch)
  }

  /// `train` over examples wherever they live (memory or shards), in `EpochOrder`'s order.
  public func train(
    _ data: any Examples, epochs: Int, validation: (any Examples)? = nil,
    afterEpoch: (EpochReport) throws -> Void = { _ in }, onBatch: ((Int, Int, Double) -> Void)? = nil
  ) throws {
    let B = graph.training.batchSize
    let n = data.count
    guard n > 0 else { return }
    let batches = (n + B - 1) / B
    if partialPerLoss.count != graph.losses.count { partialPerLoss = Array(repeating: 0, count: graph.losses.count) }
    while epochsDone < epochs && !stoppedEarly {
      let epoch = epochsDone + 1
      var cursor = BatchCursor(
        EpochOrder(
          count: n, seed: seed, epoch: epoch, blockRows: graph.pipeline.shardRows, window: graph.pipeline.shuffleWindow)
      )
      // A resumed epoch continues at its next batch, in the same order.
      cursor.skip(batchInEpoch * B)
      let start = monotonicSeconds()
      while batchInEpoch < batches {
        // Every rank stops at the same step, or none does (one waiting in a collective would hang).
        if executor.communicator.map({ $0.any(stop.requested) }) ?? stop.requested {
          throw Interrupted(signal: stop.signal == 0 ? SIGTERM : stop.signal, epoch: epoch, batch: batchInEpoch)
        }
        let bi = batchInEpoch
        cursor.next(B, into: &batch)
        load(data, batch[...])
        if let e = data.failure { throw e }
        let loss = executor.step()
        if !loss.isFinite || executor.nonFiniteGradient != nil || executor.nonFiniteBalancer {
          throw diverged(epoch: epoch, loss: loss)
        }
        partialTotal += loss
        for i in partialPerLoss.indices { partialPerLoss[i] += executor.lossValues[i] }
        batchInEpoch += 1
        onBatch?(bi + 1, batches, partialTotal / Double(bi + 1))
      }
      let seconds = monotonicSeconds() - start
      var taskLoss: [String: Double] = [:]
      for (i, l) in graph.losses.enumerated() { taskLoss[l.task] = partialPerLoss[i] / Double(batches) }
      var report = EpochReport(
        epoch: epoch, loss: partialTotal / Double(batches), taskLoss: taskLoss, seconds: seconds,
        samplesPerSecond: Double(n) / max(seconds, 1e-9))
      if graph.training.lossBalancing != nil {
        let w = executor.balancer.reportedWeights
        report.taskWeight = Dictionary(
          graph.losses.enumerated().map { ($1.task, Double(w[$0])) }, uniquingKeysWith: { a, _ in a })
      }
      if let tg = executor.taskGradients {
        let c = tg.takeCosines()
        var pairs: [EpochReport.TaskPair] = []
        var k = 0
        for t in graph.losses.indices {
          for u in graph.losses.indices where u > t {
            pairs.append(.init(a: graph.losses[t].task, b: graph.losses[u].task, cosine: c[k]))
            k += 1
          }
        }
        report.gradientCosine = pairs
      }
      if graph.training.schedule != nil {
        // A pure function of the step number: the same after a resume.
        let last = executor.optimizer.steps
        report.learningRate = ((last - batches + 1)...last).map { Optimizer.rate(graph.training, step: $0) }
      }
      if let validation, validation.count > 0 {
        let (total, perTask) = validationLosses(validation)
        report.validationLoss = total
        report.validationTaskLoss = perTask
        report.validation = evaluate(validation)
        if let rule = graph.training.earlyStopping { watch(report, epoch: epoch, rule: rule) }
      }
      epochsDone = epoch
      batchInEpoch = 0
      partialTotal = 0
      for i in partialPerLoss.indices { partialPerLoss[i] = 0 }
      history.append(report)
      try afterEpoch(report)
    }
  }

  /// The error for a step whose loss or gradient is not finite: which, and where it started.
  func diverged(epoch: Int, loss: Double) -> NumericalError {
    var what = "the L2 penalty is \(executor.l2Value)"
    if executor.nonFiniteBalancer && loss.isFinite {
      what = "the loss balancer's weights or their gradients are not finite"
    } else if let p = executor.nonFiniteGradient, loss.isFinite {
      what = "the gradient of `\(graph.params[p].name)` is not finite"
    } else {
      for (i, l) in graph.losses.enumerated() where !executor.lossValues[i].isFinite {
        what = "the loss of task `\(l.task)` is \(executor.lossValues[i])"
        break
      }
    }
    var e = NumericalError(epoch: epoch, step: executor.optimizer.steps + 1, what: what)
    if let op = executor.firstNonFiniteOp() {
      e.block = graph.ops[op].block
      e.location = graph.ops[op].loc
    } else if let p = executor.nonFiniteGradient {
      e.block = graph.params[p].block
    }
    return e
  }

  /// Predictions for every task, in `graph.tasks` order, in the tasks' own units (a standardised
  /// regression label's prediction is mapped back). [T][N], [N, K] for a multiclass task.
  public func predict(_ data: Dataset) -> [[Float]] { predict(MemoryExamples(data)) }

  public func predict(_ data: any Examples) -> [[Float]] {
    let B = executor.maxBatch
    var out = graph.tasks.map { _ in [Float]() }
    for t in out.indices { out[t].reserveCapacity(data.count * graph.tasks[t].width) }
    var lo = 0
    while lo < data.count {
      let hi = min(lo + B, data.count)
      loadRange(data, lo, hi)
      executor.forward()
      for t in graph.tasks.indices { executor.appendPredictions(t, to: &out[t]) }
      lo = hi
    }
    for (t, task) in graph.tasks.enumerated() {
      if let st = fitted.labelScale(task.name) { out[t] = out[t].map(st.inverse) }
    }
    return out
  }

  /// Each labelled task's mean loss over `data` (over the rows it is scored on), and Σ of them
  /// times the losses' fixed weights. The same losses as training, without updating anything.
  public func validationLosses(_ data: Dataset) -> (total: Double, perTask: [String: Double]) {
    validationLosses(MemoryExamples(data))
  }

  public func validationLosses(_ data: any Examples) -> (total: Double, perTask: [String: Double]) {
    let B = executor.maxBatch
    var sums = [Double](repeating: 0, count: graph.losses.count)
    var counts = [Double](repeating: 0, count: graph.losses.count)
    var lo = 0
    while lo < data.count {
      let hi = min(lo + B, data.count)
      loadRange(data, lo, hi)
      executor.forward()
      executor.computeLosses(gradients: false)
      for (i, l) in graph.losses.enumerated() {
        let rows = Double(graph.pipeline.labels[l.label].maskable ? executor.inSpace[i] : hi - lo)
        sums[i] += executor.lossValues[i] * rows
        counts[i] += rows
      }
      lo = hi
    }
    var perTask: [String: Double] = [:]
    var total = 0.0
    for (i, l) in graph.losses.enumerated() {
      let mean = counts[i] > 0 ? sums[i] / counts[i] : 0
      perTask[l.task] = mean
      total += Double(l.weight) * mean
    }
    return (total, perTask)
  }

  /// The monitored value of an epoch's validation scores: `loss`, `TASK.loss` or `TASK.METRIC`.
  public static func monitored(_ r: EpochReport, _ rule: EarlyStopping) -> Double? {
    let (task, metric) = rule.parts
    guard let task else { return r.validationLoss }
    if metric == "loss" { return r.validationTaskLoss?[task] }
    guard let m = r.validation?.first(where: { $0.task == task }) else { return nil }
    switch metric {
    case "auc": return m.auc
    case "logloss": return m.logloss
    case "mse": return m.mse
    case "mae": return m.mae
    case "accuracy": return m.accuracy
    default: return nil
    }
  }

  /// Early stopping after epoch `epoch` (`BestEpoch.observe`); an improvement keeps the parameters.
  func watch(_ r: EpochReport, epoch: Int, rule: EarlyStopping) {
    var b = best ?? BestEpoch(epoch: 0, value: .nan, wait: 0)
    let (improved, stop) = b.observe(epoch: epoch, value: Session.monitored(r, rule) ?? .nan, rule: rule)
    best = b
    if improved { bestParams = executor.parameterArrays() }
    if stop { stoppedEarly = true }
  }

  /// Puts the best epoch's parameters in the executor (after training: what the run ends with).
  /// False when there are none (no early stopping, or no epoch improved).
  @discardableResult
  public func useBestParameters() -> Bool {
    guard let p = bestParams, best.map({ $0.epoch > 0 }) ?? false else { return false }
    executor.setParameters(p)
    return true
  }

  /// Metrics of every task on `data` (which must carry the labels).
  public func evaluate(_ data: Dataset) -> [TaskMetrics] { evaluate(MemoryExamples(data)) }

  public func evaluate(_ data: any Examples) -> [TaskMetrics] {
    let preds = predict(data)
    return graph.tasks.enumerated().map { t, task in
      var labels: [Float]?
      var unseen = 0
      if let li = task.label, data.labelWidth > li {
        labels = data.labelColumn(li)
        if let st = fitted.labelScale(task.name) { labels = labels!.map { $0.isNaN ? $0 : st.inverse($0) } }
        unseen = data.unseenClassCounts[li]
      }
      return Metrics.task(task, predictions: preds[t], labels: labels, rows: data.count, unseenClasses: unseen)
    }
  }

  // MARK: checkpoints

  public func checkpoint() -> Checkpoint {
    Checkpoint(
      model: ModelIdentity.canonical(graph), fingerprint: ModelIdentity.fingerprint(graph), epoch: epochsDone,
      steps: executor.optimizer.steps, seed: seed,
      threads: executor.totalThreads, batchesDone: batchInEpoch, partialLoss: partialTotal,
      partialTaskLoss: partialPerLoss,
      fitted: fitted, history: history, params: executor.parameterArrays(), state: executor.optimizer.stateArrays(),
      balancer: executor.balancer.state, best: best, bestParams: bestParams ?? [], stoppedEarly: stoppedEarly)
  }

  /// Restores weights, optimiser state and progress. The checkpoint must come from this model
  /// (the same identity, wherever its files are: `ModelIdentity`); otherwise the error names the
  /// first field that differs.
  public func restore(_ c: Checkpoint) throws {
    func refuse(_ why: String) -> CheckpointError { CheckpointError(path: "", reason: why) }
    if let stored = c.model {
      if let d = ModelIdentity.firstDifference(stored: stored, current: graph) {
        throw refuse("the checkpoint was written by a different model: \(d); compile the same spec or start afresh")
      }
    } else if c.fingerprint != Checkpoint.legacyFingerprint(graph) {
      throw refuse(
        "the checkpoint (format 1) was written by a different model, or from another path; compile the same spec from the same place, or start afresh"
      )
    }
    if let d = ModelIdentity.firstDifference(stored: c.fitted.pipeline, current: graph.pipeline) {
      throw refuse(
        "the checkpoint's feature pipeline differs from this model's: \(d); compile the same spec or start afresh")
    }
    guard c.params.map(\.count) == graph.params.map(\.count) else {
      throw refuse("the checkpoint's parameter sizes do not match the model")
    }
    guard c.state.map(\.count) == executor.optimizer.stateArrays().map(\.count) else {
      throw refuse("the checkpoint's optimiser state does not match the model's optimiser")
    }
    guard c.balancer.count == LossBalancing.stateCount(graph) else {
      throw refuse("the checkpoint's loss-balancing state does not match the model's method")
    }
    if !c.bestParams.isEmpty {
      guard c.bestParams.map(\.count) == graph.params.map(\.count) else {
        throw refuse("the checkpoint's best parameters do not match the model")
      }
    }
    executor.setParameters(c.params)
    best = c.best
    bestParams = c.bestParams.isEmpty ? nil : c.bestParams
    stoppedEarly = c.stoppedEarly
    executor.balancer.state = c.balancer
    executor.optimizer.setState(c.state, steps: c.steps)
    epochsDone = c.epoch
    history = c.history
    batchInEpoch = c.batchesDone
    partialTotal = c.partialLoss
    partialPerLoss = c.partialTaskLoss
  }
}

func monotonicSeconds() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
