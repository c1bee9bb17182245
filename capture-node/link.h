/*
 * link.h — the capture node's link to the coordinator, a CZMQ actor.
 *
 * It owns the node's DEALER connection: registers (again after the coordinator comes
 * back), sends heartbeats, serves the coordinator's calls (bb.Capture: StartTake, Abort)
 * by handing jobs to the recorder, and streams every spooled take: TakeBegin, numbered
 * TakeChunks with at most `credit` in flight, TakeEnd; the spool files are removed only
 * when TakeEnd is acknowledged, which the coordinator does after fsync and commit. A
 * stream that fails for any reason restarts from TakeBegin with backoff; a take the
 * coordinator already has is recognised there by its id.
 *
 * The recorder tells the link about finished takes on an inproc PUSH/PULL pair:
 * ["TAKE", id, ""] or ["FAILED", id, reason].
 */
#ifndef NODE_LINK_H
#define NODE_LINK_H

#include <czmq.h>

#include "node.pb-c.h"
#include "meter.h"
#include "recorder.h"
#include "spool.h"

typedef struct {
    const char *coordinator; /* endpoint to connect to */
    zcert_t *cert;           /* CURVE: this node's certificate (borrowed); NULL = plaintext */
    const char *server_key;  /* CURVE: the coordinator's public key */
    const char *name;
    const char *session;
    const char *notify_endpoint; /* inproc endpoint to bind for the recorder's messages */
    node_recorder_t *recorder;
    node_midi_sched_t *midi;
    node_spool_t *spool;
    const Bb__Capabilities *caps;
    uint32_t sample_rate, channels;
    int heartbeat_ms;
    /* device state, read at each heartbeat */
    int (*device_state)(void *arg, char *message, size_t len); /* Bb__NodeState */
    void *device_state_arg;
    node_meter_t *meter;     /* input levels sent with each heartbeat; may be NULL */
    double spool_reserve_mb; /* a job is refused when its take would leave less free */
} node_link_config_t;

/* Starts the actor; it is connected and serving when this returns. NULL on failure.
 * The config and everything it points to must outlive the actor. Stop it with
 * zactor_destroy(). */
zactor_t *node_link_new(const node_link_config_t *cfg);

#endif
