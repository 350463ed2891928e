// Activations: derivative-from-output by finite differences, fast against naive, in-place use, values.
import MTLKernels
import Testing

@Suite struct ActivationTests {
  @Test(arguments: Act.allCases)
  func activationBackwardMatchesFiniteDifferences(act: Act) {
    var rng = SplitMix64(seed: 10 + UInt64(act.rawValue))
    let N = 12
    // |x| ≥ 0.05, far from the relu kink compared to the FD step 1e-3.
    let x = Buf((0..<N).map { _ in rng.awayFromZero() })
    let r = Buf(random: N, &rng)
    let y = Buf(N)
    let objective: () -> Double = {
      Kernels.activationForward(act: act, y: y.p, x: x.c, N: N)
      return dot(y, r)
    }
    _ = objective()
    let dz = Buf(N, fill: .nan)  // overwritten, never read
    Kernels.activationBackward(act: act, dz: dz.p, dy: r.c, y: y.c, N: N)
    checkGradient("\(act) dz", param: x, analytic: dz.array, objective: objective)
  }

  @Test(arguments: Act.allCases)
  func activationFastMatchesNaive(act: Act) {
    var rng = SplitMix64(seed: 20)
    let N = 37
    let x = Buf((0..<N).map { _ in 4 * rng.uniform() })
    let fast = Buf(N, fill: .nan)
    let naive = Buf(N, fill: .nan)
    Kernels.activationForward(act: act, y: fast.p, x: x.c, N: N)
    NaiveKernels.activationForward(act: act, y: naive.p, x: x.c, N: N)
    expectClose(fast.array, naive.array, "\(act) y")

    let dy = Buf(random: N, &rng)
    let dzF = Buf(N, fill: .nan)
    let dzN = Buf(N, fill: .nan)
    Kernels.activationBackward(act: act, dz: dzF.p, dy: dy.c, y: fast.c, N: N)
    NaiveKernels.activationBackward(act: act, dz: dzN.p, dy: dy.c, y: fast.c, N: N)
    expectClose(dzF.array, dzN.array, "\(act) dz")
  }

  @Test(arguments: Act.allCases)
  func activationRunsInPlace(act: Act) {
    var rng = SplitMix64(seed: 30)
    let N = 9
    let x = Buf((0..<N).map { _ in rng.awayFromZero() })
    let expectedY = Buf(N)
    Kernels.activationForward(act: act, y: expectedY.p, x: x.c, N: N)
    let inPlace = x.copy()
    Kernels.activationForward(act: act, y: inPlace.p, x: inPlace.c, N: N)
    #expect(inPlace.array == expectedY.array)

    let dy = Buf(random: N, &rng)
    let expectedDz = Buf(N)
    Kernels.activationBackward(act: act, dz: expectedDz.p, dy: dy.c, y: expectedY.c, N: N)
    Kernels.activationBackward(act: act, dz: dy.p, dy: dy.c, y: expectedY.c, N: N)
    #expect(dy.array == expectedDz.array)
  }

  @Test func activationValues() {
    let x = Buf([-2, 0, 3])
    let y = Buf(3)
    Kernels.activationForward(act: .relu, y: y.p, x: x.c, N: 3)
    #expect(y.array == [0, 0, 3])
    Kernels.activationForward(act: .leakyRelu, y: y.p, x: x.c, N: 3)
    #expect(y.array == [-0.02, 0, 3])
    Kernels.activationForward(act: .none, y: y.p, x: x.c, N: 3)
    #expect(y.array == [-2, 0, 3])
    Kernels.activationForward(act: .sigmoid, y: y.p, x: x.c, N: 3)
    #expect(close(y.array, [0.11920292, 0.5, 0.95257413]))
    Kernels.activationForward(act: .tanh, y: y.p, x: x.c, N: 3)
    #expect(close(y.array, [-0.96402758, 0, 0.99505475]))
    // Derivative at the leaky-relu origin uses the negative slope (y = 0 is not > 0).
    let dz = Buf(3)
    let ones = Buf([1, 1, 1])
    let yLeaky = Buf([-0.02, 0, 3])
    Kernels.activationBackward(act: .leakyRelu, dz: dz.p, dy: ones.c, y: yLeaky.c, N: 3)
    #expect(dz.array == [0.01, 0.01, 1])
  }

  @Test func sigmoidIsStableAtExtremes() {
    #expect(Kernels.sigmoid(1e4) == 1)
    #expect(Kernels.sigmoid(-1e4) == 0)
    #expect(Kernels.sigmoid(0) == 0.5)
    #expect(abs(Kernels.sigmoid(-20) - 2.0611537e-9) < 1e-15)  // not flushed to 0 early
    for x: Float in [-80, -10, -1, 0.3, 5, 30] {
      #expect(abs(Kernels.sigmoid(x) - NaiveKernels.sigmoid(x)) <= 1e-6 * NaiveKernels.sigmoid(x))
    }
  }
}
