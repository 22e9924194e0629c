/*
** fuzz_config.c -- slm.ini text, as the runtime reads it.
**
** The input is the file's text (cut at its first NUL, as a C string is).
** A config that parses is then queried the way the loader and the registry
** do: each [backend.NAME] checked against a short list of declared keys,
** values looked up, and the runtime lists split and their selectors parsed.
*/
#include <string.h>

#include "config.h"
#include "fuzz.h"

static const slm_config_key_t keys[] = {
    { "device_index", "which device" },
    { "threads", "worker threads" },
};

static void check_lists(char **items, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        fz_check(items[i] != NULL, "item %u is NULL", i);
        char name[32];
        int index;
        if (slm__config_parse_selector(items[i], name, &index))
            fz_check(strlen(name) < sizeof name && index >= -1 &&
                         index < SLM_MAX_DEVICES_PER_PLUGIN,
                     "selector '%s'", items[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    slm__config_t c;
    if (slm__config_load_string(text, "fuzz.ini", &c) == SLM_OK) {
        check_lists(c.backends, c.n_backends);
        check_lists(c.deny, c.n_deny);
        for (uint32_t i = 0; i < c.n_plugin_path; i++)
            fz_check(c.plugin_path[i] && c.plugin_path[i][0], "plugin_path %u", i);
        for (uint32_t i = 0; i < c.n_entries; i++) {
            const slm__config_entry_t *e = &c.entries[i];
            fz_check(slm__config_name_ok(e->backend, strlen(e->backend)), "backend name");
            fz_check(slm__config_backend_get(&c, e->backend, e->key) != NULL, "lookup");
            (void)slm__config_check_backend(&c, e->backend, keys, 2);
        }
        slm__config_free(&c);
    } else {
        fz_check(c.n_entries == 0 && c.path == NULL, "failed load left entries");
        fz_check(strstr(slm_last_error(), "fuzz.ini") != NULL, "message: %s", slm_last_error());
    }
    /* The list splitter and the selector parser take text from the
    ** environment too (SLM_BACKEND, SLM_PLUGIN_PATH). */
    char **items;
    uint32_t n;
    if (slm__config_split(text, ',', &items, &n) == SLM_OK) {
        check_lists(items, n);
        slm__config_list_free(items, n);
    }
    free(text);
    return 0;
}
