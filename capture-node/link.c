/*
 * link.c — the link actor of link.h.
 *
 * Everything happens on the actor's thread: one poller over the actor pipe, the DEALER
 * and the recorder's PULL socket, woken at least every 50 ms for timers. Replies arrive
 * through bb_rpc async callbacks; each carries a small context with the stream
 * generation it belongs to, so a late reply to an abandoned stream is ignored.
 */
#include "link.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_log.h"
#include "bb_rpc.h"
#include "operator.pb-c.h"

#define LINK_CALL_TIMEOUT_MS     5000
#define LINK_METERS_MS           100  /* input levels to the coordinator: 10 Hz */
#define LINK_REGISTER_RETRY_MS   1000 /* first retry; doubles up to the max */
#define LINK_REGISTER_RETRY_MAX  8000
#define LINK_QUIET_WARN_MS       5000 /* "no answer from ... for 5 s" */
#define LINK_BACKOFF_MIN_MS      500
#define LINK_BACKOFF_MAX_MS      10000
#define LINK_HEARTBEAT_FAILS_MAX 3
#define LINK_TICK_MS             50

typedef struct s_link_t s_link_t;

typedef struct {
    Bb__Capture_Service service; /* first: the rpc layer hands us a pointer to it */
    s_link_t *link;
} s_capture_svc_t;

typedef struct {
    bool active;
    uint32_t gen;
    char id[BB_TAKE_ID_MAX + 1];
    Bb__SpoolHeader *hdr;
    int fd;
    uint64_t bytes;
    uint32_t total, next_seq, inflight, acked, credit;
    bool end_sent;
    uint8_t *buf;
} s_stream_t;

typedef struct {
    char **ids;
    size_t n, cap;
} s_queue_t;

struct s_link_t {
    node_link_config_t cfg;
    bb_rpc_t *rpc;
    zsock_t *pull;
    s_capture_svc_t capture;
    bool registered, register_inflight, heartbeat_inflight, meters_inflight;
    int register_retry_ms;    /* backoff between registration attempts */
    int64_t unanswered_since; /* when the coordinator last stopped answering; 0 = it answers */
    char quiet_why[256];      /* what the last unanswered call said, if anything */
    int64_t next_quiet_warn;  /* when to say again that it does not answer */
    bool quiet_warned;        /* "no answer" was said: "answers again" follows */
    char last_refusal[BB_RPC_MESSAGE_MAX]; /* said once, until it changes */
    int64_t next_meters;
    int heartbeat_fails;
    int heartbeat_ms;
    int64_t next_register, next_heartbeat;
    s_queue_t uploads; /* spooled takes waiting to be streamed, oldest first */
    s_stream_t stream;
    int64_t stream_retry_at;
    int backoff_ms;
    uint32_t gen;
};

typedef struct {
    s_link_t *link;
    uint32_t gen;
    uint32_t seq;
} s_ctx_t;

static int64_t s_now_ms(void)
{
    return bb_mono_ns() / BB_NS_PER_MS;
}

static s_ctx_t *s_ctx(s_link_t *link, uint32_t seq)
{
    s_ctx_t *c = malloc(sizeof *c);
    if (c)
        *c = (s_ctx_t){link, link->stream.gen, seq};
    return c;
}

/* ---- upload queue ---- */

static bool s_queue_has(s_queue_t *q, const char *id)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->ids[i], id) == 0)
            return true;
    return false;
}

static void s_queue_push(s_queue_t *q, const char *id)
{
    if (s_queue_has(q, id))
        return;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        char **ni = realloc(q->ids, cap * sizeof *ni);
        if (!ni)
            return;
        q->ids = ni;
        q->cap = cap;
    }
    q->ids[q->n] = strdup(id);
    if (q->ids[q->n])
        q->n++;
}

static void s_queue_remove(s_queue_t *q, const char *id)
{
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->ids[i], id) == 0) {
            free(q->ids[i]);
            memmove(&q->ids[i], &q->ids[i + 1], (q->n - i - 1) * sizeof q->ids[0]);
            q->n--;
            return;
        }
    }
}

