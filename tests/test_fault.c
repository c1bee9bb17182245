/*
 * test_fault.c — hostile peers and the failures of issue 12, on the real programs over
 * ipc:// (or loopback TCP where connections themselves are the subject), with the CURVE
 * keys a studio makes (test_fixture.h). One CTest entry per case:
 *
 *  unauthenticated      no certificate, or one the coordinator does not trust: refused in
 *                       the handshake, nothing created
 *  node_cert_operator   a node certificate on the operator endpoint: PERMISSION_DENIED
 *  impostor_name        a node certificate registering as another node: PERMISSION_DENIED;
 *                       a second process with the same certificate: refused while the first
 *                       lives, which records every take, once
 *  forged_take          a take streamed by another node for a job that is out on the real
 *                       node, or for a job nobody dispatched: refused, not stored
 *  foreign_folder       an export never deletes a foreign folder or overwrites a foreign
 *                       manifest: submit and the offline process refuse, naming it
 *  planted_record       a record planted in a library lists a secret file: not served
 *  multipart_bomb       150 frames of 10 MB: the coordinator's peak RSS stays under 100 MB
 *  connection_flood     1000 idle connections: an operator call still answers in time, the
 *                       coordinator's descriptors stay bounded
 *  slot_hogging         a hostile node opens take streams as fast as it can: refused, and
 *                       a real node's batch completes
 *  second_coordinator   a second coordinator on the same state folder: refused with the
 *                       first one's pid
 *  retried_submit       a submit sent again with its request id (a lost answer): the same
 *                       batch, not a second
 *  pause_stops          pausing withdraws the take queued on the node: nothing but the one
 *                       sounding is recorded after the pause; `nodes` shows it paused
 *  export_retry         an export stopped by a foreign folder fails with its reason; once
 *                       the folder is moved away, export --retry completes it
 *  spool_full           a node whose spool has no room refuses takes with the reason; its
 *                       instrument pauses saying so, the node is asked a few times, not in
 *                       a loop, and nothing is recorded
 *  disk_full            the coordinator's own disk below its reserve: instruments pause with
 *                       the reason, nothing is dispatched; space back, the batch completes
 *  node_gone            a node that never comes back: status says for how long, move puts
 *                       its instrument on another node, the batch completes there, and the
 *                       dead node can be forgotten
 *  registration_flood   20,000 registrations under different names: with CURVE a node
 *                       certificate gets its own name only; in plaintext (--auth none) the
 *                       coordinator keeps at most 256 names, answers RESOURCE_EXHAUSTED
 *                       naming `nodes forget`, and forgetting one makes room
 *  midi_setup_values    program 9999 and CC 300=900: INVALID_ARGUMENT at submit
 *  node_no_answer       a node whose coordinator never answers logs "no answer from ... for
 *                       5 s, still trying" and backs off
 *  node_refused         a node whose certificate was revoked logs "no answer ... for 5 s,
 *                       still trying: ... refused this certificate" (tagged with the
 *                       certificate's name); the coordinator logs the refusal
 *  node_revoked         a revoked node that went offline leaves `nodes`; plan check does
 *                       not know it; a submit naming it is refused, saying why
 *  revoked_while_connected  a certificate revoked while connected is refused at its next
 *                       call (UNAUTHENTICATED, "revoked"); a connected node leaves `nodes`
 *  revoked_subscriber   an operator subscribed to the event feed when its certificate is
 *                       revoked stops receiving events (cut off, then refused at its new
 *                       handshake) while a trusted subscriber keeps receiving them; a
 *                       revoked `batcherbird watch` ends saying it is no longer trusted
 *                       (over ipc:// and, _tcp, loopback TCP)
 *
 * Figures (memory, time, descriptors) are printed on lines starting "figure:"; what is
 * asserted is a bound, never a speed.
 */
#include <czmq.h>
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_clock.h"
#include "bb_fs.h"
#include "bb_rpc.h"
#include "node.pb-c.h"
#include "operator.pb-c.h"
#include "test_fixture.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif
#if defined(S_ASAN) || defined(__SANITIZE_THREAD__)
#define S_SANITIZED 1 /* memory figures hold the sanitizer's own (quarantine, shadow) */
#endif

#define HB_MS 200

static test_fixture_t s_fx;

static double s_now(void)
{
    return bb_mono_ns() / 1e9;
}

static int s_teardown(void **state)
{
    (void)state;
    test_fixture_teardown(&s_fx);
    return 0;
}

/* The fixture's coordinator and `n` fast simulated nodes named node-0.. */
static int s_start(const char *tag, int n, const char *const *coord_extra)
{
    test_fixture_init(&s_fx, tag, HB_MS);
    if (!s_fx.curve || test_fixture_coord_start(&s_fx, coord_extra))
        return -1;
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "node-%d", i);
        const char *extra[] = {"--instrument", "piano", "--fast", NULL};
        if (test_fixture_node_start(&s_fx, i, name, extra))
            return -1;
    }
    if (n && !test_fixture_wait_online(&s_fx, n, 60)) {
        test_fixture_dump_logs(&s_fx);
        return -1;
    }
    if (!n) { /* the coordinator answers */
        for (double t0 = s_now(); s_now() - t0 < 30; usleep(100 * 1000)) {
            const char *args[] = {"nodes", NULL};
            if (test_fixture_cli(&s_fx, 10, NULL, NULL, args) == 0)
                return 0;
        }
        return -1;
    }
    return 0;
}

