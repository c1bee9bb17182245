/*
 * test_rpc.c — the RPC layer over real ZeroMQ sockets (inproc and ipc): dispatch by
 * method name, status codes and messages, undecodable and malformed input, deadlines
 * on both sides, async calls, calls from the ROUTER side to a DEALER that serves, and a
 * peer that never answers. Uses the bb.Operator service with handlers written here.
 * Then what a hostile peer meets: a reply forged by a peer that was not called, a
 * message with extra frames, CURVE with zauth (a stranger's key, a plaintext client, a
 * certificate of the wrong role), and more connections than an endpoint takes.
 */
#include <czmq.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "bb_auth.h"
#include "bb_clock.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_rpc.h"
#include "node.pb-c.h"
#include "operator.pb-c.h"
#include "test_util.h"

#define SLOW_BATCH    999
#define MISSING_BATCH 404

/* ---- a test server in an actor ---- */

static void s_list_nodes(Bb__Operator_Service *svc, const Bb__ListNodesRequest *in,
                         Bb__ListNodesReply_Closure closure, void *call)
{
    Bb__NodeInfo info = BB__NODE_INFO__INIT;
    info.name = "alpha";
    info.online = true;
    Bb__NodeInfo *list[] = {&info};
    Bb__ListNodesReply reply = BB__LIST_NODES_REPLY__INIT;
    reply.nodes = list;
    reply.n_nodes = 1;
    closure(&reply, call);
}

static void s_get_batch(Bb__Operator_Service *svc, const Bb__BatchRequest *in,
                        Bb__BatchStatus_Closure closure, void *call)
{
    if (in->batch_id == MISSING_BATCH) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "no batch %llu", (unsigned long long)in->batch_id);
        return;
    }
    if (in->batch_id == SLOW_BATCH)
        bb_sleep_ms(400);
    Bb__BatchStatus st = BB__BATCH_STATUS__INIT;
    st.id = in->batch_id;
    st.name = "echo";
    closure(&st, call);
}

/* Answers with the wrong message type: the layer must turn that into INTERNAL. */
static void s_pause_batch(Bb__Operator_Service *svc, const Bb__BatchRequest *in,
                          Bb__ControlReply_Closure closure, void *call)
{
    Bb__BatchRequest wrong = BB__BATCH_REQUEST__INIT;
    closure((const Bb__ControlReply *)&wrong, call);
}

/* Never answers. */
static void s_resume_batch(Bb__Operator_Service *svc, const Bb__BatchRequest *in,
                           Bb__ControlReply_Closure closure, void *call)
{
}

static void s_server(zsock_t *pipe, void *args)
{
    char err[256];
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    opts.max_msg_size = 64 * 1024;
    bb_rpc_t *rpc = bb_rpc_new_router((const char *)args, &opts, err, sizeof err);
    /* submit_batch, list_batches and cancel_batch stay NULL: "not implemented". */
    Bb__Operator_Service svc = {.base = BB__OPERATOR__BASE_INIT,
                                .list_nodes = s_list_nodes,
                                .get_batch = s_get_batch,
                                .pause_batch = s_pause_batch,
                                .resume_batch = s_resume_batch};
    bb_rpc_serve(rpc, &svc.base);
    zpoller_t *poller = zpoller_new(pipe, bb_rpc_sock(rpc), NULL);
    zsock_signal(pipe, 0);
    for (;;) {
        void *which = zpoller_wait(poller, 50);
        if (which == pipe)
            break;
        bb_rpc_pump(rpc);
    }
    zpoller_destroy(&poller);
    bb_rpc_destroy(&rpc);
}

typedef struct {
    zactor_t *server;
    bb_rpc_t *client;
    char endpoint[64];
} s_fixture_t;

static int s_setup(void **state)
{
    static int n;
    s_fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc:///tmp/bbtest-rpc-%d-%d.ipc", (int)getpid(),
             n++);
    f->server = zactor_new(s_server, f->endpoint);
    char err[256];
    f->client = bb_rpc_new_dealer(f->endpoint, NULL, err, sizeof err);
    assert_non_null(f->client);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    s_fixture_t *f = *state;
    bb_rpc_destroy(&f->client);
    zactor_destroy(&f->server);
    unlink(f->endpoint + strlen("ipc://")); /* ZeroMQ leaves the socket file behind */
    free(f);
    return 0;
}

/* Sends a hand-made frame and waits for the reply frame. */
static Bb__RpcFrame *s_raw_call(bb_rpc_t *client, const void *data, size_t len)
{
    zsock_t *sock = bb_rpc_sock(client);
    zframe_t *frame = zframe_new(data, len);
    zframe_send(&frame, sock, 0);
    zpoller_t *p = zpoller_new(sock, NULL);
    void *which = zpoller_wait(p, 2000);
    zpoller_destroy(&p);
    if (!which)
        return NULL;
    zframe_t *reply = zframe_recv(sock);
    Bb__RpcFrame *out = bb__rpc_frame__unpack(NULL, zframe_size(reply), zframe_data(reply));
    zframe_destroy(&reply);
    return out;
}

