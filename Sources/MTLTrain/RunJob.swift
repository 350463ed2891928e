import Foundation
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport

/// `mtlc run` as a library call: load the data, train (resuming if asked), evaluate, and
/// write the metrics file. Printing is the caller's (through `log`).
public struct RunJob {
  public var graph: Graph
  public var trainPath: String?
  public var testPath: String?
  /// Validation CSV (instead of the spec's `data.validation` or `validation_fraction`).
  public var validationPath: String?
  public var epochs: Int?
  public var seed: UInt64?
  /// Threads that share each batch (default `Session.defaultThreads`).
  public var threads: Int?
  /// Seed of the train/test holdout split (instead of the spec's `data.split_seed`).
  public var splitSeed: UInt64?
  public var checkpointDir: String?
  public var resume = false
  public var metricsOut: Output?
  /// Write an HTML report of the run into this folder (`report.html`).
  public var reportDir: String?
  /// The command line, for the report's header.
  public var command = "mtlc run"
  /// Progress and notes, one line at a time (the CLI sends them to standard error).
  public var log: (String) -> Void = { _ in }
  /// Called after each batch: (epoch, batch, batches, running loss). For progress bars.
  public var onBatch: ((Int, Int, Int, Double) -> Void)?

  /// The ranks of a data-parallel run (nil: this process alone). Every rank runs the same job;
  /// only rank 0 writes (metrics, report, checkpoints): the others' outputs are ignored.
  public var communicator: Communicator?
  var isWriter: Bool { (communicator?.rank ?? 0) == 0 }

  public init(graph: Graph) { self.graph = graph }

  func threadsText(_ s: Session) -> String {
    guard let c = communicator, c.size > 1 else { return "\(s.executor.threads) threads" }
    return "\(c.size) ranks x \(s.executor.threads) threads"
  }

  public struct Result {
    public var session: Session
    public var data: DataSets
    public var metrics: [TaskMetrics]
    /// Gate utilisation and expert similarity on the test rows after training.
    public var experts: ExpertReport
    /// The same after every epoch this process trained (only with `metricsOut`).
    public var expertHistory: [ExpertReport]
    /// Epochs this process trained, and their time.
    public var trainedEpochs: [EpochReport]
    public var trainSeconds: Double
    public var samplesPerSecond: Double
    public var resumedFrom: Int?
  }

