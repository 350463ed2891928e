import MTLGraph
import MTLKernels
import MTLSupport

/// Runs a bound graph on `threads` threads. A training step (`step`) runs in phases:
///
/// 1. loss balancing: the `LossBalancer` supplies this step's weight of each loss;
/// 2. forward and losses: every op over each worker's rows, each loss's mean, the loss
///    gradients seeded with the step's weights (one pool hand-over);
/// 3. backward: every worker's parameter gradients (one hand-over), summed in worker order;
/// 4. the gradient stage: the summed gradient set (`GradientSet`: dense buffers, the embedding
///    rows each table touched, the loss sums), handed to the `GradientReducer`, the seam where a
///    data-parallel all-reduce goes;
/// 5. the balancer's own term, the finiteness check, and the optimiser (one hand-over).
///
/// A batch of B rows is split into `threads` contiguous shares (the first ones one row larger when B
/// does not divide), one per `Worker`; each worker runs every op on its rows with its own buffers and
/// its own parameter gradients, which are then summed in worker order. The split and the order are
/// fixed, so a run is bit-identical for a given thread count.
///
/// All memory (parameters, gradients, optimiser state, activations, their gradients, batch inputs)
/// is planned once for `maxBatch` rows; a training step allocates nothing. Embedding tables are
/// updated sparsely: gradients, L2 and the optimiser touch only the rows the batch looked up, so a
/// step costs the same whatever the vocabulary size.
public final class Executor {
  public let graph: Graph
  public let maxBatch: Int
  public let threads: Int
  /// The most threads a batch is split across (`--threads`).
  public static let maxThreads = 64
  let workers: [Worker]
  private let pool: WorkerPool
  /// The other processes of a data-parallel run (nil: this process alone); see Communicator.swift.
  public let communicator: Communicator?
  /// Ranks, this one, and the workers of all of them (rank r runs global workers r·T ..< (r+1)·T).
  var ranks: Int { communicator?.size ?? 1 }
  var rank: Int { communicator?.rank ?? 0 }
  var globalThreads: Int { threads * ranks }
  /// Threads over every rank: what the run's arithmetic depends on (N ranks of T threads are one
  /// process of N·T threads).
  public var totalThreads: Int { globalThreads }

  /// Parameters and the batch's summed gradients. [param] -> [count]
  public var params: [UnsafeMutablePointer<Float>] { workers[0].shared.params }
  public var grads: [UnsafeMutablePointer<Float>] { workers[0].grads }
  public let optimizer: Optimizer
  /// The loss-balancing method: the weight of each loss every step, and any scalars it learns.
  public let balancer: LossBalancer
  /// This step's weight of each loss (`graph.losses` order), as the balancer set it.
  private let lossWeights: UnsafeMutableBufferPointer<Float>
  /// The gradients the reducer sees (built once over the executor's buffers).
  public let gradientSet: GradientSet
  /// Each loss's gradient, kept apart when the balancer needs them (`GradientNeed.perTask`).
  public let taskGradients: TaskGradients?
  /// The balancer's weights of this step while `lossWeights` seeds one loss at a time.
  private let stepWeights: UnsafeMutableBufferPointer<Float>
  /// The balancer sums the tasks' gradients, and `training.gradientCosine` asks for their
  /// cosines: each step first runs one backward per task only to measure them.
  private let measuresCosines: Bool
  /// Per loss: rows of the current batch that have its label (counted by `setBatch` over every
  /// worker's share, before any loss is seeded; only maskable losses read it). In a data-parallel
  /// run these counts are what must be summed over processes before the losses.
  public let inSpace: UnsafeMutableBufferPointer<Int>
  /// Rows each embedding table's gradient holds this step (the optimiser's sparse update).
  public var touchedRows: [RowSet?] { workers[0].touched }

