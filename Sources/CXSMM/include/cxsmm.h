// LIBXSMM's JIT small-matrix kernels behind four plain functions, for MTLKernels.BLAS.
//
// LIBXSMM (libxsmm-dev 1.17) generates GEMM code for the CPU it runs on (AVX2, AVX-512, ...), and
// is column-major with NN and NT kernels only. This shim does the row-major mapping, and serves the
// one product LIBXSMM's JIT lacks here (row-major B transposed = column-major A transposed) by
// transposing B (libxsmm_otrans) into a per-thread scratch buffer that grows once and is then reused (no allocation
// per call). Built without LIBXSMM (MTLC_LIBXSMM undefined: non-x86 hosts), every call reports
// "no kernel" and the caller uses OpenBLAS.
#ifndef CXSMM_H
#define CXSMM_H

/// 1 when LIBXSMM is compiled in and its JIT serves this CPU.
int mtlc_xsmm_available(void);

/// LIBXSMM's code-generation target for this CPU ("hsw", "skx", "clx", "cpx", "spr", ...), or
/// "none" when LIBXSMM is absent.
const char *mtlc_xsmm_target(void);

/// Row-major c[M,N] = op(a)·op(b) (beta0 != 0) or c += op(a)·op(b) (beta0 == 0), alpha 1.
/// op(a) is [M,K] (stored [K,M] when transA); op(b) is [K,N] (stored [N,K] when transB).
/// Returns 1 when computed, 0 when LIBXSMM has no kernel for it (nothing was written).
int mtlc_xsmm_gemm(int transA, int transB, int M, int N, int K, const float *a, int lda,
                   const float *b, int ldb, int beta0, float *c, int ldc);

/// 1 when `mtlc_xsmm_gemm` would compute this product (its kernels can be generated).
int mtlc_xsmm_has_kernel(int transA, int transB, int M, int N, int K, int lda, int ldb, int ldc,
                         int beta0);

#endif
