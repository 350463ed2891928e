import MTLGraph
import MTLKernels

/// Each task's gradient of the parameters, kept apart for a loss balancer whose
/// `gradientNeed` is `.perTask` (gradient surgery, per-task gradient norms). Planned once: one
/// copy of every parameter gradient per loss, and per loss and table the rows that loss touched.
///
/// After `Executor.step` has run one backward per loss, `segments` lists the floats that hold
/// gradients this step: every dense parameter whole, and each embedding table's rows touched by
/// any loss (zero in the copies of the losses that did not touch them), so every loss's
/// gradient is a vector over the same segments. `shared[p]` says whether more than one loss
/// reaches parameter p: the ones surgery acts on. The balancer's `combine` writes the step's
/// gradient into `out` over the same segments; `sum()` is the plain sum.
public final class TaskGradients {
  public let losses: Int
  /// Per parameter: more than one loss reaches it.
  public let shared: [Bool]
  /// [loss][param] gradient copies.
  let copies: [[UnsafeMutablePointer<Float>]]
  /// [loss][param] rows that loss touched (embedding tables only).
  let rows: [[RowSet?]]
  let counts: [Int]
  let widths: [Int]
  let out: [UnsafeMutablePointer<Float>]
  /// The union of the losses' rows per table (the executor's touched rows, rebuilt).
  let union: [RowSet?]

  /// A run of floats: `count` of them at `offset` in parameter `param`.
  public struct Segment {
    public var param: Int
    public var offset: Int
    public var count: Int
  }
  /// The step being combined (1-based, as the optimiser counts) and the run's seed: a method
  /// that draws (PCGrad's order) draws from them, so a resumed run draws the same.
  public internal(set) var step = 0
  public internal(set) var seed: UInt64 = 0
  /// Rows a table's gradient can hold in one step (the batch size: one id per row and slot).
  public let maxRows: Int

  /// This step's segments (capacity reserved once; rebuilt each step without allocating once
  /// it has grown to the step's largest row count).
  public private(set) var segments: [Segment] = []

  init(graph g: Graph, out: [UnsafeMutablePointer<Float>], union: [RowSet?], maxBatch: Int) {
    losses = g.losses.count
    maxRows = maxBatch
    counts = g.params.map(\.count)
    widths = g.params.map { $0.kind == .embedding ? $0.shape[1] : $0.count }
    self.out = out
    self.union = union
    shared = g.sharedParams()
    copies = (0..<losses).map { _ in
      g.params.map { p in
        let b = UnsafeMutablePointer<Float>.allocate(capacity: max(p.count, 1))
        b.initialize(repeating: 0, count: max(p.count, 1))
        return b
      }
    }
    rows = (0..<losses).map { _ in
      g.params.enumerated().map { i, p in union[i] != nil ? RowSet(tableRows: p.shape[0], capacity: p.shape[0]) : nil }
    }
    segments.reserveCapacity(g.params.count + maxBatch * g.params.filter { $0.kind == .embedding }.count)
  }

  deinit {
    for l in copies { for b in l { b.deallocate() } }
  }

  /// Keeps loss `t`'s gradient, just computed into `grads` (embedding rows in `touched`).
  func keep(_ t: Int, grads: [UnsafeMutablePointer<Float>], touched: [RowSet?]) {
    for p in counts.indices {
      if let set = touched[p], let mine = rows[t][p] {
        mine.clear()
        let d = widths[p]
        for r in 0..<set.count {
          let row = Int(set.rows[r])
          mine.insert(set.rows[r])
          (copies[t][p] + row * d).update(from: grads[p] + row * d, count: d)
        }
      } else {
        copies[t][p].update(from: grads[p], count: counts[p])
      }
    }
  }

  /// After every loss is kept: the union of rows, zero in the copies that did not touch them,
  /// and this step's segments.
  func seal() {
    segments.removeAll(keepingCapacity: true)
    for p in counts.indices {
      guard let u = union[p] else {
        segments.append(Segment(param: p, offset: 0, count: counts[p]))
        continue
      }
      u.clear()
      for t in 0..<losses {
        let set = rows[t][p]!
        for r in 0..<set.count { u.insert(set.rows[r]) }
      }
      let d = widths[p]
      for r in 0..<u.count {
        let row = u.rows[r]
        segments.append(Segment(param: p, offset: Int(row) * d, count: d))
        for t in 0..<losses where !rows[t][p]!.contains(row) {
          (copies[t][p] + Int(row) * d).update(repeating: 0, count: d)
        }
      }
    }
  }

  /// Loss t's gradient over segment s.
  public func gradient(_ t: Int, _ s: Segment) -> UnsafeMutablePointer<Float> { copies[t][s.param] + s.offset }
  /// The step's gradient (what the optimiser applies) over segment s.
  public func output(_ s: Segment) -> UnsafeMutablePointer<Float> { out[s.param] + s.offset }

  /// Floats of the shared parameters in any step's segments, at most.
  public var sharedCapacity: Int {
    counts.indices.filter { shared[$0] }.reduce(0) {
      $0 + (union[$1] != nil ? min(counts[$1], maxRows * widths[$1]) : counts[$1])
    }
  }

  /// ⟨g_t, g_u⟩ over the shared parameters (in double).
  public func dot(_ t: Int, _ u: Int) -> Double {
    var total = 0.0
    for s in segments where shared[s.param] {
      let a = gradient(t, s)
      let b = gradient(u, s)
      var acc = 0.0
      for i in 0..<s.count { acc += Double(a[i]) * Double(b[i]) }
      total += acc
    }
    return total
  }

  /// Per pair of losses (t < u, row-major), the sum of this epoch's steps' cosines between their
  /// gradients on the shared parameters, and the steps counted: the gradient-conflict diagnostic.
  public private(set) var cosineSums: [Double] = []
  public private(set) var cosineSteps = 0

  /// Adds this step's cosines (called by the executor after `seal`).
  func recordCosines() {
    if cosineSums.isEmpty { cosineSums = Array(repeating: 0, count: losses * (losses - 1) / 2) }
    var k = 0
    for t in 0..<losses {
      for u in (t + 1)..<max(losses, t + 1) {
        let n = (dot(t, t) * dot(u, u)).squareRoot()
        cosineSums[k] += n > 0 ? dot(t, u) / n : 0
        k += 1
      }
    }
    cosineSteps += 1
  }

  /// The mean cosine of each pair since the last call, and a fresh count.
  public func takeCosines() -> [Double] {
    defer {
      for i in cosineSums.indices { cosineSums[i] = 0 }
      cosineSteps = 0
    }
    return cosineSums.map { cosineSteps > 0 ? $0 / Double(cosineSteps) : .nan }
  }

  /// The plain sum over losses, in loss order, into the output.
  public func sum() {
    for s in segments {
      let o = output(s)
      o.update(from: gradient(0, s), count: s.count)
      for t in 1..<max(losses, 1) {
        let g = gradient(t, s)
        for i in 0..<s.count { o[i] += g[i] }
      }
    }
  }
}
