/*
** simd_pool.c -- the device's worker threads.
**
** A device owns n - 1 workers for its whole life; the thread that calls
** graph_compute is thread 0. A run publishes a job by bumping a generation
** counter; workers wait for it by spinning (a token's graphs follow each
** other within microseconds) and then sleeping on a futex, so an idle device
** costs no CPU, and a wake-up is only issued when someone sleeps.
**
** Jobs never wait for a particular worker: they share work out through
** counters (simd_backend.c), so a worker that wakes late, or that the OS
** has descheduled on a busy machine, only joins in what is left. The one
** wait on workers is at the end of a run, for those that did join: a
** worker announces itself (active) before it looks whether the job is
** still open, and the caller closes the job before it counts the active
** workers, so a late worker either sees the job closed or is waited for.
*/
#define _GNU_SOURCE /* syscall, clock_gettime */

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#include "simd_internal.h"

/* How long an idle worker spins before it sleeps: waking a sleeping thread
** costs tens of microseconds (far more in a VM, where an idle vCPU halts),
** so it spins through the host's work between a token's graphs; only a
** device left idle sleeps. Waits inside a job spin a little, then yield the
** CPU: on a busy machine the thread they wait for may need it. */
#define IDLE_SPIN_NS 3000000
#define WAIT_SPIN_NS 50000

typedef struct SimdWorker {
    SimdPool *pool;
    int ith;
} SimdWorker;

struct SimdPool {
    uint32_t n;                  /* threads, the caller included */
    pthread_t *tids;             /* n - 1 workers */
    SimdWorker *workers;
    uint32_t n_started;

    void (*job)(void *arg, int ith, int nth);
    void *arg;
    atomic_bool stop;

    /* Each on its own cache line: they are written by different threads. */
    _Alignas(64) atomic_uint go;        /* job generation (futex word) */
    _Alignas(64) atomic_uint go_sleepers;
    _Alignas(64) atomic_uint active;    /* workers inside a job */
    _Alignas(64) atomic_bool open;      /* the job may still be joined */
    atomic_bool doze;                   /* idle workers: sleep now */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause" ::: "memory");
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

#if defined(__linux__)
static void futex_wait(atomic_uint *word, unsigned expected)
{
    /* Returns at once when *word != expected; spurious wake-ups are fine,
    ** callers re-check. */
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, expected, NULL,
            NULL, 0);
}

static void futex_wake_all(atomic_uint *word)
{
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL,
            NULL, 0);
}
#else
static void futex_wait(atomic_uint *word, unsigned expected)
{
    (void)word, (void)expected;
    sched_yield();
}
static void futex_wake_all(atomic_uint *word) { (void)word; }
#endif

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait until *word differs from `seen`: spin, then sleep. `sleepers`
** counts sleepers so that the waker knows whether to call futex_wake. The
** increment and the re-check are sequentially consistent, as are the
** waker's store and its read of sleepers, so one of the two always sees
** the other. */
static void wait_change(atomic_uint *word, unsigned seen, atomic_uint *sleepers,
                        uint64_t spin_ns, const atomic_bool *doze)
{
    uint64_t deadline = 0;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != seen)
            return;
        cpu_relax();
        if (i % 256 == 0) { /* read the clock now and then: it costs more */
            if (doze && atomic_load_explicit(doze, memory_order_relaxed))
                break;
            uint64_t t = now_ns();
            if (deadline == 0)
                deadline = t + spin_ns;
            else if (t >= deadline)
                break;
        }
    }
    atomic_fetch_add(sleepers, 1);
    while (atomic_load(word) == seen)
        futex_wait(word, seen);
    atomic_fetch_sub(sleepers, 1);
}

static void publish(atomic_uint *word, atomic_uint *sleepers)
{
    atomic_fetch_add(word, 1);
    if (atomic_load(sleepers) > 0)
        futex_wake_all(word);
}

