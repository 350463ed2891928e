import MTLGraph
import MTLKernels

/// A set of distinct rows of one embedding table: the list in insertion order and a mark per row.
/// Inserting and clearing cost O(rows in the set), whatever the table size.
public final class RowSet {
  public private(set) var count = 0
  public let rows: UnsafeMutablePointer<Int32>
  private let marks: UnsafeMutablePointer<UInt8>
  let tableRows: Int

  init(tableRows: Int, capacity: Int) {
    self.tableRows = tableRows
    let cap = min(tableRows, capacity)
    rows = .allocate(capacity: max(cap, 1))
    marks = .allocate(capacity: tableRows)
    marks.initialize(repeating: 0, count: tableRows)
  }

  deinit {
    rows.deallocate()
    marks.deallocate()
  }

  /// Adds `row`; true when it was not there yet.
  @inline(__always) @discardableResult
  func insert(_ row: Int32) -> Bool {
    let r = Int(row)
    if marks[r] != 0 { return false }
    marks[r] = 1
    rows[count] = row
    count += 1
    return true
  }

  @inline(__always)
  func contains(_ row: Int32) -> Bool { marks[Int(row)] != 0 }

  /// Empties the set; with `zeroing`, also zeroes those rows (of width `width`) of that buffer.
  func clear(zeroing buffer: UnsafeMutablePointer<Float>? = nil, width: Int = 0) {
    for i in 0..<count {
      let r = Int(rows[i])
      marks[r] = 0
      if let buffer { (buffer + r * width).update(repeating: 0, count: width) }
    }
    count = 0
  }

  public var array: [Int32] { Array(UnsafeBufferPointer(start: rows, count: count)) }
}

/// One batch normalisation's statistics for the current batch, shared by the workers: the mean
/// and 1/√(σ² + ε) its rows are normalised with (the batch's while training, the running ones
/// otherwise), the batch's variance, and backward's batch means of dz and dz·x̂. [C] each.
final class BatchNormState {
  let channels: Int
  let mean: UnsafeMutablePointer<Float>
  let invStd: UnsafeMutablePointer<Float>
  let variance: UnsafeMutablePointer<Float>
  let meanDz: UnsafeMutablePointer<Float>
  let meanDzXhat: UnsafeMutablePointer<Float>
  private let base: UnsafeMutablePointer<Float>

  init(channels c: Int) {
    channels = c
    base = .allocate(capacity: 5 * max(c, 1))
    base.initialize(repeating: 0, count: 5 * max(c, 1))
    mean = base
    invStd = base + c
    variance = base + 2 * c
    meanDz = base + 3 * c
    meanDzXhat = base + 4 * c
  }

  deinit { base.deallocate() }
}

/// What every worker shares: the parameters, the summed gradients (worker 0's), the optimiser state.
final class SharedState {
  let params: [UnsafeMutablePointer<Float>]
  let grads: [UnsafeMutablePointer<Float>]
  let optimizerState: [UnsafeMutablePointer<Float>]
  let counts: [Int]
  /// Id columns of an example (`Pipeline.idColumns`): the row stride of the sparse ids.
  let sparseWidth: Int
  /// Per sparse slot, its first id column (`Pipeline.idOffsets`).
  let idOffsets: [Int]
  /// Per sparse slot of a multi-valued feature: its bag's length and pooling (nil: one id).
  let bags: [(length: Int, pooling: BagPooling)?]
  /// For each embedding table: the id columns that look rows up in it (one per single-valued
  /// feature reading it, `maxLength` per multi-valued one); nil for other parameters.
  let embeddingColumns: [[Int]?]
  /// Per embedding table, a row set for counting the batch's distinct rows.
  let scratchRows: [RowSet?]
  /// Per op: a batch normalisation's statistics of the current batch (nil for other ops).
  let batchNorm: [BatchNormState?]
  private let arena: UnsafeMutablePointer<Float>
  private let arenaCount: Int

