/* stream.c -- generate text with slm and print it as it comes (docs/embedding.md).
** Build: cc stream.c $(pkg-config --cflags --libs slm) -o stream
** Run:   ./stream MODEL.gguf "Once upon a time" */
#include <stdio.h>
#include <slm/slm.h>

/* Called with each new piece of text; returning false stops generation. */
static bool on_token(void *user, int32_t token, const char *text, size_t len)
{
    (void)user, (void)token;
    fwrite(text, 1, len, stdout);
    return fflush(stdout) == 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT\n", argv[0]);
        return 2;
    }
    slm_runtime_t *rt = NULL;
    slm_model_t *model = NULL;
    slm_session_t *session = NULL;
    slm_session_opts_t so = SLM_SESSION_OPTS_INIT;
    slm_generate_opts_t go = SLM_GENERATE_OPTS_INIT;
    go.max_tokens = 64;
    go.on_token = on_token;
    int ok = slm_runtime_create(NULL, &rt) == SLM_OK &&
             slm_model_open(rt, argv[1], NULL, &model) == SLM_OK &&
             slm_session_create(model, &so, &session) == SLM_OK &&
             slm_generate(session, argv[2], &go, NULL) == SLM_OK;
    if (!ok)
        fprintf(stderr, "\nstream: %s\n", slm_last_error());
    putchar('\n');
    slm_session_destroy(session);   /* each accepts NULL */
    slm_model_close(model);
    slm_runtime_destroy(rt);
    return ok ? 0 : 1;
}
