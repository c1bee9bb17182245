/*
 * bench_coord_loop.c — how long the coordinator's event loop is held by a large plan and
 * by the analysis of a long take. Prints figures; asserts nothing.
 *
 *   bench_coord_loop                  (BB_BENCH_KEEP=1 keeps its folder: log, database)
 *
 * Runs the real batcherbird-coordinator (plaintext, ipc:// endpoints in a fresh folder)
 * and plays a node itself over bb.NodeLink (registered at 96 kHz stereo, it takes the jobs
 * it is given and holds them). While it works, an operator connection calls ListNodes
 * every 5 ms and keeps the answer times: their maximum is how long the loop was held.
 *  1. submit: a plan of 98,304 takes (6 instruments x 128 notes x 8 velocities x 16 round
 *     robins; a batch holds at most 100,000): the
 *     time to the SubmitBatch answer, the time until every take is written (the batch's
 *     "planning" message gone), and the operator calls' answers meanwhile;
 *  2. QC: a take of 120 s at 96 kHz stereo (92 MB) streamed in 64 KiB chunks: the TakeEnd
 *     answer time, and the operator calls' answers in the 2 s after it (the analysis,
 *     which runs on the checker thread, takes about 0.3 s of CPU for such a take).
 */
#include <czmq.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bb_clock.h"
#include "bb_crc32.h"
#include "bb_fs.h"
#include "bb_rpc.h"
#include "node.pb-c.h"
#include "operator.pb-c.h"

static char s_dir[256], s_nodes[300], s_ops[300];
static bb_rpc_t *s_node, *s_op;
static pid_t s_coord;
static Bb__TakeJob *s_job; /* the first job the node got */

static double s_now(void)
{
    return bb_mono_ns() / 1e9;
}

/* ---- the node's side: takes jobs, keeps the first ---- */

static void s_start_take(Bb__Capture_Service *svc, const Bb__TakeJob *job,
                         Bb__StartTakeReply_Closure closure, void *call)
{
    if (!s_job) {
        uint8_t buf[4096];
        size_t n = bb__take_job__pack(job, buf);
        s_job = bb__take_job__unpack(NULL, n, buf);
    }
    Bb__StartTakeReply r = BB__START_TAKE_REPLY__INIT;
    r.queued = 1;
    closure(&r, call);
}

static void s_abort(Bb__Capture_Service *svc, const Bb__AbortRequest *req,
                    Bb__AbortReply_Closure closure, void *call)
{
    Bb__AbortReply r = BB__ABORT_REPLY__INIT;
    closure(&r, call);
}

static Bb__Capture_Service s_capture = BB__CAPTURE__INIT(s_);

/* ---- timing operator calls ---- */

typedef struct {
    double max_s, sum_s;
    int n;
} s_lat_t;

static void s_op_call(s_lat_t *lat)
{
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    double t0 = s_now();
    if (bb_rpc_call(s_op, &bb__operator__descriptor, "ListNodes", &req.base, 10000, &reply, NULL,
                    0) == BB_STATUS_OK)
        protobuf_c_message_free_unpacked(reply, NULL);
    double dt = s_now() - t0;
    lat->max_s = dt > lat->max_s ? dt : lat->max_s;
    lat->sum_s += dt;
    lat->n++;
}

static int s_node_call(const char *method, const ProtobufCMessage *req, ProtobufCMessage **reply);

/* A heartbeat each 0.5 s, or the coordinator takes the node for gone. */
static void s_heartbeat(void)
{
    static double last;
    if (s_now() - last < 0.5)
        return;
    last = s_now();
    Bb__HeartbeatRequest hb = BB__HEARTBEAT_REQUEST__INIT;
    hb.name = "bench";
    hb.session = "bench-session";
    ProtobufCMessage *reply = NULL;
    if (s_node_call("Heartbeat", &hb.base, &reply) == BB_STATUS_OK)
        protobuf_c_message_free_unpacked(reply, NULL);
}

static void s_pump_node(int ms)
{
    s_heartbeat();
    zpoller_t *p = zpoller_new(bb_rpc_sock(s_node), NULL);
    zpoller_wait(p, ms);
    zpoller_destroy(&p);
    bb_rpc_pump(s_node);
}