/* One integer from the coordinator's database (read-only); -1 if it cannot be read. */
static long long s_db_int(const char *sql, const char *p1)
{
    sqlite3 *db = NULL;
    long long v = -1;
    if (sqlite3_open_v2(s_fx.db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
            if (p1)
                sqlite3_bind_text(st, 1, p1, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

/* One text value from the database into out ("" when none). */
static void s_db_text(const char *sql, char *out, size_t len)
{
    sqlite3 *db = NULL;
    out[0] = '\0';
    if (sqlite3_open_v2(s_fx.db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(out, len, "%s", t ? (const char *)t : "");
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

/* Batch 1's state now, when final; else -1. */
static int s_batch_final(void)
{
    long long st = s_db_int("SELECT state FROM batches WHERE id=1", NULL);
    return st >= BB__BATCH_STATE__BATCH_DONE ? (int)st : -1;
}

/* Polls the database until batch 1 reached a final state; returns it (-1: timed out). */
static int s_wait_batch_final(double timeout_s)
{
    for (double t0 = s_now(); s_now() - t0 < timeout_s; usleep(200 * 1000)) {
        long long st = s_db_int("SELECT state FROM batches WHERE id=1", NULL);
        if (st >= BB__BATCH_STATE__BATCH_DONE)
            return (int)st;
    }
    return -1;
}

/* A line of a process's status file (/proc/PID/status), in kB; -1 if absent. */
static long s_proc_kb(pid_t pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            v = strtol(line + klen + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int s_proc_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Submits a small batch for node-0 with the CLI; returns the CLI's exit code. */
static int s_submit(const char *instrument, const char *node, const char *notes, const char *out,
                    char **err)
{
    const char *args[] = {
        "submit", "--instrument", instrument, "--node",          node,  "--notes",
        notes,    "--hold",       "0.3",      "--release",       "0.3", "--velocities",
        "100",    "--yes",        "--out",    out ? out : "lib", NULL};
    return test_fixture_cli(&s_fx, 60, NULL, err, args);
}

static void s_check_clean_stop(void)
{
    if (test_fixture_stop_checked(&s_fx))
        fail_msg("a program did not stop cleanly");
}

/* ---- no one in ---- */

/* Runs the CLI as test_run does, again (up to 3 times) while it exits 3 with "no answer":
 * a refused handshake is only known when the coordinator's side of it has run, and on a
 * starved host that can come after the CLI's deadline. Every attempt starved: the test
 * reports skipped, neither passed nor failed. */
static int s_run_refused(const char *const *args, char **err)
{
    int rc = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        free(*err);
        *err = NULL;
        rc = test_run("batcherbird", args, 30, NULL, err);
        if (rc != 3 || !*err || !strstr(*err, "no answer from the coordinator"))
            return rc;
        fprintf(stderr, "a disturbed run (attempt %d): %s", attempt + 1, *err);
    }
    free(*err);
    *err = NULL;
    test_skip("the coordinator's answer to a refused handshake came after the CLI's deadline "
              "three times (a starved host)");
    return rc;
}

static void test_unauthenticated(void **state)
{
    (void)state;
    assert_int_equal(s_start("unauth", 0, NULL), 0);
    char *err = NULL;
    /* plaintext: told that the coordinator requires CURVE */
    const char *plain[] = {"--coordinator", s_fx.ops, "--cert", "", "nodes", NULL};
    unsetenv("BATCHERBIRD_CERT");
    assert_int_equal(s_run_refused(plain, &err), 1);
    assert_non_null(strstr(err, "requires CURVE"));
    free(err);
    /* a certificate the coordinator does not trust (made without its --state) */
    char stranger[400], keyfile[400];
    snprintf(stranger, sizeof stranger, "%s/stranger.cert", s_fx.dir);
    snprintf(keyfile, sizeof keyfile, "%s/keys/coordinator.cert", s_fx.state);
    const char *mk[] = {"keys",    "new",   "--role", "operator", "--name",
                        "mallory", "--out", stranger, NULL};
    assert_int_equal(test_run("batcherbird", mk, 30, NULL, NULL), 0);
    const char *sub[] = {"--coordinator",
                         s_fx.ops,
                         "--cert",
                         stranger,
                         "--coordinator-key",
                         keyfile,
                         "submit",
                         "--instrument",
                         "X",
                         "--node",
                         "node-0",
                         "--yes",
                         NULL};
    err = NULL;
    assert_int_equal(s_run_refused(sub, &err), 1);
    assert_non_null(strstr(err, "UNAUTHENTICATED"));
    assert_non_null(strstr(err, "refused this certificate"));
    free(err);
    setenv("BATCHERBIRD_CERT", s_fx.operator_cert, 1);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM batches", NULL), 0);
    s_check_clean_stop();
}

static void test_node_cert_operator(void **state)
{
    (void)state;
    assert_int_equal(s_start("nodeop", 0, NULL), 0);
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.ops, "node", "juno");
    assert_non_null(rpc);
    const char *methods[] = {"SubmitBatch", "CancelBatch", "ListNodes", "SetNodeLatency",
                             "ListLibrary"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        const ProtobufCMethodDescriptor *m =
            protobuf_c_service_descriptor_get_method_by_name(&bb__operator__descriptor, methods[i]);
        ProtobufCMessage *req = calloc(1, m->input->sizeof_message);
        protobuf_c_message_init(m->input, req);
        ProtobufCMessage *reply = NULL;
        char msg[BB_RPC_MESSAGE_MAX];
        int st = bb_rpc_call(rpc, &bb__operator__descriptor, methods[i], req, 5000, &reply, msg,
                             sizeof msg);
        if (st != BB_STATUS_PERMISSION_DENIED)
            fail_msg("%s with a node certificate: %s (%s)", methods[i], bb_status_name(st), msg);
        assert_non_null(strstr(msg, "node certificate"));
        free(req);
    }
    bb_rpc_destroy(&rpc);
    /* and an operator certificate cannot register a node */
    rpc = test_fixture_rpc(&s_fx, s_fx.nodes, "operator", "tests");
    Bb__RegisterRequest reg = BB__REGISTER_REQUEST__INIT;
    reg.name = "tests";
    reg.session = "s";
    ProtobufCMessage *reply = NULL;
    char msg[BB_RPC_MESSAGE_MAX];
    assert_int_equal(bb_rpc_call(rpc, &bb__node_link__descriptor, "RegisterNode", &reg.base, 5000,
                                 &reply, msg, sizeof msg),
                     BB_STATUS_PERMISSION_DENIED);
    bb_rpc_destroy(&rpc);
    s_check_clean_stop();
}

/* Registers over rpc as `name`; returns the status. */
static int s_register(bb_rpc_t *rpc, const char *name, const char *session, char *msg, size_t len)
{
    Bb__RegisterRequest reg = BB__REGISTER_REQUEST__INIT;
    reg.name = (char *)name;
    reg.session = (char *)session;
    reg.sample_rate = 48000;
    reg.channels = 2;
    ProtobufCMessage *reply = NULL;
    int st = bb_rpc_call(rpc, &bb__node_link__descriptor, "RegisterNode", &reg.base, 5000, &reply,
                         msg, len);
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);
    return st;
}

static void test_impostor_name(void **state)
{
    (void)state;
    assert_int_equal(s_start("impostor", 1, NULL), 0);
    char msg[BB_RPC_MESSAGE_MAX];
    /* another node's certificate cannot register as node-0 */
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.nodes, "node", "mallory");
    assert_int_equal(s_register(rpc, "node-0", "evil", msg, sizeof msg),
                     BB_STATUS_PERMISSION_DENIED);
    assert_non_null(strstr(msg, "'mallory'"));
    bb_rpc_destroy(&rpc);
    /* a second process with node-0's own certificate (a cloned image): refused while the
     * first is alive */
    rpc = test_fixture_rpc(&s_fx, s_fx.nodes, "node", "node-0");
    assert_int_equal(s_register(rpc, "node-0", "clone", msg, sizeof msg), BB_STATUS_ALREADY_EXISTS);
    assert_non_null(strstr(msg, "belongs to a node that is online"));
    bb_rpc_destroy(&rpc);
    /* a real clone runs beside it through a batch: every take once, all from the first */
    const char *extra[] = {"--instrument", "piano", "--fast", NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, 1, "node-0", extra), 0);
    assert_int_equal(s_submit("Keys", "node-0", "C3:G3", NULL, NULL), 0);
    assert_int_equal(s_wait_batch_final(120), BB__BATCH_STATE__BATCH_DONE);
    long long jobs = s_db_int("SELECT COUNT(*) FROM jobs WHERE batch_id=1", NULL);
    long long takes = s_db_int("SELECT COUNT(*) FROM takes WHERE batch_id=1", NULL);
    long long retakes = s_db_int("SELECT COALESCE(SUM(retakes),0) FROM jobs", NULL);
    printf("figure: impostor: %lld planned takes, %lld take rows (%lld retakes)\n", jobs, takes,
           retakes);
    assert_int_equal(takes, jobs + retakes); /* no duplicate recordings */
    char log[600];
    snprintf(log, sizeof log, "%s", s_fx.node[1].log);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(bb_read_file(log, &text, &len), 0);
    assert_non_null(strstr(text, "ALREADY_EXISTS"));
    free(text);
    s_check_clean_stop();
}

/* ---- one name per node, and a bounded table of names ---- */

static void test_registration_flood(void **state)
{
    (void)state;
    test_fixture_init(&s_fx, "regflood", HB_MS);
    assert_true(s_fx.curve);
    assert_int_equal(test_fixture_coord_start(&s_fx, NULL), 0);
    /* CURVE (the default): one node certificate registers its own name, no other */
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.nodes, "node", "mallory");
    assert_non_null(rpc);
    char msg[BB_RPC_MESSAGE_MAX];
    int st = -1;
    for (double t0 = s_now(); st != BB_STATUS_OK && s_now() - t0 < 30; usleep(100 * 1000))
        st = s_register(rpc, "mallory", "m", msg, sizeof msg);
    assert_int_equal(st, BB_STATUS_OK);
    int denied = 0;
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "flood-%05d", i);
        denied += s_register(rpc, name, "m", msg, sizeof msg) == BB_STATUS_PERMISSION_DENIED;
    }
    bb_rpc_destroy(&rpc);
    printf("figure: registration flood (CURVE): 1000 names with one node certificate: %d "
           "PERMISSION_DENIED\n",
           denied);
    assert_int_equal(denied, 1000);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM nodes", NULL), 1);
    test_stop(&s_fx.coord);

    /* plaintext on ipc:// (--auth none): any name registers, but the table is bounded */
    const char *none[] = {"--auth", "none", NULL};
    assert_int_equal(test_fixture_coord_start(&s_fx, none), 0);
    s_fx.curve = false; /* this test's own calls in plaintext */
    rpc = test_fixture_rpc(&s_fx, s_fx.nodes, NULL, NULL);
    assert_non_null(rpc);
    st = -1;
    for (double t0 = s_now(); st != BB_STATUS_OK && s_now() - t0 < 30; usleep(100 * 1000))
        st = s_register(rpc, "flood-first", "f", msg, sizeof msg);
    assert_int_equal(st, BB_STATUS_OK);
    long rss0 = s_proc_kb(s_fx.coord.pid, "VmRSS");
    int ok = 1, full = 0, other = 0;
    char full_msg[BB_RPC_MESSAGE_MAX] = "";
    double t0 = s_now();
    for (int i = 1; i < 20000; i++) {
        char name[32];
        snprintf(name, sizeof name, "flood-%05d", i);
        st = s_register(rpc, name, "f", msg, sizeof msg);
        ok += st == BB_STATUS_OK;
        full += st == BB_STATUS_RESOURCE_EXHAUSTED;
        other += st != BB_STATUS_OK && st != BB_STATUS_RESOURCE_EXHAUSTED;
        if (st == BB_STATUS_RESOURCE_EXHAUSTED && !*full_msg)
            snprintf(full_msg, sizeof full_msg, "%s", msg);
    }
    double secs = s_now() - t0;
    long rss1 = s_proc_kb(s_fx.coord.pid, "VmRSS");
    long hwm = s_proc_kb(s_fx.coord.pid, "VmHWM");
    long long rows = s_db_int("SELECT COUNT(*) FROM nodes", NULL);
    printf("figure: registration flood (--auth none): 20000 names in %.1f s: %d registered, %d "
           "RESOURCE_EXHAUSTED ('%s'), %d other; %lld node rows; coordinator RSS %.1f MB "
           "before, %.1f MB after, peak %.1f MB\n",
           secs, ok, full, full_msg, other, rows, rss0 / 1024.0, rss1 / 1024.0, hwm / 1024.0);
    assert_true(ok <= 256);
    assert_int_equal(ok + full, 20000);
    assert_non_null(strstr(full_msg, "nodes forget"));
    assert_true(rows <= 256);
#ifndef S_SANITIZED
    assert_true(hwm < 100 * 1024);
#endif /* ASan's quarantine keeps freed memory (up to 256 MB): the release build checks */
    /* forgetting one (offline by now) makes room for one more */
    for (double w = s_now(); s_now() - w < 10; usleep(200 * 1000)) {
        Bb__ForgetNodeRequest fr = BB__FORGET_NODE_REQUEST__INIT;
        fr.node = "flood-00001";
        ProtobufCMessage *reply = NULL;
        bb_rpc_t *op = test_fixture_rpc(&s_fx, s_fx.ops, NULL, NULL);
        st = bb_rpc_call(op, &bb__operator__descriptor, "ForgetNode", &fr.base, 5000, &reply, msg,
                         sizeof msg);
        if (reply)
            protobuf_c_message_free_unpacked(reply, NULL);
        bb_rpc_destroy(&op);
        if (st == BB_STATUS_OK)
            break;
    }
    assert_int_equal(st, BB_STATUS_OK);
    assert_int_equal(s_register(rpc, "late", "l", msg, sizeof msg), BB_STATUS_OK);
    bb_rpc_destroy(&rpc);
    s_check_clean_stop();
}

/* ---- forged takes ---- */

static int s_take_begin(bb_rpc_t *rpc, const char *node, const char *take_id, char *msg, size_t len)
{
    Bb__TakeJob job = BB__TAKE_JOB__INIT;
    job.take_id = (char *)take_id;
    job.batch_id = 1;
    job.note = 60;
    job.velocity = 100;
    job.round_robin = 1;
    Bb__TakeFormat fmt = BB__TAKE_FORMAT__INIT;
    fmt.sample_rate = 48000;
    fmt.channels = 2;
    Bb__TakeBeginRequest req = BB__TAKE_BEGIN_REQUEST__INIT;
    req.node = (char *)node;
    req.job = &job;
    req.format = &fmt;
    ProtobufCMessage *reply = NULL;
    int st = bb_rpc_call(rpc, &bb__node_link__descriptor, "TakeBegin", &req.base, 5000, &reply, msg,
                         len);
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);
    return st;
}

