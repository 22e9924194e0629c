/*
** hostile.h -- the hostile corpus (cases.def), shared by its generator and
** its test driver.
*/
#ifndef SLM_TEST_HOSTILE_H
#define SLM_TEST_HOSTILE_H

#include <stddef.h>

#include <slm/slm.h>

#include "gguf_writer.h"

typedef struct hostile_case {
    const char *name;                 /* the file is NAME.gguf */
    void (*lie)(gguf_writer_t *w);    /* turns the tiny llama into it */
    slm_status_t status;              /* what opening it must return */
    const char *what, *what2;         /* in the message (what2 may be NULL) */
} hostile_case_t;

extern const hostile_case_t hostile_cases[];
extern const size_t hostile_n_cases;

/* The case called `name`, or NULL. */
const hostile_case_t *hostile_find(const char *name);

/* Write the case's file to `path`; 0 on success, -1 (errno set) on failure. */
int hostile_write(const hostile_case_t *c, const char *path);

#endif /* SLM_TEST_HOSTILE_H */
