import MTLGraph
import MTLKernels
import MTLSupport

/// Runs a bound graph: forward over `graph.ops`, losses, backward in reverse order, and the
/// optimiser step. All memory (parameters, gradients, optimiser state, activations, their
/// gradients, batch inputs) is planned once for `maxBatch` rows and carved from one arena; a
/// training step allocates nothing.
///
/// A batch of B ≤ maxBatch rows uses the first E·B·W floats of each value buffer, laid out
/// [E, B, W], so every kernel sees a dense tensor.
public final class Executor {
  public let graph: Graph
  public let maxBatch: Int

  // Buffers, all views into `arena`.
  private let arena: UnsafeMutablePointer<Float>
  private let arenaCount: Int
  /// Parameters and their gradients. [param] -> [count]
  public private(set) var params: [UnsafeMutablePointer<Float>] = []
  public private(set) var grads: [UnsafeMutablePointer<Float>] = []
  /// Activations and their gradients. [value] -> [E, maxB, W]
  private var values: [UnsafeMutablePointer<Float>] = []
  private var valueGrads: [UnsafeMutablePointer<Float>] = []
  /// Whether a value's gradient is needed (some parameter is upstream of it).
  private var needsGrad: [Bool]
  /// A [maxB · largest width] scratch for gradients that must be added, not written.
  private let scratch: UnsafeMutablePointer<Float>

  /// Batch inputs, filled by the caller (see `fill`). sparse [maxB, S] ids, dense [maxB, Dn], labels [maxB, L].
  public let sparseIDs: UnsafeMutablePointer<Int32>
  public let dense: UnsafeMutablePointer<Float>
  public let labels: UnsafeMutablePointer<Float>
  public var sparseWidth: Int { graph.pipeline.sparse.count }
  public var denseWidth: Int { graph.pipeline.dense.count }
  public var labelWidth: Int { graph.pipeline.labels.count }

  /// Per-op operand lists for the multi-input kernels, built once so the step allocates nothing.
  private var parts: [[(UnsafePointer<Float>, Int)]] = []
  private var partGrads: [[(UnsafeMutablePointer<Float>?, Int)]] = []

  public let optimizer: Optimizer

  /// Rows of the current batch.
  public private(set) var batch = 0
  /// Per-loss mean loss of the last forward pass (in `graph.losses` order), and the L2 penalty.
  public private(set) var lossValues: [Double]
  public private(set) var l2Value: Double = 0

  public init(graph: Graph, maxBatch: Int) {
    precondition(graph.isBound, "bind embedding rows before executing")
    precondition(maxBatch > 0)
    self.graph = graph
    self.maxBatch = maxBatch
    self.lossValues = Array(repeating: 0, count: graph.losses.count)

    // Which values need gradients: outputs of ops with parameters, and anything downstream.
    var ng = Array(repeating: false, count: graph.values.count)
    for op in graph.ops { ng[op.output] = !op.params.isEmpty || op.inputs.contains { ng[$0] } }
    needsGrad = ng

    // Plan the arena.
    let paramCounts = graph.params.map(\.count)
    let valueCounts = graph.values.map { $0.experts * maxBatch * $0.width }
    let maxWidth = graph.values.map { $0.experts * $0.width }.max() ?? 1
    let optState = Optimizer.stateCount(graph.training.optimizer)
    let sizes =
      paramCounts + paramCounts + valueCounts + valueCounts + [maxBatch * maxWidth]
      + Array(repeating: paramCounts.reduce(0, +), count: optState)
      + [maxBatch * max(graph.pipeline.dense.count, 1), maxBatch * max(graph.pipeline.labels.count, 1)]
    // Round each buffer to 16 floats (64 bytes) so every buffer starts on a cache line.
    let rounded = sizes.map { ($0 + 15) / 16 * 16 }
    arenaCount = rounded.reduce(0, +)
    arena = .allocate(capacity: arenaCount)
    arena.initialize(repeating: 0, count: arenaCount)
    var cursor = arena
    var k = 0
    func take() -> UnsafeMutablePointer<Float> {
      defer {
        cursor += rounded[k]
        k += 1
      }
      return cursor
    }
    params = paramCounts.map { _ in take() }
    grads = paramCounts.map { _ in take() }
    values = valueCounts.map { _ in take() }
    valueGrads = valueCounts.map { _ in take() }
    scratch = take()
    var state: [UnsafeMutablePointer<Float>] = []
    for _ in 0..<optState { state.append(take()) }
    dense = take()
    labels = take()
    sparseIDs = .allocate(capacity: maxBatch * max(graph.pipeline.sparse.count, 1))
    sparseIDs.initialize(repeating: 0, count: maxBatch * max(graph.pipeline.sparse.count, 1))

    optimizer = Optimizer(training: graph.training, params: params, grads: grads, counts: paramCounts, state: state)

    for op in graph.ops {
      parts.append(op.inputs.map { (UnsafePointer(values[$0]), graph.values[$0].width * graph.values[$0].experts) })
      partGrads.append(
        op.inputs.map { (needsGrad[$0] ? valueGrads[$0] : nil, graph.values[$0].width * graph.values[$0].experts) })
    }
  }

