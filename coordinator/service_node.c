/*
 * service_node.c — bb.NodeLink, served to capture nodes: registration, heartbeats and
 * take streaming, plus what happens when a take is complete: analysis, the retake
 * decision, and one database transaction that records it before the node is told.
 *
 * Who is calling: with CURVE, the name in the coordinator's copy of the caller's
 * certificate (a request that names another node is PERMISSION_DENIED); in plaintext
 * (loopback and ipc:// only), the name the request carries. A name has one live session
 * at a time: a second process registering under it while the first still answers is
 * refused. Take streaming calls must come over the connection of the node's live session.
 * A take is accepted only for a job that is out on the node sending it, under the take
 * id it was dispatched with, in the format the node registered, and no longer than its
 * plan allows; the job's own row, never the take id's text, says which job it is.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_log.h"
#include "bb_notes.h"
#include "coord.h"
#include "pipeline.h"
#include "qc_config.h"
#include "take_raw.h"

static coord_t *s_coord(Bb__NodeLink_Service *service)
{
    return ((coord_nodelink_svc_t *)service)->coord;
}

static int64_t s_now_ms(void)
{
    return bb_mono_ns() / BB_NS_PER_MS;
}

/* The node a call comes from, or NULL after the call was answered with the reason.
 * `claimed` is the name the request carries (NULL when it carries none). With
 * `on_session`, the call must come over the connection of the node's live session. */
static coord_node_t *s_caller(coord_t *self, void *call, const char *claimed, bool on_session)
{
    const char *cert = bb_rpc_caller_name(call);
    zframe_t *peer = bb_rpc_peer(call);
    coord_node_t *node = NULL;
    if (cert) {
        if (claimed && strcmp(claimed, cert) != 0) {
            bb_rpc_fail(call, BB_STATUS_PERMISSION_DENIED,
                        "this node's certificate is for '%s'; it cannot speak for '%.64s'", cert,
                        claimed);
            return NULL;
        }
        node = coord_registry_find(self->registry, cert);
    } else if (claimed) {
        node = coord_registry_find(self->registry, claimed);
    } else {
        for (size_t i = 0; !node && i < coord_registry_size(self->registry); i++) {
            coord_node_t *n = coord_registry_at(self->registry, i);
            if (n->online && n->peer && peer && zframe_eq(n->peer, peer))
                node = n;
        }
    }
    if (!node || !node->online) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION, "register first");
        return NULL;
    }
    if (on_session && !(node->peer && peer && zframe_eq(node->peer, peer))) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION,
                    "this connection is not node %s's live session (register first)", node->name);
        return NULL;
    }
    node->last_seen_ms = s_now_ms();
    return node;
}

static void s_abort_done(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    if (status != BB_STATUS_OK)
        bb_debug("abort on a node after a restart: %s: %s", bb_status_name(status), message);
}

