import Foundation
import MTLData
import MTLGraph
import MTLRuntime
import MTLTrain
import Testing

/// The gradient stage's per-task mode (`GradientNeed.perTask`): one backward per loss, each loss's
/// gradient kept apart, then combined by the balancer. With the plain sum as the combination it
/// must train as the summed step does (to rounding: the sum is taken in another order), and the
/// kept gradients must be each loss's own.
struct TaskGradientTests {
  /// The spec's fixed weights, asking for per-task gradients and summing them.
  final class SummedPerTask: LossBalancer {
    let fixed: FixedWeights
    var combined = 0
    init(_ g: Graph) { fixed = FixedWeights(graph: g) }
    var gradientNeed: GradientNeed { .perTask }
    func weights(into w: UnsafeMutableBufferPointer<Float>) { fixed.weights(into: w) }
    func finish(losses: UnsafeBufferPointer<Double>) -> Double { 0 }
    var state: [Float] {
      get { [] }
      set {}
    }
    var reportedWeights: [Float] { fixed.reportedWeights }
    func combine(_ g: TaskGradients) {
      combined += 1
      g.sum()
    }
  }

  func executors(_ name: String, threads: Int) throws -> (Executor, Executor, SummedPerTask, LoadedData) {
    let g0 = try Repo.graph(name, batch: 64)
    let data = try Repo.data(g0)
    let g = g0.bound(vocabularyRows: data.fitted.vocabularySizes)
    let balancer = SummedPerTask(g)
    let a = Executor(graph: g, maxBatch: 64, threads: threads)
    let b = Executor(graph: g, maxBatch: 64, threads: threads, balancer: balancer)
    a.initialize(seed: 3)
    b.initialize(seed: 3)
    return (a, b, balancer, data)
  }

  func load(_ ex: Executor, _ data: LoadedData, batch k: Int) {
    let picked = Array((k * 64)..<(k * 64 + 64))
    ex.setBatch(rows: 64) { first, count, sparse, dense, labels in
      data.train.gather(indices: picked[first..<(first + count)], into: sparse, dense: dense, labels: labels)
    }
  }

  @Test("per-task gradients summed train as the summed step does", arguments: ["mmoe", "esmm", "ple"], [1, 2])
  func summedEqualsJoint(_ name: String, threads: Int) throws {
    let (a, b, balancer, data) = try executors(name, threads: threads)
    for k in 0..<5 {
      load(a, data, batch: k)
      load(b, data, batch: k)
      let la = a.step()
      let lb = b.step()
      #expect(abs(la - lb) <= 1e-6 * max(1, abs(la)), "step \(k): \(la) vs \(lb)")
    }
    #expect(balancer.combined == 5)
    var worst: Float = 0
    for (pa, pb) in zip(a.parameterArrays(), b.parameterArrays()) {
      for (x, y) in zip(pa, pb) { worst = max(worst, abs(x - y) / max(1e-3, abs(x))) }
    }
    #expect(worst < 1e-3, "largest relative parameter difference \(worst)")
    #expect(a.touchedRows.map { $0?.count } == b.touchedRows.map { $0?.count })
  }

  @Test("each kept gradient is that loss's own, and the shared parameters are those several losses reach")
  func keptGradientsAreEachLoss() throws {
    let (a, b, _, data) = try executors("mmoe", threads: 2)
    let tg = try #require(b.taskGradients)
    let g = b.graph
    // Shared: the embeddings and the expert stack; not: each gate and tower (one task each).
    for (i, p) in g.params.enumerated() {
      let expected = p.block == "embeddings" || p.block.hasPrefix("experts.")
      #expect(tg.shared[i] == expected, "\(p.name)")
    }
    load(b, data, batch: 0)
    b.step()
    // Loss t's kept gradient against the summed executor's gradient with only loss t weighted.
    for t in g.losses.indices {
      var one = g
      for i in one.losses.indices where i != t { one.losses[i].weight = 0 }
      let solo = Executor(graph: one, maxBatch: 64, threads: 2)
      solo.setParameters(a.parameterArrays())
      load(solo, data, batch: 0)
      solo.forward()
      solo.computeLosses(gradients: true)
      solo.backward()
      for s in tg.segments {
        let kept = tg.gradient(t, s)
        let ref = solo.grads[s.param] + s.offset
        for i in 0..<s.count {
          #expect(abs(kept[i] - ref[i]) <= 1e-6 + 1e-4 * abs(ref[i]), "loss \(t) \(g.params[s.param].name)[\(i)]")
        }
      }
    }
    // Orthogonality is measured on the shared parameters only.
    #expect(tg.dot(0, 1).isFinite && tg.dot(0, 0) > 0)
  }
}
