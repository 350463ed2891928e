// softmax, mix and product: finite differences, fast against naive, extreme logits, zeros.
import MTLKernels
import Testing

@Suite struct SoftmaxTests {
  @Test func softmaxBackwardMatchesFiniteDifferences() {
    var rng = SplitMix64(seed: 60)
    let (B, K) = (3, 4)
    let x = Buf((0..<B * K).map { _ in 3 * rng.uniform() })
    let r = Buf(random: B * K, &rng)
    let y = Buf(B * K)
    let objective: () -> Double = {
      Kernels.softmaxForward(y: y.p, x: x.c, B: B, K: K)
      return dot(y, r)
    }
    _ = objective()
    let dx = Buf(random: B * K, &rng)
    let before = dx.array
    Kernels.softmaxBackward(dx: dx.p, dy: r.c, y: y.c, B: B, K: K)
    checkGradient("softmax dx", param: x, analytic: delta(dx, before), objective: objective)
  }

  @Test func softmaxFastMatchesNaive() {
    var rng = SplitMix64(seed: 61)
    let (B, K) = (7, 9)
    let x = Buf((0..<B * K).map { _ in 5 * rng.uniform() })
    let fast = Buf(B * K, fill: .nan)
    let naive = Buf(B * K, fill: .nan)
    Kernels.softmaxForward(y: fast.p, x: x.c, B: B, K: K)
    NaiveKernels.softmaxForward(y: naive.p, x: x.c, B: B, K: K)
    expectClose(fast.array, naive.array, "softmax y")
    let dy = Buf(random: B * K, &rng)
    let dxF = Buf(random: B * K, &rng)
    let dxN = dxF.copy()
    Kernels.softmaxBackward(dx: dxF.p, dy: dy.c, y: fast.c, B: B, K: K)
    NaiveKernels.softmaxBackward(dx: dxN.p, dy: dy.c, y: fast.c, B: B, K: K)
    expectClose(dxF.array, dxN.array, "softmax dx")
  }

  @Test func softmaxIsStableAtHugeLogits() {
    // Rows: one dominant logit; two tied huge logits; all huge negative (ties); mixed.
    let x = Buf([1e4, -1e4, 0, 1e4, 1e4, -1e4, -1e4, -1e4, -1e4, -1e4, 1e4 - 1, 1e4])
    let y = Buf(12)
    Kernels.softmaxForward(y: y.p, x: x.c, B: 4, K: 3)
    #expect(y.array.allSatisfy { $0.isFinite })
    let third: Float = 1.0 / 3.0
    expectClose(
      y.array, [1, 0, 0, 0.5, 0.5, 0, third, third, third, 0, 0.26894142, 0.73105858], rel: 1e-5, abs: 1e-6,
      "softmax at ±1e4")
    let dx = Buf(12)
    let dy = Buf((0..<12).map { Float($0) })
    Kernels.softmaxBackward(dx: dx.p, dy: dy.c, y: y.c, B: 4, K: 3)
    #expect(dx.array.allSatisfy { $0.isFinite })
    // Row 0 is one-hot: its Jacobian is zero.
    #expect(Array(dx.array[0..<3]) == [0, 0, 0])
    // Every row's gradient sums to zero (softmax is shift invariant).
    for row in 0..<4 { #expect(abs(dx.array[row * 3..<row * 3 + 3].reduce(0, +)) < 1e-5) }
  }

  @Test func softmaxInPlace() {
    let x = Buf([0.5, -1, 2, 0])
    let expected = Buf(4)
    Kernels.softmaxForward(y: expected.p, x: x.c, B: 2, K: 2)
    Kernels.softmaxForward(y: x.p, x: x.c, B: 2, K: 2)
    #expect(x.array == expected.array)
  }
}

@Suite struct MixTests {
  // K = 3 mixed experts from two batch-major groups: a group of 2 (e.g. shared) and a group of 1.
  static let (B, H, groups) = (2, 3, [2, 1])

