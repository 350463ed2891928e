import MTLGraph

#if canImport(Glibc)
  import Glibc
#endif

/// GradNorm (Chen et al. 2018): learned loss weights w (starting at 1) that keep the tasks'
/// gradient norms on the last shared layer W (`Graph.lastSharedWeight`) in proportion to how far
/// each task still is from its start.
///
/// Each step, with G_i = ‖∇_W(w_i·L_i)‖ (from the per-task gradient stage), L_i(0) the losses of
/// the first step, r_i = (L_i/L_i(0)) / mean_j(L_j/L_j(0)) and the target mean(G)·r_i^α held
/// constant: L_grad = Σ_i |G_i − mean(G)·r_i^α|, and ∂L_grad/∂w_i = sign(G_i − target_i)·G_i/w_i.
/// The w are updated by the model's optimiser rule, then renormalised so Σw = T. The model's own
/// gradient is Σ w_i·∇L_i with the weights of the step (the spec's `loss_weight` multiplies them).
public final class GradNormWeights: LossBalancer {
  let fixed: [Float]
  let alpha: Double
  let layer: ParamID?
  /// w, its gradient, L(0) (0 until the first step), then the optimiser's state, each [T].
  let w: UnsafeMutableBufferPointer<Float>
  let grad: UnsafeMutableBufferPointer<Float>
  let initial: UnsafeMutableBufferPointer<Float>
  let states: [UnsafeMutableBufferPointer<Float>]
  let statePointers: [UnsafeMutablePointer<Float>]
  /// This step's G_i.
  let norms: UnsafeMutableBufferPointer<Double>
  /// L_grad of the last step (reported).
  public private(set) var lastLoss = 0.0

  public init(graph: Graph) {
    fixed = graph.losses.map(\.weight)
    alpha = Double(graph.training.gradnormAlpha ?? 1.5)
    layer = graph.lastSharedWeight()
    let n = max(graph.losses.count, 1)
    func buffer(_ x: Float) -> UnsafeMutableBufferPointer<Float> {
      let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
      b.initialize(repeating: x)
      return b
    }
    w = buffer(1)
    grad = buffer(0)
    initial = buffer(0)
    states = (0..<Optimizer.stateCount(graph.training.optimizer)).map { _ in buffer(0) }
    statePointers = states.map { $0.baseAddress! }
    norms = .allocate(capacity: n)
    norms.initialize(repeating: 0)
  }

  deinit {
    for b in [w, grad, initial] + states { b.deallocate() }
    norms.deallocate()
  }

  public var gradientNeed: GradientNeed { .perTask }

  public func weights(into out: UnsafeMutableBufferPointer<Float>) {
    for i in fixed.indices { out[i] = fixed[i] * w[i] }
  }

  /// G_i on the last shared layer, from the kept gradients (each of w_i·L_i); then the sum.
  public func combine(_ g: TaskGradients) {
    for t in 0..<g.losses {
      var s = 0.0
      for seg in g.segments where seg.param == layer {
        let x = g.gradient(t, seg)
        for k in 0..<seg.count { s += Double(x[k]) * Double(x[k]) }
      }
      norms[t] = s.squareRoot()
    }
    g.sum()
  }

  public func finish(losses: UnsafeBufferPointer<Double>) -> Double {
    let T = fixed.count
    // Each task's L(0) is its loss at the first step where it has one: a task supervised on a
    // sample space may have no row in the first batches (its loss is 0 there).
    for i in 0..<T where initial[i] == 0 { initial[i] = Float(losses[i]) }
    lastLoss = GradNormWeights.objective(
      norms: UnsafeBufferPointer(norms), weights: UnsafeBufferPointer(w), losses: losses,
      initial: UnsafeBufferPointer(initial), alpha: alpha, gradient: grad)
    return 0
  }

  /// L_grad and its gradient with respect to w (into `gradient`), for norms G, weights w, losses
  /// L and initial losses L(0).
  public static func objective(
    norms G: UnsafeBufferPointer<Double>, weights w: UnsafeBufferPointer<Float>, losses L: UnsafeBufferPointer<Double>,
    initial L0: UnsafeBufferPointer<Float>, alpha: Double, gradient: UnsafeMutableBufferPointer<Float>
  ) -> Double {
    let T = gradient.count
    var meanG = 0.0
    var meanRatio = 0.0
    // A task without L(0) yet (no row of its space seen) counts as on schedule: ratio 1.
    func ratio(_ i: Int) -> Double { L0[i] > 0 ? L[i] / max(Double(L0[i]), 1e-12) : 1 }
    for i in 0..<T {
      meanG += G[i] / Double(T)
      meanRatio += ratio(i) / Double(T)
    }
    var total = 0.0
    for i in 0..<T {
      let r = ratio(i) / meanRatio
      let target = meanG * pow(r, alpha)
      let d = G[i] - target
      total += abs(d)
      let sign: Double = d > 0 ? 1 : (d < 0 ? -1 : 0)
      gradient[i] = w[i] != 0 ? Float(sign * G[i] / Double(w[i])) : 0
    }
    return total
  }

  public var isFinite: Bool { (0..<fixed.count).allSatisfy { w[$0].isFinite && grad[$0].isFinite } }

  public func update(with optimizer: Optimizer) {
    let T = fixed.count
    optimizer.apply(w: w.baseAddress!, g: grad.baseAddress!, state: statePointers, count: T)
    GradNormWeights.renormalise(w, count: T)
  }

  /// Scales w so that Σw = T (weights that went negative are clamped to a small positive value
  /// first, so no task is switched off or inverted).
  public static func renormalise(_ w: UnsafeMutableBufferPointer<Float>, count T: Int) {
    var sum: Float = 0
    for i in 0..<T {
      w[i] = max(w[i], 1e-4)
      sum += w[i]
    }
    for i in 0..<T { w[i] *= Float(T) / sum }
  }

  public var reportedWeights: [Float] { fixed.indices.map { fixed[$0] * w[$0] } }

  public var state: [Float] {
    get { ([w, initial] + states).flatMap { Array($0.prefix(fixed.count)) } }
    set {
      let n = fixed.count
      let parts = [w, initial] + states
      guard newValue.count == n * parts.count else { return }
      for (k, b) in parts.enumerated() { for i in 0..<n { b[i] = newValue[k * n + i] } }
    }
  }
}