/* ---- streaming ---- */

static void s_stream_close(s_link_t *self)
{
    s_stream_t *s = &self->stream;
    if (s->fd >= 0)
        close(s->fd);
    if (s->hdr)
        bb__spool_header__free_unpacked(s->hdr, NULL);
    free(s->buf);
    uint32_t gen = s->gen;
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->gen = gen + 1; /* replies to the old stream are now stale */
}

static void s_stream_failed(s_link_t *self, int status, const char *what, const char *message)
{
    bb_warn("streaming take %s: %s failed (%s: %s); retrying in %d ms", self->stream.id, what,
            bb_status_name(status), message, self->backoff_ms);
    s_stream_close(self);
    self->stream_retry_at = s_now_ms() + self->backoff_ms;
    self->backoff_ms =
        self->backoff_ms * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS : self->backoff_ms * 2;
    if (status == BB_STATUS_DEADLINE_EXCEEDED || status == BB_STATUS_UNAVAILABLE) {
        if (++self->heartbeat_fails >= LINK_HEARTBEAT_FAILS_MAX)
            self->registered = false;
    }
}

static void s_stream_pump(s_link_t *self);
static double s_spool_free_mb(s_link_t *self);

/* NOT_FOUND, PERMISSION_DENIED and ABORTED on a take are the coordinator's final word: it
 * was not dispatched under this id (or was dispatched again since), it is another node's,
 * or its job is finished or cancelled. The take is set aside in the spool's refused/
 * folder, kept but not sent again, and the next one goes. */
static bool s_refused_for_good(int status)
{
    return status == BB_STATUS_NOT_FOUND || status == BB_STATUS_PERMISSION_DENIED ||
           status == BB_STATUS_ABORTED;
}

