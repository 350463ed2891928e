import MTLGraph
import MTLKernels

/// The optimiser: per-parameter state (views into the executor's arena) and the update rule the
/// spec chose. Keras semantics and defaults (Adam 0.001/0.9/0.999/1e-7, Adagrad with an initial
/// accumulator of 0.1, SGD with optional momentum).
///
/// Embedding tables are updated lazily: only the rows the batch looked up (`touched`) move, and
/// their state with them (TensorFlow's LazyAdam; Adam's bias correction uses the global step). A
/// step therefore costs the same whatever the vocabulary size.
public final class Optimizer {
  public let training: Training
  private let params: [UnsafeMutablePointer<Float>]
  private let grads: [UnsafeMutablePointer<Float>]
  private let counts: [Int]
  /// State buffers, each the size of all parameters together, split per parameter.
  /// adam: [m, v]; adagrad: [accumulator]; sgd: [velocity].
  private let state: [[UnsafeMutablePointer<Float>]]
  /// Steps taken (Adam's bias correction uses it).
  public var steps = 0
  /// The learning rate of the current step (`training.schedule` applied; set by `prepare`).
  public private(set) var rate: Float
  private let kinds: [ParamKind]
  private let rowWidth: [Int]
  private let touched: [RowSet?]

  public static func stateCount(_ k: OptimizerKind) -> Int {
    switch k {
    case .adam, .adamw: return 2
    case .adagrad, .sgd: return 1
    }
  }

  init(
    training: Training, params: [UnsafeMutablePointer<Float>], grads: [UnsafeMutablePointer<Float>], counts: [Int],
    state: [UnsafeMutablePointer<Float>], kinds: [ParamKind], shapes: [[Int]], touched: [RowSet?]
  ) {
    self.kinds = kinds
    self.rate = training.learningRate
    self.rowWidth = shapes.map { $0.count > 1 ? $0.dropFirst().reduce(1, *) : 1 }
    self.touched = touched
    self.training = training
    self.params = params
    self.grads = grads
    self.counts = counts
    self.state = state.map { base in
      var offset = 0
      return counts.map { n in
        defer { offset += n }
        return base + offset
      }
    }
  }

  /// Zeroes the state (Adagrad's accumulator starts at `initialAccumulator`).
  public func reset() {
    steps = 0
    let total = counts.reduce(0, +)
    for s in state {
      guard let base = s.first else { continue }
      base.update(repeating: training.optimizer == .adagrad ? training.initialAccumulator : 0, count: total)
    }
  }

  /// Every state buffer, flattened (for checkpoints).
  public func stateArrays() -> [[Float]] {
    let total = counts.reduce(0, +)
    return state.compactMap { s in s.first.map { Array(UnsafeBufferPointer(start: $0, count: total)) } }
  }