  /// Rows of the current batch.
  public private(set) var batch = 0
  /// AITM's calibration terms of the last `computeLosses`, summed (0 without any).
  public private(set) var calibrationValue = 0.0
  /// Per-loss mean loss of the last `computeLosses` (in `graph.losses` order), and the L2 penalty.
  public private(set) var lossValues: [Double]
  public private(set) var l2Value: Double = 0
  /// After a step: the first parameter whose gradient is not finite (the step then left every
  /// parameter as it was), or nil.
  public private(set) var nonFiniteGradient: Int?
  /// After a step: the loss balancer's scalars or their gradients stopped being finite (the step
  /// then left every parameter and scalar as it was).
  public private(set) var nonFiniteBalancer = false

  private let shared: SharedState

  /// `balancer`: the loss-balancing method (default: the one the graph asks for).
  public init(
    graph: Graph, maxBatch: Int, threads: Int = 1, balancer: LossBalancer? = nil, communicator: Communicator? = nil
  ) {
    precondition(graph.isBound, "bind embedding rows before executing")
    precondition(maxBatch > 0 && threads > 0)
    self.graph = graph
    self.maxBatch = maxBatch
    self.communicator = communicator.flatMap { $0.size > 1 ? $0 : nil }
    let ranks = self.communicator?.size ?? 1
    self.threads = max(1, min(threads, max(1, maxBatch / ranks)))
    self.lossValues = Array(repeating: 0, count: graph.losses.count)
    dropoutOps = graph.ops.indices.filter { graph.ops[$0].kind == .dropout }
    batchNormOps = graph.ops.indices.filter { graph.ops[$0].kind == .batchNorm }
    let balancer = balancer ?? LossBalancing.make(graph)
    self.balancer = balancer
    lossWeights = .allocate(capacity: graph.losses.count)
    lossWeights.initialize(repeating: 0)
    stepWeights = .allocate(capacity: graph.losses.count)
    stepWeights.initialize(repeating: 0)
    inSpace = .allocate(capacity: graph.losses.count)
    inSpace.initialize(repeating: 0)
    shared = SharedState(graph: graph)
    let capacity = (maxBatch + self.threads - 1) / self.threads
    var ws: [Worker] = []
    for t in 0..<self.threads {
      ws.append(Worker(graph: graph, shared: shared, capacity: capacity, ownsGrads: t > 0, mergedGrads: shared.grads))
    }
    workers = ws
    pool = WorkerPool(count: self.threads)
    optimizer = Optimizer(
      training: graph.training, params: shared.params, grads: shared.grads, counts: graph.params.map(\.count),
      state: shared.optimizerState, kinds: graph.params.map(\.kind), shapes: graph.params.map(\.shape),
      touched: workers[0].touched)
    var dense: [GradientSet.Dense] = []
    var embeddings: [GradientSet.Embedding] = []
    for (i, p) in graph.params.enumerated() {
      if let rows = ws[0].touched[i] {
        embeddings.append(.init(param: i, gradient: shared.grads[i], width: p.shape[1], rows: rows))
      } else {
        dense.append(.init(param: i, gradient: shared.grads[i], count: p.count))
      }
    }
    let sums = UnsafeMutableBufferPointer<Double>.allocate(capacity: graph.losses.count)
    sums.initialize(repeating: 0)
    gradientSet = GradientSet(dense: dense, embeddings: embeddings, lossSums: sums)
    measuresCosines =
      balancer.gradientNeed == .summed && graph.training.gradientCosine == true && graph.losses.count > 1
    taskGradients =
      (balancer.gradientNeed == .perTask && !graph.losses.isEmpty) || measuresCosines
      ? TaskGradients(graph: graph, out: shared.grads, union: ws[0].touched, maxBatch: maxBatch) : nil
    balancer.weights(into: lossWeights)
    // Built once: running a phase allocates nothing. `unowned`: the pool dies with the executor.
    pool.handler = { [unowned self] task, t in
      let w = self.workers[t]
      switch Phase(rawValue: task)! {
      case .forward: w.forward()
      case .forwardAndLosses:
        w.forward()
        w.computeLosses(gradients: true, batch: self.batch, weights: self.lossWeights, inSpace: self.inSpace)
      case .losses:
        w.computeLosses(
          gradients: self.seedGradients, batch: self.batch, weights: self.lossWeights, inSpace: self.inSpace)
      case .backward: w.backward()
      case .optimize: self.optimizer.update(tensors: self.optimizerShares[t])
      case .forwardSegment:
        w.forward(self.segment)
        if let b = self.segmentEnd, self.batchStatistics { w.batchNormForwardSums(b) }
      case .backwardSegment:
        if self.segment.upperBound == self.graph.ops.count { w.backwardBegin() }
        w.backward(self.segment)
        if let b = self.segmentEnd { w.batchNormBackwardSums(b) }
      }
    }
    optimizerShares = optimizer.partition(self.threads)
  }