  public func run() throws -> Result {
    let started = monotonicSeconds()
    var g = graph
    if let splitSeed { g.pipeline.splitSeed = splitSeed }
    if g.training.earlyStopping != nil && !g.pipeline.hasValidation && validationPath == nil {
      throw SetupError(
        reason:
          "`training.early_stopping` watches a validation set: give `data.validation`, `data.validation_fraction` or --validation FILE"
      )
    }
    let data = try DataSets.load(
      g.pipeline, trainPath: trainPath, testPath: testPath, validationPath: validationPath)
    if let line = data.sourceLine { log(line) }
    for s in data.skipped { log(s.description) }
    for t in data.truncations { log(t) }
    if let epochs { g.training.epochs = epochs }
    try Session.preflight(graph: g, fitted: data.fitted, threads: threads ?? Session.defaultThreads)
    let session = Session(
      graph: g, fitted: data.fitted, seed: seed ?? g.training.seed, threads: threads ?? Session.defaultThreads,
      communicator: communicator)
    var resumedFrom: Int?
    if resume, let dir = checkpointDir {
      if AtomicFile.exists(Checkpoint.path(in: dir)) {
        let c = try Checkpoint.read(fromDirectory: dir)
        let at = Checkpoint.path(in: dir)
        // A different feature pipeline is a different model (named field), not different data.
        if let d = ModelIdentity.firstDifference(stored: c.fitted.pipeline, current: g.pipeline) {
          throw CheckpointError(
            path: at,
            reason: "the checkpoint was written by a different model: \(d); compile the same spec or start afresh")
        }
        let (was, now) = (c.fitted.pipeline, data.fitted.pipeline)
        guard was.shardRows == now.shardRows && was.shuffleWindow == now.shuffleWindow else {
          throw ResumeError(
            checkpoint: at,
            reason:
              "it was trained with data.shard_rows \(was.shardRows) and data.shuffle_window \(was.shuffleWindow) (an epoch's order); resume with the same"
          )
        }
        guard c.fitted.sameFit(as: data.fitted) else {
          throw ResumeError(
            checkpoint: at,
            reason: "the training data differs from the data the checkpoint was trained on; resume with the same data")
        }
        guard c.threads == session.executor.totalThreads else {
          throw ResumeError(
            checkpoint: at,
            reason:
              "it was trained with \(c.threads) threads in all (ranks x --threads); resume with the same count for the same result"
          )
        }
        guard c.seed == session.seed else {
          throw ResumeError(checkpoint: at, reason: "it was trained with seed \(c.seed), not \(session.seed)")
        }
        // Equal is fine: a run killed after its last checkpoint resumes to evaluate and write its
        // outputs. Fewer would silently train nothing.
        guard c.epoch <= g.training.epochs else {
          throw ResumeError(
            checkpoint: at,
            reason:
              "it has trained \(c.epoch) epochs and this run asks for \(g.training.epochs) in all; pass --epochs \(c.epoch) or more"
          )
        }
        try session.restore(c)
        resumedFrom = c.epoch
        if c.epoch == g.training.epochs {
          log("the checkpoint has trained all \(c.epoch) epochs; evaluating it")
        }
        log(
          "resuming from \(Checkpoint.path(in: dir)) after epoch \(c.epoch)"
            + (c.batchesDone > 0 ? " and \(c.batchesDone) batches of epoch \(c.epoch + 1)" : ""))
      } else {
        log("no checkpoint in \(dir); starting afresh")
      }
    }
    let validating = data.validation.map { ", validating on \($0.count)" } ?? ""
    log(
      "training `\(g.name)` on \(data.train.count) rows\(validating), testing on \(data.test.count); \(g.training.epochs) epochs, batch \(g.training.batchSize), seed \(session.seed), \(threadsText(session))"
    )
    log("data ready and model initialised in \(fixed(monotonicSeconds() - started, 2)) s")
    var trained: [EpochReport] = []
    var expertHistory: [ExpertReport] = []
    do {
      try train(session, data, g, &trained) {
        if metricsOut != nil { expertHistory.append(session.expertReport(data.validation ?? data.test)) }
      }
    } catch let e as Interrupted {
      // Save where we are (mid-epoch) so `--resume` continues at the next batch.
      if let dir = checkpointDir {
        if isWriter { try session.checkpoint().write(toDirectory: dir) }
        log("\(e); checkpoint saved in \(dir): continue with --resume")
      } else {
        log("\(e); no --checkpoint-dir, so nothing was saved")
      }
      throw e
    }
    // The run ends with the best epoch's parameters when early stopping kept them; the test rows
    // are scored once, on those.
    if let rule = g.training.earlyStopping, let b = session.best {
      if session.stoppedEarly {
        log(
          "early stopping after epoch \(session.epochsDone): `\(rule.monitor)` has not improved for \(b.wait) epoch\(b.wait == 1 ? "" : "s")"
        )
      }
      if session.useBestParameters() {
        log(
          "keeping the parameters of epoch \(b.epoch) (`\(rule.monitor)` \(fixed(b.value, 6)) on the validation rows)")
      }
    }
    if let c = communicator, c.size > 1, session.executor.optimizer.steps > 0 {
      let perStep = c.bytesSent / max(1, session.executor.optimizer.steps)
      log(
        "data-parallel: \(c.size) ranks; each sent \(perStep) bytes per step (an all-gather moves \(c.size)x that; validation passes included)"
      )
    }
    let metrics = session.evaluate(data.test)
    let experts = session.expertReport(data.test)
    if let e = data.test.failure { throw e }
    let seconds = trained.reduce(0) { $0 + $1.seconds }
    let samples = Double(data.train.count * trained.count)
    let result = Result(
      session: session, data: data, metrics: metrics, experts: experts, expertHistory: expertHistory,
      trainedEpochs: trained, trainSeconds: seconds,
      samplesPerSecond: seconds > 0 ? samples / seconds : 0, resumedFrom: resumedFrom)
    if let out = metricsOut, isWriter {
      try out.write(
        MetricsFile(
          model: graph.name, seed: session.seed, testRows: data.test.count, metrics: metrics,
          train: MetricsFile.TrainInfo(
            samples_per_second: result.samplesPerSecond, seconds: result.trainSeconds, epochs: session.epochsDone,
            rows: data.train.count, history: session.history, validation_rows: data.validation?.count,
            best_epoch: session.best.flatMap { $0.epoch > 0 ? $0.epoch : nil },
            stopped_early: g.training.earlyStopping != nil ? session.stoppedEarly : nil), experts: experts,
          expertHistory: expertHistory
        ).encoded())
    }
    if let dir = reportDir, isWriter {
      var input = RunReport.Input(
        graph: session.graph, metrics: metrics, history: session.history, experts: experts, command: command,
        seed: session.seed, threads: session.executor.threads, trainRows: data.train.count,
        testRows: data.test.count)
      input.validationRows = data.validation?.count
      input.bestEpoch = g.training.earlyStopping != nil ? session.best.flatMap { $0.epoch > 0 ? $0.epoch : nil } : nil
      let path = try RunReport.write(input, to: dir)
      log("report: \(path)")
    }
    return result
  }

