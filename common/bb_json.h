/*
 * bb_json.h — a small JSON writer and reader for sidecars, manifests and analysis
 * records. Strict RFC 8259 parsing (no comments, no trailing commas), UTF-8 validated,
 * depth-limited; numbers are kept as doubles plus, when integral, exact int64.
 */
#ifndef BB_JSON_H
#define BB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- writer ---- */

typedef struct bb_jw_t bb_jw_t;

/* pretty: two-space indentation and newlines; otherwise compact. NULL when out of memory. */
bb_jw_t *bb_jw_new(bool pretty);
void bb_jw_destroy(bb_jw_t **w);

void bb_jw_object_begin(bb_jw_t *w);
void bb_jw_object_end(bb_jw_t *w);
void bb_jw_array_begin(bb_jw_t *w);
void bb_jw_array_end(bb_jw_t *w);
void bb_jw_key(bb_jw_t *w, const char *key);
void bb_jw_string(bb_jw_t *w, const char *s); /* NULL writes null */
void bb_jw_int(bb_jw_t *w, int64_t v);
void bb_jw_uint(bb_jw_t *w, uint64_t v);
void bb_jw_double(bb_jw_t *w, double v); /* non-finite values write null */
void bb_jw_bool(bb_jw_t *w, bool v);
void bb_jw_null(bb_jw_t *w);

void bb_jw_kv_string(bb_jw_t *w, const char *key, const char *s);
void bb_jw_kv_int(bb_jw_t *w, const char *key, int64_t v);
void bb_jw_kv_uint(bb_jw_t *w, const char *key, uint64_t v);
void bb_jw_kv_double(bb_jw_t *w, const char *key, double v);
void bb_jw_kv_bool(bb_jw_t *w, const char *key, bool v);

/* The text so far (NUL-terminated, owned by w); len may be NULL. */
const char *bb_jw_text(const bb_jw_t *w, size_t *len);
/* 0, or the first error: BB_ENOMEM, or BB_ESTATE for misuse (value where a key is due,
 * unbalanced end, text requested with containers open). */
int bb_jw_error(const bb_jw_t *w);

/* ---- reader ---- */

typedef enum {
    BB_JSON_NULL = 0,
    BB_JSON_BOOL,
    BB_JSON_NUMBER,
    BB_JSON_STRING,
    BB_JSON_ARRAY,
    BB_JSON_OBJECT
} bb_json_type_t;

typedef struct bb_json_t bb_json_t;

/* Parses text[0..len). On failure returns BB_EINVAL (or BB_ENOMEM) and, when err is
 * given, a message with line and column ("line 3, column 7: expected ':'"). */
int bb_json_parse(const char *text, size_t len, bb_json_t **out, char *err, size_t errlen);
void bb_json_free(bb_json_t **doc);

bb_json_type_t bb_json_type(const bb_json_t *v);
/* Object member by key (last one wins for duplicates); NULL if absent or not an object. */
const bb_json_t *bb_json_get(const bb_json_t *obj, const char *key);
/* Number of elements of an array or members of an object; 0 otherwise. */
size_t bb_json_len(const bb_json_t *v);
/* Array element or object member value by index; NULL when out of range. */
const bb_json_t *bb_json_at(const bb_json_t *v, size_t i);
/* Object member key by index; NULL when out of range or not an object. */
const char *bb_json_key_at(const bb_json_t *v, size_t i);

double bb_json_number(const bb_json_t *v);      /* 0 when not a number */
const char *bb_json_string(const bb_json_t *v); /* NULL when not a string */
size_t bb_json_string_len(const bb_json_t *v);  /* strings may contain \u0000 */
bool bb_json_bool(const bb_json_t *v);          /* false when not a bool */

/* Typed member lookups: 0, BB_ENOTFOUND when the key is absent, BB_EINVAL when the value
 * has the wrong type (get_int: not a number, not integral, or outside int64). */
int bb_json_get_int(const bb_json_t *obj, const char *key, int64_t *out);
int bb_json_get_number(const bb_json_t *obj, const char *key, double *out);
int bb_json_get_string(const bb_json_t *obj, const char *key, const char **out);
int bb_json_get_bool(const bb_json_t *obj, const char *key, bool *out);

#endif