/* Spin, then spin and yield, until ready(v, target). */
#define SPIN_YIELD(ready)                                           \
    do {                                                            \
        uint64_t deadline_ = 0;                                     \
        for (unsigned i_ = 1; !(ready); i_++) {                     \
            cpu_relax();                                            \
            if (i_ % 256 != 0)                                      \
                continue;                                           \
            uint64_t t_ = now_ns();                                 \
            if (deadline_ == 0)                                     \
                deadline_ = t_ + WAIT_SPIN_NS;                      \
            else if (t_ >= deadline_)                               \
                sched_yield();                                      \
        }                                                           \
    } while (0)

void simd_wait_at_least(atomic_uint *v, unsigned target)
{
    SPIN_YIELD(atomic_load_explicit(v, memory_order_acquire) >= target);
}

static void wait_zero(atomic_uint *v)
{
    SPIN_YIELD(atomic_load(v) == 0);
}

/* ------------------------------------------------------------ workers */

static void *worker_main(void *p)
{
    SimdWorker *w = p;
    SimdPool *pool = w->pool;
    unsigned seen = 0;
    for (;;) {
        wait_change(&pool->go, seen, &pool->go_sleepers, IDLE_SPIN_NS, &pool->doze);
        unsigned g = atomic_load(&pool->go);
        seen = g;
        if (atomic_load(&pool->stop))
            break;
        atomic_fetch_add(&pool->active, 1);
        if (atomic_load(&pool->open) && atomic_load(&pool->go) == g)
            pool->job(pool->arg, w->ith, (int)pool->n);
        atomic_fetch_sub(&pool->active, 1);
    }
    return NULL;
}

void simd_pool_run(SimdPool *pool, void (*job)(void *arg, int ith, int nth),
                   void *arg)
{
    if (pool->n <= 1) {
        job(arg, 0, 1);
        return;
    }
    pool->job = job;
    pool->arg = arg;
    atomic_store(&pool->doze, false);
    atomic_store(&pool->open, true);
    publish(&pool->go, &pool->go_sleepers);
    job(arg, 0, (int)pool->n);
    atomic_store(&pool->open, false);
    wait_zero(&pool->active);
}

void simd_pool_doze(SimdPool *pool)
{
    atomic_store_explicit(&pool->doze, true, memory_order_relaxed);
}

uint32_t simd_pool_threads(const SimdPool *pool)
{
    return pool->n;
}

SimdPool *simd_pool_create(uint32_t n)
{
    if (n < 1)
        n = 1;
    SimdPool *pool = aligned_alloc(64, simd_align64(sizeof *pool));
    if (!pool)
        return NULL;
    *pool = (SimdPool){.n = n};
    atomic_init(&pool->go, 0);
    atomic_init(&pool->go_sleepers, 0);
    atomic_init(&pool->active, 0);
    atomic_init(&pool->open, false);
    atomic_init(&pool->stop, false);
    atomic_init(&pool->doze, false);
    if (n == 1)
        return pool;
    pool->tids = calloc(n - 1, sizeof *pool->tids);
    pool->workers = calloc(n - 1, sizeof *pool->workers);
    if (!pool->tids || !pool->workers) {
        simd_pool_destroy(pool);
        return NULL;
    }
    for (uint32_t i = 0; i + 1 < n; i++) {
        pool->workers[i] = (SimdWorker){.pool = pool, .ith = (int)i + 1};
        if (pthread_create(&pool->tids[i], NULL, worker_main, &pool->workers[i]) != 0) {
            /* Fewer threads than asked still compute correctly. The ones
            ** started read n only when a job comes, after this store. */
            pool->n = pool->n_started + 1;
            break;
        }
        pool->n_started++;
    }
    return pool;
}

void simd_pool_destroy(SimdPool *pool)
{
    if (!pool)
        return;
    if (pool->n_started > 0) {
        atomic_store(&pool->stop, true);
        publish(&pool->go, &pool->go_sleepers);
        for (uint32_t i = 0; i < pool->n_started; i++)
            pthread_join(pool->tids[i], NULL);
    }
    free(pool->tids);
    free(pool->workers);
    free(pool);
}
