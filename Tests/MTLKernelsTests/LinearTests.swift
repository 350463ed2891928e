// linear and expertLinear: gradients by finite differences, fast (sgemm) against naive, accumulation.
import MTLKernels
import Testing

@Suite struct LinearTests {
  @Test func linearBackwardMatchesFiniteDifferences() {
    var rng = SplitMix64(seed: 1)
    let (B, I, O) = (3, 4, 5)
    let x = Buf(random: B * I, &rng)
    let w = Buf(random: I * O, &rng)
    let b = Buf(random: O, &rng)
    let r = Buf(random: B * O, &rng)
    let y = Buf(B * O)
    let objective: () -> Double = {
      Kernels.linearForward(y: y.p, x: x.c, w: w.c, b: b.c, B: B, I: I, O: O)
      return dot(y, r)
    }
    // Gradients start from random contents: backward must add to them.
    let dx = Buf(random: B * I, &rng)
    let dw = Buf(random: I * O, &rng)
    let db = Buf(random: O, &rng)
    let (dx0, dw0, db0) = (dx.array, dw.array, db.array)
    Kernels.linearBackward(dx: dx.p, dw: dw.p, db: db.p, dz: r.c, x: x.c, w: w.c, B: B, I: I, O: O)
    checkGradient("linear dx", param: x, analytic: delta(dx, dx0), objective: objective)
    checkGradient("linear dw", param: w, analytic: delta(dw, dw0), objective: objective)
    checkGradient("linear db", param: b, analytic: delta(db, db0), objective: objective)
  }

  @Test(arguments: [true, false])
  func linearFastMatchesNaive(withBias: Bool) {
    var rng = SplitMix64(seed: 2)
    let (B, I, O) = (17, 33, 9)
    let x = Buf(random: B * I, &rng)
    let w = Buf(random: I * O, &rng)
    let b = Buf(random: O, &rng)
    let bias = withBias ? b.c : nil
    // y starts as NaN: the forward must overwrite it (beta = 0 without bias).
    let fast = Buf(B * O, fill: .nan)
    let naive = Buf(B * O, fill: .nan)
    Kernels.linearForward(y: fast.p, x: x.c, w: w.c, b: bias, B: B, I: I, O: O)
    NaiveKernels.linearForward(y: naive.p, x: x.c, w: w.c, b: bias, B: B, I: I, O: O)
    expectClose(fast.array, naive.array, "linear y")

    let dz = Buf(random: B * O, &rng)
    let dxF = Buf(random: B * I, &rng)
    let dwF = Buf(random: I * O, &rng)
    let dbF = Buf(random: O, &rng)
    let (dxN, dwN, dbN) = (dxF.copy(), dwF.copy(), dbF.copy())
    Kernels.linearBackward(
      dx: dxF.p, dw: dwF.p, db: withBias ? dbF.p : nil, dz: dz.c, x: x.c, w: w.c, B: B, I: I, O: O)
    NaiveKernels.linearBackward(
      dx: dxN.p, dw: dwN.p, db: withBias ? dbN.p : nil, dz: dz.c, x: x.c, w: w.c, B: B, I: I, O: O)
    expectClose(dxF.array, dxN.array, "linear dx")
    expectClose(dwF.array, dwN.array, "linear dw")
    expectClose(dbF.array, dbN.array, "linear db")
  }

  @Test func linearBackwardSkipsNilGradients() {
    var rng = SplitMix64(seed: 3)
    let (B, I, O) = (2, 3, 2)
    let x = Buf(random: B * I, &rng)
    let w = Buf(random: I * O, &rng)
    let dz = Buf(random: B * O, &rng)
    let dw = Buf(I * O)
    let expected = Buf(I * O)
    Kernels.linearBackward(dx: nil, dw: dw.p, db: nil, dz: dz.c, x: x.c, w: w.c, B: B, I: I, O: O)
    NaiveKernels.linearBackward(dx: nil, dw: expected.p, db: nil, dz: dz.c, x: x.c, w: w.c, B: B, I: I, O: O)
    expectClose(dw.array, expected.array, "dw with nil dx/db")
    #expect(dw.array.contains { $0 != 0 })
  }

