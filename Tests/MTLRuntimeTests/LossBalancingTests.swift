import Foundation
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport
import MTLTrain
import Testing

/// Uncertainty weighting (Kendall, Gal & Cipolla 2018; EasyRec's form) against the reference
/// vector of the issue and an independent Adam step, and resumed exactly from a checkpoint.
struct LossBalancingTests {
  func graph(_ name: String = "mmoe", batch: Int = 128) throws -> Graph {
    var g = try Repo.graph(name, batch: batch)
    g.training.lossBalancing = .uncertainty
    return g
  }

  /// The graph with 3-row embedding tables (an executor for its optimiser only).
  func tiny(_ g: Graph) -> Graph {
    g.bound(vocabularyRows: Dictionary(g.pipeline.sparse.map { ($0.name, 3) }, uniquingKeysWith: { a, _ in a }))
  }

  @Test("at s = 0 and L = (0.6762, 0.9021): total 1.5783, d/ds = (-0.1762, -0.4021)")
  func referenceVector() throws {
    let b = UncertaintyWeights(graph: try graph())
    var w: [Float] = [0, 0]
    w.withUnsafeMutableBufferPointer { b.weights(into: $0) }
    #expect(w == [1, 1])
    let losses: [Double] = [0.6762, 0.9021]
    let term = losses.withUnsafeBufferPointer { b.finish(losses: $0) }
    let total = zip(w, losses).map { Double($0) * $1 }.reduce(0, +) + term
    #expect(abs(total - 1.5783) < 1e-9)
    let state = b.state
    #expect(abs(state[0] - 0) < 1e-9)
    // The gradient is the buffer the optimiser reads; read it through one SGD step of lr 1.
    var g = try graph()
    g.training.optimizer = .sgd
    g.training.learningRate = 1
    let sgd = UncertaintyWeights(graph: g)
    _ = losses.withUnsafeBufferPointer { sgd.finish(losses: $0) }
    let ex = Executor(graph: tiny(g), maxBatch: 4)
    ex.optimizer.prepare()
    sgd.update(with: ex.optimizer)
    // s = 0 - 1 * d/ds.
    #expect(abs(sgd.logVariance[0] - 0.1762) < 1e-6)
    #expect(abs(sgd.logVariance[1] - 0.4021) < 1e-6)
  }

  @Test("a regression loss is weighted ½e^(−s): d/ds = −½L + ½ at s = 0")
  func regressionScale() throws {
    var g = try graph()
    g.losses[1].kind = .mse
    g.training.optimizer = .sgd
    g.training.learningRate = 1
    let b = UncertaintyWeights(graph: g)
    var w: [Float] = [0, 0]
    w.withUnsafeMutableBufferPointer { b.weights(into: $0) }
    #expect(w == [1, 0.5])
    _ = [0.6762, 2.5].withUnsafeBufferPointer { b.finish(losses: $0) }
    let ex = Executor(graph: tiny(g), maxBatch: 4)
    ex.optimizer.prepare()
    b.update(with: ex.optimizer)
    #expect(abs(b.logVariance[1] - Float(0.5 * 2.5 - 0.5)) < 1e-6)
    #expect(abs(b.reportedWeights[1] - 0.5 * exp(-b.logVariance[1])) < 1e-7)
  }

  @Test("s is trained by the model's Adam: one step moves it by the first Adam update of its gradient")
  func adamStep() throws {
    let g = try graph()
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 5)
    let ex = s.executor
    let picked = Array(0..<128)
    ex.setBatch(rows: 128) { first, count, sparse, dense, labels in
      data.train.gather(indices: picked[first..<(first + count)], into: sparse, dense: dense, labels: labels)
    }
    ex.step()
    let u = try #require(ex.balancer as? UncertaintyWeights)
    let t = g.training
    for i in 0..<2 {
      let grad = -ex.lossValues[i] + 0.5  // at s = 0, weight 1
      let m = (1 - Double(t.beta1)) * grad
      let v = (1 - Double(t.beta2)) * grad * grad
      let lrT = Double(t.learningRate) * (1 - Double(t.beta2)).squareRoot() / (1 - Double(t.beta1))
      let expected = -lrT * m / (v.squareRoot() + Double(t.epsilon))
      #expect(abs(Double(u.logVariance[i]) - expected) < 1e-6, "loss \(i)")
    }
  }

  @Test("runs are bit-identical, and a run resumed mid-epoch restores the learned weights exactly")
  func resumeExact() throws {
    let g = try graph("esmm", batch: 100)
    let data = try Repo.data(g)
    let small = slice(data.train, 1000)
    let full = Session(graph: g, fitted: data.fitted, seed: 4)
    try full.train(small, epochs: 3)
    let again = Session(graph: g, fitted: data.fitted, seed: 4)
    try again.train(small, epochs: 3)
    #expect(again.executor.parameterArrays() == full.executor.parameterArrays())
    #expect(again.executor.balancer.state == full.executor.balancer.state)
    #expect(full.history.last?.taskWeight?.count == g.losses.count)

    let c = try interruptedCheckpoint(
      Session(graph: g, fitted: data.fitted, seed: 4), small, epochs: 3, epochsDone: 1, batch: 4)
    #expect(c.balancer.count == LossBalancing.stateCount(g))
    #expect(c.balancer.contains { $0 != 0 })
    let second = Session(graph: g, fitted: data.fitted, seed: 4)
    try second.restore(c)
    try second.train(small, epochs: 3)
    #expect(second.executor.parameterArrays() == full.executor.parameterArrays())
    #expect(second.executor.balancer.state == full.executor.balancer.state)
    #expect(second.history.map(\.loss) == full.history.map(\.loss))

    // A checkpoint without the method's state is refused.
    var bare = c
    bare.balancer = []
    #expect(throws: CheckpointError.self) { try Session(graph: g, fitted: data.fitted, seed: 4).restore(bare) }
  }
}