static void test_forged_take(void **state)
{
    (void)state;
    /* node-0 at real time, so that its jobs stay out long enough to aim at */
    test_fixture_init(&s_fx, "forged", HB_MS);
    assert_int_equal(test_fixture_coord_start(&s_fx, NULL), 0);
    const char *extra[] = {"--instrument", "piano", NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, 0, "node-0", extra), 0);
    assert_true(test_fixture_wait_online(&s_fx, 1, 60));
    assert_int_equal(s_submit("Keys", "node-0", "C3:E3", NULL, NULL), 0);
    char take_id[128] = "";
    for (double t0 = s_now(); !*take_id && s_now() - t0 < 30; usleep(50 * 1000))
        s_db_text("SELECT dispatched FROM jobs WHERE state=1 ORDER BY seq LIMIT 1", take_id,
                  sizeof take_id);
    assert_true(*take_id);
    char msg[BB_RPC_MESSAGE_MAX];
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.nodes, "node", "mallory");
    assert_int_equal(s_register(rpc, "mallory", "m1", msg, sizeof msg), BB_STATUS_OK);
    /* node-0's job, from mallory */
    assert_int_equal(s_take_begin(rpc, "mallory", take_id, msg, sizeof msg),
                     BB_STATUS_PERMISSION_DENIED);
    assert_non_null(strstr(msg, "dispatched to node node-0"));
    /* claiming to be node-0 */
    assert_int_equal(s_take_begin(rpc, "node-0", take_id, msg, sizeof msg),
                     BB_STATUS_PERMISSION_DENIED);
    /* a well-formed id nobody dispatched (the old parsing fallback would have taken it) */
    assert_int_equal(s_take_begin(rpc, "mallory", "b1-i0-s2-a7", msg, sizeof msg),
                     BB_STATUS_NOT_FOUND);
    bb_rpc_destroy(&rpc);
    assert_int_equal(s_wait_batch_final(120), BB__BATCH_STATE__BATCH_DONE);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM takes WHERE node != 'node-0'", NULL), 0);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM takes WHERE id='b1-i0-s2-a7'", NULL), 0);
    s_check_clean_stop();
}

/* ---- nothing foreign touched ---- */

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_foreign_folder(void **state)
{
    (void)state;
    assert_int_equal(s_start("foreign", 1, NULL), 0);
    char dir[400], notes[450], music[400], manifest[450];
    snprintf(dir, sizeof dir, "%s/music/Keys", s_fx.dir);
    snprintf(music, sizeof music, "%s/music", s_fx.dir);
    assert_int_equal(bb_mkdir_p(dir), 0);
    snprintf(notes, sizeof notes, "%s/notes.txt", dir);
    s_write(notes, "my notes\n");
    char *err = NULL;
    /* a live batch into it: refused at submit, naming the folder */
    assert_int_equal(s_submit("Keys", "node-0", "C3", music, &err), 1);
    assert_non_null(strstr(err, "was not written by Batcherbird"));
    assert_non_null(strstr(err, "Keys"));
    free(err);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM batches", NULL), 0);
    /* a manifest.json someone else wrote at the root */
    char other[400];
    snprintf(other, sizeof other, "%s/other", s_fx.dir);
    assert_int_equal(bb_mkdir_p(other), 0);
    snprintf(manifest, sizeof manifest, "%s/manifest.json", other);
    s_write(manifest, "{\"mine\": true}\n");
    err = NULL;
    assert_int_equal(s_submit("Keys", "node-0", "C3", other, &err), 1);
    assert_non_null(strstr(err, "manifest.json was not written by Batcherbird"));
    free(err);
    /* outside the library root */
    err = NULL;
    assert_int_equal(s_submit("Keys", "node-0", "C3", "/tmp", &err), 1);
    assert_non_null(strstr(err, "outside the coordinator's library folder"));
    free(err);
    /* the same folder given to the offline process: refused, nothing touched */
    assert_int_equal(s_submit("Keys", "node-0", "C3", "rec", NULL), 0);
    assert_int_equal(s_wait_batch_final(120), BB__BATCH_STATE__BATCH_DONE);
    char raw[400];
    snprintf(raw, sizeof raw, "%s/takes/b1", s_fx.state);
    const char *proc[] = {"process", "--in", raw, "--out", music, NULL};
    err = NULL;
    assert_int_equal(test_run("batcherbird", proc, 60, NULL, &err), 1);
    assert_non_null(strstr(err, "was not written by Batcherbird"));
    free(err);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(bb_read_file(notes, &text, &len), 0);
    assert_string_equal(text, "my notes\n");
    free(text);
    assert_int_equal(bb_read_file(manifest, &text, &len), 0);
    assert_string_equal(text, "{\"mine\": true}\n");
    free(text);
    s_check_clean_stop();
}

static void test_planted_record(void **state)
{
    (void)state;
    assert_int_equal(s_start("planted", 1, NULL), 0);
    assert_int_equal(s_submit("Keys", "node-0", "C3:D3", "lib", NULL), 0);
    assert_int_equal(s_wait_batch_final(120), BB__BATCH_STATE__BATCH_DONE);
    char path[600];
    snprintf(path, sizeof path, "%s/lib/secret.txt", s_fx.dir);
    s_write(path, "secret\n");
    snprintf(path, sizeof path, "%s/lib/Planted", s_fx.dir);
    assert_int_equal(bb_mkdir_p(path), 0);
    snprintf(path, sizeof path, "%s/lib/Planted/.batcherbird-instrument.json", s_fx.dir);
    s_write(path, "{\"folder\":\"Planted\",\"files\":[{\"path\":\"secret.txt\",\"bytes\":7,"
                  "\"crc32\":0}]}");
    char fetched[400];
    snprintf(fetched, sizeof fetched, "%s/fetched", s_fx.dir);
    const char *exp[] = {"export", "1", "--out", fetched, NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 60, NULL, NULL, exp), 0);
    snprintf(path, sizeof path, "%s/secret.txt", fetched);
    assert_false(bb_exists(path));
    snprintf(path, sizeof path, "%s/Keys/Keys.sfz", fetched);
    assert_true(bb_exists(path));
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.ops, "operator", "tests");
    Bb__LibraryChunkRequest req = BB__LIBRARY_CHUNK_REQUEST__INIT;
    req.batch_id = 1;
    req.path = "secret.txt";
    ProtobufCMessage *reply = NULL;
    char msg[BB_RPC_MESSAGE_MAX];
    assert_int_equal(bb_rpc_call(rpc, &bb__operator__descriptor, "FetchLibraryChunk", &req.base,
                                 5000, &reply, msg, sizeof msg),
                     BB_STATUS_NOT_FOUND);
    bb_rpc_destroy(&rpc);
    s_check_clean_stop();
}

/* ---- bounded resources ---- */

