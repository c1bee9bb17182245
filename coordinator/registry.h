/*
 * registry.h — the coordinator's in-memory view of capture nodes: who is connected, over
 * which ZeroMQ routing id, with what capabilities, and when each was last heard from.
 * Node names persist in the database; liveness is only ever in memory.
 */
#ifndef COORD_REGISTRY_H
#define COORD_REGISTRY_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "node.pb-c.h"

typedef struct {
    char name[64];
    char session[64];
    zframe_t *peer; /* routing id on the node endpoint */
    bool online;
    int64_t last_seen_ms;   /* monotonic */
    Bb__Capabilities *caps; /* owned */
    uint32_t sample_rate, channels;
    int state; /* Bb__NodeState */
    char message[256];
    uint32_t spooled, queued;
    uint64_t xruns;
    double latency_offset_ms;
    /* Gap between consecutive takes (see NodeInfo.take_overhead_ms): running mean. */
    double take_overhead_ms;
    uint32_t take_overhead_samples;
    int64_t last_take_start, last_take_end; /* stream frames of the previous take */
    uint64_t last_take_batch;               /* and its instrument */
    int last_take_inst;
    bool last_take_capped;       /* its release was cut while it sounded */
    uint32_t refusals;           /* second sessions refused under this name */
    int dispatch_backoff_ms;     /* after a refused StartTake: 0, 500, 1000 ... 10000 */
    int64_t dispatch_hold_until; /* monotonic ms: no take dispatched before */
    uint32_t dispatch_refusals;  /* StartTake refused, in all */
    char refusal[256];           /* why it refused the last take (shown while held back) */
    int take_failures;           /* takes in a row it could not record (TakeFailed) */
} coord_node_t;

typedef struct coord_registry_t coord_registry_t;

coord_registry_t *coord_registry_new(void);
void coord_registry_destroy(coord_registry_t **self_p);
coord_node_t *coord_registry_find(coord_registry_t *self, const char *name);
/* Finds or adds a node by name. */
coord_node_t *coord_registry_get(coord_registry_t *self, const char *name);
size_t coord_registry_size(coord_registry_t *self);
/* Removes and frees a node; 0, or BB_ENOTFOUND. */
int coord_registry_remove(coord_registry_t *self, const char *name);
coord_node_t *coord_registry_at(coord_registry_t *self, size_t i);
/* Replaces the node's routing id and capabilities (copied). */
void coord_registry_set_peer(coord_node_t *node, zframe_t *peer);
void coord_registry_set_caps(coord_node_t *node, const Bb__Capabilities *caps);

#endif