static void s_stream_set_aside(s_link_t *self, int status, const char *message)
{
    char id[BB_TAKE_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", self->stream.id);
    s_stream_close(self);
    int rc = node_spool_set_aside(self->cfg.spool, id);
    bb_warn("take %s refused by the coordinator (%s: %s): %s", id, bb_status_name(status), message,
            rc ? "it stays in the spool" : "kept in the spool's refused/ folder, not sent again");
    s_queue_remove(&self->uploads, id);
}

static void s_on_end(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    s_ctx_t *c = arg;
    s_link_t *self = c->link;
    bool stale = c->gen != self->stream.gen || !self->stream.active;
    free(c);
    if (stale)
        return;
    if (s_refused_for_good(status)) {
        s_stream_set_aside(self, status, message);
        return;
    }
    if (status != BB_STATUS_OK) {
        s_stream_failed(self, status, "TakeEnd", message);
        return;
    }
    const Bb__TakeEndReply *r = (const Bb__TakeEndReply *)reply;
    char id[BB_TAKE_ID_MAX + 1];
    snprintf(id, sizeof id, "%s", self->stream.id);
    bb_debug("take %s acknowledged%s", id, r->duplicate ? " (already stored)" : "");
    s_stream_close(self);
    node_spool_remove(self->cfg.spool, id);
    s_queue_remove(&self->uploads, id);
    self->backoff_ms = LINK_BACKOFF_MIN_MS;
}

static void s_send_end(s_link_t *self)
{
    s_stream_t *s = &self->stream;
    Bb__TakeEndRequest *end = s->hdr->end;
    /* The header owns its strings (free_unpacked releases them): give it its own copy. */
    if (!end->take_id || strcmp(end->take_id, s->id) != 0) {
        char *id = strdup(s->id);
        if (!id) {
            s_stream_failed(self, BB_STATUS_RESOURCE_EXHAUSTED, "TakeEnd", "out of memory");
            return;
        }
        if (end->take_id && end->take_id != protobuf_c_empty_string)
            free(end->take_id);
        end->take_id = id;
    }
    s_ctx_t *c = s_ctx(self, 0);
    if (!c || bb_rpc_call_async(self->rpc, NULL, &bb__node_link__descriptor, "TakeEnd", &end->base,
                                LINK_CALL_TIMEOUT_MS, s_on_end, c) != 0) {
        free(c);
        s_stream_failed(self, BB_STATUS_UNAVAILABLE, "TakeEnd", "cannot send");
        return;
    }
    s->end_sent = true;
}

static void s_on_chunk(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    s_ctx_t *c = arg;
    s_link_t *self = c->link;
    bool stale = c->gen != self->stream.gen || !self->stream.active;
    uint32_t seq = c->seq;
    free(c);
    if (stale)
        return;
    if (status != BB_STATUS_OK) {
        char what[48];
        snprintf(what, sizeof what, "chunk %u", seq);
        s_stream_failed(self, status, what, message);
        return;
    }
    const Bb__TakeChunkReply *r = (const Bb__TakeChunkReply *)reply;
    self->stream.inflight--;
    self->stream.acked++;
    if (r->credit > 0)
        self->stream.credit = r->credit;
    s_stream_pump(self);
}

/* Sends chunks while credit allows; TakeEnd once all are acknowledged. */
static void s_stream_pump(s_link_t *self)
{
    s_stream_t *s = &self->stream;
    while (s->active && s->inflight < s->credit && s->next_seq < s->total) {
        uint64_t off = (uint64_t)s->next_seq * NODE_CHUNK_BYTES;
        size_t len =
            (size_t)(s->bytes - off < NODE_CHUNK_BYTES ? s->bytes - off : NODE_CHUNK_BYTES);
        ssize_t got = pread(s->fd, s->buf, len, (off_t)off);
        if (got != (ssize_t)len) {
            bb_error("spool: cannot read take %s; it stays in the spool", s->id);
            s_stream_failed(self, BB_STATUS_DATA_LOSS, "reading the spool", "short read");
            return;
        }
        Bb__TakeChunkRequest req = BB__TAKE_CHUNK_REQUEST__INIT;
        req.take_id = s->id;
        req.seq = s->next_seq;
        req.data.data = s->buf;
        req.data.len = len;
        s_ctx_t *c = s_ctx(self, s->next_seq);
        if (!c || bb_rpc_call_async(self->rpc, NULL, &bb__node_link__descriptor, "TakeChunk",
                                    &req.base, LINK_CALL_TIMEOUT_MS, s_on_chunk, c) != 0) {
            free(c);
            s_stream_failed(self, BB_STATUS_UNAVAILABLE, "TakeChunk", "cannot send");
            return;
        }
        s->next_seq++;
        s->inflight++;
    }
    if (s->active && !s->end_sent && s->acked == s->total)
        s_send_end(self);
}

static void s_on_begin(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    s_ctx_t *c = arg;
    s_link_t *self = c->link;
    bool stale = c->gen != self->stream.gen || !self->stream.active;
    free(c);
    if (stale)
        return;
    if (s_refused_for_good(status)) {
        s_stream_set_aside(self, status, message);
        return;
    }
    if (status != BB_STATUS_OK) {
        s_stream_failed(self, status, "TakeBegin", message);
        return;
    }
    const Bb__TakeBeginReply *r = (const Bb__TakeBeginReply *)reply;
    self->stream.credit = r->credit > 0 ? r->credit : 1;
    if (r->already_stored) {
        self->stream.acked = self->stream.total; /* nothing to send */
        self->stream.next_seq = self->stream.total;
    }
    s_stream_pump(self);
}

static void s_stream_start(s_link_t *self)
{
    s_stream_t *s = &self->stream;
    const char *id = self->uploads.ids[0];
    Bb__SpoolHeader *hdr = NULL;
    int rc = node_spool_load_header(self->cfg.spool, id, &hdr);
    if (rc) {
        bb_error("spool: take %s has an unreadable header (%s); it is left in %s", id,
                 bb_strerror(rc), node_spool_dir(self->cfg.spool));
        s_queue_remove(&self->uploads, id);
        return;
    }
    int fd;
    uint64_t bytes;
    rc = node_spool_open_data(self->cfg.spool, id, &fd, &bytes);
    if (rc) {
        bb_error("spool: take %s has no data (%s)", id, bb_strerror(rc));
        bb__spool_header__free_unpacked(hdr, NULL);
        s_queue_remove(&self->uploads, id);
        return;
    }
    s->active = true;
    snprintf(s->id, sizeof s->id, "%s", id);
    s->hdr = hdr;
    s->fd = fd;
    s->bytes = bytes;
    s->total = (uint32_t)((bytes + NODE_CHUNK_BYTES - 1) / NODE_CHUNK_BYTES);
    s->buf = malloc(NODE_CHUNK_BYTES);
    hdr->end->chunks = s->total;

    Bb__TakeBeginRequest req = BB__TAKE_BEGIN_REQUEST__INIT;
    req.node = (char *)self->cfg.name;
    req.job = hdr->job;
    req.format = hdr->format;
    s_ctx_t *c = s_ctx(self, 0);
    if (!s->buf || !c ||
        bb_rpc_call_async(self->rpc, NULL, &bb__node_link__descriptor, "TakeBegin", &req.base,
                          LINK_CALL_TIMEOUT_MS, s_on_begin, c) != 0) {
        free(c);
        s_stream_failed(self, BB_STATUS_UNAVAILABLE, "TakeBegin", "cannot send");
    }
}

/* ---- registration and heartbeats ---- */

/* A node pointed at the wrong place, at a coordinator that is down or at one that refuses
 * its certificate says so once a registration has gone unanswered for 5 s, again at 10, 20
 * and 40 s, then every minute, while it keeps trying with backoff. s_unanswered() marks the start
 * (the first call sent) and keeps why (e.g. the handshake's refusal); s_quiet_check() runs on the
 * timers. */
static void s_unanswered(s_link_t *self, const char *why)
{
    if (!self->unanswered_since) {
        self->unanswered_since = s_now_ms();
        self->next_quiet_warn = self->unanswered_since + LINK_QUIET_WARN_MS;
    }
    if (why)
        snprintf(self->quiet_why, sizeof self->quiet_why, "%s", why);
}

/* The next mark after `quiet` ms without an answer: 5, 10, 20, 40 s, then every minute. */
static int64_t s_quiet_next(int64_t quiet)
{
    return quiet < 30000 ? 2 * quiet : quiet + 60000;
}

static void s_quiet_check(s_link_t *self)
{
    int64_t now = s_now_ms();
    if (!self->unanswered_since || now < self->next_quiet_warn)
        return;
    /* a handshake the coordinator refused (untrusted or revoked certificate, plaintext
     * against CURVE) is known from the socket monitor before the call's deadline */
    const char *why = bb_rpc_handshake_error(self->rpc);
    if (!why || !*why)
        why = self->quiet_why;
    int64_t quiet = self->next_quiet_warn - self->unanswered_since; /* the mark reached */
    while (self->unanswered_since + s_quiet_next(quiet) <= now)     /* a stalled loop: the last */
        quiet = s_quiet_next(quiet);
    bb_warn("no answer from %s for %lld s, still trying%s%s", self->cfg.coordinator,
            (long long)(quiet / 1000), *why ? ": " : "", why);
    self->quiet_warned = true;
    self->next_quiet_warn = self->unanswered_since + s_quiet_next(quiet);
}

static void s_answered(s_link_t *self)
{
    if (self->quiet_warned)
        bb_info("the coordinator at %s answers again", self->cfg.coordinator);
    self->unanswered_since = 0;
    self->quiet_warned = false;
    self->quiet_why[0] = '\0';
}

static void s_register_later(s_link_t *self)
{
    self->next_register = s_now_ms() + self->register_retry_ms;
    self->register_retry_ms = self->register_retry_ms * 2 > LINK_REGISTER_RETRY_MAX
                                  ? LINK_REGISTER_RETRY_MAX
                                  : self->register_retry_ms * 2;
}

static void s_on_register(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    s_link_t *self = arg;
    self->register_inflight = false;
    if (status == BB_STATUS_CANCELLED)
        return; /* the link is closing */
    if (status == BB_STATUS_DEADLINE_EXCEEDED || status == BB_STATUS_UNAUTHENTICATED ||
        status == BB_STATUS_UNAVAILABLE) {
        s_unanswered(self, status == BB_STATUS_UNAUTHENTICATED ? message : "");
        s_register_later(self);
        return;
    }
    s_answered(self);
    if (status != BB_STATUS_OK) {
        /* a refusal (the name is taken, the certificate is for another name...): said once,
         * then retried quietly with backoff, since the cause may go away */
        if (strcmp(self->last_refusal, message) != 0)
            bb_warn("the coordinator refused this node: %s: %s (retrying)", bb_status_name(status),
                    message);
        snprintf(self->last_refusal, sizeof self->last_refusal, "%s", message);
        s_register_later(self);
        return;
    }
    self->last_refusal[0] = '\0';
    self->register_retry_ms = LINK_REGISTER_RETRY_MS;
    const Bb__RegisterReply *r = (const Bb__RegisterReply *)reply;
    self->registered = true;
    self->heartbeat_fails = 0;
    if (r->heartbeat_ms > 0)
        self->heartbeat_ms = (int)r->heartbeat_ms;
    if (r->has_latency_offset) {
        node_recorder_set_latency_offset(self->cfg.recorder, r->latency_offset_ms);
        bb_info("latency offset %.3f ms (from the coordinator)", r->latency_offset_ms);
    }
    self->next_heartbeat = s_now_ms() + self->heartbeat_ms;
    bb_info("registered with the coordinator at %s", self->cfg.coordinator);
    if (self->stream.active) /* a coordinator that restarted lost any partial take */
        s_stream_close(self);
    self->stream_retry_at = 0;
}

static void s_register(s_link_t *self)
{
    Bb__RegisterRequest req = BB__REGISTER_REQUEST__INIT;
    req.name = (char *)self->cfg.name;
    req.session = (char *)self->cfg.session;
    req.caps = (Bb__Capabilities *)self->cfg.caps;
    req.sample_rate = self->cfg.sample_rate;
    req.channels = self->cfg.channels;
    req.latency_offset_ms = node_recorder_latency_offset(self->cfg.recorder);
    req.n_spooled_take_ids = self->uploads.n;
    req.spooled_take_ids = self->uploads.ids;
    s_unanswered(self, NULL); /* from now until an answer comes */
    if (bb_rpc_call_async(self->rpc, NULL, &bb__node_link__descriptor, "RegisterNode", &req.base,
                          LINK_CALL_TIMEOUT_MS, s_on_register, self) == 0)
        self->register_inflight = true;
    else
        s_register_later(self);
}

static void s_on_heartbeat(void *arg, int status, const char *message,
                           const ProtobufCMessage *reply)
{
    s_link_t *self = arg;
    self->heartbeat_inflight = false;
    if (status != BB_STATUS_OK) {
        if (++self->heartbeat_fails >= LINK_HEARTBEAT_FAILS_MAX && self->registered) {
            bb_warn("the coordinator stopped answering (%s); reconnecting", message);
            self->registered = false;
            self->register_retry_ms = LINK_REGISTER_RETRY_MS;
        }
        return;
    }
    self->heartbeat_fails = 0;
    const Bb__HeartbeatReply *r = (const Bb__HeartbeatReply *)reply;
    if (!r->known) {
        bb_info("the coordinator does not know this node (restarted?); registering again");
        self->registered = false;
        self->next_register = 0;
        return;
    }
    /* A calibration (batcherbird calibrate) changed the offset: later takes use it. */
    if (r->has_latency_offset &&
        fabs(r->latency_offset_ms - node_recorder_latency_offset(self->cfg.recorder)) > 1e-6) {
        node_recorder_set_latency_offset(self->cfg.recorder, r->latency_offset_ms);
        bb_info("latency offset %.3f ms (calibrated on the coordinator)", r->latency_offset_ms);
    }
}

static void s_heartbeat(s_link_t *self)
{
    char message[256] = "";
    Bb__HeartbeatRequest req = BB__HEARTBEAT_REQUEST__INIT;
    req.name = (char *)self->cfg.name;
    req.session = (char *)self->cfg.session;
    req.state = node_recorder_busy(self->cfg.recorder) ? BB__NODE_STATE__NODE_RECORDING
                                                       : BB__NODE_STATE__NODE_IDLE;
    if (self->cfg.device_state) {
        int st = self->cfg.device_state(self->cfg.device_state_arg, message, sizeof message);
        if (st == BB__NODE_STATE__NODE_DEVICE_LOST)
            req.state = BB__NODE_STATE__NODE_DEVICE_LOST;
    }
    double free_mb = s_spool_free_mb(self);
    if (!*message && free_mb >= 0 && free_mb < self->cfg.spool_reserve_mb)
        snprintf(message, sizeof message, "spool full: %.0f MB free in %s", free_mb,
                 node_spool_dir(self->cfg.spool));
    req.message = message;
    req.xruns = node_recorder_xruns(self->cfg.recorder);
    req.spooled = (uint32_t)self->uploads.n;
    req.queued_jobs = node_recorder_busy(self->cfg.recorder);
    if (self->cfg.meter)
        node_meter_snapshot(self->cfg.meter, &req); /* the 10 Hz meter stream resets peaks */
    if (bb_rpc_call_async(self->rpc, NULL, &bb__node_link__descriptor, "Heartbeat", &req.base,
                          self->heartbeat_ms * 2, s_on_heartbeat, self) == 0)
        self->heartbeat_inflight = true;
}

static void s_on_meters(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    s_link_t *self = arg;
    self->meters_inflight = false; /* a lost reading is replaced by the next one */
}

/* Input levels for `batcherbird meter`, every LINK_METERS_MS while registered and audio
 * arrives (meter.h). */
static void s_meters(s_link_t *self)
{
    Bb__HeartbeatRequest levels = BB__HEARTBEAT_REQUEST__INIT;
    if (!node_meter_report(self->cfg.meter, &levels, bb_mono_ns()))
        return; /* no audio since the last reading: no new reading */
    Bb__MetersRequest req = BB__METERS_REQUEST__INIT;
    req.name = (char *)self->cfg.name;
    req.session = (char *)self->cfg.session;
    req.meters = levels.meters;
    req.n_meters = levels.n_meters;
    req.state = node_recorder_busy(self->cfg.recorder) ? BB__NODE_STATE__NODE_RECORDING
                                                       : BB__NODE_STATE__NODE_IDLE;
    if (bb_rpc_call_async(self->rpc, NULL, &bb__node_link__descriptor, "Meters", &req.base,
                          LINK_METERS_MS * 5, s_on_meters, self) == 0)
        self->meters_inflight = true;
}

/* ---- bb.Capture, served to the coordinator ---- */

/* Free space in the spool's file system, MB; -1 when it cannot be told. */
static double s_spool_free_mb(s_link_t *self)
{
    struct statvfs vfs;
    if (statvfs(node_spool_dir(self->cfg.spool), &vfs) != 0)
        return -1;
    return (double)vfs.f_bavail * (double)vfs.f_frsize / (1024.0 * 1024.0);
}

/* What a take of `job` may write to the spool, MB (pre-roll, hold, longest release, and a
 * fifth more). */
static double s_take_mb(s_link_t *self, const Bb__TakeJob *job)
{
    double s = (job->preroll_ms + job->hold_ms + job->release_ms) / 1000.0 * 1.2;
    return s * self->cfg.sample_rate * self->cfg.channels * sizeof(float) / (1024.0 * 1024.0);
}

static void s_start_take(Bb__Capture_Service *service, const Bb__TakeJob *job,
                         Bb__StartTakeReply_Closure closure, void *call)
{
    s_link_t *self = ((s_capture_svc_t *)service)->link;
    /* a full spool: refused before anything is played, with what the coordinator shows */
    double free_mb = s_spool_free_mb(self), need_mb = s_take_mb(self, job);
    if (free_mb >= 0 && free_mb < need_mb + self->cfg.spool_reserve_mb) {
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED,
                    "node %s: spool full (%.0f MB free in %s; a take needs %.1f MB and %.0f MB "
                    "are kept free)",
                    self->cfg.name, free_mb, node_spool_dir(self->cfg.spool), need_mb,
                    self->cfg.spool_reserve_mb);
        return;
    }
    char err[256];
    int rc = node_recorder_submit(self->cfg.recorder, job, err, sizeof err);
    if (rc < 0) {
        bb_rpc_fail(call,
                    rc == BB_EBUSY      ? BB_STATUS_RESOURCE_EXHAUSTED
                    : rc == BB_EUNAVAIL ? BB_STATUS_UNAVAILABLE
                                        : BB_STATUS_INVALID_ARGUMENT,
                    "node %s: %s", self->cfg.name, err);
        return;
    }
    Bb__StartTakeReply reply = BB__START_TAKE_REPLY__INIT;
    reply.queued = (uint32_t)rc;
    closure(&reply, call);
}