static Bb__RpcFrame *s_request(bb_rpc_t *client, const char *method, const void *payload,
                               size_t len, int64_t deadline_ms)
{
    Bb__RpcFrame f = BB__RPC_FRAME__INIT;
    f.kind = BB__RPC_FRAME__KIND__REQUEST;
    f.call_id = 42;
    f.method = (char *)method;
    f.deadline_ms = deadline_ms;
    f.payload.data = (uint8_t *)payload;
    f.payload.len = len;
    uint8_t buf[512];
    size_t n = bb__rpc_frame__pack(&f, buf);
    return s_raw_call(client, buf, n);
}

/* ---- tests ---- */

static void test_call_ok_and_status(void **state)
{
    s_fixture_t *f = *state;
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    char msg[256];
    int st = bb_rpc_call(f->client, &bb__operator__descriptor, "ListNodes", &req.base, 2000, &reply,
                         msg, sizeof msg);
    assert_int_equal(st, BB_STATUS_OK);
    Bb__ListNodesReply *r = (Bb__ListNodesReply *)reply;
    assert_int_equal(r->n_nodes, 1);
    assert_string_equal(r->nodes[0]->name, "alpha");
    protobuf_c_message_free_unpacked(reply, NULL);

    Bb__BatchRequest b = BB__BATCH_REQUEST__INIT;
    b.batch_id = MISSING_BATCH;
    st = bb_rpc_call(f->client, &bb__operator__descriptor, "GetBatch", &b.base, 2000, &reply, msg,
                     sizeof msg);
    assert_int_equal(st, BB_STATUS_NOT_FOUND);
    assert_null(reply);
    assert_string_equal(msg, "no batch 404");
    assert_string_equal(bb_status_name(st), "NOT_FOUND");

    b.batch_id = 7;
    st = bb_rpc_call(f->client, &bb__operator__descriptor, "GetBatch", &b.base, 2000, &reply, msg,
                     sizeof msg);
    assert_int_equal(st, BB_STATUS_OK);
    assert_int_equal(((Bb__BatchStatus *)reply)->id, 7);
    protobuf_c_message_free_unpacked(reply, NULL);
}

static void test_unimplemented(void **state)
{
    s_fixture_t *f = *state;
    /* a handler left NULL */
    Bb__BatchSpec spec = BB__BATCH_SPEC__INIT;
    ProtobufCMessage *reply = NULL;
    char msg[256];
    int st = bb_rpc_call(f->client, &bb__operator__descriptor, "SubmitBatch", &spec.base, 2000,
                         &reply, msg, sizeof msg);
    assert_int_equal(st, BB_STATUS_UNIMPLEMENTED);
    /* a method the server has never heard of */
    Bb__RpcFrame *r = s_request(f->client, "/bb.Operator/Explode", NULL, 0, 0);
    assert_non_null(r);
    assert_int_equal(r->call_id, 42);
    assert_int_equal(r->status, BB_STATUS_UNIMPLEMENTED);
    bb__rpc_frame__free_unpacked(r, NULL);
    /* a service the server does not serve */
    r = s_request(f->client, "/bb.NodeLink/Heartbeat", NULL, 0, 0);
    assert_int_equal(r->status, BB_STATUS_UNIMPLEMENTED);
    bb__rpc_frame__free_unpacked(r, NULL);
}

static void test_undecodable_payload(void **state)
{
    s_fixture_t *f = *state;
    const uint8_t garbage[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x99};
    Bb__RpcFrame *r = s_request(f->client, "/bb.Operator/GetBatch", garbage, sizeof garbage, 0);
    assert_non_null(r);
    assert_int_equal(r->status, BB_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(r->message, "bb.BatchRequest"));
    bb__rpc_frame__free_unpacked(r, NULL);
}

static void test_malformed_envelope(void **state)
{
    s_fixture_t *f = *state;
    const uint8_t junk[] = "this is not a protobuf \xff\xff\xff\xff\xff";
    Bb__RpcFrame *r = s_raw_call(f->client, junk, sizeof junk);
    assert_non_null(r);
    assert_int_equal(r->kind, BB__RPC_FRAME__KIND__REPLY);
    assert_int_equal(r->status, BB_STATUS_INVALID_ARGUMENT);
    bb__rpc_frame__free_unpacked(r, NULL);
    /* and the server still works */
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    assert_int_equal(bb_rpc_call(f->client, &bb__operator__descriptor, "ListNodes", &req.base, 2000,
                                 &reply, NULL, 0),
                     BB_STATUS_OK);
    protobuf_c_message_free_unpacked(reply, NULL);
}

static void test_wrong_reply_type_is_internal(void **state)
{
    s_fixture_t *f = *state;
    Bb__BatchRequest b = BB__BATCH_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    char msg[256];
    int st = bb_rpc_call(f->client, &bb__operator__descriptor, "PauseBatch", &b.base, 2000, &reply,
                         msg, sizeof msg);
    assert_int_equal(st, BB_STATUS_INTERNAL);
    assert_non_null(strstr(msg, "bb.ControlReply"));
}

