/*
 * spool.h — the capture node's local spool: every take is written here first and kept
 * until the coordinator acknowledges it, so nothing recorded is lost when the network,
 * the coordinator or the node itself goes away.
 *
 * A take is two files named by its id: `<id>.raw` (interleaved float32 little-endian
 * frames) and `<id>.hdr` (a packed bb.SpoolHeader: the job, the format, and the TakeEnd
 * facts incl. CRC-32 of the raw bytes). While recording, data goes to `<id>.raw.part`;
 * commit fsyncs it, renames it, then writes the header atomically. A take is complete
 * exactly when its .hdr exists; leftovers without one are removed at startup.
 */
#ifndef NODE_SPOOL_H
#define NODE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "bb_take_id.h"
#include "node.pb-c.h"

typedef struct node_spool_t node_spool_t;
typedef struct node_spool_take_t node_spool_take_t;

/* Opens (creating) the spool directory and removes incomplete leftovers. */
node_spool_t *node_spool_new(const char *dir, char *err, size_t errlen);
void node_spool_destroy(node_spool_t **self_p);
const char *node_spool_dir(const node_spool_t *self);

/* Starts writing take `id` of `channels` channels. NULL on failure (err says why). */
node_spool_take_t *node_spool_take_begin(node_spool_t *self, const char *id, uint32_t channels,
                                         char *err, size_t errlen);
/* Appends frames. Returns 0, BB_ENOSPACE (disk full) or BB_EIO. */
int node_spool_take_write(node_spool_take_t *take, const float *frames, uint32_t n);
/* Frames written so far. */
uint64_t node_spool_take_frames(const node_spool_take_t *take);
/* Makes the take durable: fills hdr->end->frames/crc32/chunks, fsyncs, renames, writes the
 * header. Frees `take` whatever happens; on failure the files are removed. */
int node_spool_take_commit(node_spool_take_t **take, Bb__SpoolHeader *hdr, uint32_t chunk_bytes);
/* Drops a take being written and its file. */
void node_spool_take_abort(node_spool_take_t **take);

/* Complete takes, oldest first: *ids is an array of malloc'd strings (free each, then it). */
int node_spool_list(node_spool_t *self, char ***ids, size_t *n);
int node_spool_load_header(node_spool_t *self, const char *id, Bb__SpoolHeader **hdr);
/* Opens the raw data for reading; *bytes is its size. */
int node_spool_open_data(node_spool_t *self, const char *id, int *fd, uint64_t *bytes);
/* Removes a take (after the coordinator acknowledged it). */
int node_spool_remove(node_spool_t *self, const char *id);
/* Moves a take the coordinator refused for good into <dir>/refused/, where it is kept (not
 * deleted, not sent again). */
int node_spool_set_aside(node_spool_t *self, const char *id);

#endif
