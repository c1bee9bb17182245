/*
 * test_scheduler.c — the coordinator's scheduler (coordinator/scheduler.c) seen from the
 * nodes: which take goes where, when, and how many at once.
 *
 * The real coordinator runs as a process (the fixture's, plaintext over ipc://); the test
 * plays the capture nodes itself over bb.NodeLink: it registers them, keeps them alive with
 * heartbeats, serves bb.Capture's StartTake and keeps every job it is given with the time
 * it came. A node either holds its jobs (never records them), records each one at once
 * (streams a short take of a sine at the note's pitch: TakeBegin, TakeChunk, TakeEnd), or
 * refuses them (RESOURCE_EXHAUSTED, as a node with a full spool does). The cases:
 *  - window: a node has at most COORD_NODE_WINDOW (2) jobs out, given in plan order; the
 *    next one follows when one is recorded;
 *  - parallel: instruments on different nodes are dispatched at the same time;
 *  - one after another: two instruments on the same node and inputs never interleave: the
 *    second gets its first job only once every take of the first has been recorded;
 *  - backoff: a node that refuses is asked again after 0.5 s, then 1, 2, 4 s (doubling to
 *    10 s), not in a loop; when it accepts again, its take goes out.
 * Times are only bounded from below (a busy host can make the coordinator later, never
 * earlier), so a loaded machine cannot fail the test by slowness alone.
 */
#include <czmq.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_clock.h"
#include "bb_crc32.h"
#include "bb_err.h"
#include "bb_rpc.h"
#include "node.pb-c.h"
#include "operator.pb-c.h"
#include "test_fixture.h"
#include "test_util.h"

#define HB_MS       1000 /* offline after 3.5 s without one: room for a busy host */
#define JOBS_MAX    64
#define RATE        48000
#define WINDOW      2 /* COORD_NODE_WINDOW */
#define BACKOFF_MIN 0.5

typedef enum { S_HOLD, S_RECORD, S_REFUSE } s_mode_t;

typedef struct {
    Bb__Capture_Service service; /* first: the handlers cast back */
    const char *name;
    char session[32];
    bb_rpc_t *rpc;
    s_mode_t mode;
    Bb__TakeJob *jobs[JOBS_MAX]; /* every job accepted, in order */
    double got_at[JOBS_MAX];     /* when it came (s) */
    double ended_at[JOBS_MAX];   /* when its take was recorded (s); 0: not yet */
    int n_jobs, n_recorded;
    double refused_at[JOBS_MAX]; /* every StartTake refused */
    uint32_t refused_note[JOBS_MAX];
    int n_refused;
    double last_heartbeat;
} s_node_t;

static test_fixture_t s_fx;
static bb_rpc_t *s_op;
static s_node_t s_nodes[2];

static double s_now(void)
{
    return bb_mono_ns() / 1e9;
}

/* ---- the node's side ---- */

static void s_start_take(Bb__Capture_Service *svc, const Bb__TakeJob *job,
                         Bb__StartTakeReply_Closure closure, void *call)
{
    s_node_t *n = (s_node_t *)svc;
    if (n->mode == S_REFUSE) {
        if (n->n_refused < JOBS_MAX) {
            n->refused_note[n->n_refused] = job->note;
            n->refused_at[n->n_refused++] = s_now();
        }
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "spool full (test)");
        return;
    }
    if (n->n_jobs < JOBS_MAX) {
        uint8_t buf[8192];
        size_t len = bb__take_job__pack(job, buf);
        n->jobs[n->n_jobs] = bb__take_job__unpack(NULL, len, buf);
        n->got_at[n->n_jobs] = s_now();
        n->ended_at[n->n_jobs] = 0;
        n->n_jobs++;
    }
    Bb__StartTakeReply r = BB__START_TAKE_REPLY__INIT;
    r.queued = 1;
    closure(&r, call);
}