static void test_deadline_passed_before_running(void **state)
{
    s_fixture_t *f = *state;
    Bb__BatchRequest b = BB__BATCH_REQUEST__INIT;
    b.batch_id = 5;
    uint8_t payload[32];
    size_t n = bb__batch_request__pack(&b, payload);
    Bb__RpcFrame *r =
        s_request(f->client, "/bb.Operator/GetBatch", payload, n, bb_unix_ms() - 1000);
    assert_non_null(r);
    assert_int_equal(r->status, BB_STATUS_DEADLINE_EXCEEDED);
    bb__rpc_frame__free_unpacked(r, NULL);
}

/* A call whose handler takes 400 ms ends DEADLINE_EXCEEDED at its 100 ms deadline. The
 * client can only see that deadline pass if its thread runs between 100 and 400 ms; on a
 * busy host (TSan, 2 cores) it once woke after the reply was in and took it (OK): the
 * layer hands over a reply it holds before expiring the call. Such a run is disturbed, not
 * a verdict: it is repeated, and skipped if every attempt was disturbed. */
#define SLOW_ATTEMPTS 4
static void test_client_deadline_and_late_reply(void **state)
{
    s_fixture_t *f = *state;
    Bb__BatchRequest b = BB__BATCH_REQUEST__INIT;
    b.batch_id = SLOW_BATCH;
    ProtobufCMessage *reply = NULL;
    char msg[256];
    int st = BB_STATUS_OK;
    double late_ms = 0;
    for (int attempt = 0; attempt < SLOW_ATTEMPTS; attempt++) {
        int64_t t0 = bb_mono_ns();
        st = bb_rpc_call(f->client, &bb__operator__descriptor, "GetBatch", &b.base, 100, &reply,
                         msg, sizeof msg);
        late_ms = (double)(bb_mono_ns() - t0) / BB_NS_PER_MS;
        if (st != BB_STATUS_OK)
            break;
        /* the slow handler's own reply, taken after it slept: the client was late */
        assert_int_equal(((Bb__BatchStatus *)reply)->id, SLOW_BATCH);
        assert_true(late_ms >= 400.0);
        protobuf_c_message_free_unpacked(reply, NULL);
        reply = NULL;
        fprintf(stderr, "host: the client looked after %.0f ms, past the 400 ms reply\n", late_ms);
    }
    if (st == BB_STATUS_OK)
        test_skip("host too busy: in %d attempts the client never ran between its 100 ms "
                  "deadline and the 400 ms reply",
                  SLOW_ATTEMPTS);
    assert_int_equal(st, BB_STATUS_DEADLINE_EXCEEDED);
    assert_null(reply);
    assert_int_equal(bb_rpc_pending(f->client), 0);
    /* the late reply to the abandoned call must not be taken for this one */
    b.batch_id = 8;
    st = bb_rpc_call(f->client, &bb__operator__descriptor, "GetBatch", &b.base, 3000, &reply, msg,
                     sizeof msg);
    assert_int_equal(st, BB_STATUS_OK);
    assert_int_equal(((Bb__BatchStatus *)reply)->id, 8);
    protobuf_c_message_free_unpacked(reply, NULL);
}

static void test_handler_that_never_answers(void **state)
{
    s_fixture_t *f = *state;
    Bb__BatchRequest b = BB__BATCH_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    char msg[256];
    int st = bb_rpc_call(f->client, &bb__operator__descriptor, "ResumeBatch", &b.base, 2000, &reply,
                         msg, sizeof msg);
    assert_int_equal(st, BB_STATUS_INTERNAL);
    assert_non_null(strstr(msg, "did not answer"));
}

static void test_local_misuse(void **state)
{
    s_fixture_t *f = *state;
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    /* wrong request type for the method; no such method */
    assert_int_equal(bb_rpc_call(f->client, &bb__operator__descriptor, "GetBatch", &req.base, 1000,
                                 &reply, NULL, 0),
                     BB_STATUS_INVALID_ARGUMENT);
    assert_int_equal(
        bb_rpc_call(f->client, &bb__operator__descriptor, "Nope", &req.base, 1000, &reply, NULL, 0),
        BB_STATUS_INVALID_ARGUMENT);
}

typedef struct {
    int calls;
    int status[8];
    uint64_t ids[8];
} s_async_t;

static void s_done(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    s_async_t *a = arg;
    a->status[a->calls] = status;
    a->ids[a->calls] = reply ? ((const Bb__BatchStatus *)reply)->id : 0;
    a->calls++;
}

