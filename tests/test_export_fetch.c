/*
 * test_export_fetch.c — `batcherbird export`'s fetch over a real ipc:// ROUTER/DEALER
 * pair: the server half (service_export.c, export_library.c) serves a library exported
 * by dsp_export_instrument(); the client half (cli/cmd_export.c) fetches it. Checks a
 * complete fetch byte for byte (a file of several chunks included), skipping complete
 * files, resuming a truncated .part, starting over after a .part that was not the file,
 * a damaged chunk and a checksum mismatch reported as errors, unsafe paths refused on
 * both sides, files outside the list the server was given (a planted record's, a file
 * dropped into the folder) and symbolic links out of the library refused.
 */
#include <czmq.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_crc32.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_rpc.h"
#include "cmd_export.h"
#include "export.h"
#include "export_library.h"
#include "operator.pb-c.h"
#include "service_export.h"
#include "test_export_util.h"
#include "test_util.h"

#define BIG_FRAMES (3 * TX_RATE) /* a 3 s stereo float sample: about 1 MB, five chunks */
#define TIMEOUT_MS 3000

typedef enum {
    MODE_REAL = 0,
    MODE_CORRUPT_CHUNK, /* flip a byte after the CRC was computed */
    MODE_LIE_CRC,       /* list a wrong whole-file CRC */
    MODE_EVIL_PATH      /* list a path that leads out */
} s_mode_t;

static char s_root[512];
static atomic_int s_mode;

/* ---- the server ---- */

/* What the server serves: the files the export wrote, as a coordinator's database would
 * list them (here taken from the manifest of a library this test made, before anything
 * else was put into the folder). */
static coord_lib_file_t *s_served;
static size_t s_n_served;

static void s_load_served(void)
{
    dsp_library_file_t *files;
    size_t n;
    char err[256];
    assert_int_equal(dsp_library_list(s_root, &files, &n, err, sizeof err), 0);
    free(s_served);
    s_served = calloc(n, sizeof *s_served);
    for (size_t i = 0; i < n; i++) {
        snprintf(s_served[i].path, sizeof s_served[i].path, "%s", files[i].path);
        s_served[i].size = files[i].size;
        s_served[i].crc32 = files[i].crc32;
    }
    s_n_served = n;
    free(files);
}

static void s_list(Bb__Operator_Service *svc, const Bb__LibraryListRequest *req,
                   Bb__LibraryList_Closure closure, void *call)
{
    int mode = atomic_load(&s_mode);
    if (mode != MODE_LIE_CRC && mode != MODE_EVIL_PATH) {
        coord_library_serve_list(s_root, s_served, s_n_served, BB__BATCH_STATE__BATCH_DONE, closure,
                                 call);
        return;
    }
    dsp_library_file_t *files;
    size_t n;
    char err[256];
    assert_int_equal(dsp_library_list(s_root, &files, &n, err, sizeof err), 0);
    Bb__LibraryFile *items = calloc(n, sizeof *items);
    Bb__LibraryFile **ptrs = calloc(n, sizeof *ptrs);
    for (size_t i = 0; i < n; i++) {
        items[i] = (Bb__LibraryFile)BB__LIBRARY_FILE__INIT;
        items[i].path = files[i].path;
        items[i].size = files[i].size;
        items[i].crc32 = files[i].crc32 ^ (mode == MODE_LIE_CRC && i == n - 1 ? 1u : 0u);
        ptrs[i] = &items[i];
    }
    if (mode == MODE_EVIL_PATH)
        items[0].path = "../evil.txt";
    Bb__LibraryList reply = BB__LIBRARY_LIST__INIT;
    reply.files = ptrs;
    reply.n_files = n;
    closure(&reply, call);
    free(ptrs);
    free(items);
    free(files);
}