/// PCGrad (Yu et al. 2020): the reference vector, and the surgery in training.
struct PCGradTests {
  func vectors(_ values: [[Float]]) -> [UnsafeMutablePointer<Float>] {
    values.map { v in
      let p = UnsafeMutablePointer<Float>.allocate(capacity: v.count)
      p.initialize(from: v, count: v.count)
      return p
    }
  }

  @Test("g1 = (1, 0), g2 = (-1, 1) project to (0.5, 0.5) and (0, 1), summing to (0.5, 1.5), in either order")
  func referenceVector() {
    for order in [[0, 1], [1, 0]] {
      let original = vectors([[1, 0], [-1, 1]])
      let projected = vectors([[0, 0], [0, 0]])
      defer { for p in original + projected { p.deallocate() } }
      PCGradSurgery.project(original: original, projected: projected, count: 2, order: order)
      #expect(Array(UnsafeBufferPointer(start: projected[0], count: 2)) == [0.5, 0.5])
      #expect(Array(UnsafeBufferPointer(start: projected[1], count: 2)) == [0, 1])
      // Gradients that do not conflict are left alone.
      let agree = vectors([[1, 0], [1, 1]])
      defer { for p in agree { p.deallocate() } }
      PCGradSurgery.project(original: agree, projected: projected, count: 2, order: order)
      #expect(Array(UnsafeBufferPointer(start: projected[1], count: 2)) == [1, 1])
    }
  }

  @Test("three tasks: each projection uses the others' original gradients, in the drawn order")
  func threeTasks() {
    // g0 conflicts with g1 and g2; projecting off g1 first, then g2 (if still conflicting).
    let g: [[Float]] = [[1, 0, 0], [-1, 1, 0], [0, -1, 1]]
    let original = vectors(g)
    let projected = vectors([[0, 0, 0], [0, 0, 0], [0, 0, 0]])
    defer { for p in original + projected { p.deallocate() } }
    PCGradSurgery.project(original: original, projected: projected, count: 3, order: [1, 2, 0])
    // Independent reference, in Double.
    func ref(_ i: Int, _ order: [Int]) -> [Double] {
      var p = g[i].map(Double.init)
      for j in order where j != i {
        let gj = g[j].map(Double.init)
        let d = zip(p, gj).map(*).reduce(0, +)
        if d < 0 {
          let n = gj.map { $0 * $0 }.reduce(0, +)
          p = zip(p, gj).map { $0 - d / n * $1 }
        }
      }
      return p
    }
    for i in 0..<3 {
      let got = Array(UnsafeBufferPointer(start: projected[i], count: 3)).map(Double.init)
      for (a, b) in zip(got, ref(i, [1, 2, 0])) { #expect(abs(a - b) < 1e-6, "task \(i)") }
    }
  }

  @Test("pcgrad trains deterministically, resumes exactly, and differs from the plain sum when tasks conflict")
  func training() throws {
    var g = try Repo.graph("mmoe", batch: 100)
    let data = try Repo.data(g)
    let small = slice(data.train, 800)
    let plain = Session(graph: g, fitted: data.fitted, seed: 9)
    try plain.train(small, epochs: 2)
    g.training.lossBalancing = .pcgrad
    let a = Session(graph: g, fitted: data.fitted, seed: 9)
    try a.train(small, epochs: 2)
    let b = Session(graph: g, fitted: data.fitted, seed: 9)
    try b.train(small, epochs: 2)
    #expect(a.executor.parameterArrays() == b.executor.parameterArrays())
    #expect(a.executor.parameterArrays() != plain.executor.parameterArrays())
    #expect(a.history.allSatisfy { $0.loss.isFinite })
    // Resumed mid-epoch, it ends where the uninterrupted run ends (the order is redrawn per step).
    let c = try interruptedCheckpoint(
      Session(graph: g, fitted: data.fitted, seed: 9), small, epochs: 2, epochsDone: 0, batch: 3)
    let d = Session(graph: g, fitted: data.fitted, seed: 9)
    try d.restore(c)
    try d.train(small, epochs: 2)
    #expect(d.executor.parameterArrays() == a.executor.parameterArrays())
  }
}

/// GradNorm (Chen et al. 2018): the reference vector, the layer it measures, training.
struct GradNormTests {
  @Test(
    "‖∇L‖ = (2, 1), w = (1, 1), L(0) = (1, 1), L = (0.5, 0.8), α = 1.5: L_grad 2.0361, ∂/∂w = (+2, −1), then (0.9620, 1.0380)"
  )
  func referenceVector() {
    let G: [Double] = [2, 1]  // G_i = w_i·‖∇L_i‖ with w = 1
    var w: [Float] = [1, 1]
    let L: [Double] = [0.5, 0.8]
    let L0: [Float] = [1, 1]
    var grad: [Float] = [0, 0]
    let total = G.withUnsafeBufferPointer { g in
      w.withUnsafeBufferPointer { wb in
        L.withUnsafeBufferPointer { l in
          L0.withUnsafeBufferPointer { l0 in
            grad.withUnsafeMutableBufferPointer {
              GradNormWeights.objective(norms: g, weights: wb, losses: l, initial: l0, alpha: 1.5, gradient: $0)
            }
          }
        }
      }
    }
    #expect(abs(total - 2.0361) < 5e-5, "\(total)")
    #expect(grad == [2, -1])
    for i in 0..<2 { w[i] -= 0.025 * grad[i] }
    w.withUnsafeMutableBufferPointer { GradNormWeights.renormalise($0, count: 2) }
    #expect(abs(w[0] - 0.9620) < 5e-5 && abs(w[1] - 1.0380) < 5e-5, "\(w)")
    #expect(abs(w[0] + w[1] - 2) < 1e-6)
  }

