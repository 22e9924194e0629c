/*
** simd_probe.c -- what this CPU and OS support, and how many cores it has.
**
** Compiled without any -m flag: this runs before we know whether the CPU
** has AVX2, so it may use nothing beyond the x86-64 base set. cpuid tells
** what the CPU implements; xgetbv(0) tells which register state the OS
** saves on a context switch. A feature counts only when both agree: a
** hypervisor or kernel may hide the AVX or AVX-512 state (XCR0), and using
** the instructions then raises #UD however cpuid answers. On AArch64 the
** kernel's hwcaps (getauxval) say both at once.
*/
#define _POSIX_C_SOURCE 200809L /* sysconf */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simd_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define SIMD_X86 1
#else
#define SIMD_X86 0
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#define SIMD_ARM64 1
#else
#define SIMD_ARM64 0
#endif

/* ------------------------------------------------------------ cpuid */

#if SIMD_X86
/* XCR0 bits: x87, SSE (XMM), AVX (YMM upper halves), AVX-512 opmask,
** ZMM_Hi256 (upper halves of zmm0-15), Hi16_ZMM (zmm16-31). */
#define XCR0_SSE (1u << 1)
#define XCR0_AVX (1u << 2)
#define XCR0_OPMASK (1u << 5)
#define XCR0_ZMM_HI256 (1u << 6)
#define XCR0_HI16_ZMM (1u << 7)

/* xgetbv needs no -mxsave when written as an instruction; only call it
** after cpuid said OSXSAVE. */
static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t detect_features(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    bool fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx)
        return 0;
    uint64_t xcr0 = read_xcr0();
    if ((xcr0 & (XCR0_SSE | XCR0_AVX)) != (XCR0_SSE | XCR0_AVX))
        return 0;
    bool zmm_state = (xcr0 & (XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM)) ==
                     (XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM);

    uint32_t f = 0;
    if (fma)
        f |= SIMD_CPU_FMA;
    if (f16c)
        f |= SIMD_CPU_F16C;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7)
        return f;
    __cpuid_count(7, 0, a, b, c, d);
    unsigned max_sub7 = a;
    if ((b >> 5) & 1)
        f |= SIMD_CPU_AVX2;
    if (zmm_state) {
        if ((b >> 16) & 1)
            f |= SIMD_CPU_AVX512F;
        if ((b >> 30) & 1)
            f |= SIMD_CPU_AVX512BW;
        if ((b >> 31) & 1)
            f |= SIMD_CPU_AVX512VL;
        if ((c >> 11) & 1)
            f |= SIMD_CPU_AVX512VNNI;
        if (max_sub7 >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            if ((a >> 5) & 1)
                f |= SIMD_CPU_AVX512BF16;
        }
    }
    /* The AVX-512 extensions mean nothing without the foundation. */
    if (!(f & SIMD_CPU_AVX512F))
        f &= ~(uint32_t)(SIMD_CPU_AVX512BW | SIMD_CPU_AVX512VL |
                         SIMD_CPU_AVX512VNNI | SIMD_CPU_AVX512BF16);
    return f;
}
#elif SIMD_ARM64
/*
** The kernel tells what the CPU implements and lets user space use:
** AT_HWCAP and AT_HWCAP2. The bits are the kernel's ABI (arm64 uapi
** hwcap.h); a C library older than an extension lacks its name, so the
** values stand here too. Nothing is executed to find out: an extension
** the kernel does not list is absent, never tried.
*/
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_FPHP
#define HWCAP_FPHP (1 << 9)
#endif
#ifndef HWCAP_ASIMDHP
#define HWCAP_ASIMDHP (1 << 10)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP_ASIMDFHM
#define HWCAP_ASIMDFHM (1 << 23)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif

static uint32_t detect_features(void)
{
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    uint32_t f = 0;
    if (!(hw & HWCAP_ASIMD))
        return 0; /* the extensions below are all Advanced SIMD ones */
    f |= SIMD_CPU_ASIMD;
    if (hw & HWCAP_ASIMDDP)
        f |= SIMD_CPU_ASIMDDP;
    if (hw & HWCAP_FPHP)
        f |= SIMD_CPU_FPHP;
    if (hw & HWCAP_ASIMDHP)
        f |= SIMD_CPU_ASIMDHP;
    if (hw & HWCAP_ASIMDFHM)
        f |= SIMD_CPU_ASIMDFHM;
    if (hw2 & HWCAP2_I8MM)
        f |= SIMD_CPU_I8MM;
    return f;
}
#else
static uint32_t detect_features(void) { return 0; }
#endif

