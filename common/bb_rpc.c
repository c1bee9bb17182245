/*
 * bb_rpc.c — the RPC layer of bb_rpc.h.
 *
 * Incoming messages are read one frame at a time in bb_rpc_pump(): a REQUEST is decoded,
 * checked (frame count, the caller's role, method, payload, deadline) and handed to the
 * service's invoke function with a call record as closure data; whatever the handler
 * answers (closure or bb_rpc_fail) is packed into one REPLY frame. A REPLY is matched by
 * call id and calling peer against the pending table; anything else (a late reply to a call
 * that already timed out, or a reply from a peer that was not called) is dropped. The
 * pending table is a small array: a node has a handful of calls in flight, never thousands.
 *
 * A ROUTER with max_peers keeps its connections under the limit through a bb_guard. A
 * DEALER watches its handshakes through a libzmq socket monitor (a PAIR over inproc) and
 * remembers why one failed, so that a caller is told the server refused its certificate
 * rather than only that no answer came.
 */
#include "bb_rpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_auth.h"
#include "bb_clock.h"
#include "bb_err.h"
#include "bb_guard.h"
#include "bb_log.h"

#define BB_RPC_MAX_SERVICES 8
#define BB_RPC_METHOD_MAX   128
#define BB_RPC_ROUTING_MAX  256 /* bytes of a routing id (libzmq's own limit is 255) */
#define BB_RPC_CALLER_MAX   64

typedef struct {
    uint64_t call_id;
    zframe_t *peer;        /* ROUTER: who was called (owned); NULL on a DEALER */
    int64_t deadline_mono; /* ns; 0 = none */
    const ProtobufCMessageDescriptor *output;
    bb_rpc_done_fn *done;
    void *arg;
    /* synchronous calls collect the outcome here instead of calling done */
    bool sync;
    bool complete;
    int status;
    char message[BB_RPC_MESSAGE_MAX];
    ProtobufCMessage *reply;
} s_pending_t;

struct bb_rpc_t {
    zsock_t *sock;
    bool router;
    bool curve;
    char role[16];
    bb_rpc_trust_fn *trust;
    void *trust_arg;
    char endpoint[256];
    ProtobufCService *services[BB_RPC_MAX_SERVICES];
    size_t n_services;
    s_pending_t *pending;
    size_t n_pending, cap_pending;
    uint64_t next_id;
    bb_guard_t *guard; /* ROUTER with max_peers: the connection limit */
    zsock_t *mon;      /* DEALER: handshake events */
    char handshake_error[512];
    /* a message with too many frames being dropped */
    bool dropping;
    size_t drop_frames;
    zframe_t *drop_peer;
    bb_rpc_stats_t stats;
};

/* A call being served. */
typedef struct {
    bb_rpc_t *rpc;
    const ProtobufCMethodDescriptor *method;
    zframe_t *peer;
    int64_t deadline_ms;
    bool answered;
    int status;
    char message[BB_RPC_MESSAGE_MAX];
    uint8_t *reply;
    size_t reply_len;
    const char *caller_name; /* NULL on plaintext */
    const char *caller_role;
} s_call_t;

const char *bb_status_name(int status)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&bb__status_code__descriptor, status);
    return v ? v->name : "UNKNOWN";
}

int bb_status_from_err(int err)
{
    switch (err) {
    case BB_OK:
        return BB_STATUS_OK;
    case BB_ENOSPACE:
    case BB_EMFILE:
    case BB_ENOMEM:
        return BB_STATUS_RESOURCE_EXHAUSTED;
    case BB_EACCES:
    case BB_EROFS:
    case BB_ESTATE:
        return BB_STATUS_FAILED_PRECONDITION;
    case BB_ENOTFOUND:
        return BB_STATUS_NOT_FOUND;
    case BB_EINVAL:
        return BB_STATUS_INVALID_ARGUMENT;
    case BB_EEXIST:
        return BB_STATUS_ALREADY_EXISTS;
    case BB_ETIMEDOUT:
        return BB_STATUS_DEADLINE_EXCEEDED;
    case BB_EUNAVAIL:
        return BB_STATUS_UNAVAILABLE;
    default:
        return BB_STATUS_INTERNAL;
    }
}

