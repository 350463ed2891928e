// Activations computed from their input (GELU, swish, leaky ReLU with a slope, PReLU): gradients by
// finite differences (the input and PReLU's slopes), fast against naive, accumulation, and values
// from PyTorch's definitions.
import MTLKernels
import Testing

struct InputActCase: CustomTestStringConvertible, Sendable {
  let act: InputAct
  var testDescription: String { "\(act)" }
}

@Suite struct InputActivationTests {
  static let cases = [InputAct.gelu, .swish, .leakyRelu(slope: 0.2), .leakyRelu(slope: 0), .prelu].map(
    InputActCase.init)

  @Test(arguments: cases)
  func backwardMatchesFiniteDifferences(_ c: InputActCase) {
    var rng = SplitMix64(seed: 31)
    let (rows, C) = (5, 4)
    let N = rows * C
    // |x| ≥ 0.05: away from the kink at 0 (leaky ReLU, PReLU) by much more than the FD step.
    let x = Buf((0..<N).map { _ in 3 * rng.awayFromZero() })
    let slopes = Buf([0.25, -0.1, 0.6, 0.05])
    let r = Buf(random: N, &rng)
    let y = Buf(N)
    let objective: () -> Double = {
      Kernels.inputActivationForward(act: c.act, y: y.p, x: x.c, slopes: slopes.c, rows: rows, C: C)
      return dot(y, r)
    }
    _ = objective()
    let dx = Buf(N)
    let dslopes = Buf(C)
    Kernels.inputActivationBackward(
      act: c.act, dx: dx.p, dslopes: dslopes.p, dy: r.c, x: x.c, slopes: slopes.c, rows: rows, C: C)
    checkGradient("\(c.act) dx", param: x, analytic: dx.array, objective: objective)
    if c.act == .prelu {
      checkGradient("prelu dslopes", param: slopes, analytic: dslopes.array, objective: objective)
    } else {
      #expect(dslopes.array.allSatisfy { $0 == 0 }, "only prelu has slopes to learn")
    }
  }

  @Test(arguments: cases)
  func fastMatchesNaiveAndAccumulates(_ c: InputActCase) {
    var rng = SplitMix64(seed: 32)
    let (rows, C) = (7, 9)
    let N = rows * C
    let x = Buf((0..<N).map { _ in 5 * rng.uniform() })
    let slopes = Buf(random: C, &rng)
    let fast = Buf(N, fill: .nan)
    let naive = Buf(N, fill: .nan)
    Kernels.inputActivationForward(act: c.act, y: fast.p, x: x.c, slopes: slopes.c, rows: rows, C: C)
    NaiveKernels.inputActivationForward(act: c.act, y: naive.p, x: x.c, slopes: slopes.c, rows: rows, C: C)
    expectClose(fast.array, naive.array, "\(c.act) y")

    // Backward accumulates onto what the gradient buffers held.
    let dy = Buf(random: N, &rng)
    let dxF = Buf(random: N, &rng)
    let dsF = Buf(random: C, &rng)
    let (dxN, dsN) = (dxF.copy(), dsF.copy())
    Kernels.inputActivationBackward(
      act: c.act, dx: dxF.p, dslopes: dsF.p, dy: dy.c, x: x.c, slopes: slopes.c, rows: rows, C: C)
    NaiveKernels.inputActivationBackward(
      act: c.act, dx: dxN.p, dslopes: dsN.p, dy: dy.c, x: x.c, slopes: slopes.c, rows: rows, C: C)
    expectClose(dxF.array, dxN.array, rel: 1e-4, abs: 1e-5, "\(c.act) dx")
    expectClose(dsF.array, dsN.array, rel: 1e-4, abs: 1e-5, "\(c.act) dslopes")
  }

  @Test func valuesMatchPyTorch() {
    // torch.nn.functional.gelu (exact), silu, leaky_relu(0.2), prelu(weight=[0.25]) at these points.
    let x = Buf([-3, -1, -0.5, 0, 0.5, 1, 3])
    let y = Buf(7)
    let slopes = Buf([0.25])
    func run(_ a: InputAct) -> [Float] {
      Kernels.inputActivationForward(act: a, y: y.p, x: x.c, slopes: slopes.c, rows: 7, C: 1)
      return y.array
    }
    expectClose(
      run(.gelu), [-0.004_049_7, -0.158_655_3, -0.154_268_5, 0, 0.345_731_5, 0.841_344_7, 2.995_950_3], "gelu")
    expectClose(
      run(.swish), [-0.142_277_2, -0.268_941_4, -0.188_770_8, 0, 0.311_229_2, 0.731_058_6, 2.857_722_8], "silu")
    expectClose(run(.leakyRelu(slope: 0.2)), [-0.6, -0.2, -0.1, 0, 0.5, 1, 3], "leaky_relu")
    expectClose(run(.prelu), [-0.75, -0.25, -0.125, 0, 0.5, 1, 3], "prelu")
  }

  @Test func preluWithoutAnInputGradientStillLearnsItsSlopes() {
    let x = Buf([-2, 1, -1, 3])
    let dy = Buf([1, 1, 2, 1])
    let slopes = Buf([0.25, 0.5])
    let ds = Buf(2)
    Kernels.inputActivationBackward(
      act: .prelu, dx: nil, dslopes: ds.p, dy: dy.c, x: x.c, slopes: slopes.c, rows: 2, C: 2)
    // Column 0: rows 0 and 1 hold -2 and -1 (both negative): 1·(-2) + 2·(-1) = -4; column 1: none negative.
    #expect(ds.array == [-4, 0])
  }
}
