// Batch normalisation (issue 11, item 3): batch statistics over every thread's rows while
// training, the running statistics at evaluation, the checkpoint, and the kernel against a
// Double reference.
import Foundation
import MTLCompiler
import MTLData
import MTLGraph
import MTLKernels
import MTLRuntime
import MTLSupport
import MTLTrain
import Testing

struct BatchNormTests {
  @Test("the kernels' training output equals the Double reference, split over two row shares")
  func kernel() {
    var rng = SeededRNG(seed: 4)
    let B = 37
    let C = 5
    let x = (0..<(B * C)).map { _ in Float(rng.nextNormal() * 3 + 1) }
    let gamma = (0..<C).map { _ in Float(rng.nextNormal()) }
    let beta = (0..<C).map { _ in Float(rng.nextNormal()) }
    // Two shares of rows (20 and 17), their sums added, as the executor does.
    var sums = [Double](repeating: 0, count: 2 * C)
    for (lo, n) in [(0, 20), (20, 17)] {
      var part = [Double](repeating: 0, count: 2 * C)
      x.withUnsafeBufferPointer { xp in
        part.withUnsafeMutableBufferPointer {
          Kernels.batchNormSums(sums: $0.baseAddress!, x: xp.baseAddress! + lo * C, B: n, C: C)
        }
      }
      for k in 0..<(2 * C) { sums[k] += part[k] }
    }
    let mean = (0..<C).map { Float(sums[$0] / Double(B)) }
    let variance = (0..<C).map { c in max(sums[C + c] / Double(B) - pow(sums[c] / Double(B), 2), 0) }
    let invStd = variance.map { Float(1 / ($0 + Double(Kernels.batchNormEpsilon)).squareRoot()) }
    var y = [Float](repeating: 0, count: B * C)
    x.withUnsafeBufferPointer { xp in
      y.withUnsafeMutableBufferPointer {
        Kernels.batchNormForward(
          y: $0.baseAddress!, x: xp.baseAddress!, mean: mean, invStd: invStd, gamma: gamma, beta: beta, act: .none,
          B: B, C: C)
      }
    }
    let reference = NaiveKernels.batchNormTraining(x: x, gamma: gamma, beta: beta, B: B, C: C)
    expectClose(y, reference, "batch norm vs Double")
    #expect(OpKind.batchNormEpsilon == Kernels.batchNormEpsilon)
  }

  func expectClose(_ a: [Float], _ b: [Float], _ what: String) {
    let worst = zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
    #expect(worst < 1e-5, "\(what): \(worst)")
  }

  func graph() throws -> Graph {
    var opts = Compiler.Options()
    opts.readData = false
    opts.overrides = ["experts.shared.batch_norm=true", "towers.income.batch_norm=true"]
    let r = Compiler.compile(path: Repo.path("specs/mmoe.yaml"), options: opts)
    var g = try #require(r.graph, "\(r.rendered)")
    g.training.batchSize = 128
    return g
  }