  @Test func linearHandExample() {
    // x = [[1, 2]], w = [[1, 0, -1], [2, 1, 0]], b = [0.5, 0, 1]  ->  y = [5.5, 2, 0]
    let x = Buf([1, 2])
    let w = Buf([1, 0, -1, 2, 1, 0])
    let b = Buf([0.5, 0, 1])
    let y = Buf(3)
    Kernels.linearForward(y: y.p, x: x.c, w: w.c, b: b.c, B: 1, I: 2, O: 3)
    #expect(y.array == [5.5, 2, 0])
  }

  // Stacked experts are batch-major: x [B, E, I], y [B, E, O].
  @Test func expertLinearBackwardMatchesFiniteDifferences() {
    var rng = SplitMix64(seed: 5)
    let (E, B, I, O) = (3, 2, 3, 4)
    let x = Buf(random: B * E * I, &rng)
    let w = Buf(random: E * I * O, &rng)
    let b = Buf(random: E * O, &rng)
    let r = Buf(random: B * E * O, &rng)
    let y = Buf(B * E * O)
    let objective: () -> Double = {
      Kernels.expertLinearForward(y: y.p, x: x.c, w: w.c, b: b.c, E: E, B: B, I: I, O: O)
      return dot(y, r)
    }
    let dx = Buf(random: B * E * I, &rng)
    let dw = Buf(random: E * I * O, &rng)
    let db = Buf(random: E * O, &rng)
    let (dx0, dw0, db0) = (dx.array, dw.array, db.array)
    Kernels.expertLinearBackward(dx: dx.p, dw: dw.p, db: db.p, dz: r.c, x: x.c, w: w.c, E: E, B: B, I: I, O: O)
    checkGradient("expert dx", param: x, analytic: delta(dx, dx0), objective: objective)
    checkGradient("expert dw", param: w, analytic: delta(dw, dw0), objective: objective)
    checkGradient("expert db", param: b, analytic: delta(db, db0), objective: objective)
  }

  @Test func expertLinearFastMatchesNaive() {
    var rng = SplitMix64(seed: 6)
    let (E, B, I, O) = (4, 9, 13, 7)
    let x = Buf(random: B * E * I, &rng)
    let w = Buf(random: E * I * O, &rng)
    let b = Buf(random: E * O, &rng)
    let fast = Buf(B * E * O, fill: .nan)
    let naive = Buf(B * E * O, fill: .nan)
    Kernels.expertLinearForward(y: fast.p, x: x.c, w: w.c, b: b.c, E: E, B: B, I: I, O: O)
    NaiveKernels.expertLinearForward(y: naive.p, x: x.c, w: w.c, b: b.c, E: E, B: B, I: I, O: O)
    expectClose(fast.array, naive.array, "expert y")
    // Without bias, y is overwritten (the NaN fill must not survive).
    let noBias = Buf(B * E * O, fill: .nan)
    Kernels.expertLinearForward(y: noBias.p, x: x.c, w: w.c, b: nil, E: E, B: B, I: I, O: O)
    #expect(noBias.array.allSatisfy { $0.isFinite })

    let dz = Buf(random: B * E * O, &rng)
    let dxF = Buf(random: B * E * I, &rng)
    let dwF = Buf(random: E * I * O, &rng)
    let dbF = Buf(random: E * O, &rng)
    let (dxN, dwN, dbN) = (dxF.copy(), dwF.copy(), dbF.copy())
    Kernels.expertLinearBackward(dx: dxF.p, dw: dwF.p, db: dbF.p, dz: dz.c, x: x.c, w: w.c, E: E, B: B, I: I, O: O)
    NaiveKernels.expertLinearBackward(
      dx: dxN.p, dw: dwN.p, db: dbN.p, dz: dz.c, x: x.c, w: w.c, E: E, B: B, I: I, O: O)
    expectClose(dxF.array, dxN.array, "expert dx")
    expectClose(dwF.array, dwN.array, "expert dw")
    expectClose(dbF.array, dbN.array, "expert db")
  }

  @Test func expertLinearReadsItsOwnSlice() {
    // Two experts, B = 2, I = O = 1, batch-major: row r holds [expert 0, expert 1].
    let x = Buf([2, 3, 4, 5])  // [B=2, E=2, I=1]
    let w = Buf([10, 100])  // [E=2, I=1, O=1]
    let b = Buf([1, -1])  // [E=2, O=1]
    let y = Buf(4)
    Kernels.expertLinearForward(y: y.p, x: x.c, w: w.c, b: b.c, E: 2, B: 2, I: 1, O: 1)
    #expect(y.array == [21, 299, 41, 499])
  }

