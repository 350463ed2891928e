// Losses and the L2 penalty: gradients of weight·loss by finite differences, naive agreement, hand
// values, and the extremes (logits ±1e4, probabilities at and beyond the clip bounds).
import Foundation
import MTLKernels
import Testing

/// A [B, L] label block (L = 3) whose column 1 holds `labels`; the other columns hold 7, which no loss
/// may read (it would show up as a wildly wrong loss).
private func labelBlock(_ labels: [Float]) -> Buf {
  Buf(labels.flatMap { [7, $0, 7] })
}

private typealias LossKernel =
  @Sendable (
    UnsafeMutablePointer<Float>?, UnsafePointer<Float>, UnsafePointer<Float>, Int, Int, Float
  ) -> Double

private let fastLosses: [String: LossKernel] = [
  "bceLogits": { Kernels.bceLogits(dz: $0, z: $1, y: $2, yStride: $3, B: $4, weight: $5) },
  "bceProb": { Kernels.bceProb(dp: $0, p: $1, y: $2, yStride: $3, B: $4, weight: $5) },
  "mse": { Kernels.mse(dx: $0, x: $1, y: $2, yStride: $3, B: $4, weight: $5) },
]
private let naiveLosses: [String: LossKernel] = [
  "bceLogits": { NaiveKernels.bceLogits(dz: $0, z: $1, y: $2, yStride: $3, B: $4, weight: $5) },
  "bceProb": { NaiveKernels.bceProb(dp: $0, p: $1, y: $2, yStride: $3, B: $4, weight: $5) },
  "mse": { NaiveKernels.mse(dx: $0, x: $1, y: $2, yStride: $3, B: $4, weight: $5) },
]

@Suite struct LossTests {
  /// Inputs for each loss: logits in (−3, 3), probabilities in (0.05, 0.95), regression values in (−1, 1).
  private func inputs(_ name: String, _ rng: inout SplitMix64, _ B: Int) -> Buf {
    switch name {
    case "bceLogits": return Buf((0..<B).map { _ in 3 * rng.uniform() })
    case "bceProb": return Buf((0..<B).map { _ in rng.uniform(0.05, 0.95) })
    default: return Buf(random: B, &rng)
    }
  }

  @Test(arguments: ["bceLogits", "bceProb", "mse"])
  func lossGradientMatchesFiniteDifferencesAndNaive(name: String) {
    var rng = SplitMix64(seed: 90)
    let B = 6
    let weight: Float = 0.7
    let x = inputs(name, &rng, B)
    // Hard and soft labels (soft labels for mse are just targets).
    let labels = labelBlock([1, 0, 0.3, 1, 0, 0.8])
    let fast = fastLosses[name]!
    let naive = naiveLosses[name]!
    let objective: () -> Double = { Double(weight) * fast(nil, x.c, labels.c + 1, 3, B, weight) }
    let grad = Buf(B, fill: .nan)  // overwritten
    let loss = fast(grad.p, x.c, labels.c + 1, 3, B, weight)
    checkGradient("\(name) grad", param: x, analytic: grad.array, objective: objective)

    let naiveGrad = Buf(B, fill: .nan)
    let naiveLoss = naive(naiveGrad.p, x.c, labels.c + 1, 3, B, weight)
    #expect(abs(loss - naiveLoss) <= 1e-6 * abs(naiveLoss), "\(name): \(loss) vs naive \(naiveLoss)")
    expectClose(grad.array, naiveGrad.array, "\(name) grad vs naive")
    // The loss is unweighted and does not depend on whether a gradient is written.
    #expect(fast(nil, x.c, labels.c + 1, 3, B, 5) == loss)
  }

  @Test func bceLogitsHandValues() {
    // z = 0, y = 1: log 2.  z = 2, y = 0: 2 + log(1 + e^-2) = 2.1269280.  Mean = 1.4100514.
    let z = Buf([0, 2])
    let labels = labelBlock([1, 0])
    let dz = Buf(2)
    let loss = Kernels.bceLogits(dz: dz.p, z: z.c, y: labels.c + 1, yStride: 3, B: 2, weight: 2)
    #expect(abs(loss - (0.6931471805599453 + 2.1269280110429727) / 2) < 1e-9)
    // grad = weight · (σ(z) − y) / B = [2·(0.5 − 1)/2, 2·0.8807971/2]
    expectClose(dz.array, [-0.5, 0.88079708], "bceLogits grad")
  }