/* ---- the socket monitor ---- */

/* Handles one handshake event of a DEALER; returns false when none is waiting. */
static bool s_monitor_one(bb_rpc_t *self)
{
    zmsg_t *msg = zmsg_recv_nowait(self->mon);
    if (!msg)
        return false;
    zframe_t *head = zmsg_first(msg);
    if (head && zframe_size(head) >= 6) {
        uint16_t event;
        uint32_t value;
        memcpy(&event, zframe_data(head), 2);
        memcpy(&value, zframe_data(head) + 2, 4);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            self->handshake_error[0] = '\0';
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            snprintf(self->handshake_error, sizeof self->handshake_error,
                     "%.200s refused this certificate (ZAP status %u): it is not among the "
                     "certificates the server trusts",
                     self->endpoint, value);
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                 event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            snprintf(self->handshake_error, sizeof self->handshake_error,
                     self->curve
                         ? "the handshake with %.200s failed: it does not use CURVE, or its "
                           "key is not the one given"
                         : "the handshake with %.200s failed: it requires CURVE (give a "
                           "certificate)",
                     self->endpoint);
    }
    zmsg_destroy(&msg);
    return true;
}

static void s_monitor_pump(bb_rpc_t *self)
{
    bb_guard_pump(self->guard);
    if (!self->mon)
        return;
    while (s_monitor_one(self)) {
    }
}

static int s_monitor_start(bb_rpc_t *self)
{
    static uint64_t counter;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://bb-rpc-monitor-%p-%llu", (void *)self,
             (unsigned long long)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (zmq_socket_monitor(zsock_resolve(self->sock), ep, events) != 0)
        return BB_EIO;
    self->mon = zsock_new_pair(NULL);
    if (!self->mon || zsock_connect(self->mon, "%s", ep) != 0) {
        zmq_socket_monitor(zsock_resolve(self->sock), NULL, 0);
        zsock_destroy(&self->mon);
        return BB_EIO;
    }
    return 0;
}

/* ---- construction ---- */

static bb_rpc_t *s_new(bool router, const char *endpoint, const bb_rpc_opts_t *opts, char *err,
                       size_t errlen)
{
    bb_rpc_opts_t defaults = BB_RPC_OPTS_INIT;
    if (!opts)
        opts = &defaults;
    if (!endpoint || !*endpoint) {
        snprintf(err, errlen, "no endpoint given");
        return NULL;
    }
    if (!router && opts->curve_cert && !opts->curve_server_key) {
        snprintf(err, errlen, "a CURVE client needs the server's public key");
        return NULL;
    }
    bb_rpc_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->router = router;
    self->curve = opts->curve_cert != NULL;
    snprintf(self->role, sizeof self->role, "%s", router && opts->role ? opts->role : "");
    snprintf(self->endpoint, sizeof self->endpoint, "%s", endpoint);
    self->sock = zsock_new(router ? ZMQ_ROUTER : ZMQ_DEALER);
    if (!self->sock) {
        snprintf(err, errlen, "cannot create a ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
        free(self);
        return NULL;
    }
    zsock_set_maxmsgsize(self->sock, opts->max_msg_size);
    zsock_set_sndhwm(self->sock, opts->hwm);
    zsock_set_rcvhwm(self->sock, opts->hwm);
    zsock_set_linger(self->sock, opts->linger_ms);
    zsock_set_sndtimeo(self->sock, 0);
    zsock_set_rcvtimeo(self->sock, 0); /* frames are read only when the poller said so */
    if (router) {
        zsock_set_router_mandatory(self->sock, 1);
        zsock_set_handshake_ivl(self->sock, BB_RPC_HANDSHAKE_MS);
    } else if (opts->identity) {
        zsock_set_identity(self->sock, opts->identity);
    }
    if (opts->curve_cert) {
        zcert_apply(opts->curve_cert, self->sock);
        if (router) {
            zsock_set_zap_domain(self->sock, BB_AUTH_ZAP_DOMAIN);
            zsock_set_curve_server(self->sock, 1);
        } else {
            zsock_set_curve_serverkey(self->sock, opts->curve_server_key);
        }
    }
    /* the monitors first, so that no connection is missed */
    if (router && opts->max_peers > 0) {
        self->guard = bb_guard_new(self->sock, opts->max_peers, endpoint);
        if (!self->guard) {
            snprintf(err, errlen, "cannot watch the connections of %s: %s", endpoint,
                     zmq_strerror(zmq_errno()));
            bb_rpc_destroy(&self);
            return NULL;
        }
    } else if (!router && s_monitor_start(self) != 0) {
        bb_warn("%s: no socket monitor (%s)", endpoint, zmq_strerror(zmq_errno()));
    }
    int rc =
        router ? zsock_bind(self->sock, "%s", endpoint) : zsock_connect(self->sock, "%s", endpoint);
    if (rc < 0) {
        snprintf(err, errlen, "cannot %s %s: %s", router ? "bind" : "connect to", endpoint,
                 zmq_strerror(zmq_errno()));
        bb_rpc_destroy(&self);
        return NULL;
    }
    bb_guard_bound(self->guard);
    self->next_id = ((uint64_t)bb_mono_ns() << 16) ^ (uint64_t)(uintptr_t)self;
    return self;
}

bb_rpc_t *bb_rpc_new_router(const char *endpoint, const bb_rpc_opts_t *opts, char *err,
                            size_t errlen)
{
    return s_new(true, endpoint, opts, err, errlen);
}

bb_rpc_t *bb_rpc_new_dealer(const char *endpoint, const bb_rpc_opts_t *opts, char *err,
                            size_t errlen)
{
    return s_new(false, endpoint, opts, err, errlen);
}

static void s_complete(s_pending_t *p, int status, const char *message, ProtobufCMessage *reply)
{
    if (p->sync) {
        p->complete = true;
        p->status = status;
        snprintf(p->message, sizeof p->message, "%s", message ? message : "");
        p->reply = reply;
        return;
    }
    zframe_destroy(&p->peer);
    if (p->done)
        p->done(p->arg, status, message ? message : "", reply);
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);
}

