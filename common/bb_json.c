/*
 * bb_json.c — JSON writer (growing buffer, container stack) and a recursive-descent
 * reader building a small tree. Inputs come from disk and the network, so the reader is
 * strict, bounds every read by len, validates UTF-8 and limits nesting depth.
 */
#include "bb_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"

#define BB_JSON_MAX_DEPTH 64

/* ================================ writer ================================ */

typedef struct {
    bool object;  /* object or array */
    bool any;     /* at least one member written */
    bool key_due; /* object: next token must be a key */
} s_frame_t;

struct bb_jw_t {
    char *buf;
    size_t len, cap;
    bool pretty;
    int err;
    int depth;
    bool done; /* a complete top-level value was written */
    s_frame_t stack[BB_JSON_MAX_DEPTH];
};

bb_jw_t *bb_jw_new(bool pretty)
{
    bb_jw_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cap = 256;
    w->buf = malloc(w->cap);
    if (!w->buf) {
        free(w);
        return NULL;
    }
    w->buf[0] = '\0';
    w->pretty = pretty;
    return w;
}

void bb_jw_destroy(bb_jw_t **w)
{
    if (!w || !*w)
        return;
    free((*w)->buf);
    free(*w);
    *w = NULL;
}

static void s_put(bb_jw_t *w, const char *s, size_t n)
{
    if (w->err)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap;
        while (w->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(w->buf, cap);
        if (!b) {
            w->err = BB_ENOMEM;
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void s_puts(bb_jw_t *w, const char *s)
{
    s_put(w, s, strlen(s));
}

static void s_newline(bb_jw_t *w)
{
    if (!w->pretty)
        return;
    s_put(w, "\n", 1);
    for (int i = 0; i < w->depth; i++)
        s_put(w, "  ", 2);
}

/* Called before any value (scalar or container opener). */
static bool s_before_value(bb_jw_t *w)
{
    if (w->err)
        return false;
    if (w->depth == 0) {
        if (w->done) {
            w->err = BB_ESTATE;
            return false;
        }
        return true;
    }
    s_frame_t *f = &w->stack[w->depth - 1];
    if (f->object) {
        if (f->key_due) {
            w->err = BB_ESTATE;
            return false;
        }
        f->key_due = true;
        return true;
    }
    if (f->any)
        s_put(w, ",", 1);
    f->any = true;
    s_newline(w);
    return true;
}

static void s_after_value(bb_jw_t *w)
{
    if (w->depth == 0)
        w->done = true;
}

static void s_escaped(bb_jw_t *w, const char *s)
{
    s_put(w, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;
    for (; *p; p++) {
        const char *esc = NULL;
        char u[8];
        switch (*p) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (*p < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", *p);
                esc = u;
            }
        }
        if (esc) {
            s_put(w, (const char *)run, (size_t)(p - run));
            s_puts(w, esc);
            run = p + 1;
        }
    }
    s_put(w, (const char *)run, (size_t)(p - run));
    s_put(w, "\"", 1);
}

static void s_open(bb_jw_t *w, bool object)
{
    if (!s_before_value(w))
        return;
    if (w->depth >= BB_JSON_MAX_DEPTH) {
        w->err = BB_ESTATE;
        return;
    }
    s_put(w, object ? "{" : "[", 1);
    w->stack[w->depth++] = (s_frame_t){.object = object, .any = false, .key_due = object};
}

static void s_close(bb_jw_t *w, bool object)
{
    if (w->err)
        return;
    if (w->depth == 0 || w->stack[w->depth - 1].object != object ||
        (object && !w->stack[w->depth - 1].key_due)) {
        w->err = BB_ESTATE;
        return;
    }
    bool any = w->stack[w->depth - 1].any;
    w->depth--;
    if (any)
        s_newline(w);
    s_put(w, object ? "}" : "]", 1);
    s_after_value(w);
}

void bb_jw_object_begin(bb_jw_t *w)
{
    s_open(w, true);
}
void bb_jw_object_end(bb_jw_t *w)
{
    s_close(w, true);
}
void bb_jw_array_begin(bb_jw_t *w)
{
    s_open(w, false);
}
void bb_jw_array_end(bb_jw_t *w)
{
    s_close(w, false);
}

void bb_jw_key(bb_jw_t *w, const char *key)
{
    if (w->err)
        return;
    if (w->depth == 0 || !w->stack[w->depth - 1].object || !w->stack[w->depth - 1].key_due ||
        !key) {
        w->err = BB_ESTATE;
        return;
    }
    s_frame_t *f = &w->stack[w->depth - 1];
    if (f->any)
        s_put(w, ",", 1);
    f->any = true;
    f->key_due = false;
    s_newline(w);
    s_escaped(w, key);
    s_puts(w, w->pretty ? ": " : ":");
}

static void s_scalar(bb_jw_t *w, const char *text)
{
    if (!s_before_value(w))
        return;
    s_puts(w, text);
    s_after_value(w);
}

void bb_jw_string(bb_jw_t *w, const char *s)
{
    if (!s) {
        bb_jw_null(w);
        return;
    }
    if (!s_before_value(w))
        return;
    s_escaped(w, s);
    s_after_value(w);
}

void bb_jw_int(bb_jw_t *w, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    s_scalar(w, b);
}

void bb_jw_uint(bb_jw_t *w, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    s_scalar(w, b);
}

void bb_jw_double(bb_jw_t *w, double v)
{
    if (!isfinite(v)) {
        s_scalar(w, "null");
        return;
    }
    char b[40];
    /* Shortest of %.15g / %.17g that reads back exactly. */
    snprintf(b, sizeof b, "%.15g", v);
    if (strtod(b, NULL) != v)
        snprintf(b, sizeof b, "%.17g", v);
    s_scalar(w, b);
}

void bb_jw_bool(bb_jw_t *w, bool v)
{
    s_scalar(w, v ? "true" : "false");
}
void bb_jw_null(bb_jw_t *w)
{
    s_scalar(w, "null");
}

void bb_jw_kv_string(bb_jw_t *w, const char *key, const char *s)
{
    bb_jw_key(w, key);
    bb_jw_string(w, s);
}
void bb_jw_kv_int(bb_jw_t *w, const char *key, int64_t v)
{
    bb_jw_key(w, key);
    bb_jw_int(w, v);
}
void bb_jw_kv_uint(bb_jw_t *w, const char *key, uint64_t v)
{
    bb_jw_key(w, key);
    bb_jw_uint(w, v);
}
void bb_jw_kv_double(bb_jw_t *w, const char *key, double v)
{
    bb_jw_key(w, key);
    bb_jw_double(w, v);
}
void bb_jw_kv_bool(bb_jw_t *w, const char *key, bool v)
{
    bb_jw_key(w, key);
    bb_jw_bool(w, v);
}

const char *bb_jw_text(const bb_jw_t *w, size_t *len)
{
    if (len)
        *len = w->len;
    return w->buf;
}

int bb_jw_error(const bb_jw_t *w)
{
    if (w->err)
        return w->err;
    if (w->depth != 0)
        return BB_ESTATE;
    return 0;
}

/* ================================ reader ================================ */

struct bb_json_t {
    bb_json_type_t type;
    bool b;
    double num;
    bool is_int;
    int64_t i;
    char *str; /* string value */
    size_t str_len;
    size_t n;         /* children */
    bb_json_t *items; /* array elements / member values */
    char **keys;      /* object member keys */
};

typedef struct {
    const char *p, *end, *start;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
    bool nomem;
} s_parser_t;

static void s_fail(s_parser_t *ps, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = true;
    if (!ps->err || !ps->errlen)
        return;
    int line = 1, col = 1;
    for (const char *q = ps->start; q < ps->p && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    int n = snprintf(ps->err, ps->errlen, "line %d, column %d: ", line, col);
    if (n < 0 || (size_t)n >= ps->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static void s_nomem(s_parser_t *ps)
{
    ps->nomem = true;
    s_fail(ps, "out of memory");
}

static void s_ws(s_parser_t *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static void s_free_value(bb_json_t *v)
{
    if (!v)
        return;
    free(v->str);
    for (size_t i = 0; i < v->n; i++) {
        s_free_value(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

static bool s_value(s_parser_t *ps, bb_json_t *out);

static int s_hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static size_t s_utf8_put(char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 when invalid. */
static size_t s_utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static bool s_string(s_parser_t *ps, char **out, size_t *out_len)
{
    ps->p++; /* opening quote */
    /* The decoded string is never longer than the encoded one. */
    const char *q = ps->p;
    while (q < ps->end && *q != '"') {
        if (*q == '\\' && q + 1 < ps->end)
            q++;
        q++;
    }
    if (q >= ps->end) {
        s_fail(ps, "unterminated string");
        return false;
    }
    char *buf = malloc((size_t)(q - ps->p) + 1);
    if (!buf) {
        s_nomem(ps);
        return false;
    }
    size_t n = 0;
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p;
        if (c < 0x20) {
            s_fail(ps, "control character in string");
            goto fail;
        }
        if (c != '\\') {
            size_t l = s_utf8_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);
            if (!l) {
                s_fail(ps, "invalid UTF-8 in string");
                goto fail;
            }
            memcpy(buf + n, ps->p, l);
            n += l;
            ps->p += l;
            continue;
        }
        ps->p++;
        char e = *ps->p++;
        switch (e) {
        case '"':
            buf[n++] = '"';
            break;
        case '\\':
            buf[n++] = '\\';
            break;
        case '/':
            buf[n++] = '/';
            break;
        case 'b':
            buf[n++] = '\b';
            break;
        case 'f':
            buf[n++] = '\f';
            break;
        case 'n':
            buf[n++] = '\n';
            break;
        case 'r':
            buf[n++] = '\r';
            break;
        case 't':
            buf[n++] = '\t';
            break;
        case 'u': {
            if (ps->end - ps->p < 4 || s_hex4(ps->p) < 0) {
                s_fail(ps, "bad \\u escape");
                goto fail;
            }
            uint32_t cp = (uint32_t)s_hex4(ps->p);
            ps->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                    s_hex4(ps->p + 2) < 0xDC00 || s_hex4(ps->p + 2) > 0xDFFF) {
                    s_fail(ps, "unpaired surrogate in \\u escape");
                    goto fail;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)s_hex4(ps->p + 2) - 0xDC00);
                ps->p += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                s_fail(ps, "unpaired surrogate in \\u escape");
                goto fail;
            }
            /* "\uXXXX" is 6 bytes and encodes to at most 3; a pair is 12 for 4. */
            n += s_utf8_put(buf + n, cp);
            break;
        }
        default:
            ps->p--;
            s_fail(ps, "bad escape '\\%c'", e);
            goto fail;
        }
    }
    ps->p++; /* closing quote */
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return true;
fail:
    free(buf);
    return false;
}

static bool s_number(s_parser_t *ps, bb_json_t *out)
{
    const char *s = ps->p;
    const char *q = s;
    bool integral = true;
    if (q < ps->end && *q == '-')
        q++;
    if (q >= ps->end || !(*q >= '0' && *q <= '9')) {
        s_fail(ps, "bad number");
        return false;
    }
    if (*q == '0') {
        q++;
    } else {
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < ps->end && *q == '.') {
        integral = false;
        q++;
        if (q >= ps->end || !(*q >= '0' && *q <= '9')) {
            ps->p = q;
            s_fail(ps, "bad number: digits expected after '.'");
            return false;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integral = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || !(*q >= '0' && *q <= '9')) {
            ps->p = q;
            s_fail(ps, "bad number: digits expected in exponent");
            return false;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    }
    char tmp[64];
    size_t n = (size_t)(q - s);
    char *copy = n < sizeof tmp ? tmp : malloc(n + 1);
    if (!copy) {
        s_nomem(ps);
        return false;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    out->type = BB_JSON_NUMBER;
    out->num = strtod(copy, NULL);
    if (integral) {
        errno = 0;
        long long ll = strtoll(copy, NULL, 10);
        if (errno == 0) {
            out->is_int = true;
            out->i = ll;
        }
    } else if (out->num == floor(out->num) && fabs(out->num) < 9.0e15) {
        out->is_int = true;
        out->i = (int64_t)out->num;
    }
    if (copy != tmp)
        free(copy);
    ps->p = q;
    return true;
}

static bool s_literal(s_parser_t *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        s_fail(ps, "unexpected character '%c'", *ps->p);
        return false;
    }
    ps->p += n;
    return true;
}

static bool s_grow(s_parser_t *ps, bb_json_t *v, size_t *cap, bool keys)
{
    if (v->n < *cap)
        return true;
    size_t nc = *cap ? *cap * 2 : 4;
    bb_json_t *items = realloc(v->items, nc * sizeof *items);
    if (!items) {
        s_nomem(ps);
        return false;
    }
    v->items = items;
    if (keys) {
        char **k = realloc(v->keys, nc * sizeof *k);
        if (!k) {
            s_nomem(ps);
            return false;
        }
        v->keys = k;
    }
    *cap = nc;
    return true;
}

static bool s_container(s_parser_t *ps, bb_json_t *out, bool object)
{
    if (++ps->depth > BB_JSON_MAX_DEPTH) {
        s_fail(ps, "nested more than %d levels deep", BB_JSON_MAX_DEPTH);
        return false;
    }
    out->type = object ? BB_JSON_OBJECT : BB_JSON_ARRAY;
    const char close = object ? '}' : ']';
    size_t cap = 0;
    ps->p++;
    s_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return true;
    }
    for (;;) {
        if (!s_grow(ps, out, &cap, object))
            return false;
        char *key = NULL;
        if (object) {
            s_ws(ps);
            if (ps->p >= ps->end || *ps->p != '"') {
                s_fail(ps, ps->p >= ps->end ? "unexpected end of input: expected a key"
                                            : "expected a string key");
                return false;
            }
            size_t klen;
            if (!s_string(ps, &key, &klen))
                return false;
            s_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                s_fail(ps, "expected ':' after key");
                return false;
            }
            ps->p++;
        }
        bb_json_t *item = &out->items[out->n];
        memset(item, 0, sizeof *item);
        if (object)
            out->keys[out->n] = key;
        out->n++;
        if (!s_value(ps, item))
            return false;
        s_ws(ps);
        if (ps->p >= ps->end) {
            s_fail(ps, "unexpected end of input: expected ',' or '%c'", close);
            return false;
        }
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            break;
        }
        s_fail(ps, "expected ',' or '%c'", close);
        return false;
    }
    ps->depth--;
    return true;
}

static bool s_value(s_parser_t *ps, bb_json_t *out)
{
    s_ws(ps);
    if (ps->p >= ps->end) {
        s_fail(ps, "unexpected end of input: expected a value");
        return false;
    }
    switch (*ps->p) {
    case '{':
        return s_container(ps, out, true);
    case '[':
        return s_container(ps, out, false);
    case '"':
        out->type = BB_JSON_STRING;
        return s_string(ps, &out->str, &out->str_len);
    case 't':
        out->type = BB_JSON_BOOL;
        out->b = true;
        return s_literal(ps, "true");
    case 'f':
        out->type = BB_JSON_BOOL;
        return s_literal(ps, "false");
    case 'n':
        out->type = BB_JSON_NULL;
        return s_literal(ps, "null");
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return s_number(ps, out);
        if ((unsigned char)*ps->p >= 0x20 && (unsigned char)*ps->p < 0x7F)
            s_fail(ps, "unexpected character '%c'", *ps->p);
        else
            s_fail(ps, "unexpected byte 0x%02x", (unsigned char)*ps->p);
        return false;
    }
}

int bb_json_parse(const char *text, size_t len, bb_json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    bb_json_t *root = calloc(1, sizeof *root);
    if (!root)
        return BB_ENOMEM;
    s_parser_t ps = {.p = text, .end = text + len, .start = text, .err = err, .errlen = errlen};
    if (!text) {
        ps.p = ps.end = ps.start = "";
    }
    bool ok = s_value(&ps, root);
    if (ok) {
        s_ws(&ps);
        if (ps.p != ps.end) {
            s_fail(&ps, "unexpected data after the JSON value");
            ok = false;
        }
    }
    if (!ok) {
        s_free_value(root);
        free(root);
        return ps.nomem ? BB_ENOMEM : BB_EINVAL;
    }
    *out = root;
    return 0;
}

void bb_json_free(bb_json_t **doc)
{
    if (!doc || !*doc)
        return;
    s_free_value(*doc);
    free(*doc);
    *doc = NULL;
}

bb_json_type_t bb_json_type(const bb_json_t *v)
{
    return v ? v->type : BB_JSON_NULL;
}

const bb_json_t *bb_json_get(const bb_json_t *obj, const char *key)
{
    if (!obj || obj->type != BB_JSON_OBJECT || !key)
        return NULL;
    for (size_t i = obj->n; i-- > 0;)
        if (strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

size_t bb_json_len(const bb_json_t *v)
{
    return v && (v->type == BB_JSON_ARRAY || v->type == BB_JSON_OBJECT) ? v->n : 0;
}

const bb_json_t *bb_json_at(const bb_json_t *v, size_t i)
{
    return i < bb_json_len(v) ? &v->items[i] : NULL;
}

const char *bb_json_key_at(const bb_json_t *v, size_t i)
{
    return v && v->type == BB_JSON_OBJECT && i < v->n ? v->keys[i] : NULL;
}

double bb_json_number(const bb_json_t *v)
{
    return v && v->type == BB_JSON_NUMBER ? v->num : 0.0;
}

const char *bb_json_string(const bb_json_t *v)
{
    return v && v->type == BB_JSON_STRING ? v->str : NULL;
}

size_t bb_json_string_len(const bb_json_t *v)
{
    return v && v->type == BB_JSON_STRING ? v->str_len : 0;
}

bool bb_json_bool(const bb_json_t *v)
{
    return v && v->type == BB_JSON_BOOL && v->b;
}

int bb_json_get_int(const bb_json_t *obj, const char *key, int64_t *out)
{
    const bb_json_t *v = bb_json_get(obj, key);
    if (!v)
        return BB_ENOTFOUND;
    if (v->type != BB_JSON_NUMBER || !v->is_int)
        return BB_EINVAL;
    *out = v->i;
    return 0;
}

int bb_json_get_number(const bb_json_t *obj, const char *key, double *out)
{
    const bb_json_t *v = bb_json_get(obj, key);
    if (!v)
        return BB_ENOTFOUND;
    if (v->type != BB_JSON_NUMBER)
        return BB_EINVAL;
    *out = v->num;
    return 0;
}

int bb_json_get_string(const bb_json_t *obj, const char *key, const char **out)
{
    const bb_json_t *v = bb_json_get(obj, key);
    if (!v)
        return BB_ENOTFOUND;
    if (v->type != BB_JSON_STRING)
        return BB_EINVAL;
    *out = v->str;
    return 0;
}

int bb_json_get_bool(const bb_json_t *obj, const char *key, bool *out)
{
    const bb_json_t *v = bb_json_get(obj, key);
    if (!v)
        return BB_ENOTFOUND;
    if (v->type != BB_JSON_BOOL)
        return BB_EINVAL;
    *out = v->b;
    return 0;
}