/* Sends one message of `frames` frames of `bytes` each to the operator endpoint with a
 * trusted operator certificate (the worst case: an insider), and waits until the
 * coordinator either took it whole and dropped it (its log says so) or dropped the
 * connection. Returns 1 for a dropped connection, 2 for a dropped message, 0 on time out. */
static int s_bomb(size_t bytes, int frames, double *secs)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    assert_int_equal(test_fixture_secure(&s_fx, sock, "operator", "tests"), 0);
    zsock_set_sndhwm(sock, 0);
    char mon_ep[64];
    static int serial;
    snprintf(mon_ep, sizeof mon_ep, "inproc://bomb-monitor-%d", serial++);
    assert_int_equal(zmq_socket_monitor(zsock_resolve(sock), mon_ep, ZMQ_EVENT_DISCONNECTED), 0);
    zsock_t *mon = zsock_new(ZMQ_PAIR);
    assert_int_equal(zsock_connect(mon, "%s", mon_ep), 0);
    assert_int_equal(zsock_connect(sock, "%s", s_fx.ops), 0);
    char *log = NULL;
    size_t len = 0, dropped_before = 0;
    if (bb_read_file(s_fx.coord.log, &log, &len) == 0)
        for (char *p = log; (p = strstr(p, "dropped a message of")); p++)
            dropped_before++;
    free(log);
    uint8_t *data = calloc(1, bytes);
    double t0 = s_now();
    for (int i = 0; i < frames; i++) {
        zframe_t *f = zframe_new(data, bytes);
        zframe_send(&f, sock, i < frames - 1 ? ZFRAME_MORE : 0);
    }
    free(data);
    int outcome = 0;
    zsock_set_rcvtimeo(mon, 100);
    while (!outcome && s_now() - t0 < 120) {
        zmsg_t *ev = zmsg_recv(mon);
        if (ev) {
            outcome = 1;
            zmsg_destroy(&ev);
        }
        size_t dropped = 0;
        if (bb_read_file(s_fx.coord.log, &log, &len) == 0)
            for (char *p = log; (p = strstr(p, "dropped a message of")); p++)
                dropped++;
        free(log);
        if (dropped > dropped_before)
            outcome = 2;
    }
    *secs = s_now() - t0;
    zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
    zsock_destroy(&mon);
    zsock_set_linger(sock, 0);
    zsock_destroy(&sock);
    return outcome;
}

static void test_multipart_bomb(void **state)
{
    (void)state;
    assert_int_equal(s_start("bomb", 0, NULL), 0);
    pid_t pid = s_fx.coord.pid;
    long before = s_proc_kb(pid, "VmRSS");
    /* the bomb: 150 frames of 10 MB */
    double secs;
    int outcome = s_bomb(10 * 1024 * 1024, 150, &secs);
    const char *args[] = {"nodes", NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 30, NULL, NULL, args), 0); /* still answers */
    long peak = s_proc_kb(pid, "VmHWM");
    printf("figure: multipart bomb 150 x 10 MB: the coordinator %s (%.1f s); RSS %ld kB "
           "before, peak %ld kB\n",
           outcome == 1   ? "dropped the connection at the first frame"
           : outcome == 2 ? "took the message whole, then dropped it"
                          : "did not react",
           secs, before, peak);
    assert_int_equal(outcome, 1);
#ifdef S_ASAN
    assert_true(peak - before < 100 * 1024); /* the sanitizer's own memory is in the base */
#else
    assert_true(peak < 100 * 1024);
#endif
    /* just under the frame limit: libzmq hands a message over only once all its frames are
     * in, so what one message can occupy is its frames times the frame limit; it is
     * dropped as soon as it is read */
    outcome = s_bomb(500 * 1024, 150, &secs);
    assert_int_equal(test_fixture_cli(&s_fx, 30, NULL, NULL, args), 0);
    long peak2 = s_proc_kb(pid, "VmHWM");
    printf("figure: multipart 150 x 500 KB (under the 512 KB frame limit): %s (%.1f s); peak "
           "RSS %ld kB\n",
           outcome == 2 ? "taken whole, then dropped" : "dropped the connection", secs, peak2);
    assert_int_equal(outcome, 2);
    assert_true(peak2 - before < 150 * 512 + 48 * 1024);
    s_check_clean_stop();
}

/* The fixture's endpoints as loopback TCP, for tests about connections. */
static void s_tcp_endpoints(void)
{
    int base = test_tcp_ports(3);
    assert_true(base > 0);
    snprintf(s_fx.nodes, sizeof s_fx.nodes, "tcp://127.0.0.1:%d", base);
    snprintf(s_fx.ops, sizeof s_fx.ops, "tcp://127.0.0.1:%d", base + 1);
    snprintf(s_fx.events, sizeof s_fx.events, "tcp://127.0.0.1:%d", base + 2);
}

static void test_connection_flood(void **state)
{
    (void)state;
    test_fixture_init(&s_fx, "flood", HB_MS);
    s_tcp_endpoints();
    assert_int_equal(test_fixture_coord_start(&s_fx, NULL), 0);
    const char *args[] = {"nodes", NULL};
    bool up = false;
    for (double t0 = s_now(); !up && s_now() - t0 < 30; usleep(100 * 1000))
        up = test_fixture_cli(&s_fx, 10, NULL, NULL, args) == 0;
    if (!up)
        test_fixture_dump_logs(&s_fx);
    assert_true(up);
    pid_t pid = s_fx.coord.pid;
    int fds_before = s_proc_fds(pid);
    /* 1000 idle connections on the operator endpoint: plain TCP that never speaks */
    enum { N = 1000 };
    static int fds[N];
    const char *colon = strrchr(s_fx.ops, ':');
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int opened = 0;
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] >= 0 && connect(fds[i], (struct sockaddr *)&a, sizeof a) == 0)
            opened++;
    }
    usleep(500 * 1000);
    int fds_during = s_proc_fds(pid);
    /* an operator call within its deadline (the CLI's default 3 s) */
    double t0 = s_now();
    int rc = test_fixture_cli(&s_fx, 30, NULL, NULL, args);
    double answered_s = s_now() - t0;
    printf("figure: connection flood: %d idle connections opened; coordinator descriptors %d "
           "before, %d during; an operator call answered in %.2f s\n",
           opened, fds_before, fds_during, answered_s);
    for (int i = 0; i < N; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    assert_int_equal(rc, 0);
    assert_true(fds_during < fds_before + 256 + 64); /* --max-connections 256 per endpoint */
    s_check_clean_stop();
}

static void test_slot_hogging(void **state)
{
    (void)state;
    assert_int_equal(s_start("hog", 1, NULL), 0);
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.nodes, "node", "hog");
    char msg[BB_RPC_MESSAGE_MAX];
    assert_int_equal(s_register(rpc, "hog", "h1", msg, sizeof msg), BB_STATUS_OK);
    assert_int_equal(s_submit("Keys", "node-0", "C3:C4", NULL, NULL), 0);
    /* 64 TakeBegins for ids it was never given, while the real node works */
    int refused = 0, accepted = 0;
    double t0 = s_now();
    while (s_batch_final() < 0 && s_now() - t0 < 120) {
        for (int i = 0; i < 64; i++) {
            char id[64];
            snprintf(id, sizeof id, "b1-i0-s%d-a1", i);
            int st = s_take_begin(rpc, "hog", id, msg, sizeof msg);
            refused += st != BB_STATUS_OK;
            accepted += st == BB_STATUS_OK;
        }
    }
    double took = s_now() - t0;
    bb_rpc_destroy(&rpc);
    printf("figure: slot hogging: %d TakeBegins refused, %d accepted; the real node's batch "
           "finished in %.1f s meanwhile\n",
           refused, accepted, took);
    assert_int_equal(accepted, 0);
    assert_int_equal(s_wait_batch_final(120), BB__BATCH_STATE__BATCH_DONE);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM takes WHERE node != 'node-0'", NULL), 0);
    s_check_clean_stop();
}

/* ---- one owner per state ---- */

static void test_second_coordinator(void **state)
{
    (void)state;
    assert_int_equal(s_start("second", 0, NULL), 0);
    char nodes[400], ops[400], events[400];
    snprintf(nodes, sizeof nodes, "ipc://%s/n2.ipc", s_fx.dir);
    snprintf(ops, sizeof ops, "ipc://%s/o2.ipc", s_fx.dir);
    snprintf(events, sizeof events, "ipc://%s/e2.ipc", s_fx.dir);
    const char *args[] = {"--state", s_fx.state, "--nodes", nodes, "--operators",
                          ops,       "--events", events,    NULL};
    char *err = NULL;
    assert_int_equal(test_run("batcherbird-coordinator", args, 30, NULL, &err), 1);
    char want[64];
    snprintf(want, sizeof want, "another coordinator (pid %d)", (int)s_fx.coord.pid);
    if (!strstr(err, want))
        fail_msg("expected '%s' in: %s", want, err);
    free(err);
    s_check_clean_stop();
}

/* ---- one owner per request ---- */