static void s_chunk(Bb__Operator_Service *svc, const Bb__LibraryChunkRequest *req,
                    Bb__LibraryChunk_Closure closure, void *call)
{
    if (atomic_load(&s_mode) != MODE_CORRUPT_CHUNK) {
        coord_library_serve_chunk(s_root, s_served, s_n_served, req, closure, call);
        return;
    }
    static unsigned char buf[DSP_LIBRARY_CHUNK_MAX];
    size_t got;
    uint64_t size;
    char err[256];
    assert_int_equal(dsp_library_read(s_root, req->path, req->offset, buf, req->length, &got, &size,
                                      err, sizeof err),
                     0);
    Bb__LibraryChunk reply = BB__LIBRARY_CHUNK__INIT;
    reply.crc32 = bb_crc32(0, buf, got);
    buf[got / 2] ^= 0x40; /* damaged on the way */
    reply.data.data = buf;
    reply.data.len = got;
    reply.file_size = size;
    closure(&reply, call);
}

static void s_server(zsock_t *pipe, void *args)
{
    char err[256];
    bb_rpc_t *rpc = bb_rpc_new_router((const char *)args, NULL, err, sizeof err);
    Bb__Operator_Service svc = {
        .base = BB__OPERATOR__BASE_INIT, .list_library = s_list, .fetch_library_chunk = s_chunk};
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

/* ---- fixture: a library with a multi-chunk sample, a server, a client ---- */

typedef struct {
    char dir[256], out[300], takes[300];
    char endpoint[300];
    zactor_t *server;
    bb_rpc_t *client;
    char big[600]; /* relative path of the multi-chunk sample */
} s_fix_t;

static int s_setup(void **state)
{
    static int serial;
    s_fix_t *f = calloc(1, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir, "fetch");
    snprintf(s_root, sizeof s_root, "%s/lib", f->dir);
    snprintf(f->takes, sizeof f->takes, "%s/takes", f->dir);
    snprintf(f->out, sizeof f->out, "%s/out", f->dir);
    bb_mkdir_p(f->takes);
    bb_mkdir_p(s_root);
    tx_take_t tk[3];
    dsp_export_take_t t[3];
    tx_spec_t spec = TX_SPEC_INIT;
    spec.body = BIG_FRAMES;
    tx_make_take(&tk[0], f->takes, "Organ", 48, 127, 1, false, &spec);
    spec.body = 0;
    tx_make_take(&tk[1], f->takes, "Organ", 55, 127, 1, false, &spec);
    tx_make_take(&tk[2], f->takes, "Organ", 60, 127, 1, false, &spec);
    for (int i = 0; i < 3; i++)
        t[i] = tk[i].t;
    dsp_export_config_t cfg = DSP_EXPORT_CONFIG_INIT;
    cfg.formats = 1u << DSP_FILE_SFZ | 1u << DSP_FILE_DSPRESET; /* what the counts below hold */
    cfg.out_dir = s_root;
    cfg.bit_depth = 32;
    dsp_export_result_t res;
    char err[512];
    if (dsp_export_instrument(&cfg, "Organ", t, 3, &res, err, sizeof err))
        fail_msg("%s", err);
    snprintf(f->big, sizeof f->big, "Organ/samples/Organ_C2_048_v127_rr1.wav");
    s_load_served();
    atomic_store(&s_mode, MODE_REAL);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s/s%d.ipc", f->dir,
             serial++); /* removed with it */
    f->server = zactor_new(s_server, f->endpoint);
    f->client = bb_rpc_new_dealer(f->endpoint, NULL, err, sizeof err);
    assert_non_null(f->client);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    s_fix_t *f = *state;
    bb_rpc_destroy(&f->client);
    zactor_destroy(&f->server);
    if (!getenv("BB_KEEP"))
        bb_rm_rf(f->dir);
    free(s_served);
    s_served = NULL;
    s_n_served = 0;
    free(f);
    return 0;
}

static int s_fetch(s_fix_t *f, cli_fetch_stats_t *st, char *err, size_t errlen)
{
    cli_fetch_opts_t opts = {.timeout_ms = TIMEOUT_MS};
    return cli_fetch_library(f->client, 1, f->out, &opts, st, err, errlen);
}

