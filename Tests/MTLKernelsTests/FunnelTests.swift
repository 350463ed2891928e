// AITM's kernels: the attention unit's scaled row dot product (fast against naive, finite
// differences) and the funnel's calibration term (values and its one-sided gradient).
import MTLKernels
import Testing

@Suite struct FunnelTests {
  @Test func rowDotMatchesNaiveAndFiniteDifferences() {
    var rng = SplitMix64(seed: 60)
    let (B, K) = (5, 7)
    let scale: Float = 1 / Float(K).squareRoot()
    let a = Buf(random: B * K, &rng)
    let c = Buf(random: B * K, &rng)
    let r = Buf(random: B, &rng)
    let y = Buf(B, fill: .nan)
    let naive = Buf(B, fill: .nan)
    let objective: () -> Double = {
      Kernels.rowDotForward(y: y.p, a: a.c, c: c.c, scale: scale, B: B, K: K)
      return dot(y, r)
    }
    _ = objective()
    NaiveKernels.rowDotForward(y: naive.p, a: a.c, c: c.c, scale: scale, B: B, K: K)
    expectClose(y.array, naive.array, "y")
    let da = Buf(random: B * K, &rng)
    let dc = Buf(random: B * K, &rng)
    let (da0, dc0) = (da.array, dc.array)
    let (daN, dcN) = (da.copy(), dc.copy())
    Kernels.rowDotBackward(da: da.p, dc: dc.p, dy: r.c, a: a.c, c: c.c, scale: scale, B: B, K: K)
    NaiveKernels.rowDotBackward(da: daN.p, dc: dcN.p, dy: r.c, a: a.c, c: c.c, scale: scale, B: B, K: K)
    expectClose(da.array, daN.array, "da")
    expectClose(dc.array, dcN.array, "dc")
    checkGradient("dot da", param: a, analytic: zip(da.array, da0).map { $0 - $1 }, objective: objective)
    checkGradient("dot dc", param: c, analytic: zip(dc.array, dc0).map { $0 - $1 }, objective: objective)
  }

  @Test func calibrationPenalisesOnlyATaskAboveItsUpstream() {
    // Rows: above (0.6 > 0.5), below (0.2 < 0.9), equal (0.4 = 0.4), above (0.9 > 0.1).
    let p = Buf([0.6, 0.2, 0.4, 0.9])
    let q = Buf([0.5, 0.9, 0.4, 0.1])
    let dp = Buf(4)
    let dq = Buf(4)
    let w: Float = 0.6 / 4
    let loss = Kernels.calibration(dp: dp.p, dq: dq.p, p: p.c, q: q.c, weight: w, B: 4)
    #expect(abs(loss - 0.6 * (0.1 + 0.8) / 4) < 1e-6)
    #expect(dp.array == [w, 0, 0, w])
    #expect(dq.array == [-w, 0, 0, -w])
    #expect(Kernels.calibration(dp: nil, dq: nil, p: q.c, q: q.c, weight: w, B: 4) == 0)
  }
}
