// Losses over a sample space (NaN labels are not scored) and softmax cross-entropy: gradients by
// finite differences, naive agreement, TorchEasyRec's sample-space vector, stability.
import Foundation
import MTLKernels
import Testing

@Suite struct MaskedLossTests {
  /// TorchEasyRec's test of a task space: logits t1 = [0.2, 0.3], t2 = [1.2, 1.3], labels [0, 1]
  /// and [1, 0]: BCE 0.6762 and 0.9021; with t2 supervised only where label1 = 1, t2 = 1.5410.
  @Test func torchEasyRecSampleSpaceVector() {
    let t1 = Buf([0.2, 0.3])
    let t2 = Buf([1.2, 1.3])
    let y1 = Buf([0, 1])
    let y2 = Buf([1, 0])
    let full1 = Kernels.bceLogitsMasked(dz: nil, z: t1.c, y: y1.c, yStride: 1, B: 2, scale: 0) / 2
    let full2 = Kernels.bceLogitsMasked(dz: nil, z: t2.c, y: y2.c, yStride: 1, B: 2, scale: 0) / 2
    #expect(abs(full1 - 0.6762) < 5e-5, "\(full1)")
    #expect(abs(full2 - 0.9021) < 5e-5, "\(full2)")
    // t2 in the space label1 = 1: only row 2 is scored (its label is NaN elsewhere).
    let spaced = Buf([.nan, 0])
    let dz = Buf(2, fill: 7)
    let sum = Kernels.bceLogitsMasked(dz: dz.p, z: t2.c, y: spaced.c, yStride: 1, B: 2, scale: 1)
    #expect(abs(sum / 1 - 1.5410) < 5e-5, "\(sum)")
    // The unscored row's gradient is 0; the scored one is σ(1.3) − 0 over n = 1.
    #expect(dz.array[0] == 0)
    #expect(abs(dz.array[1] - 0.785_834_6) < 1e-6)
  }

  @Test(arguments: ["bce", "prob", "mse"])
  func maskedGradientMatchesFiniteDifferencesAndUnmasked(_ name: String) {
    var rng = SplitMix64(seed: 7)
    let B = 6
    let scale: Float = 0.35
    let x = Buf(
      (0..<B).map { _ in name == "prob" ? rng.uniform(0.05, 0.95) : name == "bce" ? 3 * rng.uniform() : rng.uniform() })
    let y = Buf([1, .nan, 0, 0.3, .nan, 1])
    func run(_ d: UnsafeMutablePointer<Float>?) -> Double {
      switch name {
      case "bce": return Kernels.bceLogitsMasked(dz: d, z: x.c, y: y.c, yStride: 1, B: B, scale: scale)
      case "prob": return Kernels.bceProbMasked(dp: d, p: x.c, y: y.c, yStride: 1, B: B, scale: scale)
      default: return Kernels.mseMasked(dx: d, x: x.c, y: y.c, yStride: 1, B: B, scale: scale)
      }
    }
    let grad = Buf(B, fill: .nan)
    let sum = run(grad.p)
    checkGradient("\(name) masked", param: x, analytic: grad.array, objective: { Double(scale) * run(nil) })
    #expect(grad.array[1] == 0 && grad.array[4] == 0)
    // The scored rows alone, through the unmasked kernel (mean over 4 rows, weight = scale · 4).
    let keep = [0, 2, 3, 5]
    let xs = Buf(keep.map { x.array[$0] })
    let ys = Buf(keep.map { y.array[$0] })
    let g4 = Buf(4)
    let mean: Double
    switch name {
    case "bce": mean = Kernels.bceLogits(dz: g4.p, z: xs.c, y: ys.c, yStride: 1, B: 4, weight: scale * 4)
    case "prob": mean = Kernels.bceProb(dp: g4.p, p: xs.c, y: ys.c, yStride: 1, B: 4, weight: scale * 4)
    default: mean = Kernels.mse(dx: g4.p, x: xs.c, y: ys.c, yStride: 1, B: 4, weight: scale * 4)
    }
    #expect(abs(sum / 4 - mean) <= 1e-6 * abs(mean))
    expectClose(keep.map { grad.array[$0] }, g4.array, "\(name) masked vs unmasked on the scored rows")
    if name != "prob" {
      let naive = Buf(B, fill: .nan)
      let naiveSum =
        name == "bce"
        ? NaiveKernels.bceLogitsMasked(dz: naive.p, z: x.c, y: y.c, yStride: 1, B: B, scale: scale)
        : NaiveKernels.mseMasked(dx: naive.p, x: x.c, y: y.c, yStride: 1, B: B, scale: scale)
      #expect(abs(sum - naiveSum) <= 1e-6 * abs(naiveSum))
      expectClose(grad.array, naive.array, "\(name) masked vs naive")
    }
  }

