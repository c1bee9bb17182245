/*
 * test_rpc.c — the RPC layer over real ZeroMQ sockets (inproc and ipc): dispatch by
 * method name, status codes and messages, undecodable and malformed input, deadlines
 * on both sides, async calls, calls from the ROUTER side to a DEALER that serves, and a
 * peer that never answers. Uses the bb.Operator service with handlers written here.
 */
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_rpc.h"
#include "node.pb-c.h"
#include "operator.pb-c.h"

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

static void test_client_deadline_and_late_reply(void **state)
{
    s_fixture_t *f = *state;
    Bb__BatchRequest b = BB__BATCH_REQUEST__INIT;
    b.batch_id = SLOW_BATCH;
    ProtobufCMessage *reply = NULL;
    char msg[256];
    int st = bb_rpc_call(f->client, &bb__operator__descriptor, "GetBatch", &b.base, 100, &reply,
                         msg, sizeof msg);
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

int main(void)
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
