/*
** config.h -- slm.ini: finding it, reading it, checking it.
**
**   [runtime]
**   plugin_path = /opt/vendor/slm:/usr/local/lib/slm   ; ':'-separated
**   backends    = vulkan, cpu     ; preference order (forces these first)
**   deny        = opencl          ; never use these plugins or devices
**   threads     = 4               ; CPU worker threads, 0 = default
**   log_level   = warn            ; error | warn | info | debug
**
**   [backend.vulkan]              ; keys the plugin declares, passed through
**   device_index = 1
**
** Any other section, key or a bad value is an SLM_ERR_CONFIG naming file,
** line and key. Keys of [backend.NAME] are checked against the plugin's
** declared keys once the plugin is loaded (slm__config_check_backend).
*/
#ifndef SLM_CONFIG_H
#define SLM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "slm/backend.h"

typedef struct slm__config_entry {
    char *backend;                /* NAME of [backend.NAME] */
    char *key;
    char *value;
    int line;
} slm__config_entry_t;

typedef struct slm__config {
    char *path;                   /* file read, NULL for an empty config */
    char **plugin_path;           /* [runtime] plugin_path, split on ':' */
    uint32_t n_plugin_path;
    char **backends;              /* [runtime] backends, split on ',' */
    uint32_t n_backends;
    char **deny;                  /* [runtime] deny, split on ',' */
    uint32_t n_deny;
    uint32_t threads;             /* valid when has_threads */
    bool has_threads;
    int log_level;                /* valid when has_log_level */
    bool has_log_level;
    slm__config_entry_t *entries; /* [backend.NAME] keys, in file order */
    uint32_t n_entries;
} slm__config_t;

/* Which file to read: `explicit_path` if not NULL (must exist), else
** $SLM_CONFIG (must exist), else when `search` the first of ./slm.ini,
** $XDG_CONFIG_HOME/slm/slm.ini (~/.config when unset), /etc/slm/slm.ini that
** exists. *out_path is NULL when there is none; caller frees it. */
slm_status_t slm__config_find(const char *explicit_path, bool search,
                              char **out_path);

/* Parse `path` into *out (zeroed first). On failure *out is left empty. */
slm_status_t slm__config_load(const char *path, slm__config_t *out);

/* Parse INI text held in memory; `name` stands for the file in messages. */
slm_status_t slm__config_load_string(const char *text, const char *name,
                                     slm__config_t *out);

/* Free what a load filled in; leaves *c empty. Safe on an empty config. */
void slm__config_free(slm__config_t *c);

/* Check that every key of [backend.NAME] is among `keys`; the error names
** file, line, section and key and lists the keys the plugin accepts. */
slm_status_t slm__config_check_backend(const slm__config_t *c,
                                       const char *name,
                                       const slm_config_key_t *keys,
                                       uint32_t n_keys);

/* Value of `key` in [backend.NAME], or NULL. Borrowed from c. */
const char *slm__config_backend_get(const slm__config_t *c, const char *name,
                                    const char *key);

#endif /* SLM_CONFIG_H */
