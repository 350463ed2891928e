import MTLGraph

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
  /// With `.perTask`: the step's gradient from the losses' own (`TaskGradients`), written to its
  /// output over its segments. The default is the plain sum.
  func combine(_ g: TaskGradients)
}

extension LossBalancer {
  public func combine(_ g: TaskGradients) { g.sum() }
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
}

public enum LossBalancing {
  /// The balancer the graph asks for.
  public static func make(_ graph: Graph) -> LossBalancer { FixedWeights(graph: graph) }
}