/* Removes entry i from the pending table (order is not kept). */
static s_pending_t s_take(bb_rpc_t *self, size_t i)
{
    s_pending_t p = self->pending[i];
    self->pending[i] = self->pending[--self->n_pending];
    return p;
}

void bb_rpc_destroy(bb_rpc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bb_rpc_t *self = *self_p;
    while (self->n_pending > 0) {
        s_pending_t p = s_take(self, self->n_pending - 1);
        if (!p.sync)
            s_complete(&p, BB_STATUS_CANCELLED, "the connection was closed", NULL);
        else
            zframe_destroy(&p.peer);
    }
    free(self->pending);
    bb_guard_destroy(&self->guard);
    if (self->mon) {
        zmq_socket_monitor(zsock_resolve(self->sock), NULL, 0);
        zsock_destroy(&self->mon);
    }
    zframe_destroy(&self->drop_peer);
    zsock_destroy(&self->sock);
    free(self);
    *self_p = NULL;
}

zsock_t *bb_rpc_sock(bb_rpc_t *self)
{
    return self->sock;
}

zsock_t *bb_rpc_monitor_sock(bb_rpc_t *self)
{
    return self->guard ? bb_guard_sock(self->guard) : self->mon;
}

const char *bb_rpc_endpoint(bb_rpc_t *self)
{
    return self->endpoint;
}

const char *bb_rpc_handshake_error(bb_rpc_t *self)
{
    s_monitor_pump(self);
    return self->handshake_error;
}

void bb_rpc_stats(bb_rpc_t *self, bb_rpc_stats_t *out)
{
    s_monitor_pump(self);
    *out = self->stats;
    out->peers = bb_guard_peers(self->guard);
    out->peers_refused = bb_guard_refused(self->guard);
}

int bb_rpc_serve(bb_rpc_t *self, ProtobufCService *service)
{
    if (!service || !service->descriptor || self->n_services >= BB_RPC_MAX_SERVICES)
        return BB_EINVAL;
    self->services[self->n_services++] = service;
    return 0;
}

size_t bb_rpc_pending(bb_rpc_t *self)
{
    return self->n_pending;
}

/* ---- sending ---- */

