/*
 * ingest.h — receiving takes streamed by nodes.
 *
 * TakeBegin opens `<takes>/b<batch>/<id>.wav.part` (32-bit float WAV); TakeChunks must
 * come in order (a repeated one is acknowledged again, a gap is refused); TakeEnd checks
 * chunk count, frame count and CRC-32, then closes and fsyncs the WAV, renames it, writes
 * the JSON sidecar durably and fsyncs the directory. Only then does the caller commit the
 * take to the database and acknowledge it. Every function returns a bb status code and a
 * message for the node's log.
 */
#ifndef COORD_INGEST_H
#define COORD_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "node.pb-c.h"
#include "take_raw.h"

#define COORD_INGEST_CREDIT   8            /* chunks a node may have in flight */
#define COORD_INGEST_MAX      64           /* takes being received at once */
#define COORD_INGEST_PER_NODE 2            /* of those, from one node (it streams one at a time) */
#define COORD_CHUNK_MAX_BYTES (256 * 1024) /* nodes send 64 KiB */

typedef struct coord_ingest_t coord_ingest_t;

coord_ingest_t *coord_ingest_new(const char *takes_dir);
void coord_ingest_destroy(coord_ingest_t **self_p);

/* The checks of a TakeBegin that need no state: a job and a format, an acceptable take id
 * (bb_take_id_ok), a supported format. BB_STATUS_OK or INVALID_ARGUMENT with msg. */
int coord_ingest_check(const Bb__TakeBeginRequest *req, char *msg, size_t len);
/* Starts receiving a take from `node` (the caller as the coordinator knows it, not what the
 * request says), at most `max_bytes` of audio: a longer stream is refused. Over
 * COORD_INGEST_PER_NODE streams of one node, or COORD_INGEST_MAX in all:
 * RESOURCE_EXHAUSTED. */
int coord_ingest_begin(coord_ingest_t *self, const Bb__TakeBeginRequest *req, const char *node,
                       uint64_t max_bytes, char *msg, size_t len);
int coord_ingest_chunk(coord_ingest_t *self, const Bb__TakeChunkRequest *req, char *msg,
                       size_t len);
/* On OK the take is durable on disk: *meta and wav_path describe it. */
int coord_ingest_end(coord_ingest_t *self, const Bb__TakeEndRequest *req, dsp_raw_meta_t *meta,
                     char *wav_path, size_t path_len, char *msg, size_t len);
/* Forgets a take being received and removes its partial file. */
void coord_ingest_drop(coord_ingest_t *self, const char *take_id);
/* Node streaming take_id, or NULL. */
const char *coord_ingest_node(coord_ingest_t *self, const char *take_id);
/* Takes being received from `node`. */
size_t coord_ingest_count_node(coord_ingest_t *self, const char *node);
/* Drops takes that have been silent for longer than max_idle_ms. */
void coord_ingest_expire(coord_ingest_t *self, int64_t max_idle_ms);

#endif
