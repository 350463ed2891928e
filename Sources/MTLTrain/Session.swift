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
  public var step: Int
  public var what: String
  public var description: String { "training diverged at epoch \(epoch), step \(step): \(what)" }
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

  enum CodingKeys: String, CodingKey {
    case epoch, loss, seconds
    case taskLoss = "task_loss"
    case samplesPerSecond = "samples_per_second"
  }
}

/// A model being trained: the bound graph, its executor, and the data it learns from.
public final class Session {
  public let graph: Graph
  public let fitted: FittedPipeline
  public let executor: Executor
  public let seed: UInt64
  /// Epochs completed so far (a resumed session starts past 0).
  public private(set) var epochsDone = 0
  public private(set) var history: [EpochReport] = []

  /// The default thread count: 2 on every machine (not the machine's core count), so that the
  /// same spec, data and seed give the same bits everywhere; `--threads` changes it.
  public static let defaultThreads = 2

  /// Binds the graph to the fitted vocabularies and draws the initial parameters from `seed`.
  public init(graph: Graph, fitted: FittedPipeline, seed: UInt64, threads: Int = Session.defaultThreads) {
    self.graph = graph.bound(vocabularyRows: fitted.vocabularySizes)
    self.fitted = fitted
    self.seed = seed
    // mtlc splits each batch across its own threads; OpenBLAS runs single-threaded inside each
    // (its own threading is erratic on these small products).
    BLAS.setThreads(1)
    executor = Executor(graph: self.graph, maxBatch: graph.training.batchSize, threads: threads)
    executor.initialize(seed: seed)
  }

  /// Loads examples `indices` of `data` as the executor's batch.
  func load(_ data: Dataset, _ indices: ArraySlice<Int>) {
    let lo = indices.startIndex
    executor.setBatch(rows: indices.count) { first, count, sparse, dense, labels in
      data.gather(indices: indices[(lo + first)..<(lo + first + count)], into: sparse, dense: dense, labels: labels)
    }
  }

  /// Trains until `epochs` epochs are done in all. `afterEpoch` runs after each (checkpoints,
  /// progress); `onBatch` after each step with (batch index, batches, running mean loss).
  public func train(
    _ data: Dataset, epochs: Int, afterEpoch: (EpochReport) throws -> Void = { _ in },
    onBatch: ((Int, Int, Double) -> Void)? = nil
  ) throws {
    let B = graph.training.batchSize
    let n = data.count
    guard n > 0 else { return }
    let batches = (n + B - 1) / B
    while epochsDone < epochs {
      let epoch = epochsDone + 1
      let order = EpochOrder.permutation(count: n, seed: seed, epoch: epoch)
      let start = monotonicSeconds()
      var total = 0.0
      var perLoss = Array(repeating: 0.0, count: graph.losses.count)
      for bi in 0..<batches {
        let lo = bi * B
        let hi = min(lo + B, n)
        load(data, order[lo..<hi])
        let loss = executor.step()
        guard loss.isFinite else {
          throw NumericalError(epoch: epoch, step: executor.optimizer.steps, what: nonFiniteCulprit())
        }
        total += loss
        for i in perLoss.indices { perLoss[i] += executor.lossValues[i] }
        onBatch?(bi + 1, batches, total / Double(bi + 1))
      }
      let seconds = monotonicSeconds() - start
      var taskLoss: [String: Double] = [:]
      for (i, l) in graph.losses.enumerated() { taskLoss[l.task] = perLoss[i] / Double(batches) }
      let report = EpochReport(
        epoch: epoch, loss: total / Double(batches), taskLoss: taskLoss, seconds: seconds,
        samplesPerSecond: Double(n) / max(seconds, 1e-9))
      epochsDone = epoch
      history.append(report)
      try afterEpoch(report)
    }
  }

  /// Which loss went non-finite first, for the error message.
  func nonFiniteCulprit() -> String {
    for (i, l) in graph.losses.enumerated() where !executor.lossValues[i].isFinite {
      return "the loss of task `\(l.task)` is \(executor.lossValues[i])"
    }
    return "the L2 penalty is \(executor.l2Value)"
  }

  /// Predictions for every task, in `graph.tasks` order. [T][N]
  public func predict(_ data: Dataset) -> [[Float]] {
    let B = executor.maxBatch
    var out = graph.tasks.map { _ in [Float]() }
    for t in out.indices { out[t].reserveCapacity(data.count) }
    var lo = 0
    let all = Array(0..<data.count)
    while lo < data.count {
      let hi = min(lo + B, data.count)
      load(data, all[lo..<hi])
      executor.forward()
      for t in graph.tasks.indices { executor.appendPredictions(t, to: &out[t]) }
      lo = hi
    }
    return out
  }

  /// Metrics of every task on `data` (which must carry the labels).
  public func evaluate(_ data: Dataset) -> [TaskMetrics] {
    let preds = predict(data)
    return graph.tasks.enumerated().map { t, task in
      let p = preds[t]
      var m = TaskMetrics(
        task: task.name, type: task.type.rawValue, count: data.count, meanPrediction: Metrics.mean(p),
        labelled: task.label != nil)
      guard let li = task.label, data.labelWidth > li else { return m }
      let y = (0..<data.count).map { data.labels[$0 * data.labelWidth + li] }
      switch task.type {
      case .binary:
        m.auc = Metrics.auc(labels: y, scores: p)
        m.logloss = Metrics.logloss(labels: y, probabilities: p)
        m.positiveRate = Metrics.mean(y)
      case .regression:
        m.mse = Metrics.mse(labels: y, predictions: p)
        m.mae = Metrics.mae(labels: y, predictions: p)
      }
      return m
    }
  }

  // MARK: checkpoints

  public func checkpoint() -> Checkpoint {
    Checkpoint(
      fingerprint: Checkpoint.fingerprint(graph), epoch: epochsDone, steps: executor.optimizer.steps, seed: seed,
      threads: executor.threads,
      fitted: fitted, history: history, params: executor.parameterArrays(), state: executor.optimizer.stateArrays())
  }

  /// Restores weights, optimiser state and progress; the checkpoint must come from this graph.
  public func restore(_ c: Checkpoint) throws {
    guard c.fingerprint == Checkpoint.fingerprint(graph) else {
      throw CheckpointError(
        path: "", reason: "the checkpoint was written by a different model; compile the same spec or start afresh")
    }
    executor.setParameters(c.params)
    executor.optimizer.setState(c.state, steps: c.steps)
    epochsDone = c.epoch
    history = c.history
  }
}

func monotonicSeconds() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
