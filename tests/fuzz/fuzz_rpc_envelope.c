/*
 * fuzz_rpc_envelope.c — libFuzzer target: the RPC layer (common/bb_rpc.c) on whatever a
 * peer can send it.
 *
 * An input is cut into frames (each led by a length byte; at most 8 frames) and, by its
 * first byte, either sent by a raw DEALER to a ROUTER that serves every method of
 * bb.Operator and bb.NodeLink, or sent back as the answer to a call the ROUTER has just
 * made to that DEALER. The service answers every call with an empty reply of the method's
 * type after packing the decoded request again, so each request message's decoder and
 * encoder run on whatever decoded. The sockets are inproc, so an input costs
 * microseconds; what must hold is that nothing crashes, leaks or trips a sanitizer.
 */
#include <czmq.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bb_rpc.h"
#include "node.pb-c.h"
#include "operator.pb-c.h"

#define S_ENDPOINT   "inproc://fuzz-rpc-envelope"
#define S_MAX_FRAMES 8

typedef struct {
    ProtobufCService base;
} s_any_service_t;

static zframe_t *s_peer; /* the raw DEALER's routing id, once seen */

/* Answers any method: the request packed again, an empty reply of the output type. */
static void s_invoke(ProtobufCService *service, unsigned method_index, const ProtobufCMessage *in,
                     ProtobufCClosure closure, void *closure_data)
{
    const ProtobufCMethodDescriptor *m = &service->descriptor->methods[method_index];
    size_t len = protobuf_c_message_get_packed_size(in);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf)
        protobuf_c_message_pack(in, buf);
    free(buf);
    if (!s_peer && bb_rpc_peer(closure_data))
        s_peer = zframe_dup(bb_rpc_peer(closure_data));
    ProtobufCMessage *out = calloc(1, m->output->sizeof_message);
    if (!out)
        return;
    protobuf_c_message_init(m->output, out);
    closure(out, closure_data);
    free(out);
}

static bb_rpc_t *s_router;
static zsock_t *s_dealer;
static s_any_service_t s_operator = {
    .base = {.descriptor = &bb__operator__descriptor, .invoke = s_invoke, .destroy = NULL}};
static s_any_service_t s_nodelink = {
    .base = {.descriptor = &bb__node_link__descriptor, .invoke = s_invoke, .destroy = NULL}};

static void s_teardown(void)
{
    zsock_destroy(&s_dealer);
    bb_rpc_destroy(&s_router);
    zframe_destroy(&s_peer);
}

static void s_setup(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    zsys_handler_set(NULL);
    char err[256];
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    opts.max_msg_size = 64 * 1024;
    s_router = bb_rpc_new_router(S_ENDPOINT, &opts, err, sizeof err);
    if (!s_router)
        abort();
    bb_rpc_serve(s_router, &s_operator.base);
    bb_rpc_serve(s_router, &s_nodelink.base);
    s_dealer = zsock_new_dealer(S_ENDPOINT);
    atexit(s_teardown);
    zsock_set_rcvtimeo(s_dealer, 0);
}

static void s_done(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    (void)arg;
    (void)status;
    (void)message;
    (void)reply;
}

/* Sends the input's frames on the raw DEALER. */
static void s_send_frames(const uint8_t *data, size_t size)
{
    zmsg_t *msg = zmsg_new();
    size_t off = 0;
    for (int k = 0; k < S_MAX_FRAMES && off < size; k++) {
        size_t len = data[off++];
        if (len > size - off)
            len = size - off;
        zmsg_addmem(msg, data + off, len);
        off += len;
    }
    if (zmsg_size(msg) == 0)
        zmsg_addmem(msg, "", 0);
    zmsg_send(&msg, s_dealer);
}

static void s_drain(void)
{
    for (int i = 0; i < 16; i++)
        bb_rpc_pump(s_router);
    zframe_t *f;
    while ((f = zframe_recv(s_dealer)))
        zframe_destroy(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_router)
        s_setup();
    if (size == 0)
        return 0;
    if (data[0] & 1 && s_peer) {
        /* the ROUTER calls the DEALER, which answers with the input */
        Bb__AbortRequest req = BB__ABORT_REQUEST__INIT;
        bb_rpc_call_async(s_router, s_peer, &bb__capture__descriptor, "Abort", &req.base, 1, s_done,
                          NULL);
        zframe_t *f;
        while ((f = zframe_recv(s_dealer)))
            zframe_destroy(&f);
    }
    s_send_frames(data + 1, size - 1);
    s_drain();
    /* calls left pending (1 ms deadlines) would pile up: expire them */
    while (bb_rpc_pending(s_router) > 16) {
        zclock_sleep(1);
        bb_rpc_expire(s_router);
    }
    return 0;
}
