/*
** avx2_variant.c -- what makes the cpu-avx2 plugin: its name, the CPU
** features it needs, and its kernels. Compiled without -m flags: probe
** reads this before it knows what the CPU has.
*/
#include "../cpu-simd/simd_internal.h"

extern const SimdKernels simd_avx2_kernels; /* avx2_kernels.c */

static const SimdKernels *pick_kernels(uint32_t features)
{
    (void)features;
    return &simd_avx2_kernels;
}

const SimdVariant simd_variant = {
    .name = "cpu-avx2",
    .label = " (AVX2)",
    .description = "x86 CPU backend with AVX2, FMA and F16C: threaded, "
                   "quantised matmuls on GGUF blocks",
    .required = SIMD_CPU_AVX2 | SIMD_CPU_FMA | SIMD_CPU_F16C,
    .reported = SIMD_CPU_AVX2 | SIMD_CPU_FMA | SIMD_CPU_F16C,
    /* two 8-lane FMA pipes */
    .flops_per_cycle = 32.0,
    .kernels = pick_kernels,
};