  init(graph: Graph) {
    counts = graph.params.map(\.count)
    sparseWidth = graph.pipeline.idColumns
    idOffsets = graph.pipeline.idOffsets
    bags = graph.pipeline.sparse.map { f in f.multi.map { ($0.maxLength, Worker.pooling($0.pooling)) } }
    let total = counts.reduce(0, +)
    let states = Optimizer.stateCount(graph.training.optimizer)
    // params, grads, then each optimiser state buffer over all parameters; every parameter starts
    // on a 64-byte boundary.
    let padded = counts.map { ($0 + 15) / 16 * 16 }
    let block = padded.reduce(0, +)
    let count = block * 2 + total * states + 16
    let base = UnsafeMutablePointer<Float>.allocate(capacity: count)
    base.initialize(repeating: 0, count: count)
    arenaCount = count
    arena = base
    var offsets: [Int] = []
    var o = 0
    for n in padded {
      offsets.append(o)
      o += n
    }
    params = offsets.map { base + $0 }
    grads = offsets.map { base + block + $0 }
    optimizerState = (0..<states).map { base + 2 * block + $0 * total }
    var columns = [[Int]?](repeating: nil, count: graph.params.count)
    for op in graph.ops where op.kind == .embed {
      let slot = op.slot!
      let first = graph.pipeline.idOffsets[slot]
      columns[op.params[0]] =
        (columns[op.params[0]] ?? []) + Array(first..<(first + (graph.pipeline.sparse[slot].multi?.maxLength ?? 1)))
    }
    embeddingColumns = columns
    scratchRows = graph.params.enumerated().map { i, p in
      columns[i] != nil ? RowSet(tableRows: p.shape[0], capacity: p.shape[0]) : nil
    }
    batchNorm = graph.ops.map {
      $0.kind == .batchNorm ? BatchNormState(channels: graph.values[$0.output].rowWidth) : nil
    }
  }

  deinit {
    arena.deinitialize(count: arenaCount)
    arena.deallocate()
  }
}

/// One thread's share of a batch: its activations and their gradients, its inputs, its parameter
/// gradients (worker 0 writes the shared, summed ones), and operand lists built once.
final class Worker {
  let graph: Graph
  let shared: SharedState
  let capacity: Int
  /// Rows of the current batch this worker owns.
  var rows = 0
  /// The batch row of this worker's first row (dropout's masks are per batch row).
  var firstRow = 0
  /// Whether the forward pass trains (dropout on) and, if so, the step's key of each dropout op.
  var training = false
  var dropoutKeys: [UInt64] = []
  /// Per batch-normalisation op: this worker's sums over its rows [2C] (forward: Σx, Σx²;
  /// backward: Σdz, Σdz·x̂); nil for other ops.
  let batchNormSums: [UnsafeMutablePointer<Double>?]

  let values: [UnsafeMutablePointer<Float>]
  let valueGrads: [UnsafeMutablePointer<Float>]
  let needsGrad: [Bool]
  /// When gradients are born, zeroed and reused (see `GradientPlan`).
  let plan: GradientPlan
  let grads: [UnsafeMutablePointer<Float>]
  /// Embedding rows this worker's gradient holds, per parameter (nil for dense parameters).
  let touched: [RowSet?]
  let scratch: UnsafeMutablePointer<Float>
  let sparseIDs: UnsafeMutablePointer<Int32>
  let dense: UnsafeMutablePointer<Float>
  let labels: UnsafeMutablePointer<Float>
  var lossValues: [Double]
  /// This worker's share of the calibration terms (already divided by the batch size).
  var calibrationValue = 0.0
  /// Whether `computeLosses` adds the calibration terms (not while one task's gradient is kept).
  var calibrating = true
  /// Per loss: its label may be absent on some rows (`LabelColumn.maskable`).
  let maskable: [Bool]

  // Operand lists of the multi-input kernels, one per op (empty for other ops).
  private var parts: [[(UnsafePointer<Float>, Int)]] = []
  private var partGrads: [[(UnsafeMutablePointer<Float>?, Int)]] = []
  private var mixSources: [[MixSource]] = []
  private var mixGrads: [[MixGradSource]] = []
  private var products: [[UnsafePointer<Float>]] = []
  private var productGrads: [[UnsafeMutablePointer<Float>?]] = []

