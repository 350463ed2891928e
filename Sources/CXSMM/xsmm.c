// See include/cxsmm.h.
#include "cxsmm.h"

#ifdef MTLC_LIBXSMM
#include <libxsmm.h>
#include <stdlib.h>

int mtlc_xsmm_available(void) {
  float one = 1, zero = 0;
  int flags = LIBXSMM_GEMM_FLAG_NONE;
  return libxsmm_smmdispatch(8, 8, 8, NULL, NULL, NULL, &one, &zero, &flags, NULL) != NULL;
}

const char *mtlc_xsmm_target(void) { return libxsmm_get_target_arch(); }

// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: LIBXSMM's "A" is our b, its "B"
// our a, m = N, n = M. Our transA becomes its TRANS_B (served); our transB its TRANS_A (not served
// by the JIT: the caller transposes b first).
static libxsmm_smmfunction kernel(int transA, int M, int N, int K, int lda, int ldb, int ldc,
                                  int beta0) {
  float one = 1, zero = 0;
  int flags = transA ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
  libxsmm_blasint m = N, n = M, k = K, la = ldb, lb = lda, lc = ldc;
  return libxsmm_smmdispatch(m, n, k, &la, &lb, &lc, &one, beta0 ? &zero : &one, &flags, NULL);
}

// The per-thread buffer for a transposed b; grows to the largest b seen on that thread.
static __thread float *scratch = NULL;
static __thread size_t scratchCount = 0;

int mtlc_xsmm_has_kernel(int transA, int transB, int M, int N, int K, int lda, int ldb, int ldc,
                         int beta0) {
  // A transposed b is repacked densely: [K, N] with leading dimension N.
  return kernel(transA, M, N, K, lda, transB ? N : ldb, ldc, beta0) != NULL;
}

int mtlc_xsmm_gemm(int transA, int transB, int M, int N, int K, const float *a, int lda,
                   const float *b, int ldb, int beta0, float *c, int ldc) {
  libxsmm_smmfunction f = kernel(transA, M, N, K, lda, transB ? N : ldb, ldc, beta0);
  if (f == NULL) return 0;
  if (transB) {
    // b is stored [N, K] (leading dimension ldb); write bᵀ as [K, N] dense.
    size_t count = (size_t)K * (size_t)N;
    if (count > scratchCount) {
      float *grown = realloc(scratch, count * sizeof(float));
      if (grown == NULL) return 0;
      scratch = grown;
      scratchCount = count;
    }
    // LIBXSMM's own transpose (2-6x a plain loop on a 2-core Xeon): in column-major terms b is
    // K x N with leading dimension ldb, written out as N x K with leading dimension N.
    libxsmm_otrans(scratch, b, sizeof(float), K, N, ldb, N);
    b = scratch;
  }
  f(b, a, c);
  return 1;
}

#else

int mtlc_xsmm_available(void) { return 0; }
const char *mtlc_xsmm_target(void) { return "none"; }
int mtlc_xsmm_has_kernel(int transA, int transB, int M, int N, int K, int lda, int ldb, int ldc,
                         int beta0) {
  (void)transA; (void)transB; (void)M; (void)N; (void)K; (void)lda; (void)ldb; (void)ldc;
  (void)beta0;
  return 0;
}
int mtlc_xsmm_gemm(int transA, int transB, int M, int N, int K, const float *a, int lda,
                   const float *b, int ldb, int beta0, float *c, int ldc) {
  (void)transA; (void)transB; (void)M; (void)N; (void)K; (void)a; (void)lda; (void)b; (void)ldb;
  (void)beta0; (void)c; (void)ldc;
  return 0;
}

#endif