static void test_retried_submit(void **state)
{
    (void)state;
    assert_int_equal(s_start("retried", 1, NULL), 0);
    /* the same submit twice through the CLI, as a script retrying it would */
    setenv("BATCHERBIRD_REQUEST_ID", "night-1-submit", 1);
    char *err = NULL;
    assert_int_equal(s_submit("Keys", "node-0", "C3:D3", NULL, NULL), 0);
    assert_int_equal(s_submit("Keys", "node-0", "C3:D3", NULL, &err), 0);
    unsetenv("BATCHERBIRD_REQUEST_ID");
    assert_non_null(strstr(err, "the batch it made then"));
    free(err);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM batches", NULL), 1);
    /* and a raw one: existing is set, the id is the first batch's */
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.ops, "operator", "tests");
    uint32_t vels[] = {100};
    Bb__InstrumentSpec inst = BB__INSTRUMENT_SPEC__INIT;
    inst.name = "Keys";
    inst.node = "node-0";
    inst.note_lo = inst.note_hi = 60;
    inst.velocities = vels;
    inst.n_velocities = 1;
    Bb__InstrumentSpec *insts[] = {&inst};
    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    Bb__BatchSpec spec = BB__BATCH_SPEC__INIT;
    spec.instruments = insts;
    spec.n_instruments = 1;
    spec.export = &ex;
    spec.request_id = "night-1-submit";
    ProtobufCMessage *reply = NULL;
    char msg[BB_RPC_MESSAGE_MAX];
    assert_int_equal(bb_rpc_call(rpc, &bb__operator__descriptor, "SubmitBatch", &spec.base, 5000,
                                 &reply, msg, sizeof msg),
                     BB_STATUS_OK);
    assert_true(((Bb__SubmitBatchReply *)reply)->existing);
    assert_int_equal(((Bb__SubmitBatchReply *)reply)->batch_id, 1);
    protobuf_c_message_free_unpacked(reply, NULL);
    bb_rpc_destroy(&rpc);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM batches", NULL), 1);
    assert_int_equal(s_wait_batch_final(120), BB__BATCH_STATE__BATCH_DONE);
    s_check_clean_stop();
}

/* ---- failures that tell and recover ---- */

static void test_pause_stops(void **state)
{
    (void)state;
    /* a node at real time: a take lasts about 1.5 s, one queued behind it */
    test_fixture_init(&s_fx, "pause", HB_MS);
    assert_int_equal(test_fixture_coord_start(&s_fx, NULL), 0);
    const char *extra[] = {"--instrument", "piano", NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, 0, "node-0", extra), 0);
    assert_true(test_fixture_wait_online(&s_fx, 1, 60));
    const char *args[] = {"submit",  "--instrument", "Keys",   "--node", "node-0",
                          "--notes", "C3:C4",        "--hold", "1",      "--release",
                          "0.3",     "--velocities", "100",    "--yes",  NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 60, NULL, NULL, args), 0);
    /* once two jobs are out (one recording, one queued), pause */
    for (double t0 = s_now();
         s_db_int("SELECT COUNT(*) FROM jobs WHERE state=1", NULL) < 2 && s_now() - t0 < 30;)
        usleep(20 * 1000);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM jobs WHERE state=1", NULL), 2);
    long long before = s_db_int("SELECT COUNT(*) FROM takes", NULL);
    const char *pause[] = {"pause", "1", NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 30, NULL, NULL, pause), 0);
    sleep(5); /* three takes' worth */
    long long after = s_db_int("SELECT COUNT(*) FROM takes", NULL);
    long long out = s_db_int("SELECT COUNT(*) FROM jobs WHERE state=1", NULL);
    printf("figure: pause: %lld take(s) stored before the pause, %lld after 5 s paused; %lld "
           "job(s) still out on the node\n",
           before, after, out);
    assert_true(after <= before + 1); /* the one sounding, nothing more */
    assert_int_equal(out, 0);         /* the queued one came back */
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(bb_read_file(s_fx.node[0].log, &text, &len), 0);
    assert_non_null(strstr(text, "withdrew 1 queued take(s): batch paused"));
    free(text);
    /* the node shows paused */
    char *nodes_out = NULL;
    const char *nodes[] = {"nodes", NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 30, &nodes_out, NULL, nodes), 0);
    printf("figure: pause: batcherbird nodes says\n%s", nodes_out);
    assert_non_null(strstr(nodes_out, "paused"));
    assert_non_null(strstr(nodes_out, "batch 1 paused"));
    free(nodes_out);
    const char *resume[] = {"resume", "1", NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 30, NULL, NULL, resume), 0);
    assert_int_equal(s_wait_batch_final(180), BB__BATCH_STATE__BATCH_DONE);
    long long jobs = s_db_int("SELECT COUNT(*) FROM jobs WHERE batch_id=1", NULL);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM jobs WHERE state=2", NULL), jobs);
    s_check_clean_stop();
}

static void test_export_retry(void **state)
{
    (void)state;
    assert_int_equal(s_start("retry", 1, NULL), 0);
    /* a slower node so that the folder can be put in the way before the export */
    assert_int_equal(s_submit("Keys", "node-0", "C3:C4", "lib", NULL), 0);
    char dir[400], notes[450];
    snprintf(dir, sizeof dir, "%s/lib/Keys", s_fx.dir);
    assert_int_equal(bb_mkdir_p(dir), 0);
    snprintf(notes, sizeof notes, "%s/notes.txt", dir);
    s_write(notes, "mine\n");
    assert_int_equal(s_wait_batch_final(120), BB__BATCH_STATE__BATCH_FAILED);
    char msg[300];
    s_db_text("SELECT message FROM instruments WHERE batch_id=1", msg, sizeof msg);
    printf("figure: export retry: the failed export says: %s\n", msg);
    assert_non_null(strstr(msg, "was not written by Batcherbird"));
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(bb_read_file(notes, &text, &len), 0);
    assert_string_equal(text, "mine\n");
    free(text);
    /* moved away: the export runs again from the stored takes */
    char moved[400];
    snprintf(moved, sizeof moved, "%s/keys-notes", s_fx.dir);
    assert_int_equal(rename(dir, moved), 0);
    const char *retry[] = {"export", "1", "--retry", NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 120, NULL, NULL, retry), 0);
    assert_int_equal(s_db_int("SELECT state FROM batches WHERE id=1", NULL),
                     BB__BATCH_STATE__BATCH_DONE);
    snprintf(dir, sizeof dir, "%s/lib/Keys/Keys.sfz", s_fx.dir);
    assert_true(bb_exists(dir));
    s_check_clean_stop();
}

/* The `status` line of batch 1's instrument `name`, or "" (malloc'd). */
static char *s_status_line(const char *name)
{
    char *out = NULL;
    const char *args[] = {"status", NULL};
    if (test_fixture_cli(&s_fx, 30, &out, NULL, args) != 0 || !out) {
        free(out);
        return strdup("");
    }
    char *hit = strstr(out, name);
    char *line = strdup(hit ? hit : "");
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    free(out);
    return line;
}

static int s_count_in_log(const char *path, const char *what)
{
    char *text = NULL;
    size_t len = 0;
    int n = 0;
    if (bb_read_file(path, &text, &len) == 0)
        for (char *p = text; (p = strstr(p, what)); p++)
            n++;
    free(text);
    return n;
}

static void test_spool_full(void **state)
{
    (void)state;
    test_fixture_init(&s_fx, "spool", HB_MS);
    assert_int_equal(test_fixture_coord_start(&s_fx, NULL), 0);
    /* a reserve larger than any disk: the spool counts as full */
    const char *extra[] = {"--instrument", "piano", "--fast", "--spool-reserve", "100000000", NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, 0, "node-0", extra), 0);
    assert_true(test_fixture_wait_online(&s_fx, 1, 60));
    assert_int_equal(s_submit("Keys", "node-0", "C3:C4", NULL, NULL), 0);
    sleep(8);
    char *line = s_status_line("Keys:");
    int asked = s_count_in_log(s_fx.coord.log, "was not accepted");
    printf("figure: spool full: status says '%s'; StartTake asked %d time(s) in 8 s\n", line,
           asked);
    assert_non_null(strstr(line, "spool full"));
    free(line);
    /* rounds of up to COORD_NODE_WINDOW (2) calls, 0.5, 1, 2, 4 s apart: at most 5 rounds
     * in 8 s, never a loop (which would ask hundreds of times) */
    assert_true(asked >= 1 && asked <= 10);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM takes", NULL), 0);
    char *out = NULL;
    const char *nodes[] = {"nodes", NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 30, &out, NULL, nodes), 0);
    assert_non_null(strstr(out, "spool full"));
    free(out);
    s_check_clean_stop();
}

static void test_disk_full(void **state)
{
    (void)state;
    test_fixture_init(&s_fx, "disk", HB_MS);
    const char *huge[] = {"--disk-reserve", "100000000", NULL};
    assert_int_equal(test_fixture_coord_start(&s_fx, huge), 0);
    const char *extra[] = {"--instrument", "piano", "--fast", NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, 0, "node-0", extra), 0);
    assert_true(test_fixture_wait_online(&s_fx, 1, 60));
    assert_int_equal(s_submit("Keys", "node-0", "C3:D3", NULL, NULL), 0);
    sleep(2);
    char *line = s_status_line("Keys:");
    printf("figure: coordinator disk full: status says '%s'\n", line);
    assert_non_null(strstr(line, "coordinator disk full"));
    free(line);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM takes", NULL), 0);
    assert_int_equal(s_count_in_log(s_fx.coord.log, "no takes until there is space"), 1);
    /* "space returns": the same state with the default reserve */
    test_stop(&s_fx.coord);
    assert_int_equal(test_fixture_coord_start(&s_fx, NULL), 0);
    assert_int_equal(s_wait_batch_final(120), BB__BATCH_STATE__BATCH_DONE);
    s_check_clean_stop();
}