static void s_register_node(Bb__NodeLink_Service *service, const Bb__RegisterRequest *req,
                            Bb__RegisterReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    if (!*req->name || strlen(req->name) > 63 || !*req->session ||
        strlen(req->session) >= sizeof((coord_node_t *)0)->session) {
        bb_rpc_fail(call, BB_STATUS_INVALID_ARGUMENT,
                    "a node registers with a name of 1 to 63 characters and a session id");
        return;
    }
    const char *cert = bb_rpc_caller_name(call);
    if (cert && strcmp(cert, req->name) != 0) {
        bb_rpc_fail(call, BB_STATUS_PERMISSION_DENIED,
                    "this node's certificate is for '%s': it registers as '%s' or not at all "
                    "(it asked for '%.64s')",
                    cert, cert, req->name);
        return;
    }
    coord_node_t *node = coord_registry_find(self->registry, req->name);
    if (!node && coord_registry_size(self->registry) >= COORD_MAX_NODES) {
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED,
                    "the coordinator knows %d nodes already: remove unused ones with batcherbird "
                    "nodes forget NAME",
                    COORD_MAX_NODES);
        return;
    }
    if (node && node->online && *node->session && strcmp(node->session, req->session) != 0 &&
        s_now_ms() - node->last_seen_ms < self->cfg.offline_after_ms) {
        /* Two processes under one name (cloned images share a host name, a copied
         * certificate): the one already working keeps it; this one is told why. */
        bb_rpc_fail(call, BB_STATUS_ALREADY_EXISTS,
                    "the name '%s' belongs to a node that is online (heard %.1f s ago): give "
                    "this node a name of its own (--name, or its own certificate); if that "
                    "node has stopped, this one is taken once it counts as offline (%.1f s)",
                    node->name, (s_now_ms() - node->last_seen_ms) / 1000.0,
                    self->cfg.offline_after_ms / 1000.0);
        if (node->refusals++ % 20 == 0)
            bb_warn("refused a second node named %s (another process with the same name); the "
                    "first keeps it",
                    node->name);
        return;
    }
    if (!node)
        node = coord_registry_get(self->registry, req->name);
    if (!node) {
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    bool restarted = *node->session && strcmp(node->session, req->session) != 0;
    /* The first registration this coordinator sees from a node that was already running
     * (it has a session of its own): after a coordinator restart the jobs the node holds
     * were requeued at startup and will be dispatched again under new take ids, so the
     * node must drop them, or it would record them twice. */
    bool unknown_here = !*node->session;
    /* The same holds for a node that comes back after being marked offline: its jobs
     * were requeued then (heartbeats of an offline node are answered "register again"). */
    bool resync = unknown_here || (!node->online && !restarted);
    bool was_online = node->online;
    snprintf(node->session, sizeof node->session, "%s", req->session);
    coord_registry_set_peer(node, bb_rpc_peer(call));
    coord_registry_set_caps(node, req->caps);
    node->sample_rate = req->sample_rate;
    node->channels = req->channels;
    node->online = true;
    node->last_seen_ms = s_now_ms();
    node->state = BB__NODE_STATE__NODE_IDLE;
    node->message[0] = '\0';
    node->spooled = (uint32_t)req->n_spooled_take_ids;

    uint8_t *caps = NULL;
    size_t caps_len = 0;
    if (req->caps) {
        caps_len = bb__capabilities__get_packed_size(req->caps);
        caps = malloc(caps_len ? caps_len : 1);
        if (caps)
            bb__capabilities__pack(req->caps, caps);
    }
    coord_store_node_seen(self->store, node->name, node->session, caps, caps ? caps_len : 0,
                          (int)req->sample_rate, (int)req->channels);
    free(caps);

    if (restarted || resync) {
        /* Jobs it had queued died with it (or are dropped, below), except takes it kept
         * in its spool: those will arrive and must not be dispatched again. */
        int n = 0;
        coord_store_jobs_requeue_node(self->store, node->name, &n);
        for (size_t i = 0; i < req->n_spooled_take_ids; i++) {
            coord_job_row_t job;
            if (coord_store_job_find_by_take(self->store, req->spooled_take_ids[i], &job) == 0 &&
                strcmp(job.node, node->name) == 0)
                coord_store_job_mark_dispatched(self->store, job.id, job.dispatched);
        }
        if (n)
            bb_info("node %s restarted: %d job(s) it had will run again", node->name, n);
        coord_setup_sent_t *s;
        for (s = self->setups; s; s = s->next)
            s->session[0] = '\0'; /* its MIDI setup must be sent again */
    }
    Bb__RegisterReply reply = BB__REGISTER_REPLY__INIT;
    reply.heartbeat_ms = (uint32_t)self->cfg.heartbeat_ms;
    reply.coordinator_session = self->session;
    double ms;
    bool has = false;
    if (coord_store_node_latency(self->store, node->name, &ms, &has) == 0 && has) {
        reply.has_latency_offset = true;
        reply.latency_offset_ms = ms;
        node->latency_offset_ms = ms;
    } else {
        node->latency_offset_ms = req->latency_offset_ms;
    }
    closure(&reply, call);
    if (resync) {
        Bb__AbortRequest abort_req = BB__ABORT_REQUEST__INIT;
        abort_req.batch_id = 0;
        abort_req.reason = unknown_here
                               ? "the coordinator restarted; queued takes will be sent again"
                               : "the node was offline; queued takes will be sent again";
        if (node->peer)
            bb_rpc_call_async(self->nodes_rpc, node->peer, &bb__capture__descriptor, "Abort",
                              &abort_req.base, COORD_CALL_TIMEOUT_MS, s_abort_done, NULL);
    }
    if (!was_online || restarted)
        coord_event(self, 0, BB__EVENT_KIND__EV_NODE_STATE, NULL, NULL, node->name,
                    "node %s is online%s", node->name, restarted ? " (restarted)" : "");
    self->schedule_soon = true;
}

/* Input levels: republished on the event socket under "meter.<node>" for
 * `batcherbird meter`; nothing is stored. */