  private let arena: UnsafeMutablePointer<Float>
  private let arenaCount: Int
  private let ownedGrads: Bool

  init(graph: Graph, shared: SharedState, capacity: Int, ownsGrads: Bool, mergedGrads: [UnsafeMutablePointer<Float>]) {
    self.graph = graph
    self.shared = shared
    self.capacity = capacity
    self.ownedGrads = ownsGrads
    lossValues = Array(repeating: 0, count: graph.losses.count)
    calibrationValue = 0
    dropoutKeys = Array(repeating: 0, count: graph.ops.count)
    batchNormSums = graph.ops.map { op in
      guard op.kind == .batchNorm else { return nil }
      let n = 2 * graph.values[op.output].rowWidth
      let p = UnsafeMutablePointer<Double>.allocate(capacity: n)
      p.initialize(repeating: 0, count: n)
      return p
    }
    // A weighted loss goes the masked way too (its kernels take the positive weight).
    maskable = graph.losses.map { graph.pipeline.labels[$0.label].maskable || $0.positiveWeight != nil }
    plan = GradientPlan(graph: graph)
    needsGrad = plan.needsGrad
    let ng = plan.needsGrad

    let valueCounts = graph.values.map { capacity * $0.rowWidth }
    let maxRow = graph.values.map(\.rowWidth).max() ?? 1
    let gradCounts = ownsGrads ? shared.counts : []
    let gradBuffers = plan.slotRowWidth.map { capacity * $0 }
    let sizes =
      valueCounts + gradBuffers + [capacity * maxRow, capacity * max(graph.pipeline.dense.count, 1)]
      + [capacity * max(graph.pipeline.labels.count, 1)] + gradCounts
    let rounded = sizes.map { ($0 + 15) / 16 * 16 }
    let count = rounded.reduce(0, +)
    let base = UnsafeMutablePointer<Float>.allocate(capacity: count)
    base.initialize(repeating: 0, count: count)
    arenaCount = count
    arena = base
    var cursor = base
    var k = 0
    func take() -> UnsafeMutablePointer<Float> {
      defer {
        cursor += rounded[k]
        k += 1
      }
      return cursor
    }
    values = valueCounts.map { _ in take() }
    let buffers = gradBuffers.map { _ in take() }
    // A value without a gradient buffer is never read or written in backward (the plan skips
    // every op that would): a sentinel that is never dereferenced keeps the lists simple.
    let unused = UnsafeMutablePointer<Float>(bitPattern: 0x10)!
    valueGrads = plan.slot.map { $0.map { buffers[$0] } ?? unused }
    scratch = take()
    dense = take()
    labels = take()
    grads = ownsGrads ? gradCounts.map { _ in take() } : mergedGrads
    let s = max(graph.pipeline.idColumns, 1)
    sparseIDs = .allocate(capacity: capacity * s)
    sparseIDs.initialize(repeating: 0, count: capacity * s)
    touched = graph.params.enumerated().map { i, p in
      shared.embeddingColumns[i] != nil ? RowSet(tableRows: p.shape[0], capacity: p.shape[0]) : nil
    }

    for op in graph.ops {
      let ins = op.inputs
      parts.append(op.kind == .concat ? ins.map { (UnsafePointer(values[$0]), graph.values[$0].rowWidth) } : [])
      partGrads.append(
        op.kind == .concat ? ins.map { (ng[$0] ? valueGrads[$0] : nil, graph.values[$0].rowWidth) } : [])
      let refs = op.kind == .mix ? (op.mix ?? []) : []
      mixSources.append(
        refs.map { r in
          let v = ins[r.input]
          return MixSource(
            base: values[v], rowStride: graph.values[v].rowWidth, offset: r.expert * graph.values[v].width)
        })
      mixGrads.append(
        refs.map { r in
          let v = ins[r.input]
          return MixGradSource(
            base: ng[v] ? valueGrads[v] : nil, rowStride: graph.values[v].rowWidth,
            offset: r.expert * graph.values[v].width)
        })
      products.append(op.kind == .product ? ins.map { UnsafePointer(values[$0]) } : [])
      productGrads.append(op.kind == .product ? ins.map { ng[$0] ? valueGrads[$0] : nil } : [])
    }
  }

