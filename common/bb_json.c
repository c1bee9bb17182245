/*
 * bb_json.c — helpers around jansson; see bb_json.h. Parsing, escaping, UTF-8 checks
 * and number formatting are jansson's.
 */
#include "bb_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_fs.h"

/* json_int_t is long long here, so every int64 fits; a real is a whole number only
 * below this, where doubles are still exact integers. */
#define S_INT_EXACT_LIMIT 9.0e15

int bb_json_load(json_t **out, const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    *out = json_loadb(text, len, 0, &je);
    if (*out)
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "line %d, column %d: %s", je.line, je.column, je.text);
    return json_error_code(&je) == json_error_out_of_memory ? BB_ENOMEM : BB_EINVAL;
}

json_t *bb_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

char *bb_json_text(const json_t *doc, size_t flags)
{
    return json_dumps(doc, flags);
}

int bb_json_write_file(const char *path, const json_t *doc, size_t flags)
{
    char *text = json_dumps(doc, flags);
    if (!text)
        return BB_ENOMEM;
    int rc = bb_write_file_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

int bb_json_get_int(const json_t *obj, const char *key, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return BB_ENOTFOUND;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || fabs(d) > S_INT_EXACT_LIMIT)
            return BB_EINVAL;
        *out = (int64_t)d;
        return 0;
    }
    return BB_EINVAL;
}

int bb_json_get_number(const json_t *obj, const char *key, double *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return BB_ENOTFOUND;
    if (!json_is_number(v))
        return BB_EINVAL;
    *out = json_number_value(v);
    return 0;
}

int bb_json_get_string(const json_t *obj, const char *key, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return BB_ENOTFOUND;
    if (!json_is_string(v))
        return BB_EINVAL;
    *out = json_string_value(v);
    return 0;
}

int bb_json_get_bool(const json_t *obj, const char *key, bool *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return BB_ENOTFOUND;
    if (!json_is_boolean(v))
        return BB_EINVAL;
    *out = json_is_true(v);
    return 0;
}