static void s_meters(Bb__NodeLink_Service *service, const Bb__MetersRequest *req,
                     Bb__MetersReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    Bb__MetersReply reply = BB__METERS_REPLY__INIT;
    coord_node_t *node = s_caller(self, call, req->name, false);
    if (!node)
        return;
    if (strcmp(node->session, req->session) != 0) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION, "register first");
        return;
    }
    closure(&reply, call);
    size_t len = bb__meters_request__get_packed_size(req);
    zframe_t *body = zframe_new(NULL, len);
    if (!body)
        return;
    bb__meters_request__pack(req, zframe_data(body));
    char topic[96];
    snprintf(topic, sizeof topic, "meter.%s", node->name);
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, topic);
    zmsg_append(msg, &body);
    zmsg_send(&msg, self->pub); /* PUB never blocks */
}

static void s_heartbeat(Bb__NodeLink_Service *service, const Bb__HeartbeatRequest *req,
                        Bb__HeartbeatReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    Bb__HeartbeatReply reply = BB__HEARTBEAT_REPLY__INIT;
    const char *cert = bb_rpc_caller_name(call);
    if (cert && strcmp(cert, req->name) != 0) {
        bb_rpc_fail(call, BB_STATUS_PERMISSION_DENIED,
                    "this node's certificate is for '%s'; it cannot speak for '%.64s'", cert,
                    req->name);
        return;
    }
    coord_node_t *node = coord_registry_find(self->registry, req->name);
    if (!node || strcmp(node->session, req->session) != 0) {
        reply.known = false; /* register first */
        closure(&reply, call);
        return;
    }
    if (!node->online) {
        /* Back from offline: its jobs were requeued, so it registers again and gets
         * them afresh (see s_register_node). */
        reply.known = false;
        closure(&reply, call);
        return;
    }
    int old_state = node->state;
    node->online = true;
    node->last_seen_ms = s_now_ms();
    coord_registry_set_peer(node, bb_rpc_peer(call));
    /* what a node may say of itself (paused is the coordinator's word) */
    node->state = req->state == BB__NODE_STATE__NODE_RECORDING ||
                          req->state == BB__NODE_STATE__NODE_DEVICE_LOST
                      ? (int)req->state
                      : BB__NODE_STATE__NODE_IDLE;
    snprintf(node->message, sizeof node->message, "%s", req->message);
    node->xruns = req->xruns;
    node->spooled = req->spooled;
    node->queued = req->queued_jobs;
    reply.known = true;
    double ms;
    bool has = false;
    if (coord_store_node_latency(self->store, node->name, &ms, &has) == 0 && has) {
        reply.has_latency_offset = true;
        reply.latency_offset_ms = ms;
        node->latency_offset_ms = ms;
    }
    closure(&reply, call);
    if (old_state != node->state && node->state == BB__NODE_STATE__NODE_DEVICE_LOST)
        coord_event(self, 0, BB__EVENT_KIND__EV_NODE_STATE, NULL, NULL, node->name,
                    "node %s lost its audio device: %s", node->name, node->message);
    else if (old_state == BB__NODE_STATE__NODE_DEVICE_LOST && node->state != old_state)
        coord_event(self, 0, BB__EVENT_KIND__EV_NODE_STATE, NULL, NULL, node->name,
                    "node %s has its audio device again", node->name);
    if (old_state != node->state)
        self->schedule_soon = true;
}

/* The job a take belongs to, when it is out on `node` under this take id: dispatched
 * there, or sent back to pending while the node was away or the coordinator restarted
 * (the node may still deliver what it recorded). BB_STATUS_OK, or a status with msg: NOT_FOUND
 * (never dispatched under this id, or dispatched again since), PERMISSION_DENIED (another
 * node's), ABORTED (finished or cancelled): final answers, which the node takes as "set it
 * aside". */
static int s_job_out_on(coord_t *self, const char *take_id, const coord_node_t *node,
                        coord_job_row_t *job, char *msg, size_t len)
{
    if (coord_store_job_find_by_take(self->store, take_id, job) != 0) {
        snprintf(msg, len, "take %.96s was not dispatched by this coordinator: refused", take_id);
        return BB_STATUS_NOT_FOUND;
    }
    if (strcmp(job->node, node->name) != 0) {
        snprintf(msg, len, "take %.96s was dispatched to node %s, not to %s: refused", take_id,
                 job->node, node->name);
        return BB_STATUS_PERMISSION_DENIED;
    }
    if (job->state != JOB_DISPATCHED && job->state != JOB_PENDING) {
        snprintf(msg, len, "take %.96s is for a job that is no longer out (%s): refused", take_id,
                 job->state == JOB_CANCELLED ? "cancelled" : "finished");
        return BB_STATUS_ABORTED;
    }
    return BB_STATUS_OK;
}

