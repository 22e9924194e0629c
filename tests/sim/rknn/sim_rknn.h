/*
** sim_rknn.h -- the test-only side of the simulated librknnrt.so
** (sim_rknnrt.c): counters that tests read through dlsym, so that they can
** see what the shim asked of the runtime. The shim never uses these.
**
** Environment the simulation reads (never the shim):
**   SIM_RKNN_CHIP     RK3588 (default), RK3576, RK3562, RK3566, RK3568: the
**                     type and alignment table it enforces
**   SIM_RKNN_VERSION  the runtime version rknn_query reports ("2.3.0")
**   SIM_RKNN_DRIVER   the kernel driver version it reports ("0.9.8")
**   SIM_RKNN_FAIL     comma-separated calls to fail, each CALL or CALL=CODE:
**                     create, create_mem, set_io_mem, set_quant_params, run,
**                     sync, query (e.g. "run" fails every rknn_matmul_run
**                     with RKNN_ERR_TIMEOUT, "run=-3" with
**                     RKNN_ERR_DEVICE_UNAVAILABLE)
*/
#ifndef SIM_RKNN_H
#define SIM_RKNN_H

#include <stdint.h>

typedef struct sim_rknn_stats {
    uint64_t creates;          /* rknn_matmul_create that succeeded: the
                                  compile step, counted */
    uint64_t rejects;          /* rknn_matmul_create refused (param invalid) */
    uint64_t destroys;
    uint64_t live_ctx;         /* contexts not yet destroyed */
    uint64_t live_mem;         /* memories not yet destroyed */
    uint64_t runs;             /* rknn_matmul_run that computed */
    uint64_t syncs_to, syncs_from;
    uint64_t quant_sets;
    int32_t max_k;             /* largest K of a created context */
    int32_t last_type;         /* type of the last created context */
    char last_reject[256];     /* why the last create was refused */
} sim_rknn_stats_t;

/* Copy the counters (since load or the last reset) into *out. */
typedef void (*sim_rknn_stats_fn)(sim_rknn_stats_t *out);
/* Zero the counters, keeping live_ctx and live_mem. */
typedef void (*sim_rknn_reset_fn)(void);

#endif /* SIM_RKNN_H */