  @Test("the last shared layer is the expert stack's (MMOE) or the shared bottom's last weight")
  func lastSharedLayer() throws {
    for (spec, name) in [("mmoe", "experts.shared.layer1.w"), ("shared_bottom", "experts.bottom.layer1.w")] {
      let g = try Repo.graph(spec)
      let p = try #require(g.lastSharedWeight())
      #expect(g.params[p].name == name, "\(spec)")
    }
  }

  @Test("gradnorm trains deterministically, keeps Σw = T, and resumes exactly")
  func training() throws {
    var g = try Repo.graph("mmoe", batch: 100)
    g.training.lossBalancing = .gradnorm
    g.training.gradnormAlpha = 1.5
    let data = try Repo.data(g)
    let small = slice(data.train, 800)
    let a = Session(graph: g, fitted: data.fitted, seed: 2)
    try a.train(small, epochs: 2)
    let w = a.executor.balancer.reportedWeights
    #expect(abs(w.reduce(0, +) - 2) < 1e-4)
    #expect(w != [1, 1], "the weights never moved")
    #expect(a.history.last?.taskWeight?.count == 2)
    // The gradient-conflict diagnostic: one pair, a cosine.
    let pair = try #require(a.history.last?.gradientCosine?.first)
    #expect(a.history.last?.gradientCosine?.count == 1)
    #expect(pair.a == "income" && pair.b == "marital")
    #expect(pair.cosine.isFinite && abs(pair.cosine) <= 1)
    let c = try interruptedCheckpoint(
      Session(graph: g, fitted: data.fitted, seed: 2), small, epochs: 2, epochsDone: 1, batch: 2)
    let d = Session(graph: g, fitted: data.fitted, seed: 2)
    try d.restore(c)
    try d.train(small, epochs: 2)
    #expect(d.executor.parameterArrays() == a.executor.parameterArrays())
    #expect(d.executor.balancer.state == a.executor.balancer.state)
  }
}

/// `training.gradient_cosine` with a method that sums the tasks' gradients: the cosines of each
/// epoch are measured, and training is the same to the bit as without them.
struct GradientCosineDiagnosticTests {
  @Test("gradient_cosine reports each epoch's task-gradient cosines without changing training")
  func cosinesWithoutChangingTraining() throws {
    var g = try Repo.graph("mmoe", batch: 256)
    let data = try Repo.data(g)
    let small = slice(data.train, 2048)
    let plain = Session(graph: g, fitted: data.fitted, seed: 3)
    try plain.train(small, epochs: 2)
    g.training.gradientCosine = true
    let measured = Session(graph: g, fitted: data.fitted, seed: 3)
    try measured.train(small, epochs: 2)
    #expect(measured.executor.parameterArrays() == plain.executor.parameterArrays())
    #expect(measured.history.map(\.loss) == plain.history.map(\.loss))
    #expect(plain.history.allSatisfy { $0.gradientCosine == nil })
    for h in measured.history {
      let pairs = try #require(h.gradientCosine)
      #expect(pairs.count == 1 && pairs[0].a == "income" && pairs[0].b == "marital")
      #expect(pairs[0].cosine > -1 && pairs[0].cosine < 1 && pairs[0].cosine != 0)
    }
    // The same model: a checkpoint of one restores into the other.
    #expect(ModelIdentity.firstDifference(stored: plain.graph, current: measured.graph) == nil)
  }
}