/* What the plan allows a take to hold: its pre-roll, hold and longest release, plus 10 %
 * and COORD_TAKE_MARGIN_MS for the MIDI and scheduling slack a real take has. */
static uint64_t s_max_take_bytes(coord_t *self, const coord_job_row_t *job, uint32_t rate,
                                 uint32_t channels)
{
    const Bb__BatchSpec *spec = coord_spec(self, job->batch_id);
    const Bb__InstrumentSpec *inst =
        spec && job->inst_idx >= 0 && (size_t)job->inst_idx < spec->n_instruments
            ? spec->instruments[job->inst_idx]
            : NULL;
    if (!inst)
        return 0;
    double ms =
        ((double)inst->preroll_ms + inst->hold_ms + inst->release_ms) * 1.1 + COORD_TAKE_MARGIN_MS;
    return (uint64_t)(ms / 1000.0 * rate) * channels * sizeof(float);
}

static void s_take_begin(Bb__NodeLink_Service *service, const Bb__TakeBeginRequest *req,
                         Bb__TakeBeginReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    coord_node_t *node = s_caller(self, call, req->node, true);
    if (!node)
        return;
    if (self->disk_full) { /* the node keeps the take until there is space */
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "%.400s", self->disk_message);
        return;
    }
    char msg[BB_RPC_MESSAGE_MAX];
    int status = coord_ingest_check(req, msg, sizeof msg);
    if (status != BB_STATUS_OK) {
        bb_rpc_fail(call, status, "%s", msg);
        return;
    }
    Bb__TakeBeginReply reply = BB__TAKE_BEGIN_REPLY__INIT;
    reply.credit = COORD_INGEST_CREDIT;
    bool stored = false;
    if (coord_store_take_exists(self->store, req->job->take_id, &stored) == 0 && stored) {
        coord_take_row_t row;
        if (coord_store_take_get(self->store, req->job->take_id, &row) == 0) {
            bool theirs = strcmp(row.node, node->name) == 0;
            coord_take_row_free(&row);
            if (!theirs) {
                bb_rpc_fail(call, BB_STATUS_PERMISSION_DENIED,
                            "take %.96s was stored from another node: refused", req->job->take_id);
                return;
            }
        }
        reply.already_stored = true;
        closure(&reply, call);
        return;
    }
    coord_job_row_t job;
    status = s_job_out_on(self, req->job->take_id, node, &job, msg, sizeof msg);
    const Bb__TakeJob *tj = req->job;
    if (status == BB_STATUS_OK &&
        (tj->batch_id != job.batch_id || tj->note != (uint32_t)job.note ||
         tj->velocity != (uint32_t)job.velocity || tj->round_robin != (uint32_t)job.rr ||
         tj->release_trigger != job.release)) {
        snprintf(msg, sizeof msg,
                 "take %.96s does not match its job (batch %llu note %d vel %d rr %d): refused",
                 tj->take_id, (unsigned long long)job.batch_id, job.note, job.velocity, job.rr);
        status = BB_STATUS_INVALID_ARGUMENT;
    }
    /* an instrument on some of the node's inputs records those (one, summed) */
    uint32_t channels = node->channels;
    const Bb__BatchSpec *bspec = status == BB_STATUS_OK ? coord_spec(self, job.batch_id) : NULL;
    if (bspec && job.inst_idx >= 0 && (size_t)job.inst_idx < bspec->n_instruments) {
        const Bb__InstrumentSpec *in = bspec->instruments[job.inst_idx];
        if (in->sum)
            channels = 1;
        else if (in->n_inputs)
            channels = (uint32_t)in->n_inputs;
    }
    if (status == BB_STATUS_OK &&
        (req->format->sample_rate != node->sample_rate || req->format->channels != channels)) {
        snprintf(msg, sizeof msg,
                 "take %.96s: %u Hz, %u channel(s), but node %s registered %u Hz and the "
                 "instrument records %u channel(s): refused",
                 tj->take_id, req->format->sample_rate, req->format->channels, node->name,
                 node->sample_rate, channels);
        status = BB_STATUS_INVALID_ARGUMENT;
    }
    uint64_t max_bytes = status == BB_STATUS_OK
                             ? s_max_take_bytes(self, &job, node->sample_rate, node->channels)
                             : 0;
    if (status == BB_STATUS_OK)
        status = coord_ingest_begin(self->ingest, req, node->name, max_bytes, msg, sizeof msg);
    if (status != BB_STATUS_OK) {
        bb_warn("node %s: %s", node->name, msg);
        bb_rpc_fail(call, status, "%s", msg);
        return;
    }
    closure(&reply, call);
}