  func train(
    _ session: Session, _ data: DataSets, _ g: Graph, _ trained: inout [EpochReport], afterEach: () -> Void
  ) throws {
    var epochs: [EpochReport] = []
    defer { trained = epochs }
    try session.train(
      data.train, epochs: g.training.epochs, validation: data.validation,
      afterEpoch: { r in
        epochs.append(r)
        let tasks = r.taskLoss.sorted { $0.key < $1.key }.map { "\($0.key) \(fixed($0.value, 4))" }.joined(
          separator: ", ")
        let weights = r.taskWeight.map { w in
          "; weights " + w.sorted { $0.key < $1.key }.map { "\($0.key) \(fixed($0.value, 3))" }.joined(separator: ", ")
        }
        let cosines = r.gradientCosine.map { ps in
          "; gradient cosine " + ps.map { "\($0.a)/\($0.b) \(fixed($0.cosine, 3))" }.joined(separator: ", ")
        }
        var validation = r.learningRate?.last.map { "; learning rate \($0)" } ?? ""
        if let v = r.validationLoss, let per = r.validationTaskLoss {
          validation =
            "; validation loss \(fixed(v, 4)) ("
            + per.sorted { $0.key < $1.key }.map { "\($0.key) \(fixed($0.value, 4))" }.joined(separator: ", ") + ")"
          if let rule = g.training.earlyStopping, rule.monitor != "loss",
            let m = Session.monitored(r, rule)
          {
            validation += ", \(rule.monitor) \(fixed(m, 4))"
          }
        }
        log(
          "epoch \(r.epoch)/\(g.training.epochs): loss \(fixed(r.loss, 4)) (\(tasks)\(weights ?? "")\(cosines ?? ""))\(validation), \(fixed(r.seconds, 2)) s, \(Int(r.samplesPerSecond)) samples/s"
        )
        if let dir = checkpointDir, isWriter { try session.checkpoint().write(toDirectory: dir) }
        afterEach()
      },
      onBatch: onBatch.map { cb in { b, n, l in cb(session.epochsDone + 1, b, n, l) } })
  }
}

/// The run cannot start with these settings (a usage error): early stopping without a
/// validation set.
public struct SetupError: Error, CustomStringConvertible {
  public var reason: String
  public var description: String { reason }
}

/// `--resume` cannot continue from the checkpoint with these settings (a usage error: the
/// command line and the checkpoint disagree).
public struct ResumeError: Error, CustomStringConvertible {
  public var checkpoint: String
  public var reason: String
  public var description: String { "cannot resume from `\(checkpoint)`: \(reason)" }
}

/// `x` with `digits` decimals (deterministic, locale-free).
public func fixed(_ x: Double, _ digits: Int) -> String {
  guard x.isFinite else { return "\(x)" }
  return String(format: "%.\(digits)f", x)
}

/// The per-task table `mtlc run` prints.
public func metricsTable(_ ms: [TaskMetrics]) -> String {
  var out = "task            type        rows     AUC    logloss  pos.rate  mean.pred      MSE      MAE\n"
  func col(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
  func name(_ s: String) -> String {
    s.count >= 14 ? String(s.prefix(14)) : s + String(repeating: " ", count: 14 - s.count)
  }
  for m in ms {
    var line = name(m.task) + "  " + name(m.type).prefix(10) + col(String(m.count), 6)
    line += col(m.auc.map { fixed($0, 4) } ?? "-", 8)
    line += col(m.logloss.map { fixed($0, 4) } ?? "-", 11)
    line += col(m.positiveRate.map { fixed($0, 4) } ?? "-", 10)
    line += col(m.meanPrediction.map { fixed($0, 4) } ?? "-", 11)
    line += col(m.mse.map { fixed($0, 4) } ?? "-", 9)
    line += col(m.mae.map { fixed($0, 4) } ?? "-", 9)
    var notes: [String] = []
    if !m.labelled { notes.append("(no label)") }
    if let a = m.accuracy { notes.append("accuracy \(fixed(a, 4))") }
    if let n = m.scored, n != m.count { notes.append("scored on \(n) rows") }
    if let u = m.unseenClasses, u > 0 { notes.append("\(u) row\(u == 1 ? "" : "s") of unseen classes") }
    out += line + (notes.isEmpty ? "" : "   " + notes.joined(separator: ", ")) + "\n"
  }
  return out
}