  deinit {
    lossWeights.deallocate()
    stepWeights.deallocate()
    inSpace.deallocate()
    gradientSet.lossSums.deallocate()
  }

  /// This step's weight of each loss.
  public var weights: [Float] { Array(lossWeights) }

  /// Takes the balancer's weights now (after its state was set, e.g. restored), for
  /// `computeLosses`; `step` takes them itself.
  public func refreshWeights() { balancer.weights(into: lossWeights) }

  /// The parameter tensors each thread updates.
  private var optimizerShares: [Range<Int>] = []

  /// What the worker threads run, one phase per pool hand-over.
  private enum Phase: Int {
    case forward, losses, backward, optimize, forwardAndLosses
    /// With batch normalisation: ops `segment`, then (`segmentEnd`) the threads' sums for the
    /// batch normalisation that ends the segment.
    case forwardSegment, backwardSegment
  }
  /// The ops of the current segment phase, and the batch normalisation at its end (forward) or
  /// start (backward), if any.
  private var segment: Range<Int> = 0..<0
  private var segmentEnd: Int?
  /// Forward with batch statistics (training) rather than the running ones.
  private var batchStatistics = false
  /// The batch normalisation ops, in order (empty: one phase a pass, as always).
  private let batchNormOps: [Int]
  private var seedGradients = false

  // MARK: parameters

  /// Draws every parameter from its initializer, each from its own named stream of `seed`.
  public func initialize(seed: UInt64) {
    taskGradients?.seed = seed
    self.seed = seed
    for (i, p) in graph.params.enumerated() {
      var rng = SeededRNG(seed: seed, stream: p.name)
      let w = params[i]
      switch p.initializer {
      case .zeros:
        w.update(repeating: 0, count: p.count)
      case .ones:
        w.update(repeating: 1, count: p.count)
      case .constant(let v):
        w.update(repeating: Float(v), count: p.count)
      case .glorotUniform(let fanIn, let fanOut):
        let limit = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
        for j in 0..<p.count { w[j] = (2 * rng.nextFloat() - 1) * limit }
      case .uniform(let limit):
        for j in 0..<p.count { w[j] = (2 * rng.nextFloat() - 1) * Float(limit) }
      case .normal(let std):
        for j in 0..<p.count { w[j] = Float(rng.nextNormal() * std) }
      }
    }
    optimizer.reset()
  }

  /// Copies of every parameter tensor (for checkpoints and tests).
  public func parameterArrays() -> [[Float]] {
    graph.params.indices.map { Array(UnsafeBufferPointer(start: params[$0], count: graph.params[$0].count)) }
  }

  public func setParameters(_ arrays: [[Float]]) {
    precondition(arrays.count == params.count)
    for (i, a) in arrays.enumerated() {
      precondition(a.count == graph.params[i].count, "parameter \(graph.params[i].name) has the wrong size")
      a.withUnsafeBufferPointer { params[i].update(from: $0.baseAddress!, count: a.count) }
    }
  }

  // MARK: batches

  /// Which rows of a batch of `rows` worker `t` owns (a global worker index in a data-parallel
  /// run: this rank's workers are `rank·threads ..< (rank+1)·threads`).
  public func share(_ t: Int, of rows: Int) -> Range<Int> {
    let threads = globalThreads
    let base = rows / threads
    let extra = rows % threads
    let start = t * base + min(t, extra)
    return start..<(start + base + (t < extra ? 1 : 0))
  }