/* The node streaming take_id, when the call comes from it; NULL after answering. */
static coord_node_t *s_streamer(coord_t *self, void *call, const char *take_id)
{
    coord_node_t *node = s_caller(self, call, NULL, true);
    if (!node)
        return NULL;
    const char *streamer = coord_ingest_node(self->ingest, take_id);
    if (streamer && strcmp(streamer, node->name) != 0) {
        bb_rpc_fail(call, BB_STATUS_PERMISSION_DENIED,
                    "take %.96s is being sent by node %s, not %s", take_id, streamer, node->name);
        return NULL;
    }
    return node;
}

static void s_take_chunk(Bb__NodeLink_Service *service, const Bb__TakeChunkRequest *req,
                         Bb__TakeChunkReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    if (!s_streamer(self, call, req->take_id))
        return;
    char msg[BB_RPC_MESSAGE_MAX];
    int status = coord_ingest_chunk(self->ingest, req, msg, sizeof msg);
    if (status != BB_STATUS_OK) {
        if (status != BB_STATUS_FAILED_PRECONDITION)
            bb_warn("%s", msg);
        bb_rpc_fail(call, status, "%s", msg);
        return;
    }
    Bb__TakeChunkReply reply = BB__TAKE_CHUNK_REPLY__INIT;
    reply.seq = req->seq;
    reply.credit = COORD_INGEST_CREDIT;
    closure(&reply, call);
}

static uint32_t s_max_retakes(coord_t *self, uint64_t batch, int idx)
{
    const Bb__BatchSpec *spec = coord_spec(self, batch);
    if (!spec || idx < 0 || (size_t)idx >= spec->n_instruments)
        return COORD_DEFAULT_RETAKES;
    return spec->instruments[idx]->max_retakes;
}

/* Gain staging: once every level-check take of an instrument is in (jobs with seq < 0,
 * the loudest velocity on its lowest, middle and highest note), say how far the input gain
 * is from putting the loudest peak at the plan's target, and what CC7 does about it. */
int coord_level_result(coord_t *self, uint64_t batch, int idx, coord_level_t *out)
{
    memset(out, 0, sizeof *out);
    out->loudest_db = -200.0;
    out->note = -1;
    for (int seq = -3; seq < 0; seq++) {
        coord_job_row_t job;
        if (coord_store_job_by_slot(self->store, batch, idx, seq, &job) != 0)
            continue; /* fewer than three distinct notes */
        if (job.state != JOB_DONE)
            return BB_EBUSY; /* not all in yet */
        coord_take_row_t take;
        if (coord_store_take_get(self->store, job.take_id, &take) != 0)
            continue;
        dsp_analysis_t a;
        dsp_analysis_from_json(take.qc_json, &a);
        coord_take_row_free(&take);
        out->measured++;
        out->clipped += a.clip_runs > 0;
        if (a.peak_db > out->loudest_db) {
            out->loudest_db = a.peak_db;
            out->note = job.note;
        }
    }
    if (out->measured == 0)
        return BB_ENOTFOUND;
    const Bb__BatchSpec *spec = coord_spec(self, batch);
    const Bb__InstrumentSpec *inst =
        spec && idx >= 0 && (size_t)idx < spec->n_instruments ? spec->instruments[idx] : NULL;
    out->target_db = inst ? inst->level_target_db : -6.0;
    out->change_db = out->target_db - out->loudest_db;
    /* General MIDI volume: 40 log10(cc/127) dB; only lowering is possible from 127. A
     * clipped check only says "at least this much". */
    if (inst && inst->level_set_cc && out->change_db < -1.0) {
        double drop = out->clipped && out->change_db > -6.0 ? -6.0 : out->change_db;
        long cc = lround(127.0 * pow(10.0, drop / 40.0));
        out->cc7 = (int)(cc < 1 ? 1 : cc > 127 ? 127 : cc);
    }
    return 0;
}

