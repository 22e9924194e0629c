/*
** hostile_gen.c -- write the hostile corpus: hostile_gen DIR [NAME...]
** writes DIR/NAME.gguf for the cases named, or for every case.
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hostile.h"

static int write_case(const hostile_case_t *c, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gguf", dir, c->name);
    if (hostile_write(c, path) != 0) {
        fprintf(stderr, "hostile_gen: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: hostile_gen DIR [NAME...]\n");
        return 2;
    }
    if (mkdir(argv[1], 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "hostile_gen: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    int failed = 0;
    if (argc == 2)
        for (size_t i = 0; i < hostile_n_cases; i++)
            failed |= write_case(&hostile_cases[i], argv[1]);
    for (int a = 2; a < argc; a++) {
        const hostile_case_t *c = hostile_find(argv[a]);
        if (!c) {
            fprintf(stderr, "hostile_gen: no case '%s'\n", argv[a]);
            return 2;
        }
        failed |= write_case(c, argv[1]);
    }
    return failed;
}