  @Test func softmaxCrossEntropyGradientAndNaive() {
    var rng = SplitMix64(seed: 11)
    let B = 5
    let K = 4
    let scale: Float = 0.6
    let z = Buf((0..<(B * K)).map { _ in 2 * rng.uniform() })
    // Labels in a [B, 2] block at column 1, one row unscored.
    let y = Buf([9, 2, 9, 0, 9, .nan, 9, 3, 9, 1])
    let dz = Buf(B * K, fill: .nan)
    let sum = Kernels.softmaxCrossEntropy(dz: dz.p, z: z.c, y: y.c + 1, yStride: 2, B: B, K: K, scale: scale)
    checkGradient(
      "softmax CE", param: z, analytic: dz.array,
      objective: {
        Double(scale) * Kernels.softmaxCrossEntropy(dz: nil, z: z.c, y: y.c + 1, yStride: 2, B: B, K: K, scale: 0)
      })
    #expect(dz.array[(2 * K)..<(3 * K)].allSatisfy { $0 == 0 })
    let naive = Buf(B * K, fill: .nan)
    let naiveSum = NaiveKernels.softmaxCrossEntropy(
      dz: naive.p, z: z.c, y: y.c + 1, yStride: 2, B: B, K: K, scale: scale)
    #expect(abs(sum - naiveSum) <= 1e-6 * naiveSum)
    expectClose(dz.array, naive.array, "softmax CE vs naive")
    // Each scored row's gradient sums to 0 (softmax minus one-hot).
    for r in [0, 1, 3, 4] {
      #expect(abs(dz.array[(r * K)..<((r + 1) * K)].reduce(0, +)) < 1e-6)
    }
  }

  @Test func softmaxCrossEntropyHandValueAndStability() {
    // Logits (0, ln 3) with class 1: p = 3/4, loss = ln(4/3).
    let z = Buf([0, Float(log(3.0))])
    let y = Buf([1])
    #expect(
      abs(Kernels.softmaxCrossEntropy(dz: nil, z: z.c, y: y.c, yStride: 1, B: 1, K: 2, scale: 1) - log(4.0 / 3)) < 1e-6)
    // Huge logits: finite, exact where the answer is clear.
    let big = Buf([1e4, -1e4, 0, 1e4, -1e4, 0])
    let yb = Buf([0, 1])
    let d = Buf(6)
    let loss = Kernels.softmaxCrossEntropy(dz: d.p, z: big.c, y: yb.c, yStride: 1, B: 2, K: 3, scale: 1)
    #expect(loss == 2e4)
    #expect(d.array.allSatisfy { $0.isFinite })
    #expect(d.array == [0, 0, 0, 1, -1, 0])
  }
}

@Suite struct PositiveWeightTests {
  @Test("a positive weight scales the positive rows' loss and gradient, checked by finite differences and by hand")
  func weightedBCE() {
    var rng = SplitMix64(seed: 21)
    let B = 6
    let z = Buf((0..<B).map { _ in 3 * rng.uniform() })
    let y = Buf([1, 0, 1, .nan, 0, 1])
    let pw: Float = 3
    let scale: Float = 0.25
    let dz = Buf(B, fill: .nan)
    let sum = Kernels.bceLogitsMasked(dz: dz.p, z: z.c, y: y.c, yStride: 1, B: B, scale: scale, positiveWeight: pw)
    checkGradient(
      "weighted bce", param: z, analytic: dz.array,
      objective: {
        Double(scale) * Kernels.bceLogitsMasked(dz: nil, z: z.c, y: y.c, yStride: 1, B: B, scale: 0, positiveWeight: pw)
      })
    let naive = Buf(B, fill: .nan)
    let naiveSum = NaiveKernels.bceLogitsMasked(
      dz: naive.p, z: z.c, y: y.c, yStride: 1, B: B, scale: scale, positiveWeight: pw)
    #expect(abs(sum - naiveSum) < 1e-6 * naiveSum)
    expectClose(dz.array, naive.array, "weighted vs naive")
    // By hand: a positive row counts pw times, a negative once.
    let positives = Buf([1, .nan, 1, .nan, .nan, 1])
    let negatives = Buf([.nan, 0, .nan, .nan, 0, .nan])
    let plainPositive = Kernels.bceLogitsMasked(dz: nil, z: z.c, y: positives.c, yStride: 1, B: B, scale: 0)
    let plainNegative = Kernels.bceLogitsMasked(dz: nil, z: z.c, y: negatives.c, yStride: 1, B: B, scale: 0)
    #expect(abs(sum - (Double(pw) * plainPositive + plainNegative)) < 1e-9)
    // Weight 1 is the plain loss, bit for bit.
    let one = Kernels.bceLogitsMasked(dz: nil, z: z.c, y: y.c, yStride: 1, B: B, scale: 0, positiveWeight: 1)
    #expect(one == Kernels.bceLogitsMasked(dz: nil, z: z.c, y: y.c, yStride: 1, B: B, scale: 0))
    // On probabilities (a product task).
    let p = Buf((0..<B).map { _ in rng.uniform(0.1, 0.9) })
    let dp = Buf(B, fill: .nan)
    _ = Kernels.bceProbMasked(dp: dp.p, p: p.c, y: y.c, yStride: 1, B: B, scale: scale, positiveWeight: pw)
    checkGradient(
      "weighted bce on p", param: p, analytic: dp.array,
      objective: {
        Double(scale) * Kernels.bceProbMasked(dp: nil, p: p.c, y: y.c, yStride: 1, B: B, scale: 0, positiveWeight: pw)
      })
  }
}