static void s_level_report(coord_t *self, uint64_t batch, int idx, const char *inst,
                           const char *node)
{
    coord_level_t lv;
    if (coord_level_result(self, batch, idx, &lv) != 0)
        return;
    char advice[200];
    int n = 0;
    if (lv.clipped)
        n = snprintf(advice, sizeof advice,
                     "the input clipped: lower the input gain by at least %.1f dB",
                     -lv.change_db > 6.0 ? -lv.change_db : 6.0);
    else if (fabs(lv.change_db) < 1.0)
        n = snprintf(advice, sizeof advice, "the input gain is right (within 1 dB)");
    else
        n = snprintf(advice, sizeof advice, "%s the input gain by %.1f dB",
                     lv.change_db > 0 ? "raise" : "lower", fabs(lv.change_db));
    if (lv.cc7 && n > 0 && (size_t)n < sizeof advice)
        snprintf(advice + n, sizeof advice - n, "; MIDI volume (CC7) set to %d for the takes",
                 lv.cc7);
    coord_event(self, batch, BB__EVENT_KIND__EV_INSTRUMENT_STATE, inst, NULL, node,
                "%s level check: loudest peak %.1f dBFS (note %d) over %d note(s); target %.1f "
                "dBFS: %s",
                inst, lv.loudest_db, lv.note, lv.measured, lv.target_db, advice);
}

/* The node's time between takes: from the end of the previous take to the start of this
 * one in its stream, when they follow each other closely (a node busy with a batch);
 * a longer gap is a node that waited for work, not overhead. */
#define S_OVERHEAD_GAP_MAX_S 10.0
#define S_OVERHEAD_MEAN_OF   50 /* the running mean weighs the last ~50 takes */

static void s_measure_overhead(coord_node_t *node, const dsp_raw_meta_t *meta)
{
    if (!node || meta->sample_rate <= 0)
        return;
    int64_t start = meta->stream_start_frame, end = start + meta->frames;
    /* between takes of one instrument only: a patch change's settle time and the wait for
     * the next instrument are not per take (the estimate counts the settle itself) */
    bool same = node->last_take_batch == meta->batch_id && node->last_take_inst == meta->inst_idx &&
                !node->last_take_capped; /* after a release cut while sounding the node waits
                                            for the tail: the instrument's, not overhead */
    if (same && node->last_take_end > 0 && start > node->last_take_start) {
        double gap_ms = (double)(start - node->last_take_end) * 1000.0 / meta->sample_rate;
        if (gap_ms < S_OVERHEAD_GAP_MAX_S * 1000.0 && gap_ms > -S_OVERHEAD_GAP_MAX_S * 1000.0) {
            uint32_t n = node->take_overhead_samples < S_OVERHEAD_MEAN_OF
                             ? node->take_overhead_samples + 1
                             : S_OVERHEAD_MEAN_OF;
            node->take_overhead_ms += (gap_ms - node->take_overhead_ms) / n;
            node->take_overhead_samples++;
        }
    }
    node->last_take_start = start;
    node->last_take_end = end;
    node->last_take_batch = meta->batch_id;
    node->last_take_inst = meta->inst_idx;
    node->last_take_capped = meta->release_capped;
}

/* TakeEnd: the take is made durable (file, sidecar, directory fsync'd), recorded without a
 * verdict with its job JOB_STORED, in one transaction, and acknowledged; the analysis
 * happens on the checker (qc_worker.c), whose answer coord_take_checked() applies. */