  /// Starts a batch of `rows` rows. `load(first, count, sparse, dense, labels)` fills the inputs of
  /// rows first..<first+count: sparse ids [count, S], dense [count, Dn], labels [count, L].
  public func setBatch(
    rows: Int,
    load: (Int, Int, UnsafeMutablePointer<Int32>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
  ) {
    precondition(rows > 0 && rows <= maxBatch)
    batch = rows
    for (t, w) in workers.enumerated() {
      let r = share(rank * threads + t, of: rows)
      w.rows = r.count
      w.firstRow = r.lowerBound
      if r.count > 0 { load(r.lowerBound, r.count, w.sparseIDs, w.dense, w.labels) }
    }
    let L = graph.pipeline.labels.count
    var counts: [Int] = []
    for (i, l) in graph.losses.enumerated() where workers[0].maskable[i] {
      var n = 0
      for w in workers {
        for b in 0..<w.rows where !w.labels[b * L + l.label].isNaN { n += 1 }
      }
      inSpace[i] = n
      counts.append(n)
    }
    // Counts are integers: their sum over ranks does not depend on the order.
    if let communicator, !counts.isEmpty {
      let all: [Int] = communicator.allgather(counts)
      var k = 0
      for i in graph.losses.indices where workers[0].maskable[i] {
        inSpace[i] = stride(from: k, to: all.count, by: counts.count).reduce(0) { $0 + all[$1] }
        k += 1
      }
    }
  }

  /// Every global worker's `count` partial values, in global worker order: this rank fills its
  /// workers' (`fill(local worker, its slot)`), the others arrive through the communicator.
  /// [globalThreads * count]
  func perWorker<T: BitwiseCopyable>(_ count: Int, zero: T, _ fill: (Worker, UnsafeMutablePointer<T>) -> Void) -> [T] {
    var mine = [T](repeating: zero, count: threads * count)
    mine.withUnsafeMutableBufferPointer { b in
      for (t, w) in workers.enumerated() { fill(w, b.baseAddress! + t * count) }
    }
    guard let communicator else { return mine }
    return communicator.allgather(mine)
  }

  /// Rows of global worker `g` in the current batch.
  func rowsOf(_ g: Int) -> Int { share(g, of: batch).count }

  /// The sparse id of batch row `row`, slot `slot` (tests); a multi-valued feature's first.
  public func inputID(row: Int, slot: Int) -> Int32 { inputIDs(row: row, slot: slot)[0] }

  /// The sparse ids of batch row `row`, slot `slot` (tests): one, or a bag's `maxLength` (-1 pads).
  public func inputIDs(row: Int, slot: Int) -> [Int32] {
    let n = graph.pipeline.sparse[slot].multi?.maxLength ?? 1
    for (t, w) in workers.enumerated() {
      let r = share(t, of: batch)
      if r.contains(row) {
        let first = (row - r.lowerBound) * shared.sparseWidth + shared.idOffsets[slot]
        return Array(UnsafeBufferPointer(start: w.sparseIDs + first, count: n))
      }
    }
    preconditionFailure("row \(row) is not in the batch")
  }

  /// Appends task `t`'s predictions for the current batch, in row order ([B] floats, or [B, K]
  /// for a multiclass task).
  public func appendPredictions(_ t: Int, to out: inout [Float]) {
    let v = graph.tasks[t].prediction
    out.append(contentsOf: valueArray(v))
  }

  /// Any value of the current batch, rows in order (tests, diagnostics). [B, E, W]
  public func valueArray(_ v: ValueID) -> [Float] {
    var out: [Float] = []
    for w in workers where w.rows > 0 {
      out.append(contentsOf: UnsafeBufferPointer(start: w.values[v], count: w.rows * graph.values[v].rowWidth))
    }
    // Every rank holds its workers' rows; the batch's rows in order are the ranks' in rank order.
    // Ranks hold different row counts, so each sends its count first.
    guard let communicator else { return out }
    let counts: [Int] = communicator.allgather([out.count])
    let width = counts.max() ?? 0
    var padded = out
    padded += [Float](repeating: 0, count: width - out.count)
    let all: [Float] = communicator.allgather(padded)
    var joined: [Float] = []
    for (r, n) in counts.enumerated() { joined += all[(r * width)..<(r * width + n)] }
    return joined
  }

  // MARK: the step

  /// The forward pass: for prediction and evaluation (dropout off), or, with `training`, as the
  /// next training step runs it (dropout's masks of step `optimizer.steps + 1`).
  public func forward(training: Bool = false) {
    setTraining(training)
    runForward()
  }

  /// The forward pass over the current batch: one phase, or with batch normalisation one phase
  /// per segment between them, the threads' sums added in thread order in between (batch
  /// statistics while training, the running ones otherwise).
  private func runForward() {
    guard !batchNormOps.isEmpty else {
      pool.run(Phase.forward.rawValue)
      return
    }
    batchStatistics = workers[0].training
    var start = 0
    for b in batchNormOps {
      segment = start..<b
      segmentEnd = b
      pool.run(Phase.forwardSegment.rawValue)
      batchNormStatistics(b)
      start = b
    }
    segment = start..<graph.ops.count
    segmentEnd = nil
    pool.run(Phase.forwardSegment.rawValue)
  }

  /// Batch normalisation `b`'s mean and 1/√(σ² + ε) for the current batch: from the threads' sums
  /// (training: biased batch variance), or from the running statistics.
  private func batchNormStatistics(_ b: Int) {
    let op = graph.ops[b]
    let st = shared.batchNorm[b]!
    let C = st.channels
    let eps = Double(Kernels.batchNormEpsilon)
    if batchStatistics {
      let n = Double(batch)
      let sums = globalBatchNormSums(b, C)
      for c in 0..<C {
        var s = 0.0
        var q = 0.0
        for g in 0..<globalThreads where rowsOf(g) > 0 {
          s += sums[g * 2 * C + c]
          q += sums[g * 2 * C + C + c]
        }
        let mean = s / n
        let variance = max(q / n - mean * mean, 0)
        st.mean[c] = Float(mean)
        st.variance[c] = Float(variance)
        st.invStd[c] = Float(1 / (variance + eps).squareRoot())
      }
    } else {
      let rm = params[op.params[2]]
      let rv = params[op.params[3]]
      for c in 0..<C {
        st.mean[c] = rm[c]
        st.invStd[c] = Float(1 / (Double(rv[c]) + eps).squareRoot())
      }
    }
  }

  /// Every global worker's batch-normalisation sums of op `b` (2C each: Σ then Σ of squares, or
  /// backward's two), in global worker order.
  func globalBatchNormSums(_ b: Int, _ C: Int) -> [Double] {
    perWorker(2 * C, zero: 0.0) { w, slot in
      guard w.rows > 0 else { return }
      slot.update(from: w.batchNormSums[b]!, count: 2 * C)
    }
  }

  /// The running statistics move toward this batch's: r ← r + rate·(batch − r), after a step.
  private func updateRunningStatistics() {
    for b in batchNormOps {
      let op = graph.ops[b]
      let st = shared.batchNorm[b]!
      let rate = op.rate ?? 0.01
      let rm = params[op.params[2]]
      let rv = params[op.params[3]]
      for c in 0..<st.channels {
        rm[c] += rate * (st.mean[c] - rm[c])
        rv[c] += rate * (st.variance[c] - rv[c])
      }
    }
  }

  /// The run's seed, for dropout's masks (set by `initialize`).
  private var seed: UInt64 = 0
  private let dropoutOps: [Int]

  /// Switches training mode on (dropout with the keys of the next step's masks, batch
  /// normalisation with batch statistics) or off in every worker.
  private func setTraining(_ on: Bool) {
    guard !dropoutOps.isEmpty || !batchNormOps.isEmpty else { return }
    for w in workers {
      w.training = on
      if on {
        for i in dropoutOps {
          w.dropoutKeys[i] = Kernels.dropoutKey(seed: seed, op: i, step: optimizer.steps + 1)
        }
      }
    }
  }

  /// Computes every loss (and the L2 penalty) for the current batch; returns the weighted total.
  /// With `gradients`, also seeds the loss gradients (each worker's share weighted by its rows).
  @discardableResult
  public func computeLosses(gradients: Bool) -> Double {
    seedGradients = gradients
    pool.run(Phase.losses.rawValue)
    return collectLosses()
  }

  /// Sums the workers' shares of every loss, adds the L2 penalty; returns the weighted total.
  private func collectLosses() -> Double {
    let B = batch
    var total = 0.0
    // Each worker's losses and calibration term: [global worker][L + 1].
    let L = graph.losses.count
    let parts = perWorker(L + 1, zero: 0.0) { w, slot in
      for i in 0..<L { slot[i] = w.lossValues[i] }
      slot[L] = w.calibrationValue
    }
    for i in graph.losses.indices {
      var v = 0.0
      if workers[0].maskable[i] {
        // Each worker holds its sum over its in-space rows.
        for g in 0..<globalThreads where rowsOf(g) > 0 { v += parts[g * (L + 1) + i] }
        v = inSpace[i] > 0 ? v / Double(inSpace[i]) : 0
      } else {
        for g in 0..<globalThreads where rowsOf(g) > 0 { v += Double(rowsOf(g)) / Double(B) * parts[g * (L + 1) + i] }
      }
      lossValues[i] = v
      total += Double(lossWeights[i]) * v
    }
    l2Value = l2Penalty()
    calibrationValue = (0..<globalThreads).reduce(0) { $0 + (rowsOf($1) > 0 ? parts[$1 * (L + 1) + L] : 0) }
    return total + l2Value + calibrationValue
  }

  /// Gradients of the last `computeLosses(gradients: true)` with respect to every parameter, summed
  /// over workers into `grads` (worker 0's), with the L2 terms added.
  public func backward() {
    backwardOfLosses()
    addL2Gradients()
  }

  /// The seeded losses' gradients, summed over workers into worker 0's, in worker order (the
  /// all-reduce of one process).
  func backwardOfLosses() {
    if batchNormOps.isEmpty {
      pool.run(Phase.backward.rawValue)
    } else {
      // Last op first; at each batch normalisation the threads' sums of dz and dz·x̂ are added
      // (in thread order) into the batch means its input gradient needs.
      var hi = graph.ops.count
      for b in batchNormOps.reversed() {
        segment = (b + 1)..<hi
        segmentEnd = b
        pool.run(Phase.backwardSegment.rawValue)
        let st = shared.batchNorm[b]!
        let C = st.channels
        let n = Double(batch)
        let sums = globalBatchNormSums(b, C)
        for c in 0..<C {
          var s = 0.0
          var q = 0.0
          for g in 0..<globalThreads where rowsOf(g) > 0 {
            s += sums[g * 2 * C + c]
            q += sums[g * 2 * C + C + c]
          }
          st.meanDz[c] = Float(s / n)
          st.meanDzXhat[c] = Float(q / n)
        }
        hi = b + 1
      }
      segment = 0..<hi
      segmentEnd = nil
      pool.run(Phase.backwardSegment.rawValue)
    }
    if let communicator {
      accumulateAcrossRanks(communicator)
    } else {
      for w in workers.dropFirst() { workers[0].accumulate(from: w) }
    }
  }

  /// The gradients of every global worker, summed in global worker order into `grads` on every
  /// rank: each rank packs its workers' contributions (dense buffers whole; per table, the rows it
  /// touched and theirs), all ranks gather them, and each adds them up as one process adds its
  /// threads' (`Worker.accumulate`): the first contribution copied, the others added.
  func accumulateAcrossRanks(_ communicator: Communicator) {
    var mine: [UInt8] = []
    func put<T: BitwiseCopyable>(_ p: UnsafePointer<T>, _ n: Int) {
      mine.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n * MemoryLayout<T>.stride))
    }
    for w in workers {
      for (i, p) in graph.params.enumerated() {
        if let rows = w.touched[i] {
          let d = p.shape[1]
          var n = Int64(rows.count)
          withUnsafeBytes(of: &n) { mine.append(contentsOf: $0) }
          put(rows.rows, rows.count)
          for r in 0..<rows.count { put(w.grads[i] + Int(rows.rows[r]) * d, d) }
        } else {
          put(w.grads[i], p.count)
        }
      }
    }
    // Contributions differ in length (touched rows): each rank's length first.
    let lengths: [Int] = communicator.allgather([mine.count])
    let longest = lengths.max() ?? 0
    mine += [UInt8](repeating: 0, count: longest - mine.count)
    let all = communicator.allgather(mine)
    let dst = workers[0]
    for (i, _) in graph.params.enumerated() { dst.touched[i]?.clear() }
    all.withUnsafeBytes { raw in
      for r in 0..<lengths.count {
        var at = r * longest
        func take<T: BitwiseCopyable>(_ n: Int, as: T.Type) -> UnsafePointer<T> {
          let p = (raw.baseAddress! + at).assumingMemoryBound(to: T.self)
          at += n * MemoryLayout<T>.stride
          return p
        }
        for t in 0..<threads {
          let first = r == 0 && t == 0
          for (i, p) in graph.params.enumerated() {
            if let union = dst.touched[i] {
              let d = p.shape[1]
              let n = Int(raw.loadUnaligned(fromByteOffset: at, as: Int64.self))
              at += 8
              let rows = take(n, as: Int32.self)
              let values = take(n * d, as: Float.self)
              for k in 0..<n {
                let target = dst.grads[i] + Int(rows[k]) * d
                let src = values + k * d
                if union.insert(rows[k]) {
                  target.update(from: src, count: d)
                } else {
                  for j in 0..<d { target[j] += src[j] }
                }
              }
            } else {
              let src = take(p.count, as: Float.self)
              let target = dst.grads[i]
              if first {
                target.update(from: src, count: p.count)
              } else {
                for j in 0..<p.count { target[j] += src[j] }
              }
            }
          }
        }
      }
    }
  }

  /// The L2 terms' gradients, added to `grads` (embedding tables: the touched rows).
  func addL2Gradients() {
    for (i, p) in graph.params.enumerated() where p.l2 > 0 {
      if p.kind == .embedding, let rows = workers[0].touched[i] {
        let d = p.shape[1]
        for r in 0..<rows.count {
          let row = Int(rows.rows[r]) * d
          Kernels.l2Backward(dw: grads[i] + row, w: params[i] + row, N: d, lambda: p.l2)
        }
      } else {
        Kernels.l2Backward(dw: grads[i], w: params[i], N: p.count, lambda: p.l2)
      }
    }
  }

  /// The first parameter (in graph order) whose summed gradient holds a NaN or an infinity.
  func firstNonFiniteGradient() -> Int? {
    for i in graph.params.indices {
      if let rows = workers[0].touched[i] {
        let d = graph.params[i].shape[1]
        for r in 0..<rows.count where !Kernels.sumOfSquares(x: grads[i] + Int(rows.rows[r]) * d, N: d).isFinite {
          return i
        }
      } else if !Kernels.sumOfSquares(x: grads[i], N: graph.params[i].count).isFinite {
        return i
      }
    }
    return nil
  }

  /// The first op (in execution order) whose output for the current batch holds a NaN or an
  /// infinity: where a divergence started.
  public func firstNonFiniteOp() -> Int? {
    for (i, op) in graph.ops.enumerated() {
      let width = graph.values[op.output].rowWidth
      for w in workers where w.rows > 0 {
        if !Kernels.sumOfSquares(x: w.values[op.output], N: w.rows * width).isFinite { return i }
      }
    }
    return nil
  }

  /// λ·Σw² over dense parameters, and over the embedding rows this batch looks up (the only rows
  /// the sparse update regularises).
  func l2Penalty() -> Double {
    var total = 0.0
    for (i, p) in graph.params.enumerated() where p.l2 > 0 {
      guard p.kind == .embedding, let columns = shared.embeddingColumns[i] else {
        total += Kernels.l2Penalty(w: params[i], N: p.count, lambda: p.l2)
        continue
      }
      let d = p.shape[1]
      let seen = shared.scratchRows[i]!
      if communicator != nil {
        // Every global worker's ids, in global worker order (the first look-up of a row counts it).
        let S = shared.sparseWidth
        let cap = workers[0].capacity
        let ids = perWorker(cap * S, zero: Int32(0)) { w, slot in slot.update(from: w.sparseIDs, count: w.rows * S) }
        for g in 0..<globalThreads {
          for b in 0..<rowsOf(g) {
            for c in columns {
              let id = ids[g * cap * S + b * S + c]
              if id >= 0 && seen.insert(id) {
                total += Kernels.l2Penalty(w: params[i] + Int(id) * d, N: d, lambda: p.l2)
              }
            }
          }
        }
        seen.clear()
        continue
      }
      for w in workers where w.rows > 0 {
        for b in 0..<w.rows {
          for c in columns {
            let id = w.sparseIDs[b * shared.sparseWidth + c]
            if id >= 0 && seen.insert(id) { total += Kernels.l2Penalty(w: params[i] + Int(id) * d, N: d, lambda: p.l2) }
          }
        }
      }
      seen.clear()
    }
    return total
  }

  /// The forward pass, then one backward per loss (the others' weights 0), each loss's gradient
  /// kept in `tg`; the step's weights are left as the balancer set them.
  private func keepTaskGradients(_ tg: TaskGradients) {
    for i in 0..<lossWeights.count { stepWeights[i] = lossWeights[i] }
    runForward()
    seedGradients = true
    // Each task's own gradient: the calibration terms belong to none of them.
    for w in workers { w.calibrating = false }
    defer { for w in workers { w.calibrating = true } }
    for t in 0..<lossWeights.count {
      for i in 0..<lossWeights.count { lossWeights[i] = i == t ? stepWeights[i] : 0 }
      pool.run(Phase.losses.rawValue)
      backwardOfLosses()
      tg.keep(t, grads: grads, touched: workers[0].touched)
    }
    for i in 0..<lossWeights.count { lossWeights[i] = stepWeights[i] }
  }

  /// One training step on the current batch, in the phases above. Returns the loss: the weighted
  /// task losses, the L2 penalty of the parameters it touched, and the balancer's own term.
  @discardableResult
  public func step(reducer: GradientReducer? = nil) -> Double {
    balancer.weights(into: lossWeights)
    setTraining(true)
    defer { setTraining(false) }
    var loss: Double
    nonFiniteGradient = nil
    if !measuresCosines, let tg = taskGradients {
      // Each loss's gradient kept apart; then the balancer combines them.
      keepTaskGradients(tg)
      loss = collectLosses()
      guard loss.isFinite else { return loss }
      tg.seal()
      tg.recordCosines()
      tg.step = optimizer.steps + 1
      balancer.combine(tg)
      addL2Gradients()
    } else {
      if measuresCosines, let tg = taskGradients {
        // The diagnostic: each task's gradient of this batch, kept only for the cosines; the
        // step below computes everything again, so training is the same to the bit.
        keepTaskGradients(tg)
        tg.seal()
        tg.recordCosines()
      }
      if batchNormOps.isEmpty {
        pool.run(Phase.forwardAndLosses.rawValue)
      } else {
        runForward()
        seedGradients = true
        pool.run(Phase.losses.rawValue)
      }
      loss = collectLosses()
      guard loss.isFinite else { return loss }
      backward()
    }
    for i in lossValues.indices { gradientSet.lossSums[i] = lossValues[i] }
    if let reducer {
      reducer.reduce(gradientSet)
      for i in lossValues.indices { lossValues[i] = gradientSet.lossSums[i] }
    }
    loss += balancer.finish(losses: UnsafeBufferPointer(gradientSet.lossSums))
    nonFiniteBalancer = !balancer.isFinite
    if nonFiniteBalancer { return loss }
    if let p = firstNonFiniteGradient() {
      nonFiniteGradient = p
      return loss
    }
    optimizer.prepare()
    pool.run(Phase.optimize.rawValue)
    balancer.update(with: optimizer)
    updateRunningStatistics()
    return loss
  }
}
