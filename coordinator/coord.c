/*
 * coord.c — the coordinator object and its main loop.
 *
 * Start-up order matters for crash safety: open the database, put every job that was out
 * on a node back to pending (its take, if it was recorded, will still be accepted when
 * the node resends it), reload known nodes as offline, restart exports that were under
 * way, and only then bind the sockets.
 */
#include "coord.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_log.h"

#define COORD_TICK_MS 100

const Bb__BatchSpec *coord_spec(coord_t *self, uint64_t batch_id)
{
    for (coord_spec_cache_t *c = self->specs; c; c = c->next)
        if (c->batch_id == batch_id)
            return c->spec;
    coord_batch_row_t row;
    if (coord_store_batch_get(self->store, batch_id, &row))
        return NULL;
    Bb__BatchSpec *spec = bb__batch_spec__unpack(NULL, row.spec_len, row.spec);
    coord_batch_row_free(&row);
    if (!spec)
        return NULL;
    coord_spec_cache_t *c = calloc(1, sizeof *c);
    if (!c) {
        bb__batch_spec__free_unpacked(spec, NULL);
        return NULL;
    }
    c->batch_id = batch_id;
    c->spec = spec;
    c->next = self->specs;
    self->specs = c;
    return spec;
}

void coord_spec_forget(coord_t *self, uint64_t batch_id)
{
    for (coord_spec_cache_t **p = &self->specs; *p; p = &(*p)->next) {
        if ((*p)->batch_id == batch_id) {
            coord_spec_cache_t *c = *p;
            *p = c->next;
            bb__batch_spec__free_unpacked(c->spec, NULL);
            free(c);
            return;
        }
    }
}

void coord_event(coord_t *self, uint64_t batch, Bb__EventKind kind, const char *instrument,
                 const char *take_id, const char *node, const char *fmt, ...)
{
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    bool noisy = kind == BB__EVENT_KIND__EV_TAKE_STARTED || kind == BB__EVENT_KIND__EV_TAKE_STORED;
    if (noisy)
        bb_debug("%s", text);
    else
        bb_info("%s", text);
    if (kind != BB__EVENT_KIND__EV_TAKE_STARTED)
        coord_store_event(self->store, batch, kind, instrument, take_id, text);
    Bb__Event ev = BB__EVENT__INIT;
    ev.time_unix = bb_unix_s();
    ev.kind = kind;
    ev.batch_id = batch;
    ev.instrument = (char *)(instrument ? instrument : "");
    ev.take_id = (char *)(take_id ? take_id : "");
    ev.node = (char *)(node ? node : "");
    ev.message = text;
    size_t len = bb__event__get_packed_size(&ev);
    zframe_t *body = zframe_new(NULL, len);
    if (!body)
        return;
    bb__event__pack(&ev, zframe_data(body));
    char topic[64];
    if (batch)
        snprintf(topic, sizeof topic, "batch.%llu", (unsigned long long)batch);
    else
        snprintf(topic, sizeof topic, "node.%s", node ? node : "");
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, topic);
    zmsg_append(msg, &body);
    zmsg_send(&msg, self->pub); /* PUB never blocks; slow subscribers drop */
}