  deinit {
    arena.deinitialize(count: arenaCount)
    arena.deallocate()
    sparseIDs.deallocate()
    for p in batchNormSums { p?.deallocate() }
  }

  static func act(_ a: Activation) -> Act {
    switch a {
    case .none: return .none
    case .relu: return .relu
    case .sigmoid: return .sigmoid
    case .tanh: return .tanh
    case .leakyRelu: return .leakyRelu
    case .prelu, .gelu, .swish: preconditionFailure("\(a) runs as an `activation` op, never in a producer")
    }
  }

  static func pooling(_ p: MultiValue.Pooling) -> BagPooling {
    switch p {
    case .sum: return .sum
    case .mean: return .mean
    case .max: return .max
    }
  }

  /// The kernel form of an `activation` op.
  static func inputAct(_ op: Op) -> InputAct {
    switch op.activation {
    case .gelu: return .gelu
    case .swish: return .swish
    case .prelu: return .prelu
    case .leakyRelu: return .leakyRelu(slope: op.slope ?? Act.leakySlope)
    case .none, .relu, .sigmoid, .tanh: preconditionFailure("\(op.activation) is applied by its producer")
    }
  }

  // MARK: forward

  func forward() { forward(graph.ops.indices) }

  /// Ops `range` of the forward pass over this worker's rows.
  func forward(_ range: Range<Int>) {
    let B = rows
    guard B > 0 else { return }
    let S = shared.sparseWidth
    for i in range {
      let op = graph.ops[i]
      let y = values[op.output]
      let out = graph.values[op.output]
      switch op.kind {
      case .embed:
        let slot = op.slot!
        let ids = sparseIDs + shared.idOffsets[slot]
        let table = shared.params[op.params[0]]
        let V = graph.params[op.params[0]].shape[0]
        if let bag = shared.bags[slot] {
          Kernels.embedBagForward(
            y: y, table: table, ids: ids, idStride: S, L: bag.length, pooling: bag.pooling, B: B, D: out.width, V: V)
        } else {
          Kernels.embedForward(y: y, table: table, ids: ids, idStride: S, B: B, D: out.width, V: V)
        }
      case .denseInput:
        y.update(from: dense, count: B * out.width)
      case .concat:
        Kernels.concatForward(y: y, parts: parts[i], B: B)
      case .linear:
        let x = graph.values[op.inputs[0]]
        Kernels.linearActForward(
          y: y, x: values[op.inputs[0]], w: shared.params[op.params[0]],
          b: op.params.count > 1 ? shared.params[op.params[1]] : nil, act: Worker.act(op.activation), B: B,
          I: x.rowWidth, O: out.rowWidth)
      case .expertLinear:
        let x = graph.values[op.inputs[0]]
        Kernels.expertLinearForward(
          y: y, x: values[op.inputs[0]], w: shared.params[op.params[0]], b: shared.params[op.params[1]],
          act: Worker.act(op.activation), E: out.experts, B: B, I: x.width, O: out.width)
      case .softmax:
        Kernels.softmaxForward(y: y, x: values[op.inputs[0]], B: B, K: out.width)
      case .mix:
        Kernels.mixForward(y: y, g: values[op.inputs[0]], sources: mixSources[i], B: B, H: out.width)
      case .sigmoid:
        Kernels.activationForward(act: .sigmoid, y: y, x: values[op.inputs[0]], N: B)
      case .product:
        Kernels.productForward(y: y, xs: products[i], B: B)
      case .batchNorm:
        let st = shared.batchNorm[i]!
        Kernels.batchNormForward(
          y: y, x: values[op.inputs[0]], mean: st.mean, invStd: st.invStd, gamma: shared.params[op.params[0]],
          beta: shared.params[op.params[1]], act: Worker.act(op.activation), B: B, C: out.rowWidth)
      case .dot:
        let a = graph.values[op.inputs[0]]
        Kernels.rowDotForward(
          y: y, a: values[op.inputs[0]], c: values[op.inputs[1]], scale: op.scale ?? 1, B: B, K: a.rowWidth)
      case .activation:
        Kernels.inputActivationForward(
          act: Worker.inputAct(op), y: y, x: values[op.inputs[0]],
          slopes: op.params.first.map { UnsafePointer(shared.params[$0]) }, rows: B, C: out.rowWidth)
      case .dropout:
        let n = B * out.rowWidth
        if training {
          Kernels.dropoutForward(
            y: y, x: values[op.inputs[0]], B: B, W: out.rowWidth, rate: op.rate ?? 0, key: dropoutKeys[i],
            firstRow: firstRow)
        } else {
          y.update(from: values[op.inputs[0]], count: n)
        }
      }
    }
  }

