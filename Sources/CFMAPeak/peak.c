#include "CFMAPeak.h"
#include <immintrin.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static volatile float sink;

// 12 chains hide the FMA latency (4 cycles) on two ports; the multiplier keeps values bounded.
#define CHAINS 12

__attribute__((target("avx512f"))) static long run512(long iters) {
  __m512 acc[CHAINS];
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_set1_ps((float)k);
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_fmadd_ps(acc[k], m, c);
  float s = 0;
  for (int k = 0; k < CHAINS; k++) s += _mm512_reduce_add_ps(acc[k]);
  sink = s;
  return iters * CHAINS * 16 * 2;
}

__attribute__((target("avx2,fma"))) static long run256(long iters) {
  __m256 acc[CHAINS];
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_set1_ps((float)k);
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_fmadd_ps(acc[k], m, c);
  float out[8], s = 0;
  for (int k = 0; k < CHAINS; k++) {
    _mm256_storeu_ps(out, acc[k]);
    for (int j = 0; j < 8; j++) s += out[j];
  }
  sink = s;
  return iters * CHAINS * 8 * 2;
}

static long run128(long iters) {
  __m128 acc[CHAINS];
  const __m128 m = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-6f);
  for (int k = 0; k < CHAINS; k++) acc[k] = _mm_set1_ps((float)k);
  for (long i = 0; i < iters; i++)
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm_add_ps(_mm_mul_ps(acc[k], m), c);
  float out[4], s = 0;
  for (int k = 0; k < CHAINS; k++) {
    _mm_storeu_ps(out, acc[k]);
    for (int j = 0; j < 4; j++) s += out[j];
  }
  sink = s;
  return iters * CHAINS * 4 * 2;
}

static long run(long iters) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return run512(iters);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return run256(iters);
  return run128(iters);
}

const char *mtlc_fma_peak_isa(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2+fma";
  return "sse";
}

double mtlc_fma_peak_gflops(double seconds) {
  run(1 << 16);  // warm up (clocks, caches)
  long iters = 1 << 20;
  double best = 0;
  double end = now() + seconds;
  while (now() < end) {
    double t0 = now();
    long flops = run(iters);
    double dt = now() - t0;
    if (dt > 0 && flops / dt > best) best = flops / dt;
  }
  return best / 1e9;
}
