/*
** neon_variant.c -- what makes the cpu-neon plugin: its name, the CPU
** features it needs, and which kernels it runs. Compiled for plain AArch64
** (no -march extension): probe reads this before it knows what the CPU
** has, and Advanced SIMD itself is part of every AArch64 CPU.
*/
#include "../cpu-simd/simd_internal.h"

extern const SimdKernels simd_neon_kernels;     /* neon_kernels.c */
extern const SimdKernels simd_neon_dot_kernels; /* neon_kernels_dot.c */

static const SimdKernels *pick_kernels(uint32_t features)
{
    return features & SIMD_CPU_ASIMDDP ? &simd_neon_dot_kernels : &simd_neon_kernels;
}

/* Lets a machine with the dot product run the plain kernels too (the
** conformance test checks both). */
static const slm_config_key_t config_keys[] = {
    {"dotprod", "use the int8 dot-product (sdot) kernels where the CPU has "
                "them: on (default) or off"},
};
static const uint32_t config_bits[] = {SIMD_CPU_ASIMDDP};

const SimdVariant simd_variant = {
    .name = "cpu-neon",
    .label = " (NEON)",
    .description = "AArch64 CPU backend with Advanced SIMD (int8 dot product "
                   "when present): threaded, quantised matmuls on GGUF blocks",
    .required = SIMD_CPU_ASIMD,
    .reported = SIMD_CPU_ASIMD | SIMD_CPU_ASIMDDP | SIMD_CPU_FPHP | SIMD_CPU_ASIMDHP |
                SIMD_CPU_ASIMDFHM | SIMD_CPU_I8MM,
    /* two 4-lane FMA pipes, as most AArch64 cores have */
    .flops_per_cycle = 16.0,
    .kernels = pick_kernels,
    .config_keys = config_keys,
    .config_bits = config_bits,
    .n_config_keys = 1,
};