static int s_node_call(const char *method, const ProtobufCMessage *req, ProtobufCMessage **reply)
{
    return bb_rpc_call(s_node, &bb__node_link__descriptor, method, req, 60000, reply, NULL, 0);
}

static void s_bin(char *out, size_t len, const char *prog)
{
    const char *dir = getenv("BB_BIN_DIR");
    if (dir && *dir) {
        snprintf(out, len, "%s/%s", dir, prog);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, len, "%s/../bin/%s", self, prog);
}

int main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    snprintf(s_dir, sizeof s_dir, "/tmp/bbbench-loop-%d", (int)getpid());
    bb_mkdir_p(s_dir);
    char state[300], events[300], log[300], bin[PATH_MAX + 64];
    snprintf(state, sizeof state, "%s/state", s_dir);
    snprintf(s_nodes, sizeof s_nodes, "ipc://%s/n.ipc", s_dir);
    snprintf(s_ops, sizeof s_ops, "ipc://%s/o.ipc", s_dir);
    snprintf(events, sizeof events, "ipc://%s/e.ipc", s_dir);
    snprintf(log, sizeof log, "%s/coordinator.log", s_dir);
    s_bin(bin, sizeof bin, "batcherbird-coordinator");
    s_coord = fork();
    if (s_coord == 0) {
        freopen(log, "w", stderr);
        execl(bin, bin, "--state", state, "--nodes", s_nodes, "--operators", s_ops, "--events",
              events, "--disk-reserve", "0", (char *)NULL);
        _exit(127);
    }
    char err[256];
    s_node = bb_rpc_new_dealer(s_nodes, NULL, err, sizeof err);
    s_op = bb_rpc_new_dealer(s_ops, NULL, err, sizeof err);
    bb_rpc_serve(s_node, &s_capture.base);
    Bb__RegisterRequest reg = BB__REGISTER_REQUEST__INIT;
    reg.name = "bench";
    reg.session = "bench-session";
    reg.sample_rate = 96000;
    reg.channels = 2;
    ProtobufCMessage *reply = NULL;
    for (int i = 0; i < 100 && s_node_call("RegisterNode", &reg.base, &reply) != BB_STATUS_OK; i++)
        usleep(100 * 1000);
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);

    /* 1. a plan of 98,304 takes */
    uint32_t vels[] = {16, 32, 48, 64, 80, 96, 112, 127};
    Bb__InstrumentSpec inst[6];
    Bb__InstrumentSpec *insts[6];
    char names[6][16];
    for (int i = 0; i < 6; i++) {
        bb__instrument_spec__init(&inst[i]);
        snprintf(names[i], sizeof names[i], "Huge %d", i + 1);
        inst[i].name = names[i];
        inst[i].node = "bench";
        inst[i].note_lo = 0;
        inst[i].note_hi = 127;
        inst[i].step = 1;
        inst[i].velocities = vels;
        inst[i].n_velocities = 8;
        inst[i].round_robins = 16;
        inst[i].hold_ms = 60000;
        inst[i].release_ms = 60000;
        insts[i] = &inst[i];
    }
    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    Bb__BatchSpec spec = BB__BATCH_SPEC__INIT;
    spec.name = "huge";
    spec.instruments = insts;
    spec.n_instruments = 6;
    spec.export = &ex;
    double t0 = s_now();
    int st = bb_rpc_call(s_op, &bb__operator__descriptor, "SubmitBatch", &spec.base, 60000, &reply,
                         err, sizeof err);
    double submit_s = s_now() - t0;
    if (st != BB_STATUS_OK) {
        fprintf(stderr, "submit: %s: %s\n", bb_status_name(st), err);
        return 1;
    }
    unsigned total = ((Bb__SubmitBatchReply *)reply)->total_takes;
    protobuf_c_message_free_unpacked(reply, NULL);
    s_lat_t lat = {0};
    double planned_s = -1;
    while (planned_s < 0 && s_now() - t0 < 120) {
        s_pump_node(5);
        s_op_call(&lat);
        Bb__BatchRequest breq = BB__BATCH_REQUEST__INIT;
        breq.batch_id = 1;
        if (bb_rpc_call(s_op, &bb__operator__descriptor, "GetBatch", &breq.base, 10000, &reply,
                        NULL, 0) == BB_STATUS_OK) {
            if (!strstr(((Bb__BatchStatus *)reply)->message, "planning"))
                planned_s = s_now() - t0;
            protobuf_c_message_free_unpacked(reply, NULL);
        }
    }
    printf("plan of %u takes: SubmitBatch answered in %.3f s; every take written after %.2f s; "
           "%d operator calls meanwhile: longest %.1f ms, mean %.1f ms\n",
           total, submit_s, planned_s, lat.n, lat.max_s * 1e3, lat.n ? lat.sum_s / lat.n * 1e3 : 0);

    /* 2. a 120 s take at 96 kHz stereo */
    for (double w = s_now(); !s_job && s_now() - w < 30;)
        s_pump_node(20);
    if (!s_job) {
        fprintf(stderr, "no job came\n");
        return 1;
    }
    const uint64_t frames = 120ull * 96000;
    const size_t chunk = 64 * 1024;
    uint64_t bytes = frames * 2 * sizeof(float);
    float *audio = malloc(bytes);
    for (uint64_t i = 0; i < frames; i++) {
        float v = (float)(0.5 * sin(2 * M_PI * 261.63 * (double)i / 96000.0) *
                          exp(-(double)i / 96000.0 / 20.0));
        audio[2 * i] = audio[2 * i + 1] = v;
    }
    Bb__TakeFormat fmt = BB__TAKE_FORMAT__INIT;
    fmt.sample_rate = 96000;
    fmt.channels = 2;
    Bb__TakeBeginRequest begin = BB__TAKE_BEGIN_REQUEST__INIT;
    begin.node = "bench";
    begin.job = s_job;
    begin.format = &fmt;
    st = s_node_call("TakeBegin", &begin.base, &reply);
    if (st != BB_STATUS_OK) {
        fprintf(stderr, "TakeBegin: %s\n", bb_status_name(st));
        return 1;
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    uint32_t crc = 0, seq = 0;
    for (uint64_t off = 0; off < bytes; off += chunk, seq++) {
        size_t len = bytes - off < chunk ? (size_t)(bytes - off) : chunk;
        Bb__TakeChunkRequest c = BB__TAKE_CHUNK_REQUEST__INIT;
        c.take_id = s_job->take_id;
        c.seq = seq;
        c.data.data = (uint8_t *)audio + off;
        c.data.len = len;
        crc = bb_crc32(crc, (uint8_t *)audio + off, len);
        s_heartbeat();
        if (s_node_call("TakeChunk", &c.base, &reply) == BB_STATUS_OK)
            protobuf_c_message_free_unpacked(reply, NULL);
    }
    Bb__TakeEndRequest end = BB__TAKE_END_REQUEST__INIT;
    end.take_id = s_job->take_id;
    end.frames = frames;
    end.note_on_frame = 9600;
    end.note_off_frame = 9600 + 60 * 96000;
    end.crc32 = crc;
    end.chunks = seq;
    t0 = s_now();
    st = s_node_call("TakeEnd", &end.base, &reply);
    double end_s = s_now() - t0;
    if (st == BB_STATUS_OK)
        protobuf_c_message_free_unpacked(reply, NULL);
    s_lat_t lat2 = {0};
    while (s_now() - t0 < 2.0) {
        s_pump_node(5);
        s_op_call(&lat2);
    }
    printf("take of 120 s at 96 kHz stereo (%.0f MB): TakeEnd answered in %.1f ms (%s); "
           "%d operator calls in the 2 s after: longest %.1f ms, mean %.1f ms\n",
           bytes / 1e6, end_s * 1e3, bb_status_name(st), lat2.n, lat2.max_s * 1e3,
           lat2.n ? lat2.sum_s / lat2.n * 1e3 : 0);
    free(audio);
    bb__take_job__free_unpacked(s_job, NULL);
    bb_rpc_destroy(&s_node);
    bb_rpc_destroy(&s_op);
    kill(s_coord, SIGTERM);
    waitpid(s_coord, NULL, 0);
    if (!getenv("BB_BENCH_KEEP"))
        bb_rm_rf(s_dir);
    return 0;
}
