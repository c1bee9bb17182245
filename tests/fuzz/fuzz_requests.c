/*
 * fuzz_requests.c — libFuzzer target: every request message the coordinator serves, on the
 * real coordinator (coordinator/), in process.
 *
 * One coordinator runs for the whole fuzzing run on a state folder in /dev/shm (so that
 * SQLite's fsyncs cost little), with inproc endpoints and no keys (plaintext is allowed
 * there). Two raw DEALERs talk to it: one has registered as node "fuzz-node", one is an
 * operator. An input's first byte picks the method, over bb.NodeLink's and bb.Operator's
 * together; the rest is the request payload, sent in a well-formed envelope from the
 * DEALER of that endpoint. The coordinator turns (coord_step) until it answered. A small
 * plan for fuzz-node is submitted at the start so that take calls meet real jobs.
 */
#include <czmq.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_clock.h"
#include "bb_fs.h"
#include "bb_log.h"
#include "bb_rpc.h"
#include "coord.h"

static coord_t *s_coord;
static zsock_t *s_node, *s_ops;
static char s_dir[256];
static uint64_t s_call_id;

/* Sends one request in an envelope and turns the coordinator until the reply came. */
static void s_request(zsock_t *sock, const ProtobufCServiceDescriptor *svc, const char *method,
                      const uint8_t *payload, size_t len)
{
    char path[160];
    snprintf(path, sizeof path, "/%s/%s", svc->name, method);
    Bb__RpcFrame f = BB__RPC_FRAME__INIT;
    f.kind = BB__RPC_FRAME__KIND__REQUEST;
    f.call_id = ++s_call_id;
    f.method = path;
    f.payload.data = (uint8_t *)payload;
    f.payload.len = len;
    size_t n = bb__rpc_frame__get_packed_size(&f);
    zframe_t *frame = zframe_new(NULL, n);
    bb__rpc_frame__pack(&f, zframe_data(frame));
    zframe_send(&frame, sock, 0);
    for (int i = 0; i < 200; i++) {
        coord_step(s_coord, 1);
        zframe_t *reply = zframe_recv(sock);
        if (reply) {
            zframe_destroy(&reply);
            return;
        }
    }
}

/* Before CZMQ's own exit handler terminates the context: sockets and actors first. */
static void s_teardown(void)
{
    zsock_destroy(&s_node);
    zsock_destroy(&s_ops);
    coord_destroy(&s_coord);
    bb_rm_rf(s_dir);
}

static void s_setup(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    zsys_handler_set(NULL);
    bb_log_set_level(BB_LOG_ERROR);
    snprintf(s_dir, sizeof s_dir, "%s/bbfuzz-requests-%d",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
    bb_rm_rf(s_dir);
    coord_config_t cfg = {.state_dir = s_dir,
                          .node_endpoint = "inproc://fuzz-nodes",
                          .operator_endpoint = "inproc://fuzz-operators",
                          .event_endpoint = "inproc://fuzz-events",
                          .heartbeat_ms = 1000};
    char err[1024];
    s_coord = coord_new(&cfg, err, sizeof err);
    if (!s_coord) {
        fprintf(stderr, "fuzz_requests: %s\n", err);
        abort();
    }
    atexit(s_teardown);
    s_node = zsock_new_dealer(cfg.node_endpoint);
    s_ops = zsock_new_dealer(cfg.operator_endpoint);
    zsock_set_rcvtimeo(s_node, 0);
    zsock_set_rcvtimeo(s_ops, 0);
    /* the node registers; a small batch gives it jobs */
    Bb__RegisterRequest reg = BB__REGISTER_REQUEST__INIT;
    reg.name = "fuzz-node";
    reg.session = "fuzz-session";
    reg.sample_rate = 48000;
    reg.channels = 2;
    uint8_t buf[4096];
    size_t n = bb__register_request__pack(&reg, buf);
    s_request(s_node, &bb__node_link__descriptor, "RegisterNode", buf, n);
    uint32_t vels[] = {100};
    Bb__InstrumentSpec inst = BB__INSTRUMENT_SPEC__INIT;
    inst.name = "Fuzz";
    inst.node = "fuzz-node";
    inst.note_lo = 60;
    inst.note_hi = 64;
    inst.step = 1;
    inst.velocities = vels;
    inst.n_velocities = 1;
    inst.round_robins = 1;
    inst.hold_ms = 100;
    inst.release_ms = 100;
    Bb__InstrumentSpec *insts[] = {&inst};
    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    Bb__BatchSpec spec = BB__BATCH_SPEC__INIT;
    spec.name = "fuzz";
    spec.instruments = insts;
    spec.n_instruments = 1;
    spec.export = &ex;
    n = bb__batch_spec__pack(&spec, buf);
    s_request(s_ops, &bb__operator__descriptor, "SubmitBatch", buf, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_coord)
        s_setup();
    if (size == 0)
        return 0;
    size_t n_link = bb__node_link__descriptor.n_methods;
    size_t n_ops = bb__operator__descriptor.n_methods;
    size_t pick = data[0] % (n_link + n_ops);
    if (pick < n_link)
        s_request(s_node, &bb__node_link__descriptor, bb__node_link__descriptor.methods[pick].name,
                  data + 1, size - 1);
    else
        s_request(s_ops, &bb__operator__descriptor,
                  bb__operator__descriptor.methods[pick - n_link].name, data + 1, size - 1);
    return 0;
}
