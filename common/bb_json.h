/*
 * bb_json.h — the few things Batcherbird needs around jansson (Debian libjansson-dev)
 * that jansson does not say in one call: a parse error as "line L, column C: what",
 * a real that is JSON null when not finite (json_real() refuses NaN/inf), a document
 * written to a file atomically, and whole-number lookups that accept 60.0 as 60 (the
 * old sidecars and hand-edited ones may hold integral reals).
 *
 * Everything else is jansson's own API: json_pack()/json_unpack() for struct <-> JSON,
 * json_object_get() and friends for loose reading. Reference counts follow jansson's
 * rules: "o" in json_pack steals the reference, json_object_get() borrows.
 */
#ifndef BB_JSON_H
#define BB_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Dump flags. Records read back by a program keep full precision (%.17g, exact round
 * trip); files a person reads (the manifest) carry values already rounded to what a
 * person reads, which 15 significant digits print without noise (0.1, not
 * 0.10000000000000001). Keys keep insertion order (jansson >= 2.8). */
#define BB_JSON_COMPACT_EXACT (JSON_COMPACT)
#define BB_JSON_PRETTY_EXACT  (JSON_INDENT(2))
#define BB_JSON_PRETTY_READ   (JSON_INDENT(2) | JSON_REAL_PRECISION(15))
#define BB_JSON_COMPACT_READ  (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* Parses text[0..len) into *out (a new reference; NULL on failure). Returns 0, BB_EINVAL
 * for malformed JSON (err: "line 3, column 7: unexpected token near ','"), or BB_ENOMEM.
 * err may be NULL. */
int bb_json_load(json_t **out, const char *text, size_t len, char *err, size_t errlen);

/* A new JSON number for v, or JSON null when v is NaN or infinite (never NULL unless out
 * of memory, which json_pack then reports as a failed pack). */
json_t *bb_json_real(double v);

/* Serialises doc with flags and writes it to path atomically (bb_write_file_atomic).
 * 0, BB_ENOMEM, or bb_write_file_atomic's error. */
int bb_json_write_file(const char *path, const json_t *doc, size_t flags);

/* Serialised text (malloc'd, caller frees), NULL when out of memory. */
char *bb_json_text(const json_t *doc, size_t flags);

/* obj[key] as a whole number: 0; BB_ENOTFOUND when obj is not an object or the key is
 * absent; BB_EINVAL when the value is not a number, not integral, or outside int64. */
int bb_json_get_int(const json_t *obj, const char *key, int64_t *out);

/* obj[key] as a number (integer or real): 0, BB_ENOTFOUND, or BB_EINVAL. */
int bb_json_get_number(const json_t *obj, const char *key, double *out);

/* obj[key] as a string (borrowed from obj): 0, BB_ENOTFOUND, or BB_EINVAL. */
int bb_json_get_string(const json_t *obj, const char *key, const char **out);

/* obj[key] as a bool: 0, BB_ENOTFOUND, or BB_EINVAL. */
int bb_json_get_bool(const json_t *obj, const char *key, bool *out);

#endif