/* Packs `frame` and sends it, to `peer` on a ROUTER. Returns 0 or BB_EUNAVAIL. */
static int s_send_frame(bb_rpc_t *self, zframe_t *peer, const Bb__RpcFrame *frame)
{
    size_t len = bb__rpc_frame__get_packed_size(frame);
    zframe_t *body = zframe_new(NULL, len);
    if (!body)
        return BB_ENOMEM;
    bb__rpc_frame__pack(frame, zframe_data(body));
    zmsg_t *msg = zmsg_new();
    if (self->router) {
        if (!peer) {
            zframe_destroy(&body);
            zmsg_destroy(&msg);
            return BB_EINVAL;
        }
        zmsg_append(msg, &(zframe_t *){zframe_dup(peer)});
    }
    zmsg_append(msg, &body);
    if (zmsg_send(&msg, self->sock) != 0) {
        zmsg_destroy(&msg);
        return BB_EUNAVAIL;
    }
    return 0;
}

static int s_method_path(const ProtobufCServiceDescriptor *svc, const char *method, char *out,
                         size_t len)
{
    int n = snprintf(out, len, "/%s/%s", svc->name, method);
    return n > 0 && (size_t)n < len ? 0 : BB_EINVAL;
}

static int s_start_call(bb_rpc_t *self, zframe_t *peer, const ProtobufCServiceDescriptor *svc,
                        const char *method, const ProtobufCMessage *request, int timeout_ms,
                        s_pending_t *entry)
{
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(svc, method);
    if (!m || !request || request->descriptor != m->input)
        return BB_EINVAL;
    char path[BB_RPC_METHOD_MAX];
    if (s_method_path(svc, method, path, sizeof path))
        return BB_EINVAL;
    if (self->n_pending == self->cap_pending) {
        size_t cap = self->cap_pending ? self->cap_pending * 2 : 16;
        s_pending_t *np = realloc(self->pending, cap * sizeof *np);
        if (!np)
            return BB_ENOMEM;
        self->pending = np;
        self->cap_pending = cap;
    }
    size_t len = protobuf_c_message_get_packed_size(request);
    uint8_t *payload = malloc(len ? len : 1);
    if (!payload)
        return BB_ENOMEM;
    protobuf_c_message_pack(request, payload);

    Bb__RpcFrame frame = BB__RPC_FRAME__INIT;
    frame.kind = BB__RPC_FRAME__KIND__REQUEST;
    frame.call_id = ++self->next_id;
    frame.method = path;
    frame.deadline_ms = timeout_ms > 0 ? bb_unix_ms() + timeout_ms : 0;
    frame.payload.data = payload;
    frame.payload.len = len;
    int rc = s_send_frame(self, peer, &frame);
    free(payload);
    if (rc)
        return rc;
    entry->call_id = frame.call_id;
    entry->peer = self->router && peer ? zframe_dup(peer) : NULL;
    entry->deadline_mono = timeout_ms > 0 ? bb_mono_ns() + (int64_t)timeout_ms * BB_NS_PER_MS : 0;
    entry->output = m->output;
    self->pending[self->n_pending++] = *entry;
    return 0;
}

int bb_rpc_call_async(bb_rpc_t *self, zframe_t *peer, const ProtobufCServiceDescriptor *svc,
                      const char *method, const ProtobufCMessage *request, int timeout_ms,
                      bb_rpc_done_fn *done, void *arg)
{
    s_pending_t entry = {.done = done, .arg = arg};
    return s_start_call(self, peer, svc, method, request, timeout_ms, &entry);
}

/* ---- serving ---- */

static void s_reply(bb_rpc_t *self, zframe_t *peer, uint64_t call_id, int status,
                    const char *message, const uint8_t *payload, size_t len)
{
    Bb__RpcFrame frame = BB__RPC_FRAME__INIT;
    frame.kind = BB__RPC_FRAME__KIND__REPLY;
    frame.call_id = call_id;
    frame.status = (Bb__StatusCode)status;
    frame.message = (char *)(message ? message : "");
    frame.payload.data = (uint8_t *)payload;
    frame.payload.len = len;
    if (s_send_frame(self, peer, &frame) != 0)
        bb_debug("rpc: reply to call %llu could not be sent (peer gone)",
                 (unsigned long long)call_id);
}

