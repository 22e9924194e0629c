/*
** error.c -- status names, the per-thread last error, logging.
*/
#include <stdio.h>
#include <string.h>

#include "runtime_internal.h"

#define ERROR_MAX 1024

static _Thread_local char last_error[ERROR_MAX];
static _Thread_local char plugin_error[ERROR_MAX];

const char *slm_last_error(void)
{
    return last_error;
}

const char *slm_strerror(slm_status_t status)
{
    switch (status) {
#define STATUS_MSG(name, value, msg) case value: return msg;
        SLM_STATUS_MAP(STATUS_MSG)
#undef STATUS_MSG
    default: return "unknown status";
    }
}

const char *slm_status_name(slm_status_t status)
{
    switch (status) {
#define STATUS_NAME(name, value, msg) case value: return "SLM_" #name;
        SLM_STATUS_MAP(STATUS_NAME)
#undef STATUS_NAME
    default: return "SLM_UNKNOWN";
    }
}

slm_status_t slm__error(slm_status_t status, const char *fmt, ...)
{
    /* The message may be built from the previous one: format into scratch. */
    char tmp[ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(last_error, tmp, sizeof last_error);
    return status;
}

void slm__plugin_error_set(const char *msg)
{
    snprintf(plugin_error, sizeof plugin_error, "%s", msg ? msg : "");
}

void slm__plugin_error_clear(void)
{
    plugin_error[0] = '\0';
}

const char *slm__plugin_error_take(void)
{
    static _Thread_local char taken[ERROR_MAX];
    memcpy(taken, plugin_error, sizeof taken);
    plugin_error[0] = '\0';
    return taken;
}

static const char *level_name(int level)
{
    switch (level) {
    case SLM_LOG_ERROR: return "error";
    case SLM_LOG_WARN: return "warning";
    case SLM_LOG_INFO: return "info";
    default: return "debug";
    }
}

void slm__log(const slm_runtime_t *rt, int level, const char *fmt, ...)
{
    int max_level = rt ? rt->log_level : SLM_LOG_WARN;
    if (level > max_level)
        return;
    char msg[ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rt && rt->log)
        rt->log(rt->log_user, level, msg);
    else
        fprintf(stderr, "slm: %s: %s\n", level_name(level), msg);
}
