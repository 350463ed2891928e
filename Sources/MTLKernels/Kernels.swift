// MTLKernels: forward/backward kernels over raw row-major Float buffers. No IR, no graph.
//
// Conventions (llm.c style):
//   - Each op is an adjacent pair `fooForward` / `fooBackward`.
//   - Arguments: outputs first, then inputs, then weights, then dimensions.
//   - Backward kernels ACCUMULATE (`+=`) into gradient buffers unless the doc comment says "overwrites".
//     Optional gradient pointers (`nil`) mean "no gradient wanted" and are skipped.
//   - Every fast kernel in `Kernels` has a plain-loop reference with the same signature in `NaiveKernels`
//     (same file, right below it). Tests check fast against naive, and every backward against finite
//     differences.
//
// Dimension legend:
//   B  batch rows                 I  input width               O  output width
//   E  experts (in one group)     K  mixed experts (gate width) H  hidden width of mixed experts
//   V  vocabulary (table) rows    D  embedding width           S  sparse slots
//   N  flat element count         W  width of one concatenated part
//
// Matrix products go through `BLAS.gemm`: LIBXSMM's JIT kernels for small ones, OpenBLAS for large
// ones (BLAS.swift says which and why). Everything else is a hand-written loop: the libraries have
// no fused softmax, gate-mix, embedding-gather or loss kernels, and these loops are memory-bound and
// short enough that the compiler vectorises them (the target is built for haswell: AVX2 + FMA).

/// Fast kernels (LIBXSMM/OpenBLAS for matrix products, vectorisable loops elsewhere).
public enum Kernels {}

/// Reference kernels: same signatures as `Kernels`, plain loops, Double accumulation where it matters.
/// Used by tests as the oracle; never on the training hot path.
public enum NaiveKernels {}

/// Element-wise activation. Every derivative can be computed from the output `y` alone.
///   none:      y = x                      y' = 1
///   relu:      y = max(x, 0)              y' = 1 if y > 0 else 0
///   sigmoid:   y = 1 / (1 + e^-x)         y' = y (1 - y)
///   tanh:      y = tanh x                 y' = 1 - y²
///   leakyRelu: y = x if x > 0 else 0.01x  y' = 1 if y > 0 else 0.01   (slope `Act.leakySlope` = 0.01)
public enum Act: Int, Sendable, CaseIterable {
  case none, relu, sigmoid, tanh, leakyRelu

  /// Negative-side slope of `leakyRelu` (Keras `LeakyReLU(alpha=0.01)`).
  public static let leakySlope: Float = 0.01
}