static void s_closure(const ProtobufCMessage *msg, void *data)
{
    s_call_t *call = data;
    if (call->answered)
        return;
    call->answered = true;
    if (!msg) {
        call->status = BB_STATUS_INTERNAL;
        snprintf(call->message, sizeof call->message, "%s returned no reply", call->method->name);
        return;
    }
    if (msg->descriptor != call->method->output) {
        call->status = BB_STATUS_INTERNAL;
        snprintf(call->message, sizeof call->message, "%s replied with a %s, not a %s",
                 call->method->name, msg->descriptor->name, call->method->output->name);
        return;
    }
    size_t len = protobuf_c_message_get_packed_size(msg);
    call->reply = malloc(len ? len : 1);
    if (!call->reply) {
        call->status = BB_STATUS_RESOURCE_EXHAUSTED;
        snprintf(call->message, sizeof call->message, "out of memory packing the reply");
        return;
    }
    call->reply_len = protobuf_c_message_pack(msg, call->reply);
    call->status = BB_STATUS_OK;
}

void bb_rpc_fail(void *data, int status, const char *fmt, ...)
{
    s_call_t *call = data;
    if (call->answered)
        return;
    call->answered = true;
    call->status = status == BB_STATUS_OK ? BB_STATUS_INTERNAL : status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->message, sizeof call->message, fmt, ap);
    va_end(ap);
}

zframe_t *bb_rpc_peer(void *data)
{
    return ((s_call_t *)data)->peer;
}

const char *bb_rpc_caller_name(void *data)
{
    return ((s_call_t *)data)->caller_name;
}

const char *bb_rpc_caller_role(void *data)
{
    return ((s_call_t *)data)->caller_role;
}

int64_t bb_rpc_deadline_ms(void *data)
{
    return ((s_call_t *)data)->deadline_ms;
}

bb_rpc_t *bb_rpc_call_endpoint(void *data)
{
    return ((s_call_t *)data)->rpc;
}

typedef void (*s_handler_fn)(ProtobufCService *, const ProtobufCMessage *, ProtobufCClosure,
                             void *);

/* Finds the service and method named by "/pkg.Service/Method". */
static ProtobufCService *s_lookup(bb_rpc_t *self, const char *path,
                                  const ProtobufCMethodDescriptor **method)
{
    if (!path || path[0] != '/')
        return NULL;
    const char *slash = strchr(path + 1, '/');
    if (!slash)
        return NULL;
    size_t svc_len = (size_t)(slash - path - 1);
    for (size_t i = 0; i < self->n_services; i++) {
        ProtobufCService *s = self->services[i];
        if (strlen(s->descriptor->name) == svc_len &&
            strncmp(s->descriptor->name, path + 1, svc_len) == 0) {
            *method = protobuf_c_service_descriptor_get_method_by_name(s->descriptor, slash + 1);
            return *method ? s : NULL;
        }
    }
    return NULL;
}

/* Who sent a message, from the metadata zauth attached to its connection. */
typedef struct {
    char name[BB_RPC_CALLER_MAX];
    char role[16];
    char key[48]; /* public key, Z85 (40 characters) */
} s_caller_t;

void bb_rpc_set_trust(bb_rpc_t *self, bb_rpc_trust_fn *fn, void *arg)
{
    self->trust = fn;
    self->trust_arg = arg;
}

