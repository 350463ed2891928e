// Matrix products: LIBXSMM's JIT kernels and OpenBLAS against a plain Double-accumulated product,
// for every transpose, beta 0 and 1, strided leading dimensions (the stacked experts' layout) and
// the shapes a step uses; and the size rule that picks between them.
import Testing

@testable import MTLKernels

@Suite struct GemmTests {
  /// c[M,N] = op(a)·op(b) + beta·c, row-major, in Double.
  static func naive(
    transA: Bool, transB: Bool, M: Int, N: Int, K: Int, a: [Float], lda: Int, b: [Float], ldb: Int, beta: Float,
    c: [Float], ldc: Int
  ) -> [Float] {
    var out = c
    for i in 0..<M {
      for j in 0..<N {
        var s = 0.0
        for k in 0..<K {
          let x = transA ? a[k * lda + i] : a[i * lda + k]
          let y = transB ? b[j * ldb + k] : b[k * ldb + j]
          s += Double(x) * Double(y)
        }
        out[i * ldc + j] = Float(s + Double(beta) * Double(beta == 0 ? 0 : c[i * ldc + j]))
      }
    }
    return out
  }

  struct Case: CustomTestStringConvertible, Sendable {
    let M: Int, N: Int, K: Int, pad: Int
    var testDescription: String { "\(M)x\(N)x\(K) pad \(pad)" }
  }

  static let cases = [
    Case(M: 7, N: 5, K: 3, pad: 0), Case(M: 37, N: 19, K: 64, pad: 3), Case(M: 128, N: 64, K: 34, pad: 0),
    Case(M: 64, N: 16, K: 128, pad: 64),
  ]

  @Test(arguments: GemmLibrary.allCases, cases)
  func everyTransposeAndBetaMatchesTheNaiveProduct(library: GemmLibrary, shape: Case) {
    if library == .libxsmm && !BLAS.xsmmAvailable { return }  // OpenBLAS serves every product then
    var rng = SplitMix64(seed: UInt64(shape.M * 31 + shape.pad))
    let (M, N, K) = (shape.M, shape.N, shape.K)
    for transA in [false, true] {
      for transB in [false, true] {
        for beta: Float in [0, 1] {
          // Leading dimensions wider than the rows, as for one expert's slice of [B, E, W].
          let lda = (transA ? M : K) + shape.pad
          let ldb = (transB ? K : N) + shape.pad
          let ldc = N + shape.pad
          let a = Buf(random: (transA ? K : M) * lda, &rng)
          let b = Buf(random: (transB ? N : K) * ldb, &rng)
          let c = Buf(random: M * ldc, &rng)
          // beta 0 must not read c: NaN there must not survive.
          if beta == 0 { for i in 0..<M { c.p[i * ldc] = .nan } }
          let want = Self.naive(
            transA: transA, transB: transB, M: M, N: N, K: K, a: a.array, lda: lda, b: b.array, ldb: ldb, beta: beta,
            c: c.array, ldc: ldc)
          BLAS.gemm(
            transA: transA, transB: transB, M: M, N: N, K: K, alpha: 1, a: a.c, lda: lda, b: b.c, ldb: ldb,
            beta: beta, c: c.p, ldc: ldc, using: library)
          // Only the M x N block is the product; the padding columns keep what they had. Inputs are in
          // [-1, 1): a Float sum of K products is within K·2^-23 of the exact one.
          let got = c.array
          let tolerance = Float(K) * 1.2e-7 + 1e-6
          let bad = zip(got, want).filter { !($0 == $1 || abs($0 - $1) <= tolerance) }.count
          #expect(bad == 0, "\(library) transA \(transA) transB \(transB) beta \(beta): \(bad) elements off")
        }
      }
    }
  }

  @Test func libxsmmIsDeterministic() {
    // Same shape, same inputs: the same bits, call after call (the JIT kernel is cached per shape).
    var rng = SplitMix64(seed: 9)
    let (M, N, K) = (96, 48, 40)
    let a = Buf(random: M * K, &rng)
    let b = Buf(random: N * K, &rng)
    let first = Buf(M * N)
    let again = Buf(M * N)
    BLAS.gemm(
      transA: false, transB: true, M: M, N: N, K: K, alpha: 1, a: a.c, lda: K, b: b.c, ldb: K, beta: 0, c: first.p,
      ldc: N)
    for _ in 0..<3 {
      BLAS.gemm(
        transA: false, transB: true, M: M, N: N, K: K, alpha: 1, a: a.c, lda: K, b: b.c, ldb: K, beta: 0,
        c: again.p, ldc: N)
    }
    #expect(first.array == again.array)
  }

  @Test func theLibraryIsChosenBySize() {
    guard BLAS.xsmmAvailable, BLAS.requested == nil else {
      #expect(BLAS.library(M: 128, N: 64, K: 64) == BLAS.requested ?? .openblas)
      return
    }
    #expect(BLAS.library(M: 128, N: 64, K: 64) == .libxsmm)
    #expect(BLAS.library(M: 2048, N: 128, K: 128) == .libxsmm)
    #expect(BLAS.library(M: 1 << 13, N: 1 << 13, K: 1) == .libxsmm)  // 2^26 exactly
    #expect(BLAS.library(M: 512, N: 512, K: 512) == .openblas)
    // Scalars LIBXSMM's kernels do not take go to OpenBLAS.
    #expect(BLAS.library(M: 64, N: 64, K: 64, alpha: 2, beta: 0) == .openblas)
    #expect(BLAS.library(M: 64, N: 64, K: 64, alpha: 1, beta: 0.5) == .openblas)
  }

  @Test func libxsmmIsBuiltInOnX86() {
    #if arch(x86_64)
      #expect(BLAS.xsmmAvailable, "LIBXSMM is linked on x86-64 and its JIT serves every x86-64 CPU with SSE")
      #expect(BLAS.xsmmTarget != "none")
    #else
      #expect(!BLAS.xsmmAvailable)
    #endif
  }
}