static void s_abort(Bb__Capture_Service *svc, const Bb__AbortRequest *req,
                    Bb__AbortReply_Closure closure, void *call)
{
    (void)svc;
    (void)req;
    Bb__AbortReply r = BB__ABORT_REPLY__INIT;
    closure(&r, call);
}

static int s_call(s_node_t *n, const char *method, const ProtobufCMessage *req)
{
    ProtobufCMessage *reply = NULL;
    int st = bb_rpc_call(n->rpc, &bb__node_link__descriptor, method, req, 20000, &reply, NULL, 0);
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);
    return st;
}

static void s_node_start(s_node_t *n, const char *name, s_mode_t mode)
{
    memset(n, 0, sizeof *n);
    n->service = (Bb__Capture_Service)BB__CAPTURE__INIT(s_);
    n->name = name;
    n->mode = mode;
    snprintf(n->session, sizeof n->session, "%s-%d", name, (int)getpid());
    n->rpc = test_fixture_rpc(&s_fx, s_fx.nodes, "node", name);
    assert_non_null(n->rpc);
    bb_rpc_serve(n->rpc, &n->service.base);
    Bb__RegisterRequest reg = BB__REGISTER_REQUEST__INIT;
    reg.name = (char *)name;
    reg.session = n->session;
    reg.sample_rate = RATE;
    reg.channels = 2;
    int st = BB_STATUS_UNAVAILABLE;
    for (double t0 = s_now(); st != BB_STATUS_OK && s_now() - t0 < 30; usleep(100 * 1000))
        st = s_call(n, "RegisterNode", &reg.base);
    assert_int_equal(st, BB_STATUS_OK);
    n->last_heartbeat = s_now();
}

/* A take of the job as a node would record it: 100 ms of quiet, then a sine at the note's
 * pitch for 0.4 s that decays, 0.5 s in all, mono-summed onto both channels. */
static void s_record(s_node_t *n, int i)
{
    const Bb__TakeJob *job = n->jobs[i];
    enum { FRAMES = RATE / 2, ON = RATE / 10, CH = 2 };
    static float audio[FRAMES * CH];
    double hz = 440.0 * pow(2.0, ((double)job->note - 69.0) / 12.0);
    uint32_t noise = 1;
    for (int f = 0; f < FRAMES; f++) {
        noise = noise * 1664525u + 1013904223u;
        double v = ((double)(noise >> 8) / 16777216.0 - 0.5) * 2e-4;
        if (f >= ON)
            v += 0.5 * sin(2 * M_PI * hz * (f - ON) / RATE) * exp(-(double)(f - ON) / RATE * 3.0);
        audio[f * CH] = audio[f * CH + 1] = (float)v;
    }
    Bb__TakeFormat fmt = BB__TAKE_FORMAT__INIT;
    fmt.sample_rate = RATE;
    fmt.channels = CH;
    Bb__TakeBeginRequest begin = BB__TAKE_BEGIN_REQUEST__INIT;
    begin.node = (char *)n->name;
    begin.job = (Bb__TakeJob *)job;
    begin.format = &fmt;
    assert_int_equal(s_call(n, "TakeBegin", &begin.base), BB_STATUS_OK);
    const size_t bytes = sizeof audio, chunk = 64 * 1024;
    uint32_t crc = 0, seq = 0;
    for (size_t off = 0; off < bytes; off += chunk, seq++) {
        size_t len = bytes - off < chunk ? bytes - off : chunk;
        Bb__TakeChunkRequest c = BB__TAKE_CHUNK_REQUEST__INIT;
        c.take_id = job->take_id;
        c.seq = seq;
        c.data.data = (uint8_t *)audio + off;
        c.data.len = len;
        crc = bb_crc32(crc, (uint8_t *)audio + off, len);
        assert_int_equal(s_call(n, "TakeChunk", &c.base), BB_STATUS_OK);
    }
    Bb__TakeEndRequest end = BB__TAKE_END_REQUEST__INIT;
    end.take_id = job->take_id;
    end.frames = FRAMES;
    end.note_on_frame = ON;
    end.note_off_frame = ON + RATE / 4;
    end.crc32 = crc;
    end.chunks = seq;
    end.noise_floor_db = -80;
    assert_int_equal(s_call(n, "TakeEnd", &end.base), BB_STATUS_OK);
    n->ended_at[i] = s_now();
    n->n_recorded++;
}