void simd_cpu_feature_names(uint32_t features, char *out, size_t cap)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        {SIMD_CPU_AVX2, "avx2"},           {SIMD_CPU_FMA, "fma"},
        {SIMD_CPU_F16C, "f16c"},           {SIMD_CPU_AVX512F, "avx512f"},
        {SIMD_CPU_AVX512BW, "avx512bw"},   {SIMD_CPU_AVX512VL, "avx512vl"},
        {SIMD_CPU_AVX512VNNI, "avx512_vnni"},
        {SIMD_CPU_AVX512BF16, "avx512_bf16"},
        /* the names of /proc/cpuinfo's Features line */
        {SIMD_CPU_ASIMD, "asimd"},         {SIMD_CPU_ASIMDDP, "asimddp"},
        {SIMD_CPU_FPHP, "fphp"},           {SIMD_CPU_ASIMDHP, "asimdhp"},
        {SIMD_CPU_ASIMDFHM, "asimdfhm"},   {SIMD_CPU_I8MM, "i8mm"},
    };
    size_t used = 0;
    if (cap == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(features & names[i].bit))
            continue;
        int w = snprintf(out + used, cap - used, "%s%s", used ? " " : "",
                         names[i].name);
        if (w < 0 || (size_t)w >= cap - used)
            break;
        used += (size_t)w;
    }
}

/* ------------------------------------------------------- /proc, /sys */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                     s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Distinct (physical id, core id) pairs seen so far. */
typedef struct CoreSet {
    uint32_t n;
    long ids[512][2];
} CoreSet;

static void core_add(CoreSet *s, long pkg, long core)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->ids[i][0] == pkg && s->ids[i][1] == core)
            return;
    if (s->n < sizeof s->ids / sizeof s->ids[0]) {
        s->ids[s->n][0] = pkg;
        s->ids[s->n][1] = core;
        s->n++;
    }
}

/* AArch64 kernels list no model name, only the MIDR fields "CPU
** implementer" and "CPU part": names for the common ones. */
static void arm_cpu_name(long impl, long part, SimdCpu *cpu)
{
    static const struct {
        long impl;
        const char *name;
    } vendors[] = {
        {0x41, "ARM"},      {0x42, "Broadcom"}, {0x43, "Cavium"}, {0x48, "HiSilicon"},
        {0x4e, "NVIDIA"},   {0x51, "Qualcomm"}, {0x61, "Apple"},  {0xc0, "Ampere"},
    };
    static const struct {
        long part;
        const char *name;
    } arm_parts[] = {
        {0xd03, "Cortex-A53"},  {0xd04, "Cortex-A35"},  {0xd05, "Cortex-A55"},
        {0xd07, "Cortex-A57"},  {0xd08, "Cortex-A72"},  {0xd09, "Cortex-A73"},
        {0xd0a, "Cortex-A75"},  {0xd0b, "Cortex-A76"},  {0xd0c, "Neoverse-N1"},
        {0xd0d, "Cortex-A77"},  {0xd40, "Neoverse-V1"}, {0xd41, "Cortex-A78"},
        {0xd44, "Cortex-X1"},   {0xd46, "Cortex-A510"}, {0xd47, "Cortex-A710"},
        {0xd48, "Cortex-X2"},   {0xd49, "Neoverse-N2"}, {0xd4f, "Neoverse-V2"},
    };
    const char *vendor = NULL, *model = NULL;
    for (size_t i = 0; i < sizeof vendors / sizeof vendors[0]; i++)
        if (vendors[i].impl == impl)
            vendor = vendors[i].name;
    for (size_t i = 0; impl == 0x41 && i < sizeof arm_parts / sizeof arm_parts[0]; i++)
        if (arm_parts[i].part == part)
            model = arm_parts[i].name;
    if (!cpu->vendor[0]) {
        if (vendor)
            snprintf(cpu->vendor, sizeof cpu->vendor, "%s", vendor);
        else
            snprintf(cpu->vendor, sizeof cpu->vendor, "implementer 0x%02lx", impl);
    }
    if (model)
        snprintf(cpu->model, sizeof cpu->model, "%s %s", vendor, model);
    else
        snprintf(cpu->model, sizeof cpu->model, "%s part 0x%03lx", cpu->vendor, part);
}