  /// The K sources of the groups, in order: expert e of a group of E is rows `b·E·H + e·H`.
  static func sources(_ bufs: [Buf], _ groups: [Int], H: Int) -> [MixSource] {
    zip(bufs, groups).flatMap { buf, E in (0..<E).map { MixSource(base: buf.c, rowStride: E * H, offset: $0 * H) } }
  }
  static func gradSources(_ bufs: [Buf?], _ groups: [Int], H: Int) -> [MixGradSource] {
    zip(bufs, groups).flatMap { buf, E in
      (0..<E).map { MixGradSource(base: buf?.p, rowStride: E * H, offset: $0 * H) }
    }
  }

  @Test func mixForwardHandExample() {
    // B = 1, H = 2; experts [[1, 2], [3, 4]] (group of 2) and [[5, 6]] (group of 1); g = [0.5, 0.25, 0.25].
    let group0 = Buf([1, 2, 3, 4])
    let group1 = Buf([5, 6])
    let g = Buf([0.5, 0.25, 0.25])
    let y = Buf(2, fill: .nan)
    Kernels.mixForward(y: y.p, g: g.c, sources: Self.sources([group0, group1], [2, 1], H: 2), B: 1, H: 2)
    #expect(y.array == [2.5, 3.5])  // [0.5·1 + 0.25·3 + 0.25·5, 0.5·2 + 0.25·4 + 0.25·6]
  }

  @Test func mixReadsBatchMajorRows() {
    // One group of E = 2, B = 2, H = 1: rows [x(0,0), x(0,1)], [x(1,0), x(1,1)]; select only expert 1.
    let x = Buf([1, 2, 3, 4])
    let g = Buf([1, 10])  // K = 1 per row
    let y = Buf(2, fill: .nan)
    Kernels.mixForward(y: y.p, g: g.c, sources: [MixSource(base: x.c, rowStride: 2, offset: 1)], B: 2, H: 1)
    #expect(y.array == [2, 40])
  }

  @Test func mixBackwardMatchesFiniteDifferencesAndNaive() {
    var rng = SplitMix64(seed: 70)
    let (B, H, groups) = (Self.B, Self.H, Self.groups)
    let K = groups.reduce(0, +)
    let g = Buf(random: B * K, &rng)
    let experts = groups.map { Buf(random: $0 * B * H, &rng) }
    let r = Buf(random: B * H, &rng)
    let y = Buf(B * H)
    let inputs = Self.sources(experts, groups, H: H)
    let objective: () -> Double = {
      Kernels.mixForward(y: y.p, g: g.c, sources: inputs, B: B, H: H)
      return dot(y, r)
    }
    let dg = Buf(random: B * K, &rng)
    let dexperts = groups.map { Buf(random: $0 * B * H, &rng) }
    let (dgBefore, dexBefore) = (dg.array, dexperts.map(\.array))
    let (dgNaive, dexNaive) = (dg.copy(), dexperts.map { $0.copy() })
    Kernels.mixBackward(
      dg: dg.p, dsources: Self.gradSources(dexperts, groups, H: H), dy: r.c, g: g.c, sources: inputs, B: B, H: H)
    NaiveKernels.mixBackward(
      dg: dgNaive.p, dsources: Self.gradSources(dexNaive, groups, H: H), dy: r.c, g: g.c, sources: inputs, B: B,
      H: H)
    expectClose(dg.array, dgNaive.array, "mix dg")
    for i in groups.indices { expectClose(dexperts[i].array, dexNaive[i].array, "mix dexperts[\(i)]") }
    checkGradient("mix dg", param: g, analytic: delta(dg, dgBefore), objective: objective)
    for i in groups.indices {
      checkGradient(
        "mix dexperts[\(i)]", param: experts[i], analytic: delta(dexperts[i], dexBefore[i]), objective: objective)
    }
    let naiveY = Buf(B * H)
    NaiveKernels.mixForward(y: naiveY.p, g: g.c, sources: inputs, B: B, H: H)
    _ = objective()
    expectClose(y.array, naiveY.array, "mix y")
    withExtendedLifetime(experts) {}
  }