/* Serves the nodes for `seconds`: heartbeats, StartTake, and the recording of the jobs of
 * nodes in S_RECORD. Returns early when done() says so. */
static void s_serve(double seconds, bool (*done)(void))
{
    for (double t0 = s_now(); s_now() - t0 < seconds && !(done && done());) {
        zpoller_t *p = zpoller_new(NULL);
        for (int k = 0; k < 2; k++)
            if (s_nodes[k].rpc)
                zpoller_add(p, bb_rpc_sock(s_nodes[k].rpc));
        zpoller_wait(p, 20);
        zpoller_destroy(&p);
        for (int k = 0; k < 2; k++) {
            s_node_t *n = &s_nodes[k];
            if (!n->rpc)
                continue;
            bb_rpc_pump(n->rpc);
            if (s_now() - n->last_heartbeat >= HB_MS / 2 / 1000.0) {
                Bb__HeartbeatRequest hb = BB__HEARTBEAT_REQUEST__INIT;
                hb.name = (char *)n->name;
                hb.session = n->session;
                hb.queued_jobs = (uint32_t)(n->n_jobs - n->n_recorded);
                s_call(n, "Heartbeat", &hb.base);
                n->last_heartbeat = s_now();
            }
            if (n->mode == S_RECORD)
                for (int i = 0; i < n->n_jobs; i++)
                    if (!n->ended_at[i])
                        s_record(n, i);
        }
    }
}

/* ---- the operator's side ---- */

typedef struct {
    const char *name, *node;
    uint32_t notes[8];
    size_t n_notes;
} s_inst_t;

static void s_submit(const s_inst_t *insts, size_t n)
{
    Bb__InstrumentSpec spec[4], *ptrs[4];
    uint32_t vel = 100;
    for (size_t i = 0; i < n; i++) {
        bb__instrument_spec__init(&spec[i]);
        spec[i].name = (char *)insts[i].name;
        spec[i].node = (char *)insts[i].node;
        spec[i].notes = (uint32_t *)insts[i].notes;
        spec[i].n_notes = insts[i].n_notes;
        spec[i].velocities = &vel;
        spec[i].n_velocities = 1;
        spec[i].round_robins = 1;
        spec[i].hold_ms = 250;
        spec[i].release_ms = 150;
        ptrs[i] = &spec[i];
    }
    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    Bb__BatchSpec batch = BB__BATCH_SPEC__INIT;
    batch.name = "scheduler";
    batch.instruments = ptrs;
    batch.n_instruments = n;
    batch.export = &ex;
    char out[400];
    snprintf(out, sizeof out, "%s/lib", s_fx.dir);
    ex.out_dir = out;
    ProtobufCMessage *reply = NULL;
    char msg[BB_RPC_MESSAGE_MAX];
    int st = bb_rpc_call(s_op, &bb__operator__descriptor, "SubmitBatch", &batch.base, 20000, &reply,
                         msg, sizeof msg);
    if (st != BB_STATUS_OK)
        fail_msg("SubmitBatch: %s: %s", bb_status_name(st), msg);
    protobuf_c_message_free_unpacked(reply, NULL);
}

/* ---- fixture ---- */

static int s_setup(void **state)
{
    (void)state;
    memset(s_nodes, 0, sizeof s_nodes);
    test_fixture_init_plain(&s_fx, "sched", HB_MS);
    const char *extra[] = {"--disk-reserve", "0", NULL};
    if (test_fixture_coord_start(&s_fx, extra))
        return -1;
    s_op = test_fixture_rpc(&s_fx, s_fx.ops, "operator", "test");
    return s_op ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < s_nodes[k].n_jobs; i++)
            bb__take_job__free_unpacked(s_nodes[k].jobs[i], NULL);
        bb_rpc_destroy(&s_nodes[k].rpc);
    }
    bb_rpc_destroy(&s_op);
    if (test_fixture_stop_checked(&s_fx))
        test_fixture_dump_logs(&s_fx);
    test_fixture_teardown(&s_fx);
    return 0;
}