/* Model name, vendor, first "cpu MHz", and the number of distinct
** (physical id, core id) pairs: one per physical core, hyperthreads
** sharing theirs. Lines longer than the buffer are skipped. */
static void read_cpuinfo(SimdCpu *cpu, uint32_t *cores, double *mhz)
{
    *cores = 0;
    *mhz = 0.0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    CoreSet *set = calloc(1, sizeof *set);
    char line[512];
    bool line_start = true;
    long pkg = -1, core = -1, impl = -1, part = -1;
    while (fgets(line, sizeof line, f)) {
        bool at_start = line_start;
        line_start = strchr(line, '\n') != NULL;
        if (!at_start)
            continue;
        char *colon = strchr(line, ':');
        if (!colon) { /* a blank line ends one logical CPU's record */
            if (set && pkg >= 0 && core >= 0)
                core_add(set, pkg, core);
            pkg = core = -1;
            continue;
        }
        *colon = '\0';
        const char *key = trim(line);
        char *value = trim(colon + 1);
        if (!cpu->model[0] && strcmp(key, "model name") == 0)
            snprintf(cpu->model, sizeof cpu->model, "%s", value);
        else if (!cpu->vendor[0] && strcmp(key, "vendor_id") == 0)
            snprintf(cpu->vendor, sizeof cpu->vendor, "%s", value);
        else if (impl < 0 && strcmp(key, "CPU implementer") == 0)
            impl = strtol(value, NULL, 0);
        else if (part < 0 && strcmp(key, "CPU part") == 0)
            part = strtol(value, NULL, 0);
        else if (*mhz == 0.0 && strcmp(key, "cpu MHz") == 0)
            *mhz = strtod(value, NULL);
        else if (strcmp(key, "physical id") == 0)
            pkg = strtol(value, NULL, 10);
        else if (strcmp(key, "core id") == 0)
            core = strtol(value, NULL, 10);
    }
    if (set && pkg >= 0 && core >= 0)
        core_add(set, pkg, core);
    if (!cpu->model[0] && impl >= 0)
        arm_cpu_name(impl, part, cpu);
    if (set)
        *cores = set->n;
    free(set);
    fclose(f);
}

/* A number from a one-line sysfs file, or 0. */
static double read_sys_number(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0.0;
    double v = 0.0;
    if (fscanf(f, "%lf", &v) != 1)
        v = 0.0;
    fclose(f);
    return v;
}

/* The same count from /sys topology, for kernels whose cpuinfo has no
** core ids; 0 when that is missing too. */
static uint32_t sys_topology_cores(uint32_t online)
{
    CoreSet *set = calloc(1, sizeof *set);
    if (!set)
        return 0;
    for (uint32_t i = 0; i < online && i < 4096; i++) {
        char path[128];
        snprintf(path, sizeof path,
                 "/sys/devices/system/cpu/cpu%u/topology/physical_package_id", i);
        FILE *f = fopen(path, "r");
        long pkg = -1, core = -1;
        if (f) {
            if (fscanf(f, "%ld", &pkg) != 1)
                pkg = -1;
            fclose(f);
        }
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%u/topology/core_id", i);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &core) != 1)
                core = -1;
            fclose(f);
        }
        if (pkg >= 0 && core >= 0)
            core_add(set, pkg, core);
    }
    uint32_t n = set->n;
    free(set);
    return n;
}

void simd_cpu_detect(SimdCpu *cpu)
{
    memset(cpu, 0, sizeof *cpu);
    cpu->features = detect_features();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpu->online = online > 0 ? (uint32_t)online : 1;

    uint32_t cores;
    double mhz;
    read_cpuinfo(cpu, &cores, &mhz);
    if (cores == 0)
        cores = sys_topology_cores(cpu->online);
    cpu->cores = cores > 0 && cores <= cpu->online ? cores : cpu->online;

    /* The rated maximum when cpufreq says it (kHz), else what cpuinfo saw
    ** at this moment, else a guess typical of current server parts. */
    double khz = read_sys_number("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
    cpu->ghz = khz > 0.0 ? khz / 1e6 : mhz > 0.0 ? mhz / 1e3 : 2.5;
}