static void s_take_end(Bb__NodeLink_Service *service, const Bb__TakeEndRequest *req,
                       Bb__TakeEndReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    coord_node_t *node = s_streamer(self, call, req->take_id);
    if (!node)
        return;
    Bb__TakeEndReply reply = BB__TAKE_END_REPLY__INIT;
    bool stored = false;
    if (coord_store_take_exists(self->store, req->take_id, &stored) == 0 && stored) {
        reply.duplicate = true;
        closure(&reply, call);
        return;
    }
    char path[sizeof((coord_take_row_t *)0)->path], msg[BB_RPC_MESSAGE_MAX];
    if (!coord_ingest_node(self->ingest, req->take_id)) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION,
                    "no take %.96s is being received (restart it with TakeBegin)", req->take_id);
        return;
    }
    coord_job_row_t job;
    int status = s_job_out_on(self, req->take_id, node, &job, msg, sizeof msg);
    if (status != BB_STATUS_OK) { /* e.g. moved to another node while this one streamed */
        coord_ingest_drop(self->ingest, req->take_id);
        bb_warn("node %s: %s", node->name, msg);
        bb_rpc_fail(call, status, "%s", msg);
        return;
    }
    dsp_raw_meta_t meta;
    status = coord_ingest_end(self->ingest, req, &meta, path, sizeof path, msg, sizeof msg);
    if (status != BB_STATUS_OK) {
        bb_warn("%s", msg);
        bb_rpc_fail(call, status, "%s", msg);
        return;
    }
    coord_take_row_t row = {0};
    snprintf(row.id, sizeof row.id, "%s", req->take_id);
    row.job_id = job.id;
    row.batch_id = job.batch_id;
    row.inst_idx = job.inst_idx;
    snprintf(row.node, sizeof row.node, "%s", node->name);
    memcpy(row.path, path, sizeof row.path); /* same size, NUL-terminated by ingest */
    row.frames = meta.frames;
    row.sample_rate = meta.sample_rate;
    row.channels = meta.channels;
    row.note_on_frame = meta.note_on_frame;
    row.note_off_frame = meta.note_off_frame;
    row.stream_start_frame = meta.stream_start_frame;
    row.xruns = meta.xruns;
    row.noise_floor_db = meta.noise_floor_db;
    row.release_capped = meta.release_capped;
    row.latency_offset_ms = meta.latency_offset_ms;
    row.received = bb_unix_s();
    row.verdict = COORD_VERDICT_PENDING;
    int rc = coord_store_begin(self->store);
    if (!rc)
        rc = coord_store_take_insert(self->store, &row);
    if (!rc)
        rc = coord_store_job_finish(self->store, job.id, JOB_STORED, req->take_id, "");
    if (!rc)
        rc = coord_store_commit(self->store);
    if (rc) {
        coord_store_rollback(self->store);
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "take %s could not be recorded: %s", req->take_id,
                    coord_store_errmsg(self->store));
        return;
    }
    closure(&reply, call);
    node->take_failures = 0;
    s_measure_overhead(node, &meta);
    coord_qc_queue(self->qc, req->take_id);
}

/* A take failed for jumps only: its copy in *own is cleared when another checked take of
 * the note jumps at the same place (dsp_jumps_recur). Returns true when it was. */
static bool s_jumps_recur(coord_t *self, const coord_job_row_t *job, const char *take_id,
                          const dsp_analysis_t *a, dsp_analysis_t *own)
{
    char **json = NULL;
    size_t n = 0;
    if (coord_store_note_analyses(self->store, job->batch_id, job->inst_idx, job->note,
                                  job->release, take_id, &json, &n) != 0 ||
        n == 0) {
        coord_store_strings_free(json, n);
        return false;
    }
    dsp_analysis_t *others = malloc(n * sizeof *others);
    const dsp_analysis_t **ptr = malloc(n * sizeof *ptr);
    size_t m = 0;
    for (size_t i = 0; others && ptr && i < n; i++)
        if (dsp_analysis_from_json(json[i], &others[m]) == 0) {
            ptr[m] = &others[m];
            m++;
        }
    *own = *a;
    bool cleared = others && ptr && dsp_jumps_recur(own, ptr, m);
    free(ptr);
    free(others);
    coord_store_strings_free(json, n);
    return cleared;
}