static void test_async_calls(void **state)
{
    s_fixture_t *f = *state;
    s_async_t a = {0};
    for (uint64_t i = 1; i <= 4; i++) {
        Bb__BatchRequest b = BB__BATCH_REQUEST__INIT;
        b.batch_id = i == 3 ? MISSING_BATCH : i;
        assert_int_equal(bb_rpc_call_async(f->client, NULL, &bb__operator__descriptor, "GetBatch",
                                           &b.base, 2000, s_done, &a),
                         0);
    }
    assert_int_equal(bb_rpc_pending(f->client), 4);
    zpoller_t *p = zpoller_new(bb_rpc_sock(f->client), NULL);
    int64_t until = bb_mono_ns() + 3 * BB_NS_PER_S;
    while (a.calls < 4 && bb_mono_ns() < until) {
        zpoller_wait(p, 100);
        bb_rpc_pump(f->client);
    }
    zpoller_destroy(&p);
    assert_int_equal(a.calls, 4);
    int ok = 0, not_found = 0;
    for (int i = 0; i < 4; i++) {
        ok += a.status[i] == BB_STATUS_OK;
        not_found += a.status[i] == BB_STATUS_NOT_FOUND;
    }
    assert_int_equal(ok, 3);
    assert_int_equal(not_found, 1);
    assert_int_equal(bb_rpc_pending(f->client), 0);
}

static void test_unreachable_server_times_out(void **state)
{
    char err[256];
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    opts.linger_ms = 0;
    bb_rpc_t *c = bb_rpc_new_dealer("ipc:///tmp/bbtest-nobody-listens.ipc", &opts, err, sizeof err);
    assert_non_null(c);
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    int st = bb_rpc_call(c, &bb__operator__descriptor, "ListNodes", &req.base, 200, &reply, err,
                         sizeof err);
    assert_int_equal(st, BB_STATUS_DEADLINE_EXCEEDED);
    bb_rpc_destroy(&c);
    bb_rpc_destroy(&c); /* safe twice */
}

static void test_oversized_message_refused(void **state)
{
    s_fixture_t *f = *state;
    /* The server refuses inbound messages over 64 KiB: such a call gets no answer. */
    Bb__SubmitBatchReply dummy = BB__SUBMIT_BATCH_REPLY__INIT;
    (void)dummy;
    Bb__BatchSpec spec = BB__BATCH_SPEC__INIT;
    static char big[128 * 1024];
    memset(big, 'x', sizeof big - 1);
    spec.name = big;
    ProtobufCMessage *reply = NULL;
    int st = bb_rpc_call(f->client, &bb__operator__descriptor, "SubmitBatch", &spec.base, 300,
                         &reply, NULL, 0);
    assert_int_equal(st, BB_STATUS_DEADLINE_EXCEEDED);
}

/* ---- the ROUTER side calling a DEALER that serves (coordinator -> node) ---- */

static int s_aborts;
static zframe_t *s_caller;

static void s_start_take(Bb__Capture_Service *svc, const Bb__TakeJob *job,
                         Bb__StartTakeReply_Closure closure, void *call)
{
    Bb__StartTakeReply r = BB__START_TAKE_REPLY__INIT;
    r.queued = job->note;
    closure(&r, call);
}

static void s_abort(Bb__Capture_Service *svc, const Bb__AbortRequest *req,
                    Bb__AbortReply_Closure closure, void *call)
{
    s_aborts++;
    Bb__AbortReply r = BB__ABORT_REPLY__INIT;
    closure(&r, call);
}

static void s_hb(Bb__NodeLink_Service *svc, const Bb__HeartbeatRequest *in,
                 Bb__HeartbeatReply_Closure closure, void *call)
{
    /* remember who called, for the test to call back */
    zframe_destroy(&s_caller);
    s_caller = zframe_dup(bb_rpc_peer(call));
    Bb__HeartbeatReply r = BB__HEARTBEAT_REPLY__INIT;
    r.known = true;
    closure(&r, call);
}

static void s_done_queued(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    *(int *)arg = status == BB_STATUS_OK ? (int)((const Bb__StartTakeReply *)reply)->queued : -1;
}

static void test_router_calls_dealer(void **state)
{
    char err[256];
    bb_rpc_t *router = bb_rpc_new_router("inproc://rpc-both-ways", NULL, err, sizeof err);
    bb_rpc_t *dealer = bb_rpc_new_dealer("inproc://rpc-both-ways", NULL, err, sizeof err);
    Bb__NodeLink_Service link = {.base = BB__NODE_LINK__BASE_INIT, .heartbeat = s_hb};
    Bb__Capture_Service capture = BB__CAPTURE__INIT(s_);
    bb_rpc_serve(router, &link.base);
    bb_rpc_serve(dealer, &capture.base);

    /* The dealer calls first, so the router learns its routing id. */
    int hb_status = -1;
    Bb__HeartbeatRequest hb = BB__HEARTBEAT_REQUEST__INIT;
    hb.name = "n1";
    assert_int_equal(bb_rpc_call_async(dealer, NULL, &bb__node_link__descriptor, "Heartbeat",
                                       &hb.base, 2000, NULL, &hb_status),
                     0);
    zpoller_t *p = zpoller_new(bb_rpc_sock(router), bb_rpc_sock(dealer), NULL);
    int64_t until = bb_mono_ns() + 2 * BB_NS_PER_S;
    while (!s_caller && bb_mono_ns() < until) {
        zpoller_wait(p, 50);
        bb_rpc_pump(router);
        bb_rpc_pump(dealer);
    }
    assert_non_null(s_caller);
    int queued = 0;
    Bb__TakeJob job = BB__TAKE_JOB__INIT;
    job.note = 61;
    assert_int_equal(bb_rpc_call_async(router, s_caller, &bb__capture__descriptor, "StartTake",
                                       &job.base, 2000, s_done_queued, &queued),
                     0);
    until = bb_mono_ns() + 2 * BB_NS_PER_S;
    while (queued == 0 && bb_mono_ns() < until) {
        zpoller_wait(p, 50);
        bb_rpc_pump(router);
        bb_rpc_pump(dealer);
    }
    assert_int_equal(queued, 61);
    /* An unknown routing id fails at once, not after the deadline. */
    zframe_t *ghost = zframe_new("ghost", 5);
    assert_int_equal(bb_rpc_call_async(router, ghost, &bb__capture__descriptor, "StartTake",
                                       &job.base, 2000, s_done_queued, &queued),
                     BB_EUNAVAIL);
    zframe_destroy(&ghost);
    zframe_destroy(&s_caller);
    zpoller_destroy(&p);
    bb_rpc_destroy(&dealer);
    bb_rpc_destroy(&router);
}