  // MARK: losses

  /// This worker's share of every loss. With `gradients`, zeroes the value gradients and seeds the
  /// loss gradients, weighted by rows/batch so the summed gradient is that of the batch mean.
  /// A maskable loss (`LabelColumn.maskable`) is the mean over the batch's rows that have a label,
  /// `inSpace[i]` of them in the whole batch: its `lossValues` entry is this worker's sum, and
  /// its gradient is scaled by weight / inSpace[i] (0 when no row of the batch has a label).
  func computeLosses(
    gradients: Bool, batch: Int, weights: UnsafeMutableBufferPointer<Float>, inSpace: UnsafeMutableBufferPointer<Int>
  ) {
    let B = rows
    guard B > 0 else { return }
    let L = graph.pipeline.labels.count
    if gradients {
      for v in plan.zeroAtLosses { valueGrads[v].update(repeating: 0, count: B * graph.values[v].rowWidth) }
    }
    let share = Float(B) / Float(batch)
    for (i, l) in graph.losses.enumerated() {
      let x = values[l.input]
      let y = labels + l.label
      let d: UnsafeMutablePointer<Float>? = gradients ? scratch : nil
      if maskable[i] {
        let n = inSpace[i]
        let scale = n > 0 ? weights[i] / Float(n) : 0
        switch l.kind {
        case .bceLogits:
          lossValues[i] = Kernels.bceLogitsMasked(
            dz: d, z: x, y: y, yStride: L, B: B, scale: scale, positiveWeight: l.positiveWeight ?? 1)
        case .bceProb:
          lossValues[i] = Kernels.bceProbMasked(
            dp: d, p: x, y: y, yStride: L, B: B, scale: scale, positiveWeight: l.positiveWeight ?? 1)
        case .mse: lossValues[i] = Kernels.mseMasked(dx: d, x: x, y: y, yStride: L, B: B, scale: scale)
        case .softmaxCrossEntropy:
          lossValues[i] = Kernels.softmaxCrossEntropy(
            dz: d, z: x, y: y, yStride: L, B: B, K: graph.values[l.input].rowWidth, scale: scale)
        }
      } else {
        let w = weights[i] * share
        switch l.kind {
        case .bceLogits: lossValues[i] = Kernels.bceLogits(dz: d, z: x, y: y, yStride: L, B: B, weight: w)
        case .bceProb: lossValues[i] = Kernels.bceProb(dp: d, p: x, y: y, yStride: L, B: B, weight: w)
        case .mse: lossValues[i] = Kernels.mse(dx: d, x: x, y: y, yStride: L, B: B, weight: w)
        case .softmaxCrossEntropy: preconditionFailure("a softmax cross-entropy loss is always maskable")
        }
      }
      if gradients && needsGrad[l.input] {
        let g = valueGrads[l.input]
        for b in 0..<(B * graph.values[l.input].rowWidth) { g[b] += scratch[b] }
      }
    }
    // AITM's calibrations: a mean over the whole batch, so each row weighs W / batch. Not a task
    // loss: left out of the passes that keep one task's gradient (`calibrating` false).
    calibrationValue = 0
    for c in graph.calibrations ?? [] where calibrating {
      let seed = gradients
      calibrationValue += Kernels.calibration(
        dp: seed && needsGrad[c.input] ? valueGrads[c.input] : nil,
        dq: seed && needsGrad[c.upstream] ? valueGrads[c.upstream] : nil, p: values[c.input],
        q: values[c.upstream], weight: c.weight / Float(batch), B: B)
    }
  }

