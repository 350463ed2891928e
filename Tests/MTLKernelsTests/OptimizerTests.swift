// Optimiser update rules against hand-computed two-step examples (Keras/TF semantics) and the naive
// references; the clipping reductions.
import MTLKernels
import Testing

@Suite struct OptimizerTests {
  // Shared example: w0 = [1, −0.5], g1 = [0.1, −0.2], g2 = [−0.3, 0.05].
  static let w0: [Float] = [1, -0.5]
  static let gradients: [[Float]] = [[0.1, -0.2], [-0.3, 0.05]]

  @Test func adamTwoSteps() {
    // lr = 0.01, β1 = 0.9, β2 = 0.999, ε = 1e-7.
    // t = 1: m = [0.01, −0.02], v = [1e-5, 4e-5], lr_t = 0.01·sqrt(0.001)/0.1 = 0.0031622777
    //        w = [0.99000032, −0.49000016]     (≈ w − lr·sign(g): the first Adam step is ~lr)
    // t = 2: m = [−0.021, −0.013], v = [9.999e-5, 4.246e-5], lr_t = 0.01·sqrt(0.001999)/0.19 = 0.0023531673
    //        w = [0.99494217, −0.48530555]
    let w = Buf(Self.w0)
    let m = Buf(2)
    let v = Buf(2)
    let expectedW: [[Float]] = [[0.9900003162, -0.4900001581], [0.9949421651, -0.4853055484]]
    for t in 1...2 {
      let g = Buf(Self.gradients[t - 1])
      Kernels.adamStep(w: w.p, g: g.c, m: m.p, v: v.p, N: 2, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-7, t: t)
      expectClose(w.array, expectedW[t - 1], rel: 0, abs: 3e-7, "adam w at t = \(t)")
    }
    expectClose(m.array, [-0.021, -0.013], "adam m")
    expectClose(v.array, [9.999e-5, 4.246e-5], "adam v")
  }

  @Test func adagradTwoSteps() {
    // lr = 0.1, ε = 1e-7, acc starts at 0.1 (Keras initial_accumulator_value).
    // step 1: acc = [0.11, 0.14]; w = [1 − 0.01/sqrt(0.11), −0.5 + 0.02/sqrt(0.14)] = [0.96984887, −0.44654777]
    // step 2: acc = [0.2, 0.1425]; w = [0.96984887 + 0.03/sqrt(0.2), ...] = [1.0369309, −0.45979309]
    let w = Buf(Self.w0)
    let acc = Buf(2, fill: 0.1)
    let expectedW: [[Float]] = [[0.9698488746, -0.4465477659], [1.036930899, -0.459793086]]
    for step in 0..<2 {
      let g = Buf(Self.gradients[step])
      Kernels.adagradStep(w: w.p, g: g.c, acc: acc.p, N: 2, lr: 0.1, eps: 1e-7)
      expectClose(w.array, expectedW[step], rel: 0, abs: 3e-7, "adagrad w after step \(step + 1)")
    }
    expectClose(acc.array, [0.2, 0.1425], "adagrad acc")
  }

  @Test func sgdMomentumTwoSteps() {
    // lr = 0.1, momentum = 0.9.  v1 = −lr·g1 = [−0.01, 0.02], w1 = [0.99, −0.48]
    // v2 = 0.9·v1 − lr·g2 = [0.021, 0.013], w2 = [1.011, −0.467]
    let w = Buf(Self.w0)
    let velocity = Buf(2)
    let expectedW: [[Float]] = [[0.99, -0.48], [1.011, -0.467]]
    for step in 0..<2 {
      let g = Buf(Self.gradients[step])
      Kernels.sgdStep(w: w.p, g: g.c, velocity: velocity.p, N: 2, lr: 0.1, momentum: 0.9)
      expectClose(w.array, expectedW[step], rel: 0, abs: 2e-7, "sgd w after step \(step + 1)")
    }
    expectClose(velocity.array, [0.021, 0.013], "sgd velocity")

    // Without a velocity slot: plain w −= lr·g.
    let plain = Buf(Self.w0)
    let g = Buf(Self.gradients[0])
    Kernels.sgdStep(w: plain.p, g: g.c, velocity: nil, N: 2, lr: 0.1, momentum: 0)
    expectClose(plain.array, [0.99, -0.48], rel: 0, abs: 1e-7, "plain sgd")
  }

  @Test func optimizersMatchNaiveOverSeveralSteps() {
    var rng = SplitMix64(seed: 100)
    let N = 33
    let wAdam = Buf(random: N, &rng)
    let wAdagrad = Buf(random: N, &rng)
    let wSgd = Buf(random: N, &rng)
    let fast = [wAdam, wAdagrad, wSgd]
    let naive = fast.map { $0.copy() }
    let slotsF = (0..<4).map { i in Buf(N, fill: i == 2 ? 0.1 : 0) }  // m, v, acc, velocity
    let slotsN = slotsF.map { $0.copy() }
    for t in 1...5 {
      let g = Buf(random: N, &rng)
      Kernels.adamStep(
        w: fast[0].p, g: g.c, m: slotsF[0].p, v: slotsF[1].p, N: N, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-7,
        t: t)
      NaiveKernels.adamStep(
        w: naive[0].p, g: g.c, m: slotsN[0].p, v: slotsN[1].p, N: N, lr: 0.01, beta1: 0.9, beta2: 0.999,
        eps: 1e-7, t: t)
      Kernels.adagradStep(w: fast[1].p, g: g.c, acc: slotsF[2].p, N: N, lr: 0.05, eps: 1e-7)
      NaiveKernels.adagradStep(w: naive[1].p, g: g.c, acc: slotsN[2].p, N: N, lr: 0.05, eps: 1e-7)
      Kernels.sgdStep(w: fast[2].p, g: g.c, velocity: slotsF[3].p, N: N, lr: 0.05, momentum: 0.9)
      NaiveKernels.sgdStep(w: naive[2].p, g: g.c, velocity: slotsN[3].p, N: N, lr: 0.05, momentum: 0.9)
    }
    for (i, name) in ["adam", "adagrad", "sgd"].enumerated() {
      expectClose(fast[i].array, naive[i].array, "\(name) w")
    }
    for i in 0..<4 { expectClose(slotsF[i].array, slotsN[i].array, "slot \(i)") }
  }

  @Test func clippingHelpers() {
    let x = Buf([3, 4, 0, -12])
    #expect(Kernels.sumOfSquares(x: x.c, N: 4) == 169)
    #expect(Kernels.sumOfSquares(x: x.c, N: 2) == 25)  // respects N
    Kernels.scale(x: x.p, N: 3, factor: 0.5)
    #expect(x.array == [1.5, 2, 0, -12])  // respects N

    var rng = SplitMix64(seed: 101)
    let y = Buf(random: 1001, &rng)
    let fast = Kernels.sumOfSquares(x: y.c, N: 1001)
    let naive = NaiveKernels.sumOfSquares(x: y.c, N: 1001)
    #expect(abs(fast - naive) <= 1e-12 * naive)  // both accumulate in Double
  }
}