/* ---- hostile peers ---- */

/* Pumps both until *flag is set or 2 s pass. */
static void s_pump_until(bb_rpc_t *a, bb_rpc_t *b, const int *flag)
{
    zpoller_t *p = zpoller_new(bb_rpc_sock(a), NULL);
    if (b)
        zpoller_add(p, bb_rpc_sock(b));
    int64_t until = bb_mono_ns() + 2 * BB_NS_PER_S;
    while (!*flag && bb_mono_ns() < until) {
        zpoller_wait(p, 20);
        bb_rpc_pump(a);
        if (b)
            bb_rpc_pump(b);
    }
    zpoller_destroy(&p);
}

typedef struct {
    int calls;
    int status;
    uint32_t queued;
} s_reply_seen_t;

static void s_done_seen(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    s_reply_seen_t *r = arg;
    r->calls++;
    r->status = status;
    r->queued = reply ? ((const Bb__StartTakeReply *)reply)->queued : 0;
}

static int s_seen_any;

static void s_hb_remember(Bb__NodeLink_Service *svc, const Bb__HeartbeatRequest *in,
                          Bb__HeartbeatReply_Closure closure, void *call)
{
    zframe_destroy(&s_caller);
    s_caller = zframe_dup(bb_rpc_peer(call));
    s_seen_any = 1;
    Bb__HeartbeatReply r = BB__HEARTBEAT_REPLY__INIT;
    r.known = true;
    closure(&r, call);
}

/* Sends a packed RpcFrame on a raw socket. */
static void s_send_raw_frame(zsock_t *sock, const Bb__RpcFrame *f)
{
    size_t len = bb__rpc_frame__get_packed_size(f);
    zframe_t *frame = zframe_new(NULL, len);
    bb__rpc_frame__pack(f, zframe_data(frame));
    zframe_send(&frame, sock, 0);
}

/* A reply carrying the right call id from a peer that was not called is not taken. */
static void test_reply_from_another_peer_dropped(void **state)
{
    char err[256];
    const char *ep = "inproc://rpc-forged-reply";
    bb_rpc_t *router = bb_rpc_new_router(ep, NULL, err, sizeof err);
    Bb__NodeLink_Service link = {.base = BB__NODE_LINK__BASE_INIT, .heartbeat = s_hb_remember};
    bb_rpc_serve(router, &link.base);
    zsock_t *node = zsock_new_dealer(ep);  /* the node that is called, raw */
    zsock_t *other = zsock_new_dealer(ep); /* another peer that tries to answer for it */
    assert_non_null(node);
    assert_non_null(other);
    /* the node says hello so the router learns its routing id */
    Bb__HeartbeatRequest hb = BB__HEARTBEAT_REQUEST__INIT;
    uint8_t payload[64];
    Bb__RpcFrame f = BB__RPC_FRAME__INIT;
    f.kind = BB__RPC_FRAME__KIND__REQUEST;
    f.call_id = 1;
    f.method = "/bb.NodeLink/Heartbeat";
    f.payload.data = payload;
    f.payload.len = bb__heartbeat_request__pack(&hb, payload);
    s_seen_any = 0;
    s_send_raw_frame(node, &f);
    s_pump_until(router, NULL, &s_seen_any);
    assert_non_null(s_caller);
    zframe_t *hb_reply = zframe_recv(node); /* its heartbeat reply */
    zframe_destroy(&hb_reply);

    s_reply_seen_t seen = {0};
    Bb__TakeJob job = BB__TAKE_JOB__INIT;
    assert_int_equal(bb_rpc_call_async(router, s_caller, &bb__capture__descriptor, "StartTake",
                                       &job.base, 2000, s_done_seen, &seen),
                     0);
    zframe_t *req = zframe_recv(node);
    assert_non_null(req);
    Bb__RpcFrame *in = bb__rpc_frame__unpack(NULL, zframe_size(req), zframe_data(req));
    assert_non_null(in);
    uint64_t id = in->call_id;
    bb__rpc_frame__free_unpacked(in, NULL);
    zframe_destroy(&req);

    /* the other peer forges an OK reply with the same call id */
    Bb__StartTakeReply forged = BB__START_TAKE_REPLY__INIT;
    forged.queued = 666;
    Bb__RpcFrame r = BB__RPC_FRAME__INIT;
    r.kind = BB__RPC_FRAME__KIND__REPLY;
    r.call_id = id;
    r.payload.data = payload;
    r.payload.len = bb__start_take_reply__pack(&forged, payload);
    s_send_raw_frame(other, &r);
    for (int i = 0; i < 20; i++) {
        bb_rpc_pump(router);
        usleep(5000);
    }
    assert_int_equal(seen.calls, 0);
    /* the real answer is taken */
    Bb__StartTakeReply real = BB__START_TAKE_REPLY__INIT;
    real.queued = 2;
    r.payload.len = bb__start_take_reply__pack(&real, payload);
    s_send_raw_frame(node, &r);
    s_pump_until(router, NULL, &seen.calls);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.status, BB_STATUS_OK);
    assert_int_equal(seen.queued, 2);
    zframe_destroy(&s_caller);
    zsock_destroy(&other);
    zsock_destroy(&node);
    bb_rpc_destroy(&router);
}