/* ---- the cases ---- */

static bool s_a_has_window(void)
{
    return s_nodes[0].n_jobs >= WINDOW;
}

static void test_window(void **state)
{
    (void)state;
    s_node_start(&s_nodes[0], "a", S_HOLD);
    s_inst_t keys = {"Keys", "a", {60, 61, 62, 63, 64, 65}, 6};
    s_submit(&keys, 1);
    s_serve(30, s_a_has_window);
    assert_int_equal(s_nodes[0].n_jobs, WINDOW);
    s_serve(1.5, NULL); /* time for a third, which must not come */
    assert_int_equal(s_nodes[0].n_jobs, WINDOW);
    assert_int_equal(s_nodes[0].jobs[0]->note, 60); /* plan order */
    assert_int_equal(s_nodes[0].jobs[1]->note, 61);
    /* one recorded: the next one follows, still at most WINDOW out */
    s_record(&s_nodes[0], 0);
    for (double t0 = s_now(); s_nodes[0].n_jobs < WINDOW + 1 && s_now() - t0 < 30;)
        s_serve(0.1, NULL);
    assert_int_equal(s_nodes[0].n_jobs, WINDOW + 1);
    assert_int_equal(s_nodes[0].jobs[2]->note, 62);
    s_serve(1.5, NULL);
    assert_int_equal(s_nodes[0].n_jobs - s_nodes[0].n_recorded, WINDOW);
}

static bool s_both_have_window(void)
{
    return s_nodes[0].n_jobs >= WINDOW && s_nodes[1].n_jobs >= WINDOW;
}

static void test_parallel_nodes(void **state)
{
    (void)state;
    s_node_start(&s_nodes[0], "a", S_HOLD);
    s_node_start(&s_nodes[1], "b", S_HOLD);
    s_inst_t insts[] = {{"Keys", "a", {60, 62, 64}, 3}, {"Bass", "b", {36, 38, 40}, 3}};
    s_submit(insts, 2);
    s_serve(30, s_both_have_window);
    assert_int_equal(s_nodes[0].n_jobs, WINDOW);
    assert_int_equal(s_nodes[1].n_jobs, WINDOW);
    assert_string_equal(s_nodes[0].jobs[0]->instrument, "Keys");
    assert_string_equal(s_nodes[1].jobs[0]->instrument, "Bass");
    /* neither waited for the other: nobody recorded anything yet */
    assert_int_equal(s_nodes[0].n_recorded + s_nodes[1].n_recorded, 0);
}

static bool s_four_recorded(void)
{
    return s_nodes[0].n_recorded >= 4;
}

static void test_shared_node_one_after_another(void **state)
{
    (void)state;
    s_node_start(&s_nodes[0], "a", S_RECORD);
    s_inst_t insts[] = {{"Lead", "a", {60, 64}, 2}, {"Pad", "a", {60, 64}, 2}};
    s_submit(insts, 2);
    s_serve(90, s_four_recorded);
    s_node_t *n = &s_nodes[0];
    assert_true(n->n_recorded >= 4);
    int first_pad = -1;
    double last_lead_end = 0;
    for (int i = 0; i < n->n_jobs; i++) {
        bool lead = strcmp(n->jobs[i]->instrument, "Lead") == 0;
        if (lead) {
            assert_int_equal(first_pad, -1); /* no Lead take after Pad began */
            last_lead_end = n->ended_at[i] > last_lead_end ? n->ended_at[i] : last_lead_end;
        } else if (first_pad < 0) {
            first_pad = i;
        }
    }
    assert_true(first_pad >= 2);
    /* Pad's first job came only after the last Lead take was recorded */
    assert_true(n->got_at[first_pad] >= last_lead_end);
}

