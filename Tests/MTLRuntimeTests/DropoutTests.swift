// Dropout (issue 11, item 3): the mask, its rate and scale, its independence from the thread
// split, and training against evaluation.
import Foundation
import MTLCompiler
import MTLData
import MTLGraph
import MTLKernels
import MTLRuntime
import MTLTrain
import Testing

struct DropoutTests {
  @Test("the mask drops about `rate` of the elements, scales the rest by 1/(1-rate), and backward uses the same mask")
  func kernel() {
    let B = 200
    let W = 50
    let rate: Float = 0.3
    let key = Kernels.dropoutKey(seed: 5, op: 3, step: 17)
    let x = (0..<(B * W)).map { Float($0 % 7) + 1 }
    var y = [Float](repeating: 0, count: B * W)
    x.withUnsafeBufferPointer { xp in
      y.withUnsafeMutableBufferPointer {
        Kernels.dropoutForward(y: $0.baseAddress!, x: xp.baseAddress!, B: B, W: W, rate: rate, key: key, firstRow: 0)
      }
    }
    let mask = NaiveKernels.dropoutMask(B: B, W: W, rate: rate, key: key, firstRow: 0)
    let dropped = Double(mask.filter { $0 == 0 }.count) / Double(B * W)
    #expect(abs(dropped - 0.3) < 0.02, "dropped \(dropped)")
    let scale: Float = 1 / (1 - rate)
    #expect(abs(scale - 1 / 0.7) < 1e-6)
    #expect((0..<(B * W)).allSatisfy { y[$0] == (mask[$0] == 1 ? x[$0] * scale : 0) })
    // Backward accumulates dy·mask/(1-rate).
    let dy = [Float](repeating: 2, count: B * W)
    var dx = [Float](repeating: 1, count: B * W)
    dy.withUnsafeBufferPointer { d in
      dx.withUnsafeMutableBufferPointer {
        Kernels.dropoutBackward(dx: $0.baseAddress!, dy: d.baseAddress!, B: B, W: W, rate: rate, key: key, firstRow: 0)
      }
    }
    #expect((0..<(B * W)).allSatisfy { dx[$0] == 1 + (mask[$0] == 1 ? 2 * scale : 0) })
    // A share of rows starting at row 120 draws the same mask as those rows of the whole batch.
    let share = NaiveKernels.dropoutMask(B: 30, W: W, rate: rate, key: key, firstRow: 120)
    #expect(share == Array(mask[(120 * W)..<(150 * W)]))
    // Another step, another op: another mask.
    #expect(
      NaiveKernels.dropoutMask(B: B, W: W, rate: rate, key: Kernels.dropoutKey(seed: 5, op: 3, step: 18), firstRow: 0)
        != mask)
    #expect(
      NaiveKernels.dropoutMask(B: B, W: W, rate: rate, key: Kernels.dropoutKey(seed: 5, op: 4, step: 17), firstRow: 0)
        != mask)
  }

  func graph(_ overrides: [String]) throws -> Graph {
    var opts = Compiler.Options()
    opts.readData = false
    opts.overrides = overrides
    let r = Compiler.compile(path: Repo.path("specs/mmoe.yaml"), options: opts)
    return try #require(r.graph, "\(r.rendered)")
  }

  @Test("dropout is on while training and off at evaluation; its masks do not depend on the thread count")
  func trainingAndEvaluation() throws {
    var g = try graph(["experts.shared.dropout=0.4", "towers.income.dropout=0.4"])
    g.training.batchSize = 64
    let data = try Repo.data(g)
    func session(_ threads: Int) -> Session {
      let s = Session(graph: g, fitted: data.fitted, seed: 2, threads: threads)
      let picked = Array(0..<64)
      s.executor.setBatch(rows: 64) { first, count, sparse, dense, labels in
        data.train.gather(indices: picked[first..<(first + count)], into: sparse, dense: dense, labels: labels)
      }
      return s
    }
    let one = session(1)
    let two = session(2)
    let drop = g.ops.first { $0.kind == .dropout && $0.block == "experts.shared" }!
    one.executor.forward(training: true)
    two.executor.forward(training: true)
    let a = one.executor.valueArray(drop.output)
    let b = two.executor.valueArray(drop.output)
    #expect(a.map { $0 == 0 } == b.map { $0 == 0 }, "the same elements dropped on 1 and 2 threads")
    #expect(Double(a.filter { $0 == 0 }.count) / Double(a.count) > 0.3)
    // Evaluation: the identity, so the value equals its input.
    one.executor.forward()
    #expect(one.executor.valueArray(drop.output) == one.executor.valueArray(drop.inputs[0]))
    let p1 = one.executor.valueArray(g.tasks[0].prediction)
    one.executor.forward(training: true)
    let p2 = one.executor.valueArray(g.tasks[0].prediction)
    #expect(p1 != p2)
    one.executor.forward()
    #expect(one.executor.valueArray(g.tasks[0].prediction) == p1)
    // A model without dropout is the graph it always was: no dropout op.
    #expect(try graph([]).ops.allSatisfy { $0.kind != .dropout })
  }

  @Test("runs with dropout are bit-identical for a seed and thread count, and resume exactly")
  func deterministic() throws {
    var g = try graph(["experts.shared.dropout=0.2", "towers.marital.dropout=0.3"])
    g.training.batchSize = 128
    let data = try Repo.data(g)
    let small = slice(data.train, 2000)
    let a = Session(graph: g, fitted: data.fitted, seed: 6)
    try a.train(small, epochs: 2)
    let b = Session(graph: g, fitted: data.fitted, seed: 6)
    try b.train(small, epochs: 2)
    #expect(a.executor.parameterArrays() == b.executor.parameterArrays())
    let first = Session(graph: g, fitted: data.fitted, seed: 6)
    let c = try interruptedCheckpoint(first, small, epochs: 2, epochsDone: 1, batch: 4)
    let second = Session(graph: g, fitted: data.fitted, seed: 6)
    try second.restore(c)
    try second.train(small, epochs: 2)
    #expect(second.executor.parameterArrays() == a.executor.parameterArrays())
  }
}