coord_t *coord_new(const coord_config_t *cfg, char *err, size_t errlen)
{
    coord_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    if (self->cfg.heartbeat_ms <= 0)
        self->cfg.heartbeat_ms = 1000;
    if (self->cfg.offline_after_ms <= 0)
        self->cfg.offline_after_ms = self->cfg.heartbeat_ms * 7 / 2;
    snprintf(self->state_dir, sizeof self->state_dir, "%s", cfg->state_dir);
    snprintf(self->takes_dir, sizeof self->takes_dir, "%s/takes", cfg->state_dir);
    snprintf(self->db_path, sizeof self->db_path, "%s/batcherbird.db", cfg->state_dir);
    int rc = bb_mkdir_p(self->takes_dir);
    if (rc) {
        snprintf(err, errlen, "cannot create the state folder %s: %s", self->takes_dir,
                 bb_strerror(rc));
        goto fail;
    }
    self->store = coord_store_open(self->db_path, err, errlen);
    if (!self->store)
        goto fail;
    int requeued = 0;
    coord_store_jobs_requeue_all(self->store, &requeued);
    if (requeued)
        bb_info("%d take(s) that were out on nodes will run again (or arrive from a spool)",
                requeued);
    self->registry = coord_registry_new();
    self->ingest = coord_ingest_new(self->takes_dir);
    if (!self->registry || !self->ingest) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    char **names;
    size_t n;
    if (coord_store_node_names(self->store, &names, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            coord_registry_get(self->registry, names[i]);
            free(names[i]);
        }
        free(names);
    }
    zuuid_t *uuid = zuuid_new();
    snprintf(self->session, sizeof self->session, "%s", zuuid_str_canonical(uuid));
    zuuid_destroy(&uuid);

    coord_nodelink_init(self);
    coord_operator_init(self);
    self->nodes_rpc = bb_rpc_new_router(cfg->node_endpoint, NULL, err, errlen);
    if (!self->nodes_rpc)
        goto fail;
    self->ops_rpc = bb_rpc_new_router(cfg->operator_endpoint, NULL, err, errlen);
    if (!self->ops_rpc)
        goto fail;
    bb_rpc_serve(self->nodes_rpc, &self->nodelink.service.base);
    bb_rpc_serve(self->ops_rpc, &self->operator.service.base);
    self->pub = zsock_new(ZMQ_PUB);
    if (!self->pub || zsock_bind(self->pub, "%s", cfg->event_endpoint) < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", cfg->event_endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    self->worker = coord_worker_new(self->db_path);
    if (!self->worker) {
        snprintf(err, errlen, "cannot start the export worker");
        goto fail;
    }

    /* Exports interrupted by a stop run again. */
    uint64_t *ids;
    size_t nb;
    if (coord_store_batch_ids(self->store, true, &ids, &nb) == 0) {
        for (size_t b = 0; b < nb; b++) {
            int n_inst = 0;
            coord_store_inst_count(self->store, ids[b], &n_inst);
            for (int i = 0; i < n_inst; i++) {
                coord_inst_row_t row;
                if (coord_store_inst_get(self->store, ids[b], i, &row) == 0 &&
                    row.state == BB__INSTRUMENT_STATE__INST_EXPORTING)
                    coord_worker_export(self->worker, ids[b], i);
            }
        }
        free(ids);
    }
    self->schedule_soon = true;
    return self;
fail:
    coord_destroy(&self);
    return NULL;
}

void coord_destroy(coord_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_t *self = *self_p;
    zactor_destroy(&self->worker);
    bb_rpc_destroy(&self->nodes_rpc);
    bb_rpc_destroy(&self->ops_rpc);
    zsock_destroy(&self->pub);
    coord_ingest_destroy(&self->ingest);
    coord_registry_destroy(&self->registry);
    while (self->specs)
        coord_spec_forget(self, self->specs->batch_id);
    while (self->setups) {
        coord_setup_sent_t *s = self->setups;
        self->setups = s->next;
        free(s);
    }
    coord_store_close(&self->store);
    free(self);
    *self_p = NULL;
}

int coord_run(coord_t *self)
{
    zpoller_t *poller = zpoller_new(bb_rpc_sock(self->nodes_rpc), bb_rpc_sock(self->ops_rpc),
                                    zactor_sock(self->worker), NULL);
    int64_t next_tick = 0;
    while (!zsys_interrupted) {
        int64_t now = bb_mono_ns() / BB_NS_PER_MS;
        int timeout = next_tick > now ? (int)(next_tick - now) : 0;
        int t = bb_rpc_next_timeout_ms(self->nodes_rpc);
        if (t >= 0 && t < timeout)
            timeout = t;
        if (self->schedule_soon)
            timeout = 0;
        void *which = zpoller_wait(poller, timeout);
        if (zpoller_terminated(poller))
            break;
        if (which == zactor_sock(self->worker))
            coord_worker_answer(self);
        bb_rpc_pump(self->nodes_rpc);
        bb_rpc_pump(self->ops_rpc);
        now = bb_mono_ns() / BB_NS_PER_MS;
        if (now >= next_tick) {
            coord_check_liveness(self);
            next_tick = now + COORD_TICK_MS;
            self->schedule_soon = true;
        }
        if (self->schedule_soon)
            coord_schedule(self);
    }
    zpoller_destroy(&poller);
    return 0;
}