static void s_abort(Bb__Capture_Service *service, const Bb__AbortRequest *req,
                    Bb__AbortReply_Closure closure, void *call)
{
    s_link_t *self = ((s_capture_svc_t *)service)->link;
    Bb__AbortReply reply = BB__ABORT_REPLY__INIT;
    if (req->queued_only) { /* a pause: the take sounding plays out, the queued ones go back */
        char **ids = NULL;
        size_t n = 0;
        if (node_recorder_withdraw(self->cfg.recorder, req->batch_id, &ids, &n)) {
            bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        if (n) /* a pause is sent to every node of the batch: most have none queued */
            bb_info("withdrew %zu queued take(s)%s%s", n, *req->reason ? ": " : "", req->reason);
        reply.withdrawn = ids;
        reply.n_withdrawn = n;
        reply.aborted = (uint32_t)n;
        closure(&reply, call);
        for (size_t i = 0; i < n; i++)
            free(ids[i]);
        free(ids);
        return;
    }
    int n = node_recorder_abort(self->cfg.recorder, req->batch_id);
    node_midi_sched_panic(self->cfg.midi);
    if (n > 0) /* said once: the coordinator's abort per instrument finds the rest gone */
        bb_info("aborted %d queued take(s)%s%s", n, *req->reason ? ": " : "", req->reason);
    reply.aborted = (uint32_t)n;
    closure(&reply, call);
}

/* ---- the actor ---- */

static void s_on_recorder(s_link_t *self)
{
    char *what = NULL, *id = NULL, *detail = NULL;
    if (zstr_recvx(self->pull, &what, &id, &detail, NULL) < 2)
        goto done;
    if (strcmp(what, "TAKE") == 0) {
        s_queue_push(&self->uploads, id);
    } else if (strcmp(what, "FAILED") == 0) {
        Bb__TakeFailedRequest req = BB__TAKE_FAILED_REQUEST__INIT;
        req.take_id = id;
        req.reason = detail ? detail : "";
        req.device_lost = detail && strncmp(detail, "audio device lost", 17) == 0;
        bb_rpc_call_async(self->rpc, NULL, &bb__node_link__descriptor, "TakeFailed", &req.base,
                          LINK_CALL_TIMEOUT_MS, NULL, NULL);
    }
done:
    zstr_free(&what);
    zstr_free(&id);
    zstr_free(&detail);
}

static void s_timers(s_link_t *self)
{
    int64_t now = s_now_ms();
    if (!self->registered) {
        if (!self->register_inflight && now >= self->next_register)
            s_register(self);
        s_quiet_check(self);
        return;
    }
    if (now >= self->next_heartbeat && !self->heartbeat_inflight) {
        s_heartbeat(self);
        self->next_heartbeat = now + self->heartbeat_ms;
    }
    if (self->cfg.meter && now >= self->next_meters && !self->meters_inflight) {
        s_meters(self);
        self->next_meters = now + LINK_METERS_MS;
    }
    if (!self->stream.active && self->uploads.n > 0 && now >= self->stream_retry_at)
        s_stream_start(self);
}

/* The actor's start-up hand-off, on node_link_new's stack. The actor reads cfg and sets
 * status, then signals through its pipe and never touches it again; node_link_new returns
 * after the signal. That signal travels through libzmq, which ThreadSanitizer cannot see,
 * so `handed` makes the same ordering explicit: released by the actor just before it
 * signals, acquired by node_link_new after. */
typedef struct {
    node_link_config_t cfg;
    int status; /* set by the actor before it signals */
    atomic_bool handed;
} s_start_t;

/* The actor is done with *start: status is final. */
static void s_start_signal(zsock_t *pipe, s_start_t *start, int status)
{
    start->status = status;
    atomic_store_explicit(&start->handed, true, memory_order_release);
    zsock_signal(pipe, status ? 1 : 0);
}

static void s_actor(zsock_t *pipe, void *args)
{
    s_start_t *start = args;
    s_link_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_start_signal(pipe, start, BB_ENOMEM);
        return;
    }
    self->cfg = start->cfg;
    self->heartbeat_ms = self->cfg.heartbeat_ms > 0 ? self->cfg.heartbeat_ms : 1000;
    self->backoff_ms = LINK_BACKOFF_MIN_MS;
    self->register_retry_ms = LINK_REGISTER_RETRY_MS;
    self->stream.fd = -1;
    char err[256];
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    opts.curve_cert = self->cfg.cert;
    opts.curve_server_key = self->cfg.server_key;
    self->rpc = bb_rpc_new_dealer(self->cfg.coordinator, &opts, err, sizeof err);
    self->pull = zsock_new_pull(NULL);
    if (!self->rpc || !self->pull || zsock_bind(self->pull, "%s", self->cfg.notify_endpoint) < 0) {
        bb_error("link: %s", self->rpc ? "cannot bind the recorder's socket" : err);
        bb_rpc_destroy(&self->rpc);
        zsock_destroy(&self->pull);
        free(self);
        s_start_signal(pipe, start, BB_EUNAVAIL);
        return;
    }
    self->capture.service = (Bb__Capture_Service)BB__CAPTURE__INIT(s_);
    self->capture.link = self;
    bb_rpc_serve(self->rpc, &self->capture.service.base);

    /* Takes left in the spool by an earlier run are sent first. */
    char **ids;
    size_t n;
    if (node_spool_list(self->cfg.spool, &ids, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            s_queue_push(&self->uploads, ids[i]);
            free(ids[i]);
        }
        free(ids);
        if (n)
            bb_info("%zu take(s) from an earlier run are waiting in the spool", n);
    }

    zpoller_t *poller = zpoller_new(pipe, bb_rpc_sock(self->rpc), self->pull, NULL);
    s_start_signal(pipe, start, 0);
    for (;;) {
        int timeout = LINK_TICK_MS;
        int rpc_timeout = bb_rpc_next_timeout_ms(self->rpc);
        if (rpc_timeout >= 0 && rpc_timeout < timeout)
            timeout = rpc_timeout;
        void *which = zpoller_wait(poller, timeout);
        if (which == pipe) {
            char *cmd = zstr_recv(pipe);
            bool term = !cmd || strcmp(cmd, "$TERM") == 0;
            zstr_free(&cmd);
            if (term)
                break;
        } else if (which == self->pull) {
            s_on_recorder(self);
        } else if (zpoller_terminated(poller)) {
            break;
        }
        bb_rpc_pump(self->rpc);
        s_timers(self);
    }
    zpoller_destroy(&poller);
    s_stream_close(self);
    bb_rpc_destroy(&self->rpc);
    zsock_destroy(&self->pull);
    for (size_t i = 0; i < self->uploads.n; i++)
        free(self->uploads.ids[i]);
    free(self->uploads.ids);
    free(self);
}

zactor_t *node_link_new(const node_link_config_t *cfg)
{
    s_start_t start = {.cfg = *cfg, .status = BB_EIO, .handed = false};
    zactor_t *actor = zactor_new(s_actor, &start); /* returns after the actor signalled */
    if (actor && (!atomic_load_explicit(&start.handed, memory_order_acquire) || start.status != 0))
        zactor_destroy(&actor);
    return actor;
}