  // MARK: backward

  /// This worker's parameter gradients (overwritten; for embeddings only the looked-up rows).
  func backward() {
    backwardBegin()
    backward(graph.ops.indices)
  }

  /// Zeroes this worker's parameter gradients (embeddings: the rows the last step touched).
  func backwardBegin() {
    for (i, p) in graph.params.enumerated() {
      if let set = touched[i] {
        set.clear(zeroing: grads[i], width: p.shape[1])
      } else {
        grads[i].update(repeating: 0, count: p.count)
      }
    }
  }

  /// The first half of batch normalisation `i`'s backward over this worker's rows (its sums; the
  /// executor adds them up before `backward` reaches the op).
  func batchNormBackwardSums(_ i: Int) {
    let op = graph.ops[i]
    let sums = batchNormSums[i]!
    let C = graph.values[op.output].rowWidth
    guard rows > 0, needsGrad[op.output], !plan.skip[i] else {
      sums.update(repeating: 0, count: 2 * C)
      return
    }
    let st = shared.batchNorm[i]!
    Kernels.batchNormBackwardSums(
      sums: sums, dy: valueGrads[op.output], y: values[op.output], x: values[op.inputs[0]], mean: st.mean,
      invStd: st.invStd, dgamma: grads[op.params[0]], dbeta: grads[op.params[1]], act: Worker.act(op.activation),
      B: rows, C: C)
  }

  /// This worker's sums for batch normalisation `i`'s batch statistics (its input's rows).
  func batchNormForwardSums(_ i: Int) {
    let op = graph.ops[i]
    Kernels.batchNormSums(
      sums: batchNormSums[i]!, x: values[op.inputs[0]], B: rows, C: graph.values[op.output].rowWidth)
  }

