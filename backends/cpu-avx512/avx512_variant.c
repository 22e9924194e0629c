/*
** avx512_variant.c -- what makes the cpu-avx512 plugin: its name, the CPU
** features it needs, and which kernels it runs. Compiled without -m flags:
** probe reads this before it knows what the CPU has.
*/
#include "../cpu-simd/simd_internal.h"

extern const SimdKernels simd_avx512_kernels;      /* avx512_kernels_novnni.c */
extern const SimdKernels simd_avx512_vnni_kernels; /* avx512_kernels.c */

static const SimdKernels *pick_kernels(uint32_t features)
{
    return features & SIMD_CPU_AVX512VNNI ? &simd_avx512_vnni_kernels
                                          : &simd_avx512_kernels;
}

static const slm_config_key_t config_keys[] = {
    {"vnni", "use the AVX512-VNNI kernels where the CPU has them: on (default) "
             "or off"},
};
static const uint32_t config_bits[] = {SIMD_CPU_AVX512VNNI};

const SimdVariant simd_variant = {
    .name = "cpu-avx512",
    .label = " (AVX-512)",
    .description = "x86 CPU backend with AVX-512 (VNNI when present): "
                   "threaded, quantised matmuls on GGUF blocks",
    /* The shared code of this plugin is built for AVX-512 on top of
    ** AVX2, FMA and F16C, which every AVX-512 CPU has; ask for them all. */
    .required = SIMD_CPU_AVX2 | SIMD_CPU_FMA | SIMD_CPU_F16C | SIMD_CPU_AVX512F |
                SIMD_CPU_AVX512BW | SIMD_CPU_AVX512VL,
    .reported = SIMD_CPU_AVX512F | SIMD_CPU_AVX512BW | SIMD_CPU_AVX512VL |
                SIMD_CPU_AVX512VNNI | SIMD_CPU_AVX512BF16,
    /* two 16-lane FMA pipes */
    .flops_per_cycle = 64.0,
    .kernels = pick_kernels,
    .config_keys = config_keys,
    .config_bits = config_bits,
    .n_config_keys = 1,
};
