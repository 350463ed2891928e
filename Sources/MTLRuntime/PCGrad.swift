import MTLGraph
import MTLSupport

/// Gradient surgery (PCGrad, Yu et al. 2020) on the parameters more than one task reaches: each
/// task's gradient is projected off every other task's gradient it conflicts with (negative dot
/// product), the others taken in an order drawn for the step, and the projected gradients are
/// summed. Parameters one task reaches keep their own gradient. The losses keep their fixed
/// weights.
///
/// The order: a permutation of the tasks per step, from the run's seed and the step number
/// (`TaskGradients.seed`, `.step`), so reruns and resumed runs project in the same order. Each
/// task i walks the permutation, skipping itself; projections use the other tasks' original
/// gradients (as the paper's algorithm does).
public final class PCGradSurgery: LossBalancer {
  let fixed: FixedWeights
  /// Per task, its gradient over the shared segments flattened, original and projected.
  private var original: [UnsafeMutablePointer<Float>] = []
  private var projected: [UnsafeMutablePointer<Float>] = []
  private var capacity = 0
  private var order: [Int]
  private let streamBase: UInt64

  public init(graph: Graph) {
    fixed = FixedWeights(graph: graph)
    order = Array(0..<graph.losses.count)
    streamBase = Checksum.fnv1a64(Array("pcgrad.order".utf8))
  }

  deinit {
    for p in original + projected { p.deallocate() }
  }

  public var gradientNeed: GradientNeed { .perTask }
  public func weights(into w: UnsafeMutableBufferPointer<Float>) { fixed.weights(into: w) }
  public func finish(losses: UnsafeBufferPointer<Double>) -> Double { 0 }
  public var reportedWeights: [Float] { fixed.reportedWeights }
  public var state: [Float] {
    get { [] }
    set {}
  }

  public func combine(_ g: TaskGradients) {
    let T = g.losses
    if capacity == 0 {
      capacity = max(g.sharedCapacity, 1)
      original = (0..<T).map { _ in .allocate(capacity: capacity) }
      projected = (0..<T).map { _ in .allocate(capacity: capacity) }
    }
    // Flatten each task's shared segments; the rest is summed as it is.
    var n = 0
    for s in g.segments {
      guard g.shared[s.param] else {
        let o = g.output(s)
        o.update(from: g.gradient(0, s), count: s.count)
        for t in 1..<T {
          let x = g.gradient(t, s)
          for i in 0..<s.count { o[i] += x[i] }
        }
        continue
      }
      for t in 0..<T { (original[t] + n).update(from: g.gradient(t, s), count: s.count) }
      n += s.count
    }
    var rng = SeededRNG(seed: g.seed ^ streamBase &+ UInt64(g.step))
    for i in 0..<T { order[i] = i }
    for i in stride(from: T - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
    PCGradSurgery.project(
      original: original, projected: projected, count: n, order: order)
    // Sum the projected gradients back into the shared segments.
    var k = 0
    for s in g.segments where g.shared[s.param] {
      let o = g.output(s)
      o.update(from: projected[0] + k, count: s.count)
      for t in 1..<T {
        let x = projected[t] + k
        for i in 0..<s.count { o[i] += x[i] }
      }
      k += s.count
    }
  }

  /// The surgery over flat vectors of `count` floats: projected[i] = g_i minus, for each j ≠ i in
  /// `order` with ⟨g_i', g_j⟩ < 0, (⟨g_i', g_j⟩ / ‖g_j‖²)·g_j. Dots in double.
  public static func project(
    original: [UnsafeMutablePointer<Float>], projected: [UnsafeMutablePointer<Float>], count: Int, order: [Int]
  ) {
    func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Double {
      var s = 0.0
      for k in 0..<count { s += Double(a[k]) * Double(b[k]) }
      return s
    }
    for i in original.indices {
      let p = projected[i]
      p.update(from: original[i], count: count)
      for j in order where j != i {
        let gj = original[j]
        let d = dot(p, gj)
        guard d < 0 else { continue }
        let nj = dot(gj, gj)
        guard nj > 0 else { continue }
        let f = Float(d / nj)
        for k in 0..<count { p[k] -= f * gj[k] }
      }
    }
  }
}
