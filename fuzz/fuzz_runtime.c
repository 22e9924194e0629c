/*
** fuzz_runtime.c -- the runtime the model and graph targets share.
**
** Creating a runtime loads a plugin with dlopen: far too slow to do for each
** of millions of inputs, and nothing an input does may outlive its graph or
** model anyway, so one runtime serves the whole process.
*/
#include "fuzz.h"

static slm_runtime_t *runtime;

static void quiet(void *user, int level, const char *msg)
{
    (void)user;
    (void)level;
    (void)msg;
}

static void destroy_runtime(void)
{
    slm_runtime_destroy(runtime);
    runtime = NULL;
}

slm_runtime_t *fz_runtime(bool cpu)
{
    if (runtime)
        return runtime;
    static const char *const plugins[] = { SLM_FUZZ_CPU_PLUGIN };
    slm_runtime_opts_t o = SLM_RUNTIME_OPTS_INIT;
    o.flags = SLM_RUNTIME_NO_DEFAULT_PLUGINS | SLM_RUNTIME_NO_DEFAULT_CONFIG;
    o.plugin_paths = cpu ? plugins : NULL;
    o.n_plugin_paths = cpu ? 1 : 0;
    o.backends = cpu ? "cpu" : NULL;
    o.n_threads = 1;
    /* Errors the inputs provoke are expected; only the status matters. */
    o.log = quiet;
    if (slm_runtime_create(&o, &runtime) != SLM_OK) {
        fprintf(stderr, "fuzz: cannot create the runtime: %s\n", slm_last_error());
        abort();
    }
    if (cpu && slm_runtime_device_count(runtime) == 0) {
        fprintf(stderr, "fuzz: no device from %s\n", plugins[0]);
        abort();
    }
    atexit(destroy_runtime);
    return runtime;
}