  @Test("training uses the batch's statistics and moves the running ones toward them; evaluation uses the running ones")
  func runningStatistics() throws {
    let g = try graph()
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: 5)
    try s.train(slice(data.train, 6400), epochs: 4)  // 200 steps: the running statistics have settled
    let ex = s.executor
    let bn = g.ops.firstIndex { $0.kind == .batchNorm && $0.block == "experts.shared" }!
    let op = g.ops[bn]
    let C = g.values[op.output].rowWidth
    // The input's statistics over 128 training rows, in Double.
    let picked = Array(0..<128)
    ex.setBatch(rows: 128) { first, count, sparse, dense, labels in
      data.train.gather(indices: picked[first..<(first + count)], into: sparse, dense: dense, labels: labels)
    }
    ex.forward(training: true)
    let x = ex.valueArray(op.inputs[0])
    let before = (ex.parameterArrays()[op.params[2]], ex.parameterArrays()[op.params[3]])
    // Training output: the batch's statistics (each channel of γ⁻¹(y − β) has mean 0, variance 1).
    let gamma = ex.parameterArrays()[op.params[0]]
    let beta = ex.parameterArrays()[op.params[1]]
    let y = ex.valueArray(op.output)
    var batchMean = [Double](repeating: 0, count: C)
    var batchVar = [Double](repeating: 0, count: C)
    for c in 0..<C {
      let col = (0..<128).map { Double(x[$0 * C + c]) }
      batchMean[c] = col.reduce(0, +) / 128
      batchVar[c] = col.map { ($0 - batchMean[c]) * ($0 - batchMean[c]) }.reduce(0, +) / 128
      // The expert stack's activation (relu) follows the normalisation: check the pre-activation
      // where it is positive, i.e. y itself there.
      for r in 0..<128 where y[r * C + c] > 0 {
        let z = (Double(y[r * C + c]) - Double(beta[c])) / Double(gamma[c])
        let expected = (col[r] - batchMean[c]) / (batchVar[c] + 1e-3).squareRoot()
        #expect(abs(z - expected) < 1e-3 * max(1, abs(expected)), "channel \(c) row \(r)")
      }
    }
    // Evaluation uses the running statistics: another output, and they do not move.
    ex.forward()
    #expect(ex.valueArray(op.output) != y)
    #expect(ex.parameterArrays()[op.params[2]] == before.0)
    // A training step on the same rows moves them by rate 0.01 toward this batch's.
    ex.step()
    let after = (ex.parameterArrays()[op.params[2]], ex.parameterArrays()[op.params[3]])
    for c in 0..<C {
      let m = Double(before.0[c]) + 0.01 * (batchMean[c] - Double(before.0[c]))
      let v = Double(before.1[c]) + 0.01 * (batchVar[c] - Double(before.1[c]))
      #expect(abs(Double(after.0[c]) - m) < 1e-5 * max(1, abs(m)), "running mean \(c)")
      #expect(abs(Double(after.1[c]) - v) < 1e-5 * max(1, abs(v)), "running variance \(c)")
    }
    // Quality: a model that evaluates with its running statistics, not a broken one.
    let ms = s.evaluate(data.test)
    #expect(ms.allSatisfy { ($0.auc ?? 0) > 0.85 }, "\(ms.map { $0.auc ?? 0 })")
  }

  @Test(
    "batch statistics are the whole batch's: 1 and 2 threads normalise alike; checkpoints carry the running statistics")
  func threadsAndCheckpoints() throws {
    let g = try graph()
    let data = try Repo.data(g)
    var outs: [[Float]] = []
    for threads in [1, 2] {
      let s = Session(graph: g, fitted: data.fitted, seed: 5, threads: threads)
      let picked = Array(0..<128)
      s.executor.setBatch(rows: 128) { first, count, sparse, dense, labels in
        data.train.gather(indices: picked[first..<(first + count)], into: sparse, dense: dense, labels: labels)
      }
      s.executor.forward(training: true)
      outs.append(s.executor.valueArray(g.tasks[0].prediction))
    }
    let worst = zip(outs[0], outs[1]).map { abs($0 - $1) }.max()!
    #expect(worst < 1e-5, "1 vs 2 threads: \(worst)")

    let s = Session(graph: g, fitted: data.fitted, seed: 5)
    try s.train(slice(data.train, 2000), epochs: 1)
    let restored = Session(graph: g, fitted: data.fitted, seed: 5)
    try restored.restore(try Checkpoint.decode(s.checkpoint().encode(), path: "mem"))
    #expect(restored.evaluate(data.test) == s.evaluate(data.test))
    // Reruns are bit-identical.
    let again = Session(graph: g, fitted: data.fitted, seed: 5)
    try again.train(slice(data.train, 2000), epochs: 1)
    #expect(again.executor.parameterArrays() == s.executor.parameterArrays())
  }
}
