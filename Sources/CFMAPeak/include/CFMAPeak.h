// The machine's FP32 fused multiply-add peak on one core, measured: 12 independent chains of FMAs
// on the widest vectors the CPU runs (AVX-512, AVX2+FMA, else SSE multiply-add), for the bench's
// "of FMA peak" column. Only the benchmark links it.
#ifndef CFMAPEAK_H
#define CFMAPEAK_H

/// GFLOP/s (2 per multiply-add) of the loop over about `seconds`, on the calling thread.
double mtlc_fma_peak_gflops(double seconds);
/// The instruction set the loop used: "avx512f", "avx2+fma" or "sse".
const char *mtlc_fma_peak_isa(void);

#endif
