import MTLGraph

#if canImport(Glibc)
  import Glibc
#endif

/// The loss-balancing hook of the training step (`Executor.step`): it owns whatever learned
/// scalars a method has and supplies each loss's weight for the step.
///
/// The step calls it at three points:
/// 1. `weights(into:)` before the forward pass: this step's weight of each loss, in
///    `graph.losses` order. The losses' gradients are seeded with them, so they must depend only
///    on the state at the start of the step (a method's scalars, the step count).
/// 2. `finish(losses:)` once the batch's mean losses are known: the method's own term of the
///    objective (added to the reported loss), and the gradients of its scalars.
/// 3. `gradientNeed`: what the gradient stage keeps for the method (`GradientNeed`).
///
/// A new method is one type conforming to this protocol, chosen by `LossBalancing.make`. It must
/// allocate nothing per step and be deterministic, so runs stay bit-identical.
public protocol LossBalancer: AnyObject {
  var gradientNeed: GradientNeed { get }
  func weights(into w: UnsafeMutableBufferPointer<Float>)
  /// Returns the method's own term of the step's objective (0 for fixed weights).
  func finish(losses: UnsafeBufferPointer<Double>) -> Double
  /// The method's learned scalars and their optimiser state, for checkpoints (empty when none).
  var state: [Float] { get set }
  /// Whether the method's scalars and their gradients are finite numbers (checked every step,
  /// before anything is updated).
  var isFinite: Bool { get }
  /// After the optimiser's step: updates the method's learned scalars with the same rule.
  func update(with optimizer: Optimizer)
  /// Each loss's weight as reported (after the last step), and the method's name.
  var reportedWeights: [Float] { get }
  /// With `.perTask`: the step's gradient from the losses' own (`TaskGradients`), written to its
  /// output over its segments. The default is the plain sum.
  func combine(_ g: TaskGradients)
}

extension LossBalancer {
  public var isFinite: Bool { true }
  public func combine(_ g: TaskGradients) { g.sum() }
  public func update(with optimizer: Optimizer) {}
}

/// What the gradient stage must keep of a step's gradients for the loss balancer.
public enum GradientNeed: Equatable, Sendable {
  /// The sum over tasks only (every method whose weights are fixed within a step).
  case summed
  /// Each task's gradient of the parameters more than one task reaches, kept apart, then combined
  /// (gradient surgery, gradient norms per task).
  case perTask
}

/// The static `loss_weight`s of the spec: the weights every step, no scalars of its own.
public final class FixedWeights: LossBalancer {
  let fixed: [Float]
  public init(graph: Graph) { fixed = graph.losses.map(\.weight) }
  public var gradientNeed: GradientNeed { .summed }
  public func weights(into w: UnsafeMutableBufferPointer<Float>) {
    for i in fixed.indices { w[i] = fixed[i] }
  }
  public func finish(losses: UnsafeBufferPointer<Double>) -> Double { 0 }
  public var state: [Float] {
    get { [] }
    set {}
  }
  public var reportedWeights: [Float] { fixed }
}

/// Uncertainty weighting (Kendall, Gal & Cipolla 2018): each loss has a learned s = log σ²,
/// starting at 0, and the objective is Σ λ·c·e^(−s)·L + ½s, with c = 1 for a classification loss
/// and ½ for a regression loss (EasyRec's form) and λ the spec's `loss_weight`. The step's weight
/// of L is λ·c·e^(−s); ∂/∂s = −λ·c·e^(−s)·L + ½. The s are trained by the model's optimiser rule
/// (same settings, same step count), after the model's parameters.
public final class UncertaintyWeights: LossBalancer {
  let fixed: [Float]
  let scale: [Float]
  /// s, its gradient, then the optimiser's state buffers, each [T].
  let s: UnsafeMutableBufferPointer<Float>
  let grad: UnsafeMutableBufferPointer<Float>
  let states: [UnsafeMutableBufferPointer<Float>]
  /// The state buffers' addresses, built once (the step allocates nothing).
  let statePointers: [UnsafeMutablePointer<Float>]

  public init(graph: Graph) {
    fixed = graph.losses.map(\.weight)
    scale = graph.losses.map { $0.kind.isClassification ? 1 : 0.5 }
    let n = graph.losses.count
    func zeros() -> UnsafeMutableBufferPointer<Float> {
      let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(n, 1))
      b.initialize(repeating: 0)
      return b
    }
    s = zeros()
    grad = zeros()
    states = (0..<Optimizer.stateCount(graph.training.optimizer)).map { _ in zeros() }
    statePointers = states.map { $0.baseAddress! }
  }

  deinit {
    s.deallocate()
    grad.deallocate()
    for b in states { b.deallocate() }
  }

  public var gradientNeed: GradientNeed { .summed }

  public func weights(into w: UnsafeMutableBufferPointer<Float>) {
    for i in fixed.indices { w[i] = fixed[i] * scale[i] * exp(-s[i]) }
  }

  public func finish(losses: UnsafeBufferPointer<Double>) -> Double {
    var term = 0.0
    for i in fixed.indices {
      let w = Double(fixed[i] * scale[i] * exp(-s[i]))
      grad[i] = Float(-w * losses[i] + 0.5)
      term += 0.5 * Double(s[i])
    }
    return term
  }

  public var isFinite: Bool { (0..<fixed.count).allSatisfy { s[$0].isFinite && grad[$0].isFinite } }

  public func update(with optimizer: Optimizer) {
    optimizer.apply(
      w: s.baseAddress!, g: grad.baseAddress!, state: statePointers, count: fixed.count)
  }

  /// The learned s = log σ² of each loss.
  public var logVariance: [Float] { Array(s.prefix(fixed.count)) }

  public var reportedWeights: [Float] { fixed.indices.map { fixed[$0] * scale[$0] * exp(-s[$0]) } }

  public var state: [Float] {
    get { ([s] + states).flatMap { Array($0.prefix(fixed.count)) } }
    set {
      let n = fixed.count
      guard newValue.count == n * (1 + states.count) else { return }
      for (k, b) in ([s] + states).enumerated() {
        for i in 0..<n { b[i] = newValue[k * n + i] }
      }
    }
  }
}

public enum LossBalancing {
  /// The balancer the graph asks for.
  public static func make(_ graph: Graph) -> LossBalancer {
    switch graph.training.lossBalancing {
    case nil: return FixedWeights(graph: graph)
    case .uncertainty: return UncertaintyWeights(graph: graph)
    case .pcgrad: return PCGradSurgery(graph: graph)
    case .gradnorm: return GradNormWeights(graph: graph)
    }
  }

  /// Floats of the balancer's checkpointed state (`LossBalancer.state`).
  public static func stateCount(_ graph: Graph) -> Int {
    switch graph.training.lossBalancing {
    case nil, .pcgrad: return 0
    case .uncertainty: return graph.losses.count * (1 + Optimizer.stateCount(graph.training.optimizer))
    case .gradnorm: return graph.losses.count * (2 + Optimizer.stateCount(graph.training.optimizer))
    }
  }
}