/* A message with more frames than one is dropped and answered; the server goes on. */
static void test_extra_frames_dropped(void **state)
{
    s_fixture_t *f = *state;
    zsock_t *sock = bb_rpc_sock(f->client);
    zmsg_t *msg = zmsg_new();
    for (int i = 0; i < 50; i++)
        zmsg_addmem(msg, "0123456789abcdef", 16);
    zmsg_send(&msg, sock);
    zpoller_t *p = zpoller_new(sock, NULL);
    assert_non_null(zpoller_wait(p, 2000));
    zpoller_destroy(&p);
    zframe_t *reply = zframe_recv(sock);
    Bb__RpcFrame *r = bb__rpc_frame__unpack(NULL, zframe_size(reply), zframe_data(reply));
    zframe_destroy(&reply);
    assert_non_null(r);
    assert_int_equal(r->status, BB_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(r->message, "exactly one frame"));
    bb__rpc_frame__free_unpacked(r, NULL);
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    assert_int_equal(bb_rpc_call(f->client, &bb__operator__descriptor, "ListNodes", &req.base, 2000,
                                 &out, NULL, 0),
                     BB_STATUS_OK);
    protobuf_c_message_free_unpacked(out, NULL);
}

/* ---- CURVE ---- */

typedef struct {
    char dir[256], trusted[300], endpoint[320];
    zcert_t *server, *node, *operator_, *stranger;
    zactor_t *auth;
} s_curve_t;

static s_curve_t s_cv;
/* What the server's handler saw, written on the server's thread and read by the test's:
 * the reply over ZeroMQ orders them, but ThreadSanitizer cannot see through libzmq, so the
 * two sides take s_seen_lock. */
static pthread_mutex_t s_seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_seen_name[64], s_seen_role[16];

static void s_seen_clear(void)
{
    pthread_mutex_lock(&s_seen_lock);
    s_seen_name[0] = s_seen_role[0] = '\0';
    pthread_mutex_unlock(&s_seen_lock);
}

static void s_seen_expect(const char *name, const char *role)
{
    char n[sizeof s_seen_name], r[sizeof s_seen_role];
    pthread_mutex_lock(&s_seen_lock);
    memcpy(n, s_seen_name, sizeof n);
    memcpy(r, s_seen_role, sizeof r);
    pthread_mutex_unlock(&s_seen_lock);
    assert_string_equal(n, name);
    assert_string_equal(r, role);
}

static void s_list_nodes_who(Bb__Operator_Service *svc, const Bb__ListNodesRequest *in,
                             Bb__ListNodesReply_Closure closure, void *call)
{
    pthread_mutex_lock(&s_seen_lock);
    snprintf(s_seen_name, sizeof s_seen_name, "%s",
             bb_rpc_caller_name(call) ? bb_rpc_caller_name(call) : "(null)");
    snprintf(s_seen_role, sizeof s_seen_role, "%s",
             bb_rpc_caller_role(call) ? bb_rpc_caller_role(call) : "(null)");
    pthread_mutex_unlock(&s_seen_lock);
    Bb__ListNodesReply reply = BB__LIST_NODES_REPLY__INIT;
    closure(&reply, call);
}

static void s_curve_server(zsock_t *pipe, void *args)
{
    char err[256];
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    opts.curve_cert = s_cv.server;
    opts.role = BB_ROLE_OPERATOR;
    bb_rpc_t *rpc = bb_rpc_new_router(s_cv.endpoint, &opts, err, sizeof err);
    Bb__Operator_Service svc = {.base = BB__OPERATOR__BASE_INIT, .list_nodes = s_list_nodes_who};
    bb_rpc_serve(rpc, &svc.base);
    zpoller_t *poller = zpoller_new(pipe, bb_rpc_sock(rpc), NULL);
    zsock_signal(pipe, 0);
    while (zpoller_wait(poller, 50) != pipe)
        bb_rpc_pump(rpc);
    zpoller_destroy(&poller);
    bb_rpc_destroy(&rpc);
}