  deinit {
    arena.deinitialize(count: arenaCount)
    arena.deallocate()
    sparseIDs.deallocate()
  }

  // MARK: parameters

  /// Draws every parameter from its initializer, each from its own named stream of `seed`.
  public func initialize(seed: UInt64) {
    for (i, p) in graph.params.enumerated() {
      var rng = SeededRNG(seed: seed, stream: p.name)
      let w = params[i]
      switch p.initializer {
      case .zeros:
        w.update(repeating: 0, count: p.count)
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

  /// The prediction of task `t` for the current batch. [B]
  public func prediction(_ t: Int) -> UnsafePointer<Float> { UnsafePointer(values[graph.tasks[t].prediction]) }
  /// Any value's buffer (tests, diagnostics). [E, B, W]
  public func value(_ v: ValueID) -> UnsafePointer<Float> { UnsafePointer(values[v]) }

  // MARK: forward

  /// Runs every op on the first `rows` rows of the input buffers.
  public func forward(rows: Int) {
    precondition(rows > 0 && rows <= maxBatch)
    batch = rows
    let B = rows
    for (i, op) in graph.ops.enumerated() {
      let y = values[op.output]
      let out = graph.values[op.output]
      switch op.kind {
      case .embed:
        let slot = op.slot!
        Kernels.embedForward(
          y: y, table: params[op.params[0]], ids: sparseIDs + slot, idStride: sparseWidth, B: B, D: out.width,
          V: graph.params[op.params[0]].shape[0])
      case .denseInput:
        y.update(from: dense, count: B * out.width)
      case .concat:
        Kernels.concatForward(y: y, parts: parts[i], B: B)
      case .linear:
        let x = graph.values[op.inputs[0]]
        Kernels.linearForward(
          y: y, x: values[op.inputs[0]], w: params[op.params[0]], b: op.params.count > 1 ? params[op.params[1]] : nil,
          B: B, I: x.width, O: out.width)
        Kernels.activationForward(act: Executor.act(op.activation), y: y, x: y, N: B * out.width)
      case .expertLinear:
        let x = graph.values[op.inputs[0]]
        Kernels.expertLinearForward(
          y: y, x: values[op.inputs[0]], xShared: x.experts == 1 && out.experts > 1, w: params[op.params[0]],
          b: params[op.params[1]], E: out.experts, B: B, I: x.width, O: out.width)
        Kernels.activationForward(act: Executor.act(op.activation), y: y, x: y, N: out.experts * B * out.width)
      case .softmax:
        Kernels.softmaxForward(y: y, x: values[op.inputs[0]], B: B, K: out.width)
      case .mix:
        Kernels.mixForward(y: y, g: values[op.inputs[0]], experts: mixExperts(i), B: B, H: out.width)
      case .sigmoid:
        Kernels.activationForward(act: .sigmoid, y: y, x: values[op.inputs[0]], N: B)
      case .product:
        Kernels.productForward(y: y, xs: productInputs(i), B: B)
      }
    }
  }

  /// (pointer, experts) of a mix op's expert groups.
  @inline(__always) private func mixExperts(_ i: Int) -> [(UnsafePointer<Float>, Int)] {
    mixOperands[i]
  }
  private lazy var mixOperands: [[(UnsafePointer<Float>, Int)]] = graph.ops.map { op in
    op.kind == .mix ? op.inputs.dropFirst().map { (UnsafePointer(values[$0]), graph.values[$0].experts) } : []
  }
  private lazy var mixGradOperands: [[(UnsafeMutablePointer<Float>?, Int)]] = graph.ops.map { op in
    op.kind == .mix
      ? op.inputs.dropFirst().map { (needsGrad[$0] ? valueGrads[$0] : nil, graph.values[$0].experts) } : []
  }
  @inline(__always) private func productInputs(_ i: Int) -> [UnsafePointer<Float>] { productOperands[i] }
  private lazy var productOperands: [[UnsafePointer<Float>]] = graph.ops.map { op in
    op.kind == .product ? op.inputs.map { UnsafePointer(values[$0]) } : []
  }
  private lazy var productGradOperands: [[UnsafeMutablePointer<Float>?]] = graph.ops.map { op in
    op.kind == .product ? op.inputs.map { needsGrad[$0] ? valueGrads[$0] : nil } : []
  }

  static func act(_ a: Activation) -> Act {
    switch a {
    case .none: return .none
    case .relu: return .relu
    case .sigmoid: return .sigmoid
    case .tanh: return .tanh
    case .leakyRelu: return .leakyRelu
    }
  }

  // MARK: losses

  /// Computes every loss (and the L2 penalty) for the current batch; returns the weighted total.
  /// With `gradients`, also seeds the loss gradients into the value gradients (zeroing them first).
  @discardableResult
  public func computeLosses(gradients: Bool) -> Double {
    let B = batch
    if gradients {
      for v in graph.values.indices where needsGrad[v] {
        valueGrads[v].update(repeating: 0, count: graph.values[v].experts * B * graph.values[v].width)
      }
    }
    var total = 0.0
    for (i, l) in graph.losses.enumerated() {
      let x = values[l.input]
      let y = labels + l.label
      let d: UnsafeMutablePointer<Float>? = gradients ? scratch : nil
      let v: Double
      switch l.kind {
      case .bceLogits: v = Kernels.bceLogits(dz: d, z: x, y: y, yStride: labelWidth, B: B, weight: l.weight)
      case .bceProb: v = Kernels.bceProb(dp: d, p: x, y: y, yStride: labelWidth, B: B, weight: l.weight)
      case .mse: v = Kernels.mse(dx: d, x: x, y: y, yStride: labelWidth, B: B, weight: l.weight)
      }
      lossValues[i] = v
      total += Double(l.weight) * v
      if gradients {
        let g = valueGrads[l.input]
        for b in 0..<B { g[b] += scratch[b] }
      }
    }
    l2Value = 0
    for (i, p) in graph.params.enumerated() where p.l2 > 0 {
      l2Value += Kernels.l2Penalty(w: params[i], N: p.count, lambda: p.l2)
    }
    return total + l2Value
  }

  // MARK: backward

  /// Gradients of the last `computeLosses(gradients: true)` with respect to every parameter.
  /// Overwrites `grads`.
  public func backward() {
    let B = batch
    for (i, p) in graph.params.enumerated() {
      grads[i].update(repeating: 0, count: p.count)
      if p.l2 > 0 { Kernels.l2Backward(dw: grads[i], w: params[i], N: p.count, lambda: p.l2) }
    }
    for i in graph.ops.indices.reversed() {
      let op = graph.ops[i]
      guard needsGrad[op.output] else { continue }
      let dy = valueGrads[op.output]
      let y = values[op.output]
      let out = graph.values[op.output]
      switch op.kind {
      case .embed:
        Kernels.embedBackward(
          dtable: grads[op.params[0]], dy: dy, ids: sparseIDs + op.slot!, idStride: sparseWidth, B: B, D: out.width)
      case .denseInput:
        break
      case .concat:
        Kernels.concatBackward(dparts: partGrads[i], dy: dy, B: B)
      case .linear:
        let xID = op.inputs[0]
        let x = graph.values[xID]
        Kernels.activationBackward(act: Executor.act(op.activation), dz: dy, dy: dy, y: y, N: B * out.width)
        Kernels.linearBackward(
          dx: needsGrad[xID] ? valueGrads[xID] : nil, dw: grads[op.params[0]],
          db: op.params.count > 1 ? grads[op.params[1]] : nil, dz: dy, x: values[xID], w: params[op.params[0]], B: B,
          I: x.width, O: out.width)
      case .expertLinear:
        let xID = op.inputs[0]
        let x = graph.values[xID]
        Kernels.activationBackward(
          act: Executor.act(op.activation), dz: dy, dy: dy, y: y, N: out.experts * B * out.width)
        Kernels.expertLinearBackward(
          dx: needsGrad[xID] ? valueGrads[xID] : nil, dw: grads[op.params[0]], db: grads[op.params[1]], dz: dy,
          x: values[xID], xShared: x.experts == 1 && out.experts > 1, w: params[op.params[0]], E: out.experts, B: B,
          I: x.width, O: out.width)
      case .softmax:
        let xID = op.inputs[0]
        if needsGrad[xID] { Kernels.softmaxBackward(dx: valueGrads[xID], dy: dy, y: y, B: B, K: out.width) }
      case .mix:
        let gID = op.inputs[0]
        Kernels.mixBackward(
          dg: needsGrad[gID] ? valueGrads[gID] : nil, dexperts: mixGradOperands[i], dy: dy, g: values[gID],
          experts: mixOperands[i], B: B, H: out.width)
      case .sigmoid:
        let xID = op.inputs[0]
        if needsGrad[xID] {
          Kernels.activationBackward(act: .sigmoid, dz: scratch, dy: dy, y: y, N: B)
          let dx = valueGrads[xID]
          for b in 0..<B { dx[b] += scratch[b] }
        }
      case .product:
        Kernels.productBackward(dxs: productGradOperands[i], dy: dy, xs: productOperands[i], B: B)
      }
    }
  }

  /// One training step on the first `rows` rows of the inputs: forward, losses, backward, then
  /// `reducer` (the seam where a data-parallel all-reduce of gradients goes), then the optimiser.
  @discardableResult
  public func step(rows: Int, reducer: GradientReducer? = nil) -> Double {
    forward(rows: rows)
    let loss = computeLosses(gradients: true)
    backward()
    reducer?.reduce(grads: grads, counts: graph.params.map(\.count))
    optimizer.step()
    return loss
  }
}

/// Where gradients meet across workers in data-parallel training. The single-process runtime
/// passes none; an MPI backend would implement this with `MPI_Allreduce` (sum, then divide by
/// the number of workers) over each buffer, in a fixed order so runs stay reproducible.
public protocol GradientReducer {
  func reduce(grads: [UnsafeMutablePointer<Float>], counts: [Int])
}
