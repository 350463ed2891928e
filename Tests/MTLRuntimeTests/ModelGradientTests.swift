import Foundation
import MTLCompiler
import MTLData
import MTLGraph
import MTLRuntime
import MTLSupport
import MTLTrain
import Testing

/// The whole model's gradient, for every reference spec, against central finite differences of
/// the loss, on a batch of 16 rows (`mixed_mmoe`: multiclass, a standardised regression and learned
/// uncertainty weights; `masked_esmm`: a sample space and masked missing labels).
///
/// Tolerance: |analytic - numeric| <= 5e-4 + 5e-2 * |numeric| per entry, eps = 3e-3 on Float32
/// weights (the loss is summed in Double; relu kinks make a few entries disagree, so up to 5% of the
/// sampled entries may miss; a wrong rule misses nearly all of its tensor's entries).
/// Every parameter tensor is sampled, and the check insists a tenth of the entries have gradients > 1e-3.
struct ModelGradientTests {
  @Test(
    "whole-model gradient matches finite differences",
    arguments: ["shared_bottom", "mmoe", "cgc", "ple", "esmm", "mixed_mmoe", "bench/specs/masked_esmm"], [1, 2])
  func gradient(_ name: String, threads: Int) throws {
    try check(try Repo.graph(name, batch: 16), threads: threads)
  }

  /// Learned loss weights: with uncertainty weighting at s = (0.4, −0.3), the model's gradient is
  /// Σ e^(−s_i)·∇L_i (the ½s terms do not depend on the model's parameters): checked against the
  /// per-task gradients of the same batch (each checked against finite differences above) to
  /// rounding, on every parameter.
  @Test("whole-model gradient with learned uncertainty weights is the weighted sum", arguments: ["mmoe", "esmm"])
  func gradientWithUncertainty(_ name: String) throws {
    var g = try Repo.graph(name, batch: 16)
    let data = try Repo.data(g)
    func grads(_ g: Graph, _ s: [Float]?) -> [[Float]] {
      let session = Session(graph: g, fitted: data.fitted, seed: 7, threads: 2)
      let ex = session.executor
      if let s {
        var state = ex.balancer.state
        for i in s.indices { state[i] = s[i] }
        ex.balancer.state = state
        ex.refreshWeights()
      }
      let picked = Array(100..<116)
      ex.setBatch(rows: 16) { first, count, sparse, dense, labels in
        data.train.gather(indices: picked[first..<(first + count)], into: sparse, dense: dense, labels: labels)
      }
      ex.forward()
      ex.computeLosses(gradients: true)
      ex.backward()
      return ex.graph.params.indices.map {
        Array(UnsafeBufferPointer(start: ex.grads[$0], count: ex.graph.params[$0].count))
      }
    }
    // L2 off, so the gradient is the losses' alone.
    g.training.lossBalancing = nil
    for i in g.params.indices { g.params[i].l2 = 0 }
    let perTask = g.losses.indices.map { t -> [[Float]] in
      var one = g
      for i in one.losses.indices { one.losses[i].weight = i == t ? 1 : 0 }
      return grads(one, nil)
    }
    var u = g
    u.training.lossBalancing = .uncertainty
    let s: [Float] = g.losses.indices.map { $0 % 2 == 0 ? 0.4 : -0.3 }
    let weighted = grads(u, s)
    var worst: Float = 0
    var nonzero = 0
    for p in weighted.indices {
      for j in weighted[p].indices {
        let expected = g.losses.indices.reduce(Float(0)) { $0 + exp(-s[$1]) * perTask[$1][p][j] }
        worst = max(worst, abs(weighted[p][j] - expected) / max(1e-3, abs(expected)))
        if abs(expected) > 1e-4 { nonzero += 1 }
      }
    }
    #expect(worst < 1e-4, "largest relative difference \(worst)")
    #expect(nonzero > 100)
  }

  /// Dropout in training mode, with the masks of one step held fixed (they are a function of the
  /// step, not of the parameters), on experts, gate hidden layers and towers.
  @Test("whole-model gradient with dropout matches finite differences (fixed masks)", arguments: [1, 2])
  func gradientWithDropout(threads: Int) throws {
    var g = try Self.compiled(
      "specs/mmoe.yaml",
      [
        "experts.shared.dropout=0.3", "towers.income.dropout=0.2", "towers.marital.dropout=0.5",
        "gates.income.units=[8]", "gates.income.dropout=0.25",
      ])
    g.training.batchSize = 16
    #expect(g.ops.filter { $0.kind == .dropout }.count == 2 + 2 + 2 + 1)  // experts, two towers, the gate
    try check(g, threads: threads, training: true)
  }