/* Every library file in out equals its source. Returns how many were compared. */
static size_t s_same_as_source(s_fix_t *f)
{
    dsp_library_file_t *files;
    size_t n;
    char err[256];
    assert_int_equal(dsp_library_list(s_root, &files, &n, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", s_root, files[i].path);
        snprintf(b, sizeof b, "%s/%s", f->out, files[i].path);
        char *da, *db;
        size_t la, lb;
        assert_int_equal(bb_read_file(a, &da, &la), 0);
        if (bb_read_file(b, &db, &lb) != 0)
            fail_msg("%s was not fetched", files[i].path);
        assert_int_equal(la, lb);
        assert_memory_equal(da, db, la);
        free(da);
        free(db);
    }
    free(files);
    return n;
}

static void s_write(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* ---- tests ---- */

static void test_fetch_complete_then_skip(void **state)
{
    s_fix_t *f = *state;
    cli_fetch_stats_t st;
    char err[512] = "";
    int rc = s_fetch(f, &st, err, sizeof err);
    if (rc)
        fail_msg("fetch failed: %s", err);
    size_t n = s_same_as_source(f);
    /* 3 samples, SFZ, dspreset, report.html, manifest.json */
    assert_int_equal(n, 7);
    assert_int_equal(st.files, 7);
    assert_int_equal(st.fetched, 7);
    assert_int_equal(st.skipped, 0);
    char big[1024];
    snprintf(big, sizeof big, "%s/%s", f->out, f->big);
    uint32_t crc;
    uint64_t size;
    assert_int_equal(dsp_file_crc32(big, &crc, &size, err, sizeof err), 0);
    assert_true(size > 4 * DSP_LIBRARY_CHUNK_MAX); /* several chunks */
    assert_int_equal(st.bytes_fetched, st.bytes_total);
    /* again: everything is there already */
    assert_int_equal(s_fetch(f, &st, err, sizeof err), 0);
    assert_int_equal(st.skipped, 7);
    assert_int_equal(st.fetched, 0);
    assert_int_equal(st.bytes_fetched, 0);
    /* a fetched file changed since (same size, other bytes) is the user's now: not
     * overwritten, named; once it is moved away it is fetched again */
    char *data;
    size_t len;
    char sfz[1024], moved[1100];
    snprintf(sfz, sizeof sfz, "%s/Organ/Organ.sfz", f->out);
    assert_int_equal(bb_read_file(sfz, &data, &len), 0);
    data[0] ^= 1;
    s_write(sfz, data, len);
    assert_int_not_equal(s_fetch(f, &st, err, sizeof err), 0);
    if (!strstr(err, "Organ/Organ.sfz"))
        fail_msg("the refusal does not name the file: %s", err);
    char *now;
    size_t now_len;
    assert_int_equal(bb_read_file(sfz, &now, &now_len), 0);
    assert_int_equal(now_len, len);
    assert_memory_equal(now, data, len);
    free(now);
    free(data);
    snprintf(moved, sizeof moved, "%s.mine", sfz);
    assert_int_equal(rename(sfz, moved), 0);
    assert_int_equal(s_fetch(f, &st, err, sizeof err), 0);
    assert_int_equal(st.fetched, 1);
    s_same_as_source(f);
}

static void test_fetch_resumes_a_part(void **state)
{
    s_fix_t *f = *state;
    cli_fetch_stats_t st;
    char err[512] = "";
    assert_int_equal(s_fetch(f, &st, err, sizeof err), 0);
    /* interrupted after 300 000 bytes of the big sample */
    char big[1024], part[1100], *data;
    size_t len;
    snprintf(big, sizeof big, "%s/%s", f->out, f->big);
    snprintf(part, sizeof part, "%s.part", big);
    assert_int_equal(bb_read_file(big, &data, &len), 0);
    s_write(part, data, 300000);
    unlink(big);
    int rc = s_fetch(f, &st, err, sizeof err);
    if (rc)
        fail_msg("resume failed: %s", err);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.fetched, 1);
    assert_int_equal(st.skipped, 6);
    assert_int_equal(st.bytes_fetched, len - 300000); /* only the rest travelled */
    assert_false(bb_exists(part));
    s_same_as_source(f);
    /* a .part that is not a prefix of the file: detected, fetched again from zero */
    memset(data, 0x55, 1000);
    s_write(part, data, 1000);
    unlink(big);
    assert_int_equal(s_fetch(f, &st, err, sizeof err), 0);
    assert_int_equal(st.resumed, 1);
    assert_int_equal(st.bytes_fetched, len - 1000 + len);
    s_same_as_source(f);
    /* a .part as long as the file but not it: checked, fetched again */
    s_write(part, data, len);
    unlink(big);
    assert_int_equal(s_fetch(f, &st, err, sizeof err), 0);
    assert_int_equal(st.bytes_fetched, len);
    s_same_as_source(f);
    /* a .part longer than the file is dropped */
    char *longer = calloc(1, len + 10);
    s_write(part, longer, len + 10);
    free(longer);
    unlink(big);
    assert_int_equal(s_fetch(f, &st, err, sizeof err), 0);
    assert_int_equal(st.resumed, 0);
    s_same_as_source(f);
    free(data);
}

static void test_fetch_damaged_chunk_is_an_error(void **state)
{
    s_fix_t *f = *state;
    atomic_store(&s_mode, MODE_CORRUPT_CHUNK);
    cli_fetch_stats_t st;
    char err[512] = "";
    assert_int_equal(s_fetch(f, &st, err, sizeof err), BB_EPROTO);
    assert_non_null(strstr(err, "arrived damaged"));
    assert_int_equal(st.fetched, 0);
    /* nothing got its final name */
    char path[1024];
    snprintf(path, sizeof path, "%s/Organ/Organ.sfz", f->out);
    assert_false(bb_exists(path));
    /* the next, clean run completes */
    atomic_store(&s_mode, MODE_REAL);
    assert_int_equal(s_fetch(f, &st, err, sizeof err), 0);
    s_same_as_source(f);
}

static void test_fetch_checksum_mismatch_is_an_error(void **state)
{
    s_fix_t *f = *state;
    atomic_store(&s_mode, MODE_LIE_CRC);
    cli_fetch_stats_t st;
    char err[512] = "";
    assert_int_equal(s_fetch(f, &st, err, sizeof err), BB_EPROTO);
    assert_non_null(strstr(err, "checksum mismatch"));
    assert_non_null(strstr(err, "manifest.json")); /* the file named */
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.json", f->out);
    assert_false(bb_exists(path));
    strcat(path, ".part");
    assert_false(bb_exists(path));
}

static void test_fetch_refuses_unsafe_paths(void **state)
{
    s_fix_t *f = *state;
    atomic_store(&s_mode, MODE_EVIL_PATH);
    cli_fetch_stats_t st;
    char err[512] = "";
    assert_int_equal(s_fetch(f, &st, err, sizeof err), BB_EPROTO);
    assert_non_null(strstr(err, "unsafe path '../evil.txt'"));
    char path[1024];
    snprintf(path, sizeof path, "%s/evil.txt", f->dir);
    assert_false(bb_exists(path));
    assert_false(bb_exists(f->out)); /* nothing written at all */

    const char *bad[] = {"../x", "/etc/passwd", "a/../b", "a//b", "",   ".hidden",
                         "a/.b", "a\\b",        "a/b/",   "x\ny", "./a"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(dsp_library_path_ok(bad[i]));
    assert_true(dsp_library_path_ok("Organ/samples/Organ_C#2_049_v127_rr1.wav"));
    assert_true(dsp_library_path_ok("manifest.json"));
}

static void test_server_refuses(void **state)
{
    s_fix_t *f = *state;
    unsigned char buf[64];
    size_t got;
    uint64_t size;
    char err[512];
    assert_int_equal(
        dsp_library_read(s_root, "../lib/manifest.json", 0, buf, 64, &got, &size, err, sizeof err),
        BB_EINVAL);
    assert_int_equal(dsp_library_read(s_root, "Organ/" DSP_EXPORT_INST_RECORD, 0, buf, 64, &got,
                                      &size, err, sizeof err),
                     BB_EINVAL);
    /* a file dropped into the library folder, and a planted instrument record listing it
     * (what a file on disk claims is not believed): not served */
    char path[1024];
    snprintf(path, sizeof path, "%s/secret.txt", s_root);
    s_write(path, "secret", 6);
    snprintf(path, sizeof path, "%s/Planted", s_root);
    assert_int_equal(bb_mkdir_p(path), 0);
    snprintf(path, sizeof path, "%s/Planted/%s", s_root, DSP_EXPORT_INST_RECORD);
    const char planted[] = "{\"folder\":\"Planted\",\"files\":[{\"path\":\"secret.txt\","
                           "\"bytes\":6,\"crc32\":0}]}";
    s_write(path, planted, sizeof planted - 1);
    {
        Bb__LibraryChunkRequest req = BB__LIBRARY_CHUNK_REQUEST__INIT;
        req.batch_id = 1;
        req.path = "secret.txt";
        ProtobufCMessage *reply = NULL;
        char msg[256];
        assert_int_equal(bb_rpc_call(f->client, &bb__operator__descriptor, "FetchLibraryChunk",
                                     &req.base, TIMEOUT_MS, &reply, msg, sizeof msg),
                         BB_STATUS_NOT_FOUND);
        assert_non_null(strstr(msg, "not a file of this library"));
    }
    /* a listed file replaced by a link out of the library */
    char outside[1024], link_path[1024];
    snprintf(outside, sizeof outside, "%s/outside.txt", f->dir);
    s_write(outside, "outside", 7);
    snprintf(link_path, sizeof link_path, "%s/Organ/Organ.sfz", s_root);
    unlink(link_path);
    assert_int_equal(symlink(outside, link_path), 0);
    assert_int_equal(
        dsp_library_read(s_root, "Organ/Organ.sfz", 0, buf, 64, &got, &size, err, sizeof err),
        BB_EINVAL);
    assert_non_null(strstr(err, "outside the library"));
    /* over the wire: a bad path and an oversized chunk are INVALID_ARGUMENT */
    Bb__LibraryChunkRequest req = BB__LIBRARY_CHUNK_REQUEST__INIT;
    req.batch_id = 1;
    req.path = "../x";
    ProtobufCMessage *reply = NULL;
    char msg[256];
    assert_int_equal(bb_rpc_call(f->client, &bb__operator__descriptor, "FetchLibraryChunk",
                                 &req.base, TIMEOUT_MS, &reply, msg, sizeof msg),
                     BB_STATUS_INVALID_ARGUMENT);
    req.path = "manifest.json";
    req.length = DSP_LIBRARY_CHUNK_MAX + 1;
    assert_int_equal(bb_rpc_call(f->client, &bb__operator__descriptor, "FetchLibraryChunk",
                                 &req.base, TIMEOUT_MS, &reply, msg, sizeof msg),
                     BB_STATUS_INVALID_ARGUMENT);
    req.length = 100;
    req.offset = 1u << 30;
    assert_int_equal(bb_rpc_call(f->client, &bb__operator__descriptor, "FetchLibraryChunk",
                                 &req.base, TIMEOUT_MS, &reply, msg, sizeof msg),
                     BB_STATUS_INVALID_ARGUMENT);
    assert_non_null(strstr(msg, "past its end"));
}

static void test_no_library_and_no_server(void **state)
{
    s_fix_t *f = *state;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", s_root, DSP_EXPORT_MANIFEST);
    unlink(path);
    cli_fetch_stats_t st;
    char err[512] = "";
    /* a file the export wrote is gone: the listing says which, nothing is fetched */
    assert_int_equal(s_fetch(f, &st, err, sizeof err), BB_ERPC);
    assert_non_null(strstr(err, "FAILED_PRECONDITION"));
    assert_non_null(strstr(err, "manifest.json is gone"));
    /* nobody at the endpoint: unavailable, within the deadline */
    char ep[300];
    snprintf(ep, sizeof ep, "ipc://%s/none.ipc", f->dir);
    bb_rpc_t *lonely = bb_rpc_new_dealer(ep, NULL, err, sizeof err);
    cli_fetch_opts_t opts = {.timeout_ms = 300};
    assert_int_equal(cli_fetch_library(lonely, 1, f->out, &opts, &st, err, sizeof err),
                     BB_EUNAVAIL);
    assert_non_null(strstr(err, "UNAVAILABLE"));
    bb_rpc_destroy(&lonely);
}

int main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fetch_complete_then_skip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fetch_resumes_a_part, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fetch_damaged_chunk_is_an_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fetch_checksum_mismatch_is_an_error, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_fetch_refuses_unsafe_paths, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_server_refuses, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_no_library_and_no_server, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