  public func setState(_ arrays: [[Float]], steps: Int) {
    let total = counts.reduce(0, +)
    precondition(arrays.count == state.count && arrays.allSatisfy { $0.count == total })
    for (s, a) in zip(state, arrays) {
      if let base = s.first { a.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: total) } }
    }
    self.steps = steps
  }

  /// Global L2 norm of all gradients (embedding gradients are zero outside the touched rows).
  public func gradientNorm() -> Double {
    var s = 0.0
    for i in grads.indices {
      if let rows = touched[i] {
        let d = rowWidth[i]
        for r in 0..<rows.count { s += Kernels.sumOfSquares(x: grads[i] + Int(rows.rows[r]) * d, N: d) }
      } else {
        s += Kernels.sumOfSquares(x: grads[i], N: counts[i])
      }
    }
    return s.squareRoot()
  }

  /// Clips (if the spec asks) and applies one update to every parameter.
  public func step() {
    prepare()
    update(tensors: 0..<params.count)
  }

  /// The serial part of a step: count it, and clip the gradients to the global norm.
  public func prepare() {
    steps += 1
    rate = Optimizer.rate(training, step: steps)
    if training.clipNorm > 0 {
      let norm = gradientNorm()
      if norm > Double(training.clipNorm) {
        let f = Float(Double(training.clipNorm) / norm)
        for i in grads.indices {
          if let rows = touched[i] {
            let d = rowWidth[i]
            for r in 0..<rows.count { Kernels.scale(x: grads[i] + Int(rows.rows[r]) * d, N: d, factor: f) }
          } else {
            Kernels.scale(x: grads[i], N: counts[i], factor: f)
          }
        }
      }
    }
  }

  /// The learning rate of step `step` (1-based): the optimiser's, times the schedule's factor.
  /// Without a schedule exactly the optimiser's rate.
  public static func rate(_ t: Training, step: Int) -> Float {
    guard let s = t.schedule else { return t.learningRate }
    return Float(Double(t.learningRate) * s.factor(step: step))
  }

  /// Updates parameter tensors `tensors` (element-wise: any split across threads gives the same bits).
  public func update(tensors: Range<Int>) {
    for i in tensors {
      if let rows = touched[i] {
        let d = rowWidth[i]
        for r in 0..<rows.count { update(i, offset: Int(rows.rows[r]) * d, count: d) }
      } else {
        update(i, offset: 0, count: counts[i])
      }
    }
  }

  /// Tensors split into `parts` contiguous runs of about equal size (for the threads).
  func partition(_ parts: Int) -> [Range<Int>] {
    let total = counts.reduce(0, +)
    var out: [Range<Int>] = []
    var start = 0
    var acc = 0
    for i in counts.indices {
      acc += counts[i]
      if out.count < parts - 1 && acc * parts >= total * (out.count + 1) {
        out.append(start..<(i + 1))
        start = i + 1
      }
    }
    out.append(start..<counts.count)
    while out.count < parts { out.append(counts.count..<counts.count) }
    return out
  }

  /// Applies this step's rule (after `prepare`) to `n` floats outside the model: a loss balancer's
  /// learned scalars, with their own state buffers (`Optimizer.stateCount` of them).
  public func apply(
    w: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, state s: [UnsafeMutablePointer<Float>], count n: Int
  ) {
    let t = training
    switch t.optimizer {
    case .adam, .adamw:
      // No weight decay on a balancer's scalars.
      Kernels.adamStep(
        w: w, g: g, m: s[0], v: s[1], N: n, lr: rate, beta1: t.beta1, beta2: t.beta2, eps: t.epsilon, t: steps)
    case .adagrad:
      Kernels.adagradStep(w: w, g: g, acc: s[0], N: n, lr: rate, eps: t.epsilon)
    case .sgd:
      Kernels.sgdStep(w: w, g: g, velocity: t.momentum > 0 ? s[0] : nil, N: n, lr: rate, momentum: t.momentum)
    }
  }

  /// Applies the rule to elements offset..<offset+count of parameter i.
  @inline(__always)
  private func update(_ i: Int, offset o: Int, count n: Int) {
    let t = training
    switch t.optimizer {
    case .adam:
      Kernels.adamStep(
        w: params[i] + o, g: grads[i] + o, m: state[0][i] + o, v: state[1][i] + o, N: n, lr: rate,
        beta1: t.beta1, beta2: t.beta2, eps: t.epsilon, t: steps)
    case .adamw:
      // Decoupled decay of the weight matrices (not biases or embeddings), then Adam.
      if kinds[i] == .weight, let wd = t.weightDecay, wd > 0 {
        Kernels.scale(x: params[i] + o, N: n, factor: 1 - rate * wd)
      }
      Kernels.adamStep(
        w: params[i] + o, g: grads[i] + o, m: state[0][i] + o, v: state[1][i] + o, N: n, lr: rate,
        beta1: t.beta1, beta2: t.beta2, eps: t.epsilon, t: steps)
    case .adagrad:
      Kernels.adagradStep(w: params[i] + o, g: grads[i] + o, acc: state[0][i] + o, N: n, lr: rate, eps: t.epsilon)
    case .sgd:
      Kernels.sgdStep(
        w: params[i] + o, g: grads[i] + o, velocity: t.momentum > 0 ? state[0][i] + o : nil, N: n, lr: rate,
        momentum: t.momentum)
    }
  }
}