  @Test func bceLogitsIsStableAtHugeLogits() {
    let z = Buf([1e4, -1e4, 1e4, -1e4])
    let labels = labelBlock([1, 0, 0, 1])
    let dz = Buf(4)
    let loss = Kernels.bceLogits(dz: dz.p, z: z.c, y: labels.c + 1, yStride: 3, B: 4, weight: 1)
    // Confident and right: 0.  Confident and wrong: |z| = 1e4.
    #expect(loss == 5000)
    #expect(dz.array == [0, 0, 0.25, -0.25])
  }

  @Test func bceProbClipsLikeKeras() {
    // p = 0 and 1e-9 clip to 1e-7; p = 1 clips to 1 − 1e-7 (Float: 0.99999988); p = 0.5 is inside.
    let p = Buf([0, 1, 1e-9, 0.5, 0])
    let labels = labelBlock([1, 0, 1, 1, 0])
    let dp = Buf(5, fill: .nan)
    let loss = Kernels.bceProb(dp: dp.p, p: p.c, y: labels.c + 1, yStride: 3, B: 5, weight: 1)
    let lo = Double(Float(1e-7))
    let hi = Double(Float(1) - Float(1e-7))
    let terms: [Double] = [-log(lo), -log(1 - hi), -log(lo), log(2.0), -log(1 - lo)]
    let expected = terms.reduce(0, +) / 5
    #expect(abs(loss - expected) < 1e-9, "\(loss) vs \(expected)")
    #expect(abs(loss - (16.118095 + 15.942385 + 16.118095 + 0.693147 + 1e-7) / 5) < 1e-5)
    // Zero gradient where clipped; −y/p / B = −2/5 at p = 0.5, y = 1.
    #expect(dp.array == [0, 0, 0, -0.4, 0])
    // Exactly at the bounds the value is not clipped: the gradient is finite and nonzero.
    let edges = Buf([Kernels.bceProbClip.lo, Kernels.bceProbClip.hi])
    let edgeLabels = labelBlock([0, 1])
    let dEdges = Buf(2)
    _ = Kernels.bceProb(dp: dEdges.p, p: edges.c, y: edgeLabels.c + 1, yStride: 3, B: 2, weight: 1)
    #expect(dEdges.array.allSatisfy { $0.isFinite && $0 != 0 })
  }

  @Test func mseHandValues() {
    let x = Buf([1, 2])
    let labels = labelBlock([0, 4])
    let dx = Buf(2)
    let loss = Kernels.mse(dx: dx.p, x: x.c, y: labels.c + 1, yStride: 3, B: 2, weight: 0.5)
    #expect(loss == 2.5)  // (1 + 4) / 2
    #expect(dx.array == [0.5, -1])  // 2 · 0.5 · (x − y) / 2
  }

  @Test func l2PenaltyAndBackward() {
    let w = Buf([1, -2])
    #expect(abs(Kernels.l2Penalty(w: w.c, N: 2, lambda: 0.1) - 0.5) < 1e-7)
    let dw = Buf([1, 1])
    Kernels.l2Backward(dw: dw.p, w: w.c, N: 2, lambda: 0.1)
    expectClose(dw.array, [1.2, 0.6], "l2 dw accumulates 2λw")

    var rng = SplitMix64(seed: 91)
    let N = 7
    let v = Buf(random: N, &rng)
    let lambda: Float = 0.3
    let g = Buf(random: N, &rng)
    let before = g.array
    let naive = g.copy()
    Kernels.l2Backward(dw: g.p, w: v.c, N: N, lambda: lambda)
    NaiveKernels.l2Backward(dw: naive.p, w: v.c, N: N, lambda: lambda)
    expectClose(g.array, naive.array, "l2 vs naive")
    let penalty = Kernels.l2Penalty(w: v.c, N: N, lambda: lambda)
    #expect(abs(penalty - NaiveKernels.l2Penalty(w: v.c, N: N, lambda: lambda)) <= 1e-6 * penalty)
    checkGradient("l2 dw", param: v, analytic: delta(g, before)) {
      Kernels.l2Penalty(w: v.c, N: N, lambda: lambda)
    }
  }
}
