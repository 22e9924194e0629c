/*
** config.h -- slm.ini: finding it, reading it, checking it.
**
**   [runtime]
**   plugin_path = /opt/vendor/slm:/usr/local/lib/slm   ; ':'-separated,
**                                 ; relative to this file's folder
**   backends    = vulkan, cpu     ; preference order (forces these first)
**   deny        = opencl          ; never use these plugins or devices
**   threads     = 4               ; CPU worker threads, 0 = default
**   log_level   = warn            ; error | warn | info | debug
**   fallback    = on              ; run a graph a device fails without it
**   isolate_probe = off           ; probe plugins in-process (no fork)
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
    bool fallback;                /* [runtime] fallback = on */
    bool no_isolation;            /* [runtime] isolate_probe = off */
    slm__config_entry_t *entries; /* [backend.NAME] keys, in file order */
    uint32_t n_entries;
} slm__config_t;

/* Which file to read: `explicit_path` if not NULL (must exist), else when
** `search` $SLM_CONFIG (must exist), else the first of ./slm.ini,
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

/* ------------------------------------- shared with the loader and registry */

/* Whether name[0 .. len-1] is a backend name: 1 to 31 of [a-z0-9_-]. */
bool slm__config_name_ok(const char *name, size_t len);

/* Split `s` on `sep`, trimming blanks around each item. A blank `s` gives no
** items. An empty item is SLM_ERR_CONFIG with no message set: the caller
** knows where the list came from and says so. Caller frees the items with
** slm__config_list_free. */
slm_status_t slm__config_split(const char *s, char sep, char ***out_items,
                               uint32_t *out_n);
void slm__config_list_free(char **items, uint32_t n);

/* Parse a device selector, "name" or "name:index" (index below
** SLM_MAX_DEVICES_PER_PLUGIN); *out_index is -1 for a whole plugin. False
** when malformed. */
bool slm__config_parse_selector(const char *s, char out_name[32],
                                int *out_index);

#endif /* SLM_CONFIG_H */
