/*
** json_min.h -- a small JSON reader for the tests' golden files.
**
** Parses a whole document into a tree of nodes. Strings are decoded
** (escapes, \uXXXX with surrogate pairs) into NUL-terminated UTF-8.
*/
#ifndef SLM_TEST_JSON_MIN_H
#define SLM_TEST_JSON_MIN_H

#include <stddef.h>

typedef enum { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type_t;

typedef struct json {
    json_type_t type;
    double number;              /* NUMBER, BOOL (0/1) */
    char *string;               /* STRING; object member key in `key` */
    size_t len;                 /* STRING: bytes; ARRAY/OBJECT: children */
    struct json *items;         /* ARRAY, OBJECT children */
    char *key;                  /* set on members of an OBJECT */
} json_t;

/* Parse; NULL on a syntax error (with *err set to a static message).
** Free with json_free. */
json_t *json_parse(const char *text, size_t len, const char **err);
/* Read and parse a file; NULL if it cannot be read or parsed. */
json_t *json_parse_file(const char *path, const char **err);
void json_free(json_t *j);

/* Member `key` of an object, or NULL. */
const json_t *json_get(const json_t *obj, const char *key);

#endif