  @Test func mixBackwardSkipsNilGradients() {
    var rng = SplitMix64(seed: 71)
    let (B, H, groups) = (Self.B, Self.H, Self.groups)
    let g = Buf(random: B * groups.reduce(0, +), &rng)
    let experts = groups.map { Buf(random: $0 * B * H, &rng) }
    let dy = Buf(random: B * H, &rng)
    let dGroup1 = Buf(random: groups[1] * B * H, &rng)
    let expected = dGroup1.copy()
    let inputs = Self.sources(experts, groups, H: H)
    Kernels.mixBackward(
      dg: nil, dsources: Self.gradSources([nil, dGroup1], groups, H: H), dy: dy.c, g: g.c, sources: inputs, B: B,
      H: H)
    NaiveKernels.mixBackward(
      dg: nil, dsources: Self.gradSources([nil, expected], groups, H: H), dy: dy.c, g: g.c, sources: inputs, B: B,
      H: H)
    // Group 1 is expert k = 2: it must be weighted by g[:, 2], not g[:, 0].
    expectClose(dGroup1.array, expected.array, "mix dexperts[1] with nil neighbours")
    withExtendedLifetime(experts) {}
  }
}

@Suite struct ProductTests {
  @Test func productBackwardMatchesFiniteDifferencesAndNaive() {
    var rng = SplitMix64(seed: 80)
    let B = 4
    let xs = (0..<3).map { _ in Buf(random: B, &rng) }
    let r = Buf(random: B, &rng)
    let y = Buf(B)
    let inputs = xs.map(\.c)
    let objective: () -> Double = {
      Kernels.productForward(y: y.p, xs: inputs, B: B)
      return dot(y, r)
    }
    let dxs = xs.map { _ in Buf(random: B, &rng) }
    let before = dxs.map(\.array)
    let naive = dxs.map { $0.copy() }
    Kernels.productBackward(dxs: dxs.map(\.p), dy: r.c, xs: inputs, B: B)
    NaiveKernels.productBackward(dxs: naive.map(\.p), dy: r.c, xs: inputs, B: B)
    for i in 0..<3 {
      expectClose(dxs[i].array, naive[i].array, "product dx[\(i)]")
      checkGradient("product dx[\(i)]", param: xs[i], analytic: delta(dxs[i], before[i]), objective: objective)
    }
    let naiveY = Buf(B)
    NaiveKernels.productForward(y: naiveY.p, xs: inputs, B: B)
    _ = objective()
    expectClose(y.array, naiveY.array, "product y")
    withExtendedLifetime(xs) {}
  }

  @Test func productWithAZeroHasExactGradients() {
    // pCTCVR = pCTR · pCVR with pCTR = 0 at b = 0: d/dpCTR = pCVR (nonzero), d/dpCVR = 0; no NaN.
    let ctr = Buf([0, 0.5])
    let cvr = Buf([0.25, 0.5])
    let dy = Buf([2, 1])
    let y = Buf(2, fill: .nan)
    Kernels.productForward(y: y.p, xs: [ctr.c, cvr.c], B: 2)
    #expect(y.array == [0, 0.25])
    let dctr = Buf(2)
    let dcvr = Buf(2)
    Kernels.productBackward(dxs: [dctr.p, dcvr.p], dy: dy.c, xs: [ctr.c, cvr.c], B: 2)
    #expect(dctr.array == [0.5, 0.5])
    #expect(dcvr.array == [0, 0.5])
    // nil entries are skipped; the other still accumulates (on top of the previous call's result).
    Kernels.productBackward(dxs: [nil, dcvr.p], dy: dy.c, xs: [ctr.c, cvr.c], B: 2)
    #expect(dcvr.array == [0, 1])
  }
}