/* Refusals come in rounds: the jobs of one dispatch (up to the window) are refused
 * together, though a busy host may deliver them to the node some time apart. The round of
 * refusal i is how often its job (its note) was refused before. */
static int s_refusal_round(const s_node_t *n, int i)
{
    int k = 0;
    for (int j = 0; j < i; j++)
        k += n->refused_note[j] == n->refused_note[i];
    return k;
}

/* The first refusal of each round into rounds[]; returns how many rounds began. */
static int s_refusal_rounds(double *rounds, int max)
{
    const s_node_t *n = &s_nodes[0];
    int r = 0;
    for (int i = 0; i < n->n_refused; i++) {
        int k = s_refusal_round(n, i);
        if (k == r && r < max)
            rounds[r++] = n->refused_at[i];
    }
    return r;
}

static bool s_refused_four_rounds(void)
{
    double rounds[JOBS_MAX];
    return s_refusal_rounds(rounds, JOBS_MAX) >= 4;
}

static bool s_a_has_two(void)
{
    return s_nodes[0].n_jobs >= 2;
}

static void test_refusal_backoff(void **state)
{
    (void)state;
    s_node_start(&s_nodes[0], "a", S_REFUSE);
    s_inst_t keys = {"Keys", "a", {60, 62}, 2};
    s_submit(&keys, 1);
    s_serve(60, s_refused_four_rounds);
    s_node_t *n = &s_nodes[0];
    double rounds[JOBS_MAX];
    assert_true(s_refusal_rounds(rounds, JOBS_MAX) >= 4);
    /* asked again no sooner than 0.5 s, then 1 s, then 2 s after each refused round (a
     * little slack for the coordinator's 100 ms tick and the clocks) */
    for (int k = 1; k < 4; k++) {
        double gap = rounds[k] - rounds[k - 1];
        double want = BACKOFF_MIN * (1 << (k - 1)) * 0.9;
        printf("refused round %d: %.3f s after the one before\n", k, gap);
        if (gap < want)
            fail_msg("refused round %d came %.3f s after the one before (expected >= %.3f s)", k,
                     gap, want);
    }
    /* the waits the coordinator announced for the first three rounds (the fourth may not
     * be logged yet): 500, 1000, 2000 ms, each refusal of a round with its round's wait
     * (not doubled again per refused call) */
    char *log = NULL;
    size_t log_len = 0;
    FILE *f = fopen(s_fx.coord.log, "r");
    assert_non_null(f);
    assert_true(getdelim(&log, &log_len, '\0', f) > 0);
    fclose(f);
    int waits[JOBS_MAX], n_waits = 0;
    for (const char *p = log; (p = strstr(p, "(no take for node a for ")) && n_waits < JOBS_MAX;
         p++)
        waits[n_waits++] = atoi(p + strlen("(no take for node a for "));
    free(log);
    /* the refusals of round k (the coordinator logs them in the order the node answered)
     * each announced that round's wait */
    for (int r = 0; r < n->n_refused; r++) {
        int k = s_refusal_round(n, r);
        if (k >= 3)
            break;
        assert_true(r < n_waits);
        if (waits[r] != (int)(BACKOFF_MIN * 1000) << k)
            fail_msg("refusal %d (round %d) announced a wait of %d ms, expected %d", r, k + 1,
                     waits[r], (int)(BACKOFF_MIN * 1000) << k);
    }
    /* the node takes jobs again: both go out (the last round may have been half refused,
     * so they may come in either order) */
    n->mode = S_HOLD;
    s_serve(30, s_a_has_two);
    assert_int_equal(n->n_jobs, 2);
    assert_int_equal(n->jobs[0]->note + n->jobs[1]->note, 60 + 62);
    assert_int_not_equal(n->jobs[0]->note, n->jobs[1]->note);
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_window, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_parallel_nodes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_shared_node_one_after_another, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refusal_backoff, s_setup, s_teardown),
    };
    return test_main_group(tests, argc, argv);
}
