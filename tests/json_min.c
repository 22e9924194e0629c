/*
** json_min.c -- a recursive-descent JSON reader, enough for golden files.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_min.h"

typedef struct parser {
    const char *p, *end;
    const char *err;
    int depth;
} parser_t;

static void skip_ws(parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static int fail(parser_t *ps, const char *msg)
{
    if (!ps->err)
        ps->err = msg;
    return 0;
}

static int hex4(parser_t *ps, unsigned *out)
{
    if (ps->end - ps->p < 4)
        return fail(ps, "short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(ps, "bad \\u escape");
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ps->p is just past the opening quote. */
static int parse_string(parser_t *ps, char **out, size_t *out_len)
{
    /* Decoded text is never longer than the source. */
    const char *start = ps->p;
    while (ps->p < ps->end && *ps->p != '"') {
        if (*ps->p == '\\')
            ps->p++;
        ps->p++;
    }
    if (ps->p >= ps->end)
        return fail(ps, "unterminated string");
    size_t max = (size_t)(ps->p - start);
    char *s = malloc(max + 1), *o = s;
    if (!s)
        return fail(ps, "out of memory");
    ps->p = start;
    while (*ps->p != '"') {
        char c = *ps->p++;
        if (c != '\\') { *o++ = c; continue; }
        c = *ps->p++;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!hex4(ps, &cp)) { free(s); return 0; }
            if (cp >= 0xD800 && cp < 0xDC00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u') {
                ps->p += 2;
                if (!hex4(ps, &lo)) { free(s); return 0; }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o += put_utf8(o, cp);
            break;
        }
        default: free(s); return fail(ps, "bad escape");
        }
    }
    ps->p++;
    *o = '\0';
    *out = s;
    *out_len = (size_t)(o - s);
    return 1;
}

static int parse_value(parser_t *ps, json_t *j);

static int push(json_t *j, size_t *cap, json_t **slot)
{
    if (j->len == *cap) {
        size_t n = *cap ? *cap * 2 : 8;
        json_t *items = realloc(j->items, n * sizeof *items);
        if (!items)
            return 0;
        j->items = items;
        *cap = n;
    }
    *slot = &j->items[j->len++];
    memset(*slot, 0, sizeof **slot);
    return 1;
}

static int parse_container(parser_t *ps, json_t *j, char close)
{
    size_t cap = 0;
    if (++ps->depth > 64)
        return fail(ps, "nesting too deep");
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return 1;
    }
    for (;;) {
        json_t *item;
        if (!push(j, &cap, &item))
            return fail(ps, "out of memory");
        skip_ws(ps);
        if (close == '}') {
            size_t kl;
            if (ps->p >= ps->end || *ps->p != '"')
                return fail(ps, "expected a key");
            ps->p++;
            if (!parse_string(ps, &item->key, &kl))
                return 0;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p++ != ':')
                return fail(ps, "expected ':'");
        }
        if (!parse_value(ps, item))
            return 0;
        skip_ws(ps);
        if (ps->p >= ps->end)
            return fail(ps, "unterminated container");
        char c = *ps->p++;
        if (c == close)
            break;
        if (c != ',')
            return fail(ps, "expected ',' or a closing bracket");
    }
    ps->depth--;
    return 1;
}

static int parse_value(parser_t *ps, json_t *j)
{
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end");
    char c = *ps->p;
    if (c == '{') { ps->p++; j->type = JSON_OBJECT; return parse_container(ps, j, '}'); }
    if (c == '[') { ps->p++; j->type = JSON_ARRAY; return parse_container(ps, j, ']'); }
    if (c == '"') { ps->p++; j->type = JSON_STRING; return parse_string(ps, &j->string, &j->len); }
    if (ps->end - ps->p >= 4 && !memcmp(ps->p, "null", 4)) { ps->p += 4; j->type = JSON_NULL; return 1; }
    if (ps->end - ps->p >= 4 && !memcmp(ps->p, "true", 4)) { ps->p += 4; j->type = JSON_BOOL; j->number = 1; return 1; }
    if (ps->end - ps->p >= 5 && !memcmp(ps->p, "false", 5)) { ps->p += 5; j->type = JSON_BOOL; return 1; }
    char buf[64];
    size_t n = 0;
    while (ps->p + n < ps->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", ps->p[n]))
        n++;
    if (n == 0)
        return fail(ps, "unexpected character");
    memcpy(buf, ps->p, n);
    buf[n] = '\0';
    char *end;
    j->number = strtod(buf, &end);
    if (*end)
        return fail(ps, "bad number");
    j->type = JSON_NUMBER;
    ps->p += n;
    return 1;
}

static void free_children(json_t *j)
{
    for (size_t i = 0; i < j->len && j->items; i++)
        free_children(&j->items[i]);
    if (j->type == JSON_ARRAY || j->type == JSON_OBJECT)
        free(j->items);
    free(j->string);
    free(j->key);
}

void json_free(json_t *j)
{
    if (!j)
        return;
    free_children(j);
    free(j);
}

json_t *json_parse(const char *text, size_t len, const char **err)
{
    parser_t ps = { text, text + len, NULL, 0 };
    json_t *j = calloc(1, sizeof *j);
    if (!j) {
        *err = "out of memory";
        return NULL;
    }
    if (!parse_value(&ps, j) || (skip_ws(&ps), ps.p != ps.end && !ps.err && (ps.err = "trailing text"))) {
        *err = ps.err;
        json_free(j);
        return NULL;
    }
    return j;
}

json_t *json_parse_file(const char *path, const char **err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = "cannot open file";
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        *err = "cannot read file";
        return NULL;
    }
    fclose(f);
    json_t *j = json_parse(buf, (size_t)n, err);
    free(buf);
    return j;
}

const json_t *json_get(const json_t *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->len; i++)
        if (obj->items[i].key && !strcmp(obj->items[i].key, key))
            return &obj->items[i];
    return NULL;
}