static void test_node_gone(void **state)
{
    (void)state;
    test_fixture_init(&s_fx, "gone", HB_MS);
    assert_int_equal(test_fixture_coord_start(&s_fx, NULL), 0);
    const char *slow[] = {"--instrument", "piano", NULL};
    const char *fast[] = {"--instrument", "organ", "--fast", NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, 0, "node-0", slow), 0);
    assert_int_equal(test_fixture_node_start(&s_fx, 1, "node-1", fast), 0);
    assert_true(test_fixture_wait_online(&s_fx, 2, 60));
    assert_int_equal(s_submit("Keys", "node-0", "C3:C4", NULL, NULL), 0);
    for (double t0 = s_now();
         s_db_int("SELECT COUNT(*) FROM takes", NULL) < 1 && s_now() - t0 < 60;)
        usleep(50 * 1000);
    test_fixture_kill(&s_fx.node[0]); /* gone for good */
    assert_true(test_fixture_wait_node(&s_fx, "node-0", "offline", 30));
    sleep(2);
    char *line = s_status_line("Keys:");
    printf("figure: node gone: status says '%s'\n", line);
    assert_non_null(strstr(line, "waiting for node node-0 (offline"));
    free(line);
    /* forgetting it is refused while the batch uses it */
    char *err = NULL;
    const char *forget[] = {"nodes", "forget", "node-0", NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 30, NULL, &err, forget), 1);
    assert_non_null(strstr(err, "move it"));
    free(err);
    const char *move[] = {"move", "1", "Keys", "--node", "node-1", NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 30, NULL, NULL, move), 0);
    assert_int_equal(s_wait_batch_final(120), BB__BATCH_STATE__BATCH_DONE);
    long long jobs = s_db_int("SELECT COUNT(*) FROM jobs WHERE batch_id=1", NULL);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM jobs WHERE state=2", NULL), jobs);
    assert_true(s_db_int("SELECT COUNT(*) FROM takes WHERE node='node-1'", NULL) >= 1);
    /* now it can be forgotten */
    assert_int_equal(test_fixture_cli(&s_fx, 30, NULL, NULL, forget), 0);
    char *out = NULL;
    const char *nodes[] = {"nodes", NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 30, &out, NULL, nodes), 0);
    assert_null(strstr(out, "node-0"));
    free(out);
    s_check_clean_stop();
}

static void test_midi_setup_values(void **state)
{
    (void)state;
    assert_int_equal(s_start("midisetup", 1, NULL), 0);
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.ops, "operator", "tests");
    assert_non_null(rpc);
    uint32_t vels[] = {100};
    uint32_t cc[] = {300, 900};
    Bb__MidiSetup setup = BB__MIDI_SETUP__INIT;
    setup.bank_msb = setup.bank_lsb = -1;
    setup.program = 9999;
    Bb__InstrumentSpec inst = BB__INSTRUMENT_SPEC__INIT;
    inst.name = "Keys";
    inst.node = "node-0";
    inst.note_lo = inst.note_hi = 60;
    inst.velocities = vels;
    inst.n_velocities = 1;
    inst.setup = &setup;
    inst.has_setup = true;
    Bb__InstrumentSpec *insts[] = {&inst};
    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    Bb__BatchSpec spec = BB__BATCH_SPEC__INIT;
    spec.instruments = insts;
    spec.n_instruments = 1;
    spec.export = &ex;
    const char *want[] = {"program and bank are 0-127", "controller number 300 is not 0-127"};
    for (int k = 0; k < 2; k++) {
        if (k == 1) { /* program fine, CC 300=900 */
            setup.program = 5;
            setup.cc = cc;
            setup.n_cc = 2;
        }
        ProtobufCMessage *reply = NULL;
        char msg[BB_RPC_MESSAGE_MAX];
        int st = bb_rpc_call(rpc, &bb__operator__descriptor, "SubmitBatch", &spec.base, 5000,
                             &reply, msg, sizeof msg);
        printf("figure: MIDI setup %s: %s '%s'\n", k ? "CC 300=900" : "program 9999",
               bb_status_name(st), msg);
        assert_int_equal(st, BB_STATUS_INVALID_ARGUMENT);
        if (!strstr(msg, want[k]))
            fail_msg("expected '%s' in: %s", want[k], msg);
    }
    bb_rpc_destroy(&rpc);
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM batches", NULL), 0);
    s_check_clean_stop();
}

/* A node pointed at an address where no coordinator answers: it says so after 5 s and
 * asks again less and less often. The "coordinator" is a socket with the coordinator's
 * keys that counts what arrives and never answers. */
static void test_node_no_answer(void **state)
{
    (void)state;
    test_fixture_init(&s_fx, "noanswer", HB_MS);
    char keyfile[400];
    snprintf(keyfile, sizeof keyfile, "%s/keys/coordinator.cert", s_fx.state);
    zcert_t *server = zcert_load(keyfile);
    assert_non_null(server);
    zsock_t *sink = zsock_new(ZMQ_ROUTER);
    zcert_apply(server, sink);
    zsock_set_curve_server(sink, 1);
    assert_int_equal(zsock_bind(sink, "%s", s_fx.nodes), 0);
    const char *extra[] = {"--instrument", "piano", "--fast", NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, 0, "node-0", extra), 0);
    int calls = 0;
    double t0 = s_now();
    while (s_now() - t0 < 20) {
        zpoller_t *p = zpoller_new(sink, NULL);
        if (zpoller_wait(p, 200)) {
            zmsg_t *m = zmsg_recv(sink);
            calls += m != NULL;
            zmsg_destroy(&m);
        }
        zpoller_destroy(&p);
    }
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(bb_read_file(s_fx.node[0].log, &text, &len), 0);
    char want[400];
    snprintf(want, sizeof want, "no answer from %s for 5 s, still trying", s_fx.nodes);
    printf("figure: node without an answer: %d calls in 20 s; its log says: %s\n", calls,
           strstr(text, want) ? want : "(nothing)");
    if (!strstr(text, want))
        fail_msg("expected '%s' in the node's log:\n%s", want, text);
    free(text);
    assert_true(calls >= 1);
    assert_true(calls <= 8); /* backs off: 5 s timeouts, retries after 1, 2, 4, 8 s */
    zsock_destroy(&sink);
    zcert_destroy(&server);
    s_check_clean_stop();
}

/* The text of a log once it contains `want`, within timeout_s; NULL (and the text so far
 * printed) otherwise. *secs: when it appeared, counted from t0. Caller frees. */
static char *s_log_wait(const char *log, const char *want, double t0, double timeout_s,
                        double *secs)
{
    char *text = NULL;
    size_t len = 0;
    for (;;) {
        free(text);
        text = NULL;
        if (bb_read_file(log, &text, &len) == 0 && strstr(text, want)) {
            *secs = s_now() - t0;
            return text;
        }
        if (s_now() - t0 > timeout_s)
            break;
        usleep(100 * 1000);
    }
    fprintf(stderr, "expected '%s' in %s:\n%s\n", want, log, text ? text : "(no log)");
    free(text);
    return NULL;
}

/* A node whose certificate the coordinator no longer trusts (revoked) says so in its log
 * within seconds, with the reason, and keeps trying; the coordinator logs the refusal. */
static void test_node_refused(void **state)
{
    (void)state;
    assert_int_equal(s_start("refused", 0, NULL), 0);
    char cert[400];
    assert_int_equal(test_fixture_cert(&s_fx, "node", "node-0", cert, sizeof cert), 0);
    const char *revoke[] = {"keys",   "revoke",  "--role",   "node", "--name",
                            "node-0", "--state", s_fx.state, NULL};
    assert_int_equal(test_run("batcherbird", revoke, 30, NULL, NULL), 0);
    /* no --name: the node is known by its certificate's name, and logs under it */
    char spool[400], log[400], hb[16];
    snprintf(spool, sizeof spool, "%s/spool-node-0", s_fx.dir);
    snprintf(log, sizeof log, "%s/node-0-1.log", s_fx.dir);
    snprintf(hb, sizeof hb, "%d", HB_MS);
    const char *args[] = {"--coordinator",  s_fx.nodes, "--spool", spool,
                          "--heartbeat-ms", hb,         "--cert",  cert,
                          "--instrument",   "piano",    "--fast",  NULL};
    double t0 = s_now(), secs = 0;
    assert_int_equal(test_start(&s_fx.node[0], "batcherbird-node", args, log), 0);
    char want[400];
    snprintf(want, sizeof want, "W node-0: no answer from %s for 5 s, still trying: ", s_fx.nodes);
    char *text = s_log_wait(s_fx.node[0].log, want, t0, 30, &secs);
    assert_non_null(text);
    const char *line = strstr(text, want);
    const char *eol = strchr(line, '\n');
    printf("figure: revoked node: warned after %.1f s: %.*s\n", secs,
           (int)(eol ? eol - line : (long)strlen(line)), line);
    assert_non_null(strstr(line, "refused this certificate"));
    free(text);
    /* the coordinator's side */
    text = s_log_wait(s_fx.coord.log, "refused a client whose certificate is not trusted", t0, 10,
                      &secs);
    assert_non_null(text);
    free(text);
    s_check_clean_stop();
}