  /// Batch normalisation in training mode (batch statistics over every thread's rows) on an
  /// expert stack, a gate's hidden layer and the towers, with dropout beside it.
  @Test("whole-model gradient with batch normalisation matches finite differences", arguments: [1, 2])
  func gradientWithBatchNorm(threads: Int) throws {
    var g = try Self.compiled(
      "specs/mmoe.yaml",
      [
        "experts.shared.batch_norm=true", "towers.income.batch_norm=true", "towers.marital.batch_norm=true",
        "gates.income.units=[8]", "gates.income.batch_norm=true", "towers.marital.dropout=0.2",
      ])
    g.training.batchSize = 16
    #expect(g.ops.filter { $0.kind == .batchNorm }.count == 2 + 2 + 2 + 1)
    try check(g, threads: threads, training: true)
  }

  /// The activations that run as their own op: GELU on the experts, swish on a gate's hidden
  /// layer, PReLU on a tower (its slopes are parameters, checked too), leaky ReLU with a slope.
  @Test(
    "whole-model gradient with gelu, swish, prelu and a leaky_relu slope matches finite differences", arguments: [1, 2])
  func gradientWithInputActivations(threads: Int) throws {
    let g = try Self.compiled(
      "specs/mmoe.yaml",
      [
        "experts.shared.activation=gelu", "gates.income.units=[8]", "gates.income.activation=swish",
        "towers.income.activation=prelu", "towers.marital.activation={type: leaky_relu, slope: 0.2}",
      ])
    let acts = g.ops.filter { $0.kind == .activation }
    #expect(
      acts.map(\.activation.rawValue).sorted() == [
        "gelu", "gelu", "leaky_relu", "leaky_relu", "prelu", "prelu", "swish",
      ])
    #expect(acts.filter { $0.activation == .leakyRelu }.allSatisfy { $0.slope == 0.2 })
    #expect(g.params.filter { $0.name.hasSuffix(".prelu.slope") }.count == 2)
    try check(g, threads: threads)
  }

  /// Two features reading one embedding table (`embedding: education` on occupation): both lookups'
  /// gradients land in the one table, row by row, and the vocabulary is fitted on both columns.
  @Test("whole-model gradient through a shared embedding table matches finite differences", arguments: [1, 2])
  func gradientWithSharedTable(threads: Int) throws {
    let g = try Self.compiled("specs/mmoe.yaml", ["features.occupation.embedding=education"])
    let embeds = g.ops.filter { $0.kind == .embed }
    #expect(embeds.count == 7)
    #expect(Set(embeds.map { $0.params[0] }).count == 6, "education and occupation read one table")
    #expect(!g.params.contains { $0.name == "embeddings.occupation" })
    let data = try Repo.data(g)
    let education = try #require(data.fitted.sparse.first { $0.name == "education" })
    let occupation = try #require(data.fitted.sparse.first { $0.name == "occupation" })
    #expect(occupation.values == education.values)
    #expect(education.values.contains("Bachelors") && education.values.contains("Craft-repair"))
    #expect(education.tableRows == 1 + 16 + 14, "adult's 16 education and 14 occupation values")
    try check(g, threads: threads)
  }

  /// Multi-valued features (bench/specs/movies.yaml): genres pooled by max, the click history by
  /// mean through the item table it shares; then every pooling on genres.
  @Test(
    "whole-model gradient with embedding bags matches finite differences",
    arguments: ["max", "sum", "mean"], [1, 2])
  func gradientWithBags(genresPooling: String, threads: Int) throws {
    let g = try Self.compiled("bench/specs/movies.yaml", ["features.genres.multi.pooling=\(genresPooling)"])
    #expect(g.pipeline.idColumns == 1 + 1 + 4 + 5)
    try check(g, threads: threads)
  }

  /// AITM (specs/aitm.yaml): the income tower reads the married tower's representation through
  /// the attention unit (its three projections shared by both candidates), and the calibration
  /// term pulls p(income) below p(married); the loss checked includes it.
  @Test("whole-model gradient of AITM with its calibration matches finite differences", arguments: [1, 2])
  func gradientOfAITM(threads: Int) throws {
    var g = try Repo.graph("aitm", batch: 16)
    // A heavier calibration, so its gradient is well above the finite differences' noise; and the
    // two probabilities far apart (p(income) ≈ 0.88 above p(married) ≈ 0.12 on every row), away
    // from the relu's kink at p = q, where both start (a fresh model says 0.5 to everything).
    g.calibrations![0].weight = 5
    #expect(g.ops.filter { $0.kind == .dot }.count == 2)
    #expect(
      g.ops.filter { $0.kind == .linear && $0.params == [g.params.firstIndex { $0.name == "towers.income.ait.h1" }!] }
        .count == 2)
    try check(g, threads: threads) { g in
      for i in g.params.indices where g.params[i].name == "towers.income.logit.b" {
        g.params[i].initializer = .constant(2)
      }
      for i in g.params.indices where g.params[i].name == "towers.married.logit.b" {
        g.params[i].initializer = .constant(-2)
      }
    }
  }

  /// A spec of the repo compiled with `overrides`, without reading its data.
  static func compiled(_ path: String, _ overrides: [String]) throws -> Graph {
    var opts = Compiler.Options()
    opts.readData = false
    opts.overrides = overrides
    let r = Compiler.compile(path: Repo.path(path), options: opts)
    return try #require(r.graph, "\(r.rendered)")
  }

  func check(
    _ graph: Graph, threads: Int, training: Bool = false, adjust: (inout Graph) -> Void = { _ in }
  ) throws {
    var g = graph
    // Bigger embeddings than the 1e-4 default so their gradients are measurable.
    for i in g.params.indices where g.params[i].kind == .embedding { g.params[i].initializer = .normal(std: 0.3) }
    // Non-zero biases so that every bias gradient path is exercised away from zero.
    for i in g.params.indices where g.params[i].kind == .bias { g.params[i].initializer = .uniform(limit: 0.1) }
    adjust(&g)
    let data = try Repo.data(g)
    let session = Session(graph: g, fitted: data.fitted, seed: 7, threads: threads)
    let ex = session.executor
    let rows = 16
    let picked = Array(100..<116)
    ex.setBatch(rows: rows) { first, count, sparse, dense, labels in
      data.train.gather(indices: picked[first..<(first + count)], into: sparse, dense: dense, labels: labels)
    }

    func loss() -> Double {
      ex.forward(training: training)
      return ex.computeLosses(gradients: false)
    }
    ex.forward(training: training)
    ex.computeLosses(gradients: true)
    ex.backward()
    let analytic = ex.graph.params.indices.map {
      Array(UnsafeBufferPointer(start: ex.grads[$0], count: ex.graph.params[$0].count))
    }

    var rng = SeededRNG(seed: 99)
    var checked = 0
    var kinks = 0
    var misses: [String] = []
    var large = 0
    let eps: Float = 3e-3
    for (pi, p) in ex.graph.params.enumerated() {
      let w = ex.params[pi]
      // Embeddings: only rows this batch looks up have gradients; sample those (every feature
      // reading the table, every id of a bag; -1 pads a bag).
      var candidates: [Int] = []
      if p.kind == .embedding {
        let d = p.shape[1]
        for op in ex.graph.ops where op.kind == .embed && op.params == [pi] {
          for b in 0..<rows {
            for id in ex.inputIDs(row: b, slot: op.slot!) where id >= 0 {
              candidates += (0..<d).map { Int(id) * d + $0 }
            }
          }
        }
      } else {
        candidates = Array(0..<p.count)
      }
      for _ in 0..<min(6, candidates.count) {
        let j = candidates[rng.nextInt(below: candidates.count)]
        let old = w[j]
        w[j] = old + eps
        let up = loss()
        w[j] = old - eps
        let down = loss()
        w[j] = old
        let numeric = (up - down) / (2 * Double(eps))
        // A ReLU (or max-pooling) kink inside ±eps makes the central difference meaningless:
        // the one-sided slopes then disagree, and the entry is not a test of the gradient.
        let centre = loss()
        let forward = (up - centre) / Double(eps)
        let backward = (centre - down) / Double(eps)
        if abs(forward - backward) > 1e-3 + 0.2 * abs(numeric) {
          kinks += 1
          continue
        }
        let a = Double(analytic[pi][j])
        checked += 1
        if abs(numeric) > 1e-3 { large += 1 }
        if abs(a - numeric) > 5e-4 + 5e-2 * abs(numeric) {
          misses.append("\(p.name)[\(j)]: analytic \(a), numeric \(numeric)")
        }
      }
    }
    #expect(large > checked / 10, "too few non-trivial gradients (\(large) of \(checked))")
    #expect(kinks <= checked / 4, "too many entries at a kink (\(kinks), \(checked) checked)")
    let report = "\(misses.count) of \(checked) entries off:\n" + misses.joined(separator: "\n")
    #expect(Double(misses.count) <= 0.05 * Double(checked), "\(report)")
  }
}