  @Test func blasThreadsCanBeSet() {
    BLAS.setThreads(1)
    #expect(BLAS.threads == 1)
  }
}

/// The fused and SIMD paths, at sizes that exercise both the 8-wide body and the scalar tail.
struct FusedKernelTests {
  @Test(arguments: Act.allCases)
  func linearActMatchesNaive(act: Act) {
    var rng = SplitMix64(seed: 90)
    let (B, I, O) = (5, 11, 37)
    let x = Buf(random: B * I, &rng)
    let w = Buf(random: I * O, &rng)
    let b = Buf(random: O, &rng)
    for bias in [true, false] {
      let fast = Buf(B * O, fill: .nan)
      let naive = Buf(B * O, fill: .nan)
      Kernels.linearActForward(y: fast.p, x: x.c, w: w.c, b: bias ? b.c : nil, act: act, B: B, I: I, O: O)
      NaiveKernels.linearActForward(y: naive.p, x: x.c, w: w.c, b: bias ? b.c : nil, act: act, B: B, I: I, O: O)
      expectClose(fast.array, naive.array, "linearAct \(act) bias \(bias)")
    }
  }

  @Test(arguments: [1, 7, 8, 9, 37])
  func reluBackwardAtEveryTailLength(n: Int) {
    var rng = SplitMix64(seed: UInt64(n))
    let y = Buf((0..<n).map { _ in max(rng.uniform(), 0) })
    let dy = Buf(random: n, &rng)
    let fast = Buf(n, fill: .nan)
    let naive = Buf(n, fill: .nan)
    Kernels.activationBackward(act: .relu, dz: fast.p, dy: dy.c, y: y.c, N: n)
    NaiveKernels.activationBackward(act: .relu, dz: naive.p, dy: dy.c, y: y.c, N: n)
    #expect(fast.array == naive.array)
  }

  @Test func overwriteDXIgnoresWhatWasThere() {
    var rng = SplitMix64(seed: 91)
    let (B, I, O, E) = (4, 9, 6, 3)
    let x = Buf(random: B * I, &rng)
    let w = Buf(random: I * O, &rng)
    let dz = Buf(random: B * O, &rng)
    let accumulated = Buf(B * I, fill: 0)
    let overwritten = Buf(B * I, fill: .nan)
    let dw = Buf(I * O, fill: 0)
    Kernels.linearBackward(dx: accumulated.p, dw: dw.p, db: nil, dz: dz.c, x: x.c, w: w.c, B: B, I: I, O: O)
    Kernels.linearBackward(
      dx: overwritten.p, dw: dw.p, db: nil, dz: dz.c, x: x.c, w: w.c, B: B, I: I, O: O, overwriteDX: true)
    expectClose(overwritten.array, accumulated.array, "linear dx overwritten")

    let xe = Buf(random: B * E * I, &rng)
    let we = Buf(random: E * I * O, &rng)
    let dze = Buf(random: B * E * O, &rng)
    let acc = Buf(B * E * I, fill: 0)
    let over = Buf(B * E * I, fill: .nan)
    let dwe = Buf(E * I * O, fill: 0)
    Kernels.expertLinearBackward(dx: acc.p, dw: dwe.p, db: nil, dz: dze.c, x: xe.c, w: we.c, E: E, B: B, I: I, O: O)
    Kernels.expertLinearBackward(
      dx: over.p, dw: dwe.p, db: nil, dz: dze.c, x: xe.c, w: we.c, E: E, B: B, I: I, O: O, overwriteDX: true)
    expectClose(over.array, acc.array, "expert dx overwritten")
  }

  @Test(arguments: Act.allCases)
  func expertLinearActMatchesNaive(act: Act) {
    var rng = SplitMix64(seed: 92)
    let (E, B, I, O) = (3, 5, 7, 13)
    let x = Buf(random: B * E * I, &rng)
    let w = Buf(random: E * I * O, &rng)
    let b = Buf(random: E * O, &rng)
    let fast = Buf(B * E * O, fill: .nan)
    let naive = Buf(B * E * O, fill: .nan)
    Kernels.expertLinearForward(y: fast.p, x: x.c, w: w.c, b: b.c, act: act, E: E, B: B, I: I, O: O)
    NaiveKernels.expertLinearForward(y: naive.p, x: x.c, w: w.c, b: b.c, act: act, E: E, B: B, I: I, O: O)
    expectClose(fast.array, naive.array, "expert linear \(act)")
  }
}