static zcert_t *s_client_cert(const char *role, const char *name, bool trust)
{
    zcert_t *c = zcert_new();
    zcert_set_meta(c, BB_CERT_ROLE, "%s", role);
    zcert_set_meta(c, BB_CERT_NAME, "%s", name);
    if (trust) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s-%s.cert", s_cv.trusted, role, name);
        zcert_save_public(c, path);
    }
    return c;
}

static int s_curve_setup(void **state)
{
    static int n;
    memset(&s_cv, 0, sizeof s_cv);
    snprintf(s_cv.dir, sizeof s_cv.dir, "/tmp/bbtest-rpc-curve-%d-%d", (int)getpid(), n++);
    snprintf(s_cv.trusted, sizeof s_cv.trusted, "%s/certs", s_cv.dir);
    snprintf(s_cv.endpoint, sizeof s_cv.endpoint, "ipc://%s/ops.ipc", s_cv.dir);
    bb_mkdir_p(s_cv.trusted);
    s_cv.server = zcert_new();
    s_cv.node = s_client_cert(BB_ROLE_NODE, "juno", true);
    s_cv.operator_ = s_client_cert(BB_ROLE_OPERATOR, "alice", true);
    /* a stranger claims the operator role in its own file: nobody trusts it */
    s_cv.stranger = s_client_cert(BB_ROLE_OPERATOR, "mallory", false);
    s_cv.auth = bb_auth_new(s_cv.trusted, false);
    assert_non_null(s_cv.auth);
    *state = zactor_new(s_curve_server, NULL);
    return 0;
}

static int s_curve_teardown(void **state)
{
    zactor_t *server = *state;
    zactor_destroy(&server);
    zactor_destroy(&s_cv.auth);
    zcert_destroy(&s_cv.server);
    zcert_destroy(&s_cv.node);
    zcert_destroy(&s_cv.operator_);
    zcert_destroy(&s_cv.stranger);
    bb_rm_rf(s_cv.dir);
    return 0;
}

static int s_curve_call(zcert_t *cert, char *msg, size_t len)
{
    char err[256];
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    opts.linger_ms = 0;
    opts.curve_cert = cert;
    opts.curve_server_key = zcert_public_txt(s_cv.server);
    bb_rpc_t *c = bb_rpc_new_dealer(s_cv.endpoint, &opts, err, sizeof err);
    assert_non_null(c);
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    int st =
        bb_rpc_call(c, &bb__operator__descriptor, "ListNodes", &req.base, 1500, &reply, msg, len);
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);
    bb_rpc_destroy(&c);
    return st;
}

static void test_curve_roles(void **state)
{
    char msg[BB_RPC_MESSAGE_MAX];
    s_seen_clear();
    assert_int_equal(s_curve_call(s_cv.operator_, msg, sizeof msg), BB_STATUS_OK);
    s_seen_expect("alice", BB_ROLE_OPERATOR); /* the handler knows who called */
    /* a trusted node certificate is refused an operator call, by the layer */
    s_seen_clear();
    assert_int_equal(s_curve_call(s_cv.node, msg, sizeof msg), BB_STATUS_PERMISSION_DENIED);
    assert_non_null(strstr(msg, "'juno' is a node certificate"));
    s_seen_expect("", ""); /* the handler never ran */
}

static void test_curve_strangers(void **state)
{
    char msg[BB_RPC_MESSAGE_MAX];
    /* a key the server does not trust: refused in the handshake, and the caller is told */
    assert_int_equal(s_curve_call(s_cv.stranger, msg, sizeof msg), BB_STATUS_UNAUTHENTICATED);
    assert_non_null(strstr(msg, "refused this certificate"));
    /* plaintext to a CURVE server: no answer, and the caller is told why */
    assert_int_equal(s_curve_call(NULL, msg, sizeof msg), BB_STATUS_UNAUTHENTICATED);
    assert_non_null(strstr(msg, "requires CURVE"));
    /* a certificate trusted only after the server started is taken (zcertstore reloads) */
    zcert_t *late = s_client_cert(BB_ROLE_OPERATOR, "late", true);
    assert_int_equal(s_curve_call(late, msg, sizeof msg), BB_STATUS_OK);
    zcert_destroy(&late);
}

/* ---- connections per endpoint ---- */