static void s_serve_request(bb_rpc_t *self, zframe_t *peer, const Bb__RpcFrame *req,
                            const s_caller_t *caller)
{
    if (self->curve && *self->role && strcmp(caller->role, self->role) != 0) {
        /* Decided before the method is even looked up: a certificate of another role
         * learns nothing about this endpoint but that it is not for it. */
        char text[BB_RPC_MESSAGE_MAX];
        snprintf(text, sizeof text,
                 "this endpoint serves %ss; the certificate '%s' is %s%s certificate", self->role,
                 caller->name, *caller->role ? "a " : "not a valid",
                 *caller->role ? caller->role : "");
        s_reply(self, peer, req->call_id, BB_STATUS_PERMISSION_DENIED, text, NULL, 0);
        self->stats.denied++;
        if (self->stats.denied == 1 || self->stats.denied % 100 == 0)
            bb_warn("%s: refused %s from '%s' (role '%s'): %llu refusal(s) so far", self->endpoint,
                    req->method ? req->method : "a call", caller->name, caller->role,
                    (unsigned long long)self->stats.denied);
        return;
    }
    if (self->curve && self->trust &&
        !self->trust(self->trust_arg, caller->key, caller->name, caller->role)) {
        char text[BB_RPC_MESSAGE_MAX];
        snprintf(text, sizeof text,
                 "the certificate '%s' is no longer trusted here (revoked); ask for a new one "
                 "(batcherbird keys new)",
                 caller->name);
        s_reply(self, peer, req->call_id, BB_STATUS_UNAUTHENTICATED, text, NULL, 0);
        self->stats.revoked++;
        if (self->stats.revoked == 1 || self->stats.revoked % 100 == 0)
            bb_warn("%s: refused %s from '%s' (role '%s'): its certificate was revoked; %llu "
                    "refusal(s) so far",
                    self->endpoint, req->method ? req->method : "a call", caller->name,
                    caller->role, (unsigned long long)self->stats.revoked);
        return;
    }
    const ProtobufCMethodDescriptor *method = NULL;
    ProtobufCService *service = s_lookup(self, req->method, &method);
    if (!service) {
        s_reply(self, peer, req->call_id, BB_STATUS_UNIMPLEMENTED,
                "this server has no method with that name", NULL, 0);
        bb_debug("rpc: unimplemented method %.128s", req->method ? req->method : "(none)");
        return;
    }
    /* Generated services keep their handlers right after the base; a NULL one is not
     * implemented (protobuf-c would call through it). */
    if (service->invoke == protobuf_c_service_invoke_internal) {
        s_handler_fn *handlers = (s_handler_fn *)(service + 1);
        if (!handlers[method - service->descriptor->methods]) {
            s_reply(self, peer, req->call_id, BB_STATUS_UNIMPLEMENTED,
                    "this server does not implement that method", NULL, 0);
            return;
        }
    }
    if (req->deadline_ms > 0 && bb_unix_ms() > req->deadline_ms) {
        s_reply(self, peer, req->call_id, BB_STATUS_DEADLINE_EXCEEDED,
                "the call's deadline passed before it could run", NULL, 0);
        return;
    }
    ProtobufCMessage *input =
        protobuf_c_message_unpack(method->input, NULL, req->payload.len, req->payload.data);
    if (!input) {
        char text[BB_RPC_MESSAGE_MAX];
        snprintf(text, sizeof text, "the request is not a valid %s message", method->input->name);
        s_reply(self, peer, req->call_id, BB_STATUS_INVALID_ARGUMENT, text, NULL, 0);
        return;
    }
    s_call_t call = {.rpc = self,
                     .method = method,
                     .peer = peer,
                     .deadline_ms = req->deadline_ms,
                     .caller_name = self->curve ? caller->name : NULL,
                     .caller_role = self->curve ? caller->role : NULL};
    service->invoke(service, (unsigned)(method - service->descriptor->methods), input, s_closure,
                    &call);
    protobuf_c_message_free_unpacked(input, NULL);
    if (!call.answered) {
        call.status = BB_STATUS_INTERNAL;
        snprintf(call.message, sizeof call.message, "%s did not answer", method->name);
    }
    s_reply(self, peer, req->call_id, call.status, call.message,
            call.status == BB_STATUS_OK ? call.reply : NULL,
            call.status == BB_STATUS_OK ? call.reply_len : 0);
    free(call.reply);
}