/* A revoked node: once offline it is gone from `nodes`, plan check does not know it, and
 * a submit naming it is refused with the reason. */
static void test_node_revoked(void **state)
{
    (void)state;
    assert_int_equal(s_start("revoked", 1, NULL), 0);
    assert_int_equal(test_stop(&s_fx.node[0]), 0);
    const char *revoke[] = {"keys",   "revoke",  "--role",   "node", "--name",
                            "node-0", "--state", s_fx.state, NULL};
    assert_int_equal(test_run("batcherbird", revoke, 30, NULL, NULL), 0);
    const char *nodes[] = {"nodes", NULL};
    char *out = NULL;
    bool gone = false;
    for (double t0 = s_now(); !gone && s_now() - t0 < 30; usleep(200 * 1000)) {
        free(out);
        out = NULL;
        gone = test_fixture_cli(&s_fx, 10, &out, NULL, nodes) == 0 && !strstr(out, "node-0");
    }
    if (!gone)
        fail_msg("a revoked node that went offline is still listed:\n%s", out ? out : "");
    free(out);
    /* plan check asks the coordinator which nodes there are */
    char plan[400];
    snprintf(plan, sizeof plan, "%s/revoked.yaml", s_fx.dir);
    const char *yaml = "instruments:\n  - instrument: Keys\n    node: node-0\n    notes: C3\n"
                       "    velocities: [100]\n";
    assert_int_equal(bb_write_file_atomic(plan, yaml, strlen(yaml)), 0);
    char *err = NULL;
    const char *check[] = {"plan", "check", plan, NULL};
    int rc = test_fixture_cli(&s_fx, 30, &out, &err, check);
    printf("figure: plan check naming a revoked node: exit %d: %s", rc, err ? err : "");
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "node-0"));
    free(out);
    free(err);
    /* the coordinator refuses it at submit, saying why */
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.ops, "operator", "tests");
    assert_non_null(rpc);
    uint32_t vels[] = {100};
    Bb__InstrumentSpec inst = BB__INSTRUMENT_SPEC__INIT;
    inst.name = "Keys";
    inst.node = "node-0";
    inst.note_lo = inst.note_hi = 60;
    inst.velocities = vels;
    inst.n_velocities = 1;
    Bb__InstrumentSpec *insts[] = {&inst};
    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    Bb__BatchSpec spec = BB__BATCH_SPEC__INIT;
    spec.instruments = insts;
    spec.n_instruments = 1;
    spec.export = &ex;
    ProtobufCMessage *reply = NULL;
    char msg[BB_RPC_MESSAGE_MAX];
    int st = bb_rpc_call(rpc, &bb__operator__descriptor, "SubmitBatch", &spec.base, 5000, &reply,
                         msg, sizeof msg);
    printf("figure: submit naming a revoked node: %s '%s'\n", bb_status_name(st), msg);
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);
    bb_rpc_destroy(&rpc);
    assert_int_not_equal(st, BB_STATUS_OK);
    assert_non_null(strstr(msg, "revoked"));
    assert_int_equal(s_db_int("SELECT COUNT(*) FROM batches", NULL), 0);
    s_check_clean_stop();
}

/* ListNodes on `rpc`: its status, the message in msg. */
static int s_list_nodes(bb_rpc_t *rpc, char *msg, size_t len)
{
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    int st =
        bb_rpc_call(rpc, &bb__operator__descriptor, "ListNodes", &req.base, 5000, &reply, msg, len);
    if (reply)
        protobuf_c_message_free_unpacked(reply, NULL);
    return st;
}

/* A certificate revoked while its connection is open is refused at its next call, not
 * when it next connects: an operator's next request on the same connection gets
 * UNAUTHENTICATED saying so; a connected node's calls are refused, and it leaves `nodes`
 * as it goes offline. */
static void test_revoked_while_connected(void **state)
{
    (void)state;
    assert_int_equal(s_start("revokelive", 1, NULL), 0);
    bb_rpc_t *rpc = test_fixture_rpc(&s_fx, s_fx.ops, "operator", "leaver");
    assert_non_null(rpc);
    char msg[BB_RPC_MESSAGE_MAX];
    assert_int_equal(s_list_nodes(rpc, msg, sizeof msg), BB_STATUS_OK);
    const char *revoke_op[] = {"keys",   "revoke",  "--role",   "operator", "--name",
                               "leaver", "--state", s_fx.state, NULL};
    assert_int_equal(test_run("batcherbird", revoke_op, 30, NULL, NULL), 0);
    int st = s_list_nodes(rpc, msg, sizeof msg);
    printf("figure: revoked operator, same connection: %s '%s'\n", bb_status_name(st), msg);
    assert_int_equal(st, BB_STATUS_UNAUTHENTICATED);
    assert_non_null(strstr(msg, "revoked"));
    bb_rpc_destroy(&rpc);

    double t0 = s_now(), secs = 0;
    const char *revoke_node[] = {"keys",   "revoke",  "--role",   "node", "--name",
                                 "node-0", "--state", s_fx.state, NULL};
    assert_int_equal(test_run("batcherbird", revoke_node, 30, NULL, NULL), 0);
    char *text = s_log_wait(s_fx.coord.log, "its certificate was revoked", t0, 30, &secs);
    assert_non_null(text);
    free(text);
    const char *nodes[] = {"nodes", NULL};
    char *out = NULL;
    bool gone = false;
    while (!gone && s_now() - t0 < 60) {
        free(out);
        out = NULL;
        gone = test_fixture_cli(&s_fx, 10, &out, NULL, nodes) == 0 && !strstr(out, "node-0");
        if (!gone)
            usleep(200 * 1000);
    }
    if (!gone)
        fail_msg("a node revoked while connected is still listed after 60 s:\n%s", out ? out : "");
    printf("figure: node revoked while connected: refused at once, gone from nodes after %.1f s\n",
           s_now() - t0);
    free(out);
    s_check_clean_stop();
}

/* A SUB on the event endpoint as operator `name`, subscribed to `topic`; *mon reports its
 * handshakes that the coordinator refused (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH). */
static zsock_t *s_feed_sub(const char *name, const char *topic, zsock_t **mon)
{
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub)
        return NULL;
    zsock_set_subscribe(sub, topic);
    zsock_set_linger(sub, 0);
    char ep[128];
    snprintf(ep, sizeof ep, "inproc://test-feed-%s", name);
    if (test_fixture_secure(&s_fx, sub, "operator", name) ||
        zmq_socket_monitor(zsock_resolve(sub), ep, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) ||
        !(*mon = zsock_new_pair(NULL)) || zsock_connect(*mon, "%s", ep) ||
        zsock_connect(sub, "%s", s_fx.events)) {
        zsock_destroy(mon);
        zsock_destroy(&sub);
    }
    return sub;
}

/* Messages waiting on sock, received and counted. */
static int s_drain(zsock_t *sock)
{
    int n = 0;
    for (zmsg_t *m; (m = zmsg_recv_nowait(sock)); n++)
        zmsg_destroy(&m);
    return n;
}

/* The event feed is a PUB socket: zauth judges a subscriber once, at its handshake. When a
 * certificate is revoked, the coordinator closes every connection on it so each subscriber
 * goes through the handshake again: the revoked one is refused and hears nothing more, a
 * trusted one reconnects by itself and goes on receiving. A node's input levels (10 a
 * second, "meter.node-0") are the events; the trusted subscriber's count is the clock, so a
 * slow host waits longer instead of failing. A `batcherbird watch` with the revoked
 * certificate ends, saying so. */
