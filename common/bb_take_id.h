/*
 * bb_take_id.h — the one check of a take id, made by the node before it spools a take
 * and by the coordinator before it writes one.
 *
 * A take id names files on both machines (spool files on the node, raw takes on the
 * coordinator), so it must be a plain file name: 1..BB_TAKE_ID_MAX characters of
 * [A-Za-z0-9._-], not starting with '.', never containing "..".
 */
#ifndef BB_TAKE_ID_H
#define BB_TAKE_ID_H

#include <stdbool.h>

#define BB_TAKE_ID_MAX 96 /* characters, without the NUL */

/* True if `id` is an acceptable take id (see above); false for NULL. */
bool bb_take_id_ok(const char *id);

#endif