static void s_handle_reply(bb_rpc_t *self, zframe_t *peer, const Bb__RpcFrame *rep)
{
    for (size_t i = 0; i < self->n_pending; i++) {
        if (self->pending[i].call_id != rep->call_id)
            continue;
        if (self->router &&
            !(self->pending[i].peer && peer && zframe_eq(self->pending[i].peer, peer))) {
            bb_warn("rpc %s: dropped a reply to call %llu from a peer that was not called",
                    self->endpoint, (unsigned long long)rep->call_id);
            return;
        }
        bool sync = self->pending[i].sync;
        s_pending_t p = sync ? self->pending[i] : s_take(self, i);
        s_pending_t *target = sync ? &self->pending[i] : &p;
        if (rep->status != BB_STATUS_OK) {
            s_complete(target, rep->status, rep->message, NULL);
        } else {
            ProtobufCMessage *reply =
                protobuf_c_message_unpack(p.output, NULL, rep->payload.len, rep->payload.data);
            if (!reply)
                s_complete(target, BB_STATUS_INTERNAL, "the reply did not decode", NULL);
            else
                s_complete(target, BB_STATUS_OK, "", reply);
        }
        return;
    }
    bb_debug("rpc: dropped a reply to unknown call %llu (timed out earlier?)",
             (unsigned long long)rep->call_id);
}

/* Receives one frame without waiting (the socket's receive timeout is 0); *more says
 * whether the message goes on. */
static zframe_t *s_recv_frame(bb_rpc_t *self, bool *more, s_caller_t *caller)
{
    zframe_t *frame = zframe_recv(self->sock);
    if (!frame)
        return NULL;
    *more = zframe_more(frame) != 0;
    if (caller) {
        const char *name = zframe_meta(frame, "name");
        const char *role = zframe_meta(frame, "role");
        const char *key = zframe_meta(frame, "User-Id");
        snprintf(caller->name, sizeof caller->name, "%s", name ? name : "");
        snprintf(caller->role, sizeof caller->role, "%s", role ? role : "");
        snprintf(caller->key, sizeof caller->key, "%s", key ? key : "");
    }
    return frame;
}

/* Drops the frames of an over-long message as they are read; at the end, says so to the
 * sender (on a ROUTER, once its routing id is known). Returns 1 if a frame was read. */
static int s_drop_more(bb_rpc_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, zsock_resolve(self->sock), ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return 0;
    }
    bool more = zmq_msg_more(&msg) != 0;
    zmq_msg_close(&msg);
    self->drop_frames++;
    if (more)
        return 1;
    self->dropping = false;
    self->stats.dropped++;
    self->stats.dropped_frames += self->drop_frames;
    if (self->stats.dropped == 1 || self->stats.dropped % 100 == 0)
        bb_warn("rpc %s: dropped a message of %zu frames (one is allowed): %llu so far",
                self->endpoint, self->drop_frames, (unsigned long long)self->stats.dropped);
    if (!self->router || self->drop_peer)
        s_reply(self, self->drop_peer, 0, BB_STATUS_INVALID_ARGUMENT,
                "malformed message: expected exactly one frame", NULL, 0);
    zframe_destroy(&self->drop_peer);
    return 1;
}

/* Reads and handles one message; returns 1 if anything was read, 0 if nothing waits. */
static int s_handle_one(bb_rpc_t *self)
{
    if (self->dropping)
        return s_drop_more(self);
    bool more = false;
    s_caller_t caller = {.name = "", .role = "", .key = ""};
    zframe_t *peer = NULL, *body = NULL;
    if (self->router) {
        peer = s_recv_frame(self, &more, NULL);
        if (!peer)
            return 0;
        if (!more || zframe_size(peer) > BB_RPC_ROUTING_MAX) { /* cannot happen on a ROUTER */
            zframe_destroy(&peer);
            return 1;
        }
    }
    body = s_recv_frame(self, &more, &caller);
    if (!body) {
        bool had_peer = peer != NULL;
        zframe_destroy(&peer);
        return had_peer ? 1 : 0;
    }
    if (more) { /* a frame too many: drop the rest as it is read, then answer */
        zframe_destroy(&body);
        self->dropping = true;
        self->drop_frames = self->router ? 2 : 1;
        self->drop_peer = peer;
        return 1;
    }
    Bb__RpcFrame *frame = bb__rpc_frame__unpack(NULL, zframe_size(body), zframe_data(body));
    zframe_destroy(&body);
    if (!frame) {
        s_reply(self, peer, 0, BB_STATUS_INVALID_ARGUMENT, "malformed message: not a bb.RpcFrame",
                NULL, 0);
    } else if (frame->kind == BB__RPC_FRAME__KIND__REQUEST) {
        s_serve_request(self, peer, frame, &caller);
    } else {
        s_handle_reply(self, peer, frame);
    }
    if (frame)
        bb__rpc_frame__free_unpacked(frame, NULL);
    zframe_destroy(&peer);
    return 1;
}