static void s_idle_server(zsock_t *pipe, void *args)
{
    char err[256];
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    opts.max_peers = 16;
    bb_rpc_t *rpc = bb_rpc_new_router((const char *)args, &opts, err, sizeof err);
    Bb__Operator_Service svc = {.base = BB__OPERATOR__BASE_INIT, .list_nodes = s_list_nodes};
    bb_rpc_serve(rpc, &svc.base);
    zpoller_t *poller = zpoller_new(pipe, bb_rpc_sock(rpc), bb_rpc_monitor_sock(rpc), NULL);
    zsock_signal(pipe, 0);
    for (;;) {
        void *which = zpoller_wait(poller, 50);
        if (which == pipe) {
            char *cmd = zstr_recv(pipe);
            bool stats = cmd && strcmp(cmd, "STATS") == 0;
            zstr_free(&cmd);
            if (!stats)
                break;
            bb_rpc_stats_t st;
            bb_rpc_stats(rpc, &st);
            zsock_send(pipe, "88", st.peers, st.peers_refused);
            continue;
        }
        bb_rpc_pump(rpc);
    }
    zpoller_destroy(&poller);
    bb_rpc_destroy(&rpc);
}

/* 10 clients that finished their handshake, then 100 silent TCP connections (no greeting)
 * on an endpoint that takes 16: the silent ones make room for each other (the oldest still
 * in its handshake is closed), the 10 are never touched, and a new client still gets its
 * answer. */
/* Whether this kernel (or emulator) gives the TCP counters bb_guard reads to tell a silent
 * connection from one that has spoken: struct tcp_info up to tcpi_bytes_received (Linux
 * 4.1). qemu-user hands back only glibc's shorter struct. */
static bool s_tcp_counters_readable(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0}; /* any free port */
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), s = -1;
    bool ok = false;
    if (l >= 0 && c >= 0 && bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 1) == 0 &&
        getsockname(l, (struct sockaddr *)&a, &alen) == 0 &&
        connect(c, (struct sockaddr *)&a, sizeof a) == 0 && (s = accept(l, NULL, NULL)) >= 0) {
        struct {
            struct tcp_info base;
            uint64_t more[4]; /* pacing_rate .. bytes_received */
        } ti;
        socklen_t len = sizeof ti;
        ok = getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && len >= sizeof ti;
    }
    if (s >= 0)
        close(s);
    if (c >= 0)
        close(c);
    if (l >= 0)
        close(l);
    return ok;
}

static void test_connection_limit(void **state)
{
    int port = test_tcp_ports(1);
    assert_true(port > 0);
    if (!s_tcp_counters_readable())
        test_skip("the TCP counters the connection guard reads (tcp_info up to "
                  "tcpi_bytes_received) cannot be read here: an emulator such as qemu-user?");
    char ep[64], err[256];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    zactor_t *server = zactor_new(s_idle_server, ep);
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    opts.linger_ms = 0;
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    bb_rpc_t *early[10];
    for (int i = 0; i < 10; i++) {
        early[i] = bb_rpc_new_dealer(ep, &opts, err, sizeof err);
        assert_int_equal(bb_rpc_call(early[i], &bb__operator__descriptor, "ListNodes", &req.base,
                                     2000, &reply, err, sizeof err),
                         BB_STATUS_OK);
        protobuf_c_message_free_unpacked(reply, NULL);
    }
    int fds[100];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < 100; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    usleep(300 * 1000);
    zstr_send(server, "STATS");
    uint64_t peers = 0, refused = 0;
    zsock_recv(server, "88", &peers, &refused);
    assert_int_equal(peers, 16);
    assert_int_equal(refused, 100 - (16 - 10)); /* only silent ones were closed */
    bb_rpc_t *c = bb_rpc_new_dealer(ep, &opts, err, sizeof err);
    assert_int_equal(bb_rpc_call(c, &bb__operator__descriptor, "ListNodes", &req.base, 2000, &reply,
                                 err, sizeof err),
                     BB_STATUS_OK);
    protobuf_c_message_free_unpacked(reply, NULL);
    /* the closed ones really are closed: after the server's greeting, the end of stream */
    int closed = 0;
    for (int i = 0; i < 100; i++) {
        char b[64];
        struct timeval tv = {0, 2000};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t r;
        while ((r = recv(fds[i], b, sizeof b, 0)) > 0) {
        }
        closed += r == 0;
        close(fds[i]);
    }
    assert_true(closed >= 100 - (16 - 10));
    bb_rpc_destroy(&c);
    for (int i = 0; i < 10; i++)
        bb_rpc_destroy(&early[i]);
    zactor_destroy(&server);
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_call_ok_and_status, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unimplemented, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_undecodable_payload, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_envelope, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_reply_type_is_internal, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deadline_passed_before_running, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_client_deadline_and_late_reply, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_handler_that_never_answers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_local_misuse, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_async_calls, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_message_refused, s_setup, s_teardown),
        cmocka_unit_test(test_unreachable_server_times_out),
        cmocka_unit_test(test_router_calls_dealer),
        cmocka_unit_test(test_reply_from_another_peer_dropped),
        cmocka_unit_test_setup_teardown(test_extra_frames_dropped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_curve_roles, s_curve_setup, s_curve_teardown),
        cmocka_unit_test_setup_teardown(test_curve_strangers, s_curve_setup, s_curve_teardown),
        cmocka_unit_test(test_connection_limit),
    };
    return test_main_group(tests, argc, argv);
}
