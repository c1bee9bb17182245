/*
 * bb_take_id.c — the take-id check of bb_take_id.h: length, leading dot, "..", then one
 * pass over the characters against the allowed set.
 */
#include "bb_take_id.h"

#include <string.h>

bool bb_take_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > BB_TAKE_ID_MAX || id[0] == '.' || strstr(id, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}