void bb_rpc_expire(bb_rpc_t *self)
{
    int64_t now = bb_mono_ns();
    for (size_t i = 0; i < self->n_pending;) {
        s_pending_t *p = &self->pending[i];
        if (p->complete || p->deadline_mono == 0 || now < p->deadline_mono) {
            i++;
            continue;
        }
        const char *why = "no reply before the deadline";
        int status = BB_STATUS_DEADLINE_EXCEEDED;
        if (self->handshake_error[0]) { /* the server refused us: say so, not "no reply" */
            why = self->handshake_error;
            status = BB_STATUS_UNAUTHENTICATED;
        }
        if (p->sync) {
            s_complete(p, status, why, NULL);
            i++;
        } else {
            s_pending_t taken = s_take(self, i);
            s_complete(&taken, status, why, NULL);
        }
    }
}

int bb_rpc_pump(bb_rpc_t *self)
{
    s_monitor_pump(self);
    int n = 0;
    while (n < BB_RPC_PUMP_MAX && s_handle_one(self))
        n++;
    bb_rpc_expire(self);
    return n;
}

int bb_rpc_next_timeout_ms(bb_rpc_t *self)
{
    int64_t now = bb_mono_ns(), best = -1;
    for (size_t i = 0; i < self->n_pending; i++) {
        const s_pending_t *p = &self->pending[i];
        if (p->complete || p->deadline_mono == 0)
            continue;
        int64_t left = p->deadline_mono - now;
        if (left < 0)
            left = 0;
        if (best < 0 || left < best)
            best = left;
    }
    return best < 0 ? -1 : (int)((best + BB_NS_PER_MS - 1) / BB_NS_PER_MS);
}

/* ---- synchronous calls ---- */

int bb_rpc_call(bb_rpc_t *self, const ProtobufCServiceDescriptor *svc, const char *method,
                const ProtobufCMessage *request, int timeout_ms, ProtobufCMessage **reply,
                char *msg, size_t msglen)
{
    char scratch[8];
    if (!msg) {
        msg = scratch;
        msglen = sizeof scratch;
    }
    *reply = NULL;
    s_pending_t entry = {.sync = true};
    int rc = s_start_call(self, NULL, svc, method, request, timeout_ms, &entry);
    if (rc == BB_EINVAL) {
        snprintf(msg, msglen, "%s is not a method of %s taking that request", method, svc->name);
        return BB_STATUS_INVALID_ARGUMENT;
    }
    if (rc) {
        snprintf(msg, msglen, "cannot send to %s: %s", self->endpoint, bb_strerror(rc));
        return BB_STATUS_UNAVAILABLE;
    }
    uint64_t id = entry.call_id;
    zpoller_t *poller = zpoller_new(self->sock, NULL);
    if (self->mon)
        zpoller_add(poller, self->mon);
    for (;;) {
        size_t i;
        for (i = 0; i < self->n_pending && self->pending[i].call_id != id; i++) {
        }
        if (i == self->n_pending) { /* cannot happen: only we remove sync entries */
            zpoller_destroy(&poller);
            snprintf(msg, msglen, "internal error: call lost");
            return BB_STATUS_INTERNAL;
        }
        if (self->pending[i].complete) {
            s_pending_t done = s_take(self, i);
            zpoller_destroy(&poller);
            zframe_destroy(&done.peer);
            snprintf(msg, msglen, "%s", done.message);
            *reply = done.reply;
            return done.status;
        }
        int wait = bb_rpc_next_timeout_ms(self);
        zpoller_wait(poller, wait < 0 ? 1000 : wait);
        if (zpoller_terminated(poller)) {
            s_pending_t done = s_take(self, i);
            zframe_destroy(&done.peer);
            zpoller_destroy(&poller);
            snprintf(msg, msglen, "interrupted");
            return BB_STATUS_CANCELLED;
        }
        bb_rpc_pump(self);
    }
}