  /// Ops `range` of backward, last first (a batch normalisation among them has had its first half).
  func backward(_ range: Range<Int>) {
    let B = rows
    guard B > 0 else { return }
    let S = shared.sparseWidth
    for i in range.reversed() {
      let op = graph.ops[i]
      guard needsGrad[op.output], !plan.skip[i] else { continue }
      for v in plan.zeroBefore[i] { valueGrads[v].update(repeating: 0, count: B * graph.values[v].rowWidth) }
      let dy = valueGrads[op.output]
      let y = values[op.output]
      let out = graph.values[op.output]
      switch op.kind {
      case .embed:
        let table = op.params[0]
        let slot = op.slot!
        let ids = sparseIDs + shared.idOffsets[slot]
        let set = touched[table]!
        if let bag = shared.bags[slot] {
          Kernels.embedBagBackward(
            dtable: grads[table], dy: dy, table: shared.params[table], ids: ids, idStride: S, L: bag.length,
            pooling: bag.pooling, B: B, D: out.width)
          for b in 0..<B {
            for k in 0..<bag.length where ids[b * S + k] >= 0 { set.insert(ids[b * S + k]) }
          }
        } else {
          Kernels.embedBackward(dtable: grads[table], dy: dy, ids: ids, idStride: S, B: B, D: out.width)
          for b in 0..<B { set.insert(ids[b * S]) }
        }
      case .denseInput:
        break
      case .concat:
        Kernels.concatBackward(dparts: partGrads[i], dy: dy, B: B)
      case .linear:
        let xID = op.inputs[0]
        let x = graph.values[xID]
        Kernels.activationBackward(act: Worker.act(op.activation), dz: dy, dy: dy, y: y, N: B * out.rowWidth)
        Kernels.linearBackward(
          dx: needsGrad[xID] ? valueGrads[xID] : nil, dw: grads[op.params[0]],
          db: op.params.count > 1 ? grads[op.params[1]] : nil, dz: dy, x: values[xID], w: shared.params[op.params[0]],
          B: B, I: x.rowWidth, O: out.rowWidth, overwriteDX: plan.overwriteDX[i])
      case .expertLinear:
        let xID = op.inputs[0]
        let x = graph.values[xID]
        Kernels.activationBackward(act: Worker.act(op.activation), dz: dy, dy: dy, y: y, N: B * out.rowWidth)
        Kernels.expertLinearBackward(
          dx: needsGrad[xID] ? valueGrads[xID] : nil, dw: grads[op.params[0]], db: grads[op.params[1]], dz: dy,
          x: values[xID], w: shared.params[op.params[0]], E: out.experts, B: B, I: x.width, O: out.width,
          overwriteDX: plan.overwriteDX[i])
      case .softmax:
        let xID = op.inputs[0]
        if needsGrad[xID] { Kernels.softmaxBackward(dx: valueGrads[xID], dy: dy, y: y, B: B, K: out.width) }
      case .mix:
        let gID = op.inputs[0]
        Kernels.mixBackward(
          dg: needsGrad[gID] ? valueGrads[gID] : nil, dsources: mixGrads[i], dy: dy, g: values[gID],
          sources: mixSources[i], B: B, H: out.width)
      case .sigmoid:
        let xID = op.inputs[0]
        if needsGrad[xID] {
          Kernels.activationBackward(act: .sigmoid, dz: scratch, dy: dy, y: y, N: B)
          let dx = valueGrads[xID]
          for b in 0..<B { dx[b] += scratch[b] }
        }
      case .product:
        Kernels.productBackward(dxs: productGrads[i], dy: dy, xs: products[i], B: B)
      case .batchNorm:
        let xID = op.inputs[0]
        if needsGrad[xID] {
          let st = shared.batchNorm[i]!
          Kernels.batchNormBackwardInput(
            dx: valueGrads[xID], dz: dy, x: values[xID], mean: st.mean, invStd: st.invStd,
            gamma: shared.params[op.params[0]], meanDz: st.meanDz, meanDzXhat: st.meanDzXhat, B: B,
            C: out.rowWidth)
        }
      case .dot:
        let (aID, cID) = (op.inputs[0], op.inputs[1])
        Kernels.rowDotBackward(
          da: needsGrad[aID] ? valueGrads[aID] : nil, dc: needsGrad[cID] ? valueGrads[cID] : nil, dy: dy,
          a: values[aID],
          c: values[cID], scale: op.scale ?? 1, B: B, K: graph.values[aID].rowWidth)
      case .activation:
        let xID = op.inputs[0]
        Kernels.inputActivationBackward(
          act: Worker.inputAct(op), dx: needsGrad[xID] ? valueGrads[xID] : nil,
          dslopes: op.params.first.map { grads[$0] },
          dy: dy, x: values[xID], slopes: op.params.first.map { UnsafePointer(shared.params[$0]) }, rows: B,
          C: out.rowWidth)
      case .dropout:
        let xID = op.inputs[0]
        if needsGrad[xID] {
          if training {
            Kernels.dropoutBackward(
              dx: valueGrads[xID], dy: dy, B: B, W: out.rowWidth, rate: op.rate ?? 0, key: dropoutKeys[i],
              firstRow: firstRow)
          } else {
            let dx = valueGrads[xID]
            for k in 0..<(B * out.rowWidth) { dx[k] += dy[k] }
          }
        }
      }
    }
  }

  /// Adds another worker's parameter gradients into this one's (dense in full, embeddings by row).
  func accumulate(from other: Worker) {
    for (i, p) in graph.params.enumerated() {
      if let theirs = other.touched[i], let mine = touched[i] {
        let d = p.shape[1]
        for r in 0..<theirs.count {
          let row = theirs.rows[r]
          let src = other.grads[i] + Int(row) * d
          let dst = grads[i] + Int(row) * d
          if mine.insert(row) {
            dst.update(from: src, count: d)
          } else {
            for j in 0..<d { dst[j] += src[j] }
          }
        }
      } else {
        let dst = grads[i]
        let src = other.grads[i]
        for j in 0..<p.count { dst[j] += src[j] }
      }
    }
  }
}