static void s_revoked_subscriber(bool tcp)
{
    test_fixture_init(&s_fx, tcp ? "revokefeedtcp" : "revokefeed", HB_MS);
    if (tcp)
        s_tcp_endpoints();
    assert_true(s_fx.curve);
    assert_int_equal(test_fixture_coord_start(&s_fx, NULL), 0);
    const char *node[] = {"--instrument", "piano", "--fast", NULL};
    assert_int_equal(test_fixture_node_start(&s_fx, 0, "node-0", node), 0);
    assert_true(test_fixture_wait_online(&s_fx, 1, 60));
    /* a batch that stays (paused) for watch to follow */
    const char *submit[] = {"submit",  "--instrument", "Keys",   "--node", "node-0",
                            "--notes", "C1:C7",        "--hold", "1",      "--release",
                            "0.3",     "--velocities", "100",    "--yes",  NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 60, NULL, NULL, submit), 0);
    const char *pause[] = {"pause", "1", NULL};
    assert_int_equal(test_fixture_cli(&s_fx, 30, NULL, NULL, pause), 0);
    char leaver_cert[400], watch_log[400];
    assert_int_equal(
        test_fixture_cert(&s_fx, "operator", "leaver", leaver_cert, sizeof leaver_cert), 0);
    snprintf(watch_log, sizeof watch_log, "%s/watch-leaver.log", s_fx.dir);
    const char *watch[] = {"--coordinator", s_fx.ops, "--events", s_fx.events, "--cert",
                           leaver_cert,     "watch",  "1",        NULL};
    test_proc_t watcher = {0}, meter = {0};
    assert_int_equal(test_start(&watcher, "batcherbird", watch, watch_log), 0);
    char meter_log[400];
    snprintf(meter_log, sizeof meter_log, "%s/meter-leaver.log", s_fx.dir);
    const char *meter_args[] = {"--coordinator", s_fx.ops, "--events", s_fx.events, "--cert",
                                leaver_cert,     "meter",  "node-0",   NULL};
    assert_int_equal(test_start(&meter, "batcherbird", meter_args, meter_log), 0);

    zsock_t *keep_mon = NULL, *leave_mon = NULL;
    zsock_t *keeper = s_feed_sub("keeper", "meter.node-0", &keep_mon);
    zsock_t *leaver = s_feed_sub("leaver", "meter.node-0", &leave_mon);
    assert_non_null(keeper);
    assert_non_null(leaver);
    zpoller_t *poller = zpoller_new(keeper, leaver, leave_mon, NULL);
    assert_non_null(poller);
    /* both hear the feed */
    int got_keep = 0, got_leave = 0;
    for (double t0 = s_now(); (!got_keep || !got_leave) && s_now() - t0 < 30;) {
        zpoller_wait(poller, 200);
        got_keep += s_drain(keeper);
        got_leave += s_drain(leaver);
    }
    if (!got_keep || !got_leave)
        fail_msg("the subscribers got %d and %d events in 30 s", got_keep, got_leave);
    assert_true(test_alive(&watcher));

    const char *revoke[] = {"keys",   "revoke",  "--role",   "operator", "--name",
                            "leaver", "--state", s_fx.state, NULL};
    double t0 = s_now();
    assert_int_equal(test_run("batcherbird", revoke, 30, NULL, NULL), 0);
    /* done when the revoked subscriber was refused at a handshake and the trusted one has
     * since heard KEEPER_QUIET_EVENTS events (3 s of levels) while the revoked one heard none */
    enum { KEEPER_QUIET_EVENTS = 30 };
    double last_leave = -1, refused_at = -1, watch_end = -1, meter_end = -1;
    int watch_status = 0, meter_status = 0;
    int keep_since = 0, keep_after = 0, leave_after = 0;
    double keep_last = t0, keep_gap = 0; /* the trusted one's longest wait for an event */
    while ((refused_at < 0 || keep_since < KEEPER_QUIET_EVENTS) && s_now() - t0 < 60) {
        zpoller_wait(poller, 200);
        int k = s_drain(keeper), l = s_drain(leaver);
        if (s_drain(leave_mon) && refused_at < 0)
            refused_at = s_now() - t0;
        if (watch_end < 0 && waitpid(watcher.pid, &watch_status, WNOHANG) == watcher.pid)
            watch_end = s_now() - t0;
        if (meter_end < 0 && waitpid(meter.pid, &meter_status, WNOHANG) == meter.pid)
            meter_end = s_now() - t0;
        if (k) {
            keep_gap = s_now() - keep_last > keep_gap ? s_now() - keep_last : keep_gap;
            keep_last = s_now();
        }
        keep_after += k;
        leave_after += l;
        keep_since += k;
        if (l) {
            last_leave = s_now() - t0;
            keep_since = 0;
        }
    }
    printf("figure: revoked subscriber (%s): last event %.2f s after keys revoke (-1: none "
           "after it), refused at its handshake after %.2f s; then %d events to the trusted "
           "subscriber, none to it (%d and %d events since the revoke); the trusted one's "
           "longest wait for an event %.2f s (levels come every 0.1 s)\n",
           tcp ? "loopback TCP" : "ipc", last_leave, refused_at, keep_since, keep_after,
           leave_after, keep_gap);
    if (refused_at < 0 || keep_since < KEEPER_QUIET_EVENTS)
        fail_msg("60 s after the revoke: the revoked subscriber %s refused, the trusted one "
                 "heard %d events since the revoked one's last",
                 refused_at < 0 ? "was never" : "was", keep_since);

    zpoller_destroy(&poller);
    zsock_destroy(&keeper);
    zsock_destroy(&leaver);
    zsock_destroy(&keep_mon);
    zsock_destroy(&leave_mon);

    /* watch and meter with the revoked certificate end, saying why */
    for (double tw = s_now(); (watch_end < 0 || meter_end < 0) && s_now() - tw < 30;
         usleep(100 * 1000)) {
        if (watch_end < 0 && waitpid(watcher.pid, &watch_status, WNOHANG) == watcher.pid)
            watch_end = s_now() - t0;
        if (meter_end < 0 && waitpid(meter.pid, &meter_status, WNOHANG) == meter.pid)
            meter_end = s_now() - t0;
    }
    int watch_rc = -1, meter_rc = -1;
    if (watch_end < 0)
        test_stop(&watcher); /* still running: fails below */
    else
        watch_rc = WIFEXITED(watch_status) ? WEXITSTATUS(watch_status) : -1;
    if (meter_end < 0)
        test_stop(&meter);
    else
        meter_rc = WIFEXITED(meter_status) ? WEXITSTATUS(meter_status) : -1;
    watcher.pid = meter.pid = 0;
    char *text = NULL, *mtext = NULL;
    size_t len = 0;
    assert_int_equal(bb_read_file(watch_log, &text, &len), 0);
    assert_int_equal(bb_read_file(meter_log, &mtext, &len), 0);
    const char *mlast = strstr(mtext, "batcherbird:");
    printf("figure: revoked watch: exit %d, %.2f s after keys revoke:\n%s", watch_rc, watch_end,
           text);
    printf("figure: revoked meter: exit %d, %.2f s after keys revoke: %s", meter_rc, meter_end,
           mlast ? mlast : "(no message)\n");
    assert_true(watch_end >= 0);
    assert_int_equal(watch_rc, 1);
    assert_non_null(strstr(text, "no longer trusted"));
    if (meter_rc == 3 && strstr(mtext, "no levels")) {
        /* meter gives up after 3 s without levels: the host starved the coordinator (or
         * meter) that long, which is not what is measured here */
        free(text);
        free(mtext);
        test_skip("meter heard no levels for 3 s (a starved host); the feed and watch passed");
    }
    assert_true(meter_end >= 0);
    assert_int_equal(meter_rc, 1);
    assert_non_null(strstr(mtext, "refused this certificate"));
    free(text);
    free(mtext);
    s_check_clean_stop();
}

static void test_revoked_subscriber(void **state)
{
    (void)state;
    s_revoked_subscriber(false);
}

/* The same over loopback TCP, as subscribers on other machines connect. */
static void test_revoked_subscriber_tcp(void **state)
{
    (void)state;
    s_revoked_subscriber(true);
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_unauthenticated, s_teardown),
        cmocka_unit_test_teardown(test_node_cert_operator, s_teardown),
        cmocka_unit_test_teardown(test_impostor_name, s_teardown),
        cmocka_unit_test_teardown(test_forged_take, s_teardown),
        cmocka_unit_test_teardown(test_foreign_folder, s_teardown),
        cmocka_unit_test_teardown(test_planted_record, s_teardown),
        cmocka_unit_test_teardown(test_multipart_bomb, s_teardown),
        cmocka_unit_test_teardown(test_connection_flood, s_teardown),
        cmocka_unit_test_teardown(test_slot_hogging, s_teardown),
        cmocka_unit_test_teardown(test_second_coordinator, s_teardown),
        cmocka_unit_test_teardown(test_retried_submit, s_teardown),
        cmocka_unit_test_teardown(test_pause_stops, s_teardown),
        cmocka_unit_test_teardown(test_export_retry, s_teardown),
        cmocka_unit_test_teardown(test_spool_full, s_teardown),
        cmocka_unit_test_teardown(test_disk_full, s_teardown),
        cmocka_unit_test_teardown(test_node_gone, s_teardown),
        cmocka_unit_test_teardown(test_registration_flood, s_teardown),
        cmocka_unit_test_teardown(test_midi_setup_values, s_teardown),
        cmocka_unit_test_teardown(test_node_no_answer, s_teardown),
        cmocka_unit_test_teardown(test_node_refused, s_teardown),
        cmocka_unit_test_teardown(test_node_revoked, s_teardown),
        cmocka_unit_test_teardown(test_revoked_while_connected, s_teardown),
        cmocka_unit_test_teardown(test_revoked_subscriber, s_teardown),
        cmocka_unit_test_teardown(test_revoked_subscriber_tcp, s_teardown),
    };
    return test_main_group(tests, argc, argv);
}