void coord_take_checked(coord_t *self, const char *take_id, const dsp_analysis_t *a,
                        const char *json)
{
    coord_take_row_t take;
    coord_job_row_t job;
    if (coord_store_take_get(self->store, take_id, &take) != 0)
        return;
    bool have_job = coord_store_job_get(self->store, take.job_id, &job) == 0;
    coord_take_row_free(&take);
    /* a jump that another take of the note shares is the instrument's own */
    dsp_analysis_t own;
    char *own_json = NULL;
    if (have_job && a->verdict == DSP_FAIL && a->dropouts > 0 &&
        s_jumps_recur(self, &job, take_id, a, &own) && (own_json = dsp_analysis_json(&own))) {
        a = &own;
        json = own_json;
    }
    /* a job cancelled (or moved) while its take was being checked keeps its new state */
    bool job_open = have_job && job.state == JOB_STORED && strcmp(job.take_id, take_id) == 0;
    bool retake = false, failed = false;
    bool level = have_job && job.seq < 0; /* a gain-staging measurement */
    int rc = coord_store_begin(self->store);
    if (!rc)
        rc = coord_store_take_set_qc(self->store, take_id, a->verdict, json, a->cut_start,
                                     a->cut_end, a->peak_db);
    if (!rc && job_open && level) {
        rc = coord_store_job_finish(self->store, job.id, JOB_DONE, take_id, "");
    } else if (!rc && job_open) {
        if (a->verdict == DSP_FAIL &&
            (uint32_t)job.retakes < s_max_retakes(self, job.batch_id, job.inst_idx)) {
            retake = true;
            rc = coord_store_job_retake(self->store, job.id, a->reasons);
        } else if (a->verdict == DSP_FAIL) {
            failed = true;
            rc = coord_store_job_finish(self->store, job.id, JOB_FAILED, take_id, a->reasons);
        } else {
            rc = coord_store_job_finish(self->store, job.id, JOB_DONE, take_id, "");
        }
    }
    if (!rc)
        rc = coord_store_commit(self->store);
    if (rc) {
        coord_store_rollback(self->store);
        bb_error("take %s: its verdict could not be recorded: %s", take_id,
                 coord_store_errmsg(self->store));
        free(own_json);
        return;
    }
    if (!have_job)
        return; /* own_json is only set with a job */
    const Bb__BatchSpec *spec = coord_spec(self, job.batch_id);
    const char *inst = spec && job.inst_idx >= 0 && (size_t)job.inst_idx < spec->n_instruments
                           ? spec->instruments[job.inst_idx]->name
                           : "";
    char slot[64];
    /* the note named as the batch names it, like the QC reasons in the same event */
    bb_note_name(job.note,
                 spec && spec->export && spec->export->c4_is_60 ? BB_NOTES_C4_IS_60
                                                                : BB_NOTES_C3_IS_60,
                 slot, sizeof slot);
    snprintf(slot + strlen(slot), sizeof slot - strlen(slot), " v%d rr%d%s", job.velocity, job.rr,
             job.release ? " release" : "");
    if (retake || failed)
        coord_event(self, job.batch_id, BB__EVENT_KIND__EV_TAKE_FAILED, inst, take_id, job.node,
                    "%s %s: failed QC (%s)%s", inst, slot, a->reasons,
                    retake ? "; retaking" : "; no retakes left");
    else
        coord_event(self, job.batch_id, BB__EVENT_KIND__EV_TAKE_STORED, inst, take_id, job.node,
                    "%s %s: %s%s%s%s (%.2f s, peak %.1f dBFS)%s", inst, slot,
                    dsp_verdict_name(a->verdict), *a->reasons ? " (" : "", a->reasons,
                    *a->reasons ? ")" : "", a->duration_s, a->peak_db,
                    job_open ? "" : ", its job had moved on");
    if (level && job_open)
        s_level_report(self, job.batch_id, job.inst_idx, inst, job.node);
    self->schedule_soon = true;
    free(own_json);
}

static void s_take_failed(Bb__NodeLink_Service *service, const Bb__TakeFailedRequest *req,
                          Bb__TakeFailedReply_Closure closure, void *call)
{
    coord_t *self = s_coord(service);
    coord_node_t *node = s_caller(self, call, NULL, true);
    if (!node)
        return;
    Bb__TakeFailedReply reply = BB__TAKE_FAILED_REPLY__INIT;
    closure(&reply, call);
    /* a node that cannot record (a full spool, a failing disk) is held back after a few in a
     * row, with the reason on its instruments, instead of recording the same take again and
     * again */
    if (!req->device_lost && ++node->take_failures >= COORD_TAKE_FAILURES) {
        snprintf(node->refusal, sizeof node->refusal,
                 "node %.40s: %d takes in a row could not be recorded (%.120s)", node->name,
                 node->take_failures, req->reason);
        node->dispatch_backoff_ms = 10000;
        node->dispatch_hold_until = bb_mono_ns() / BB_NS_PER_MS + node->dispatch_backoff_ms;
        if (node->take_failures == COORD_TAKE_FAILURES)
            bb_warn("%s: no takes for it for 10 s at a time", node->refusal);
    }
    coord_job_row_t job;
    if (coord_store_job_find_by_take(self->store, req->take_id, &job) != 0 ||
        job.state != JOB_DISPATCHED || strcmp(job.node, node->name) != 0)
        return;
    coord_store_job_requeue(self->store, job.id, req->take_id, req->reason);
    coord_event(self, job.batch_id, BB__EVENT_KIND__EV_TAKE_FAILED, NULL, req->take_id, job.node,
                "take %s could not be recorded on %s: %s; it will run again", req->take_id,
                job.node, req->reason);
    self->schedule_soon = true;
}

void coord_nodelink_init(coord_t *self)
{
    self->nodelink.service = (Bb__NodeLink_Service)BB__NODE_LINK__INIT(s_);
    self->nodelink.coord = self;
}
