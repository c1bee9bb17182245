/*
 * test_coord_units.c — the coordinator's parts in process, with real files: take ingest
 * and the node registry.
 *
 * Ingest durability: fsync and rename are wrapped at link time (-Wl,--wrap=fsync,rename)
 * to record every call, so the test sees the order the code really follows for a take:
 * the WAV's data fsync'd, then renamed into place, the sidecar written the same way, the
 * folder fsync'd, and only then coord_ingest_end returns OK (the caller's cue to commit
 * and acknowledge). A failing fsync must leave no WAV and no acknowledgement.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bb_crc32.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_rpc.h"
#include "ingest.h"
#include "registry.h"
#include "test_util.h"

/* ---- the wrapped calls ---- */

#define S_EVENTS_MAX 64

typedef struct {
    char what[16]; /* "fsync", "rename", "ack" */
    char path[PATH_MAX];
    char to[PATH_MAX];
} s_event_t;

static s_event_t s_events[S_EVENTS_MAX];
static int s_n_events;
static const char *s_fail_fsync_suffix; /* fsync of a path ending so fails with EIO */

int __real_fsync(int fd);
int __real_rename(const char *from, const char *to);

static s_event_t *s_record(const char *what)
{
    if (s_n_events == S_EVENTS_MAX)
        return NULL;
    s_event_t *e = &s_events[s_n_events++];
    memset(e, 0, sizeof *e);
    snprintf(e->what, sizeof e->what, "%s", what);
    return e;
}

int __wrap_fsync(int fd)
{
    s_event_t *e = s_record("fsync");
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = e ? readlink(link, e->path, sizeof e->path - 1) : -1;
    if (e && n > 0)
        e->path[n] = '\0';
    size_t len = e ? strlen(e->path) : 0,
           slen = s_fail_fsync_suffix ? strlen(s_fail_fsync_suffix) : 0;
    if (e && slen && len >= slen && strcmp(e->path + len - slen, s_fail_fsync_suffix) == 0) {
        errno = EIO;
        return -1;
    }
    return __real_fsync(fd);
}

int __wrap_rename(const char *from, const char *to)
{
    s_event_t *e = s_record("rename");
    if (e) {
        snprintf(e->path, sizeof e->path, "%s", from);
        snprintf(e->to, sizeof e->to, "%s", to);
    }
    return __real_rename(from, to);
}

static bool s_ends(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Index of the first event at or after `from` of kind `what` whose path (or, for a
 * rename, destination when to_suffix is given) ends with suffix; -1 when none. */
static int s_find(int from, const char *what, const char *suffix, const char *to_suffix)
{
    for (int i = from; i < s_n_events; i++) {
        const s_event_t *e = &s_events[i];
        if (strcmp(e->what, what) == 0 && (!suffix || s_ends(e->path, suffix)) &&
            (!to_suffix || s_ends(e->to, to_suffix)))
            return i;
    }
    return -1;
}

/* ---- a take streamed into ingest ---- */

#define S_RATE   48000
#define S_FRAMES 4800

/* Streams one take (one channel, one chunk) and ends it; returns coord_ingest_end's status
 * and records "ack" when it is OK. */
static int s_stream_take(coord_ingest_t *in, const char *id, char *wav, size_t wav_len)
{
    Bb__TakeJob job = BB__TAKE_JOB__INIT;
    job.take_id = (char *)id;
    job.batch_id = 7;
    job.instrument = "Keys";
    job.midi_channel = 1;
    job.note = 60;
    job.velocity = 100;
    job.round_robin = 1;
    Bb__TakeFormat fmt = BB__TAKE_FORMAT__INIT;
    fmt.sample_rate = S_RATE;
    fmt.channels = 1;
    fmt.format = BB__SAMPLE_FORMAT__FLOAT32_LE;
    Bb__TakeBeginRequest begin = BB__TAKE_BEGIN_REQUEST__INIT;
    begin.node = "n1";
    begin.job = &job;
    begin.format = &fmt;
    char msg[512];
    assert_int_equal(
        coord_ingest_begin(in, &begin, "n1", sizeof(float) * S_FRAMES, msg, sizeof msg),
        BB_STATUS_OK);

    static float audio[S_FRAMES];
    for (int i = 0; i < S_FRAMES; i++)
        audio[i] = (float)(i % 100) / 100.0f;
    Bb__TakeChunkRequest chunk = BB__TAKE_CHUNK_REQUEST__INIT;
    chunk.take_id = (char *)id;
    chunk.seq = 0;
    chunk.data.data = (uint8_t *)audio;
    chunk.data.len = sizeof audio;
    assert_int_equal(coord_ingest_chunk(in, &chunk, msg, sizeof msg), BB_STATUS_OK);

    Bb__TakeEndRequest end = BB__TAKE_END_REQUEST__INIT;
    end.take_id = (char *)id;
    end.frames = S_FRAMES;
    end.note_on_frame = 100;
    end.note_off_frame = 2400;
    end.crc32 = bb_crc32(0, audio, sizeof audio);
    end.chunks = 1;
    dsp_raw_meta_t meta;
    int status = coord_ingest_end(in, &end, &meta, wav, wav_len, msg, sizeof msg);
    if (status == BB_STATUS_OK)
        s_record("ack");
    else
        printf("ingest refused: %s\n", msg);
    return status;
}

static void test_ingest_durability_order(void **state)
{
    char dir[256];
    test_tmpdir(dir, sizeof dir, "ingest");
    coord_ingest_t *in = coord_ingest_new(dir);
    assert_non_null(in);
    s_n_events = 0;
    char wav[1024];
    assert_int_equal(s_stream_take(in, "b7-i0-s0-a1", wav, sizeof wav), BB_STATUS_OK);
    for (int i = 0; i < s_n_events; i++)
        printf("%2d %-6s %s%s%s\n", i, s_events[i].what, s_events[i].path,
               *s_events[i].to ? " -> " : "", s_events[i].to);

    int wav_sync = s_find(0, "fsync", "b7-i0-s0-a1.wav.part", NULL);
    int wav_rename = s_find(0, "rename", "b7-i0-s0-a1.wav.part", "b7-i0-s0-a1.wav");
    int side_sync = s_find(0, "fsync", "b7-i0-s0-a1.json.tmp", NULL);
    int side_rename = s_find(0, "rename", "b7-i0-s0-a1.json.tmp", "b7-i0-s0-a1.json");
    int ack = s_find(0, "ack", NULL, NULL);
    assert_true(wav_sync >= 0);
    assert_true(wav_rename > wav_sync); /* data on disk before the name points at it */
    assert_true(side_sync >= 0);
    assert_true(side_rename > side_sync);
    int dir_sync = -1; /* the folder fsync'd after both renames, before the ack */
    for (int i = (wav_rename > side_rename ? wav_rename : side_rename) + 1; i < ack; i++)
        if (strcmp(s_events[i].what, "fsync") == 0 && s_ends(s_events[i].path, "/b7"))
            dir_sync = i;
    assert_true(dir_sync > wav_rename && dir_sync > side_rename);
    assert_true(ack > dir_sync);
    assert_true(bb_exists(wav));
    coord_ingest_destroy(&in);
    bb_rm_rf(dir);
}

static void test_ingest_fsync_failure_is_not_acknowledged(void **state)
{
    char dir[256];
    test_tmpdir(dir, sizeof dir, "ingest-eio");
    coord_ingest_t *in = coord_ingest_new(dir);
    assert_non_null(in);
    s_n_events = 0;
    s_fail_fsync_suffix = ".wav.part";
    char wav[1024] = "";
    int status = s_stream_take(in, "b7-i0-s1-a1", wav, sizeof wav);
    s_fail_fsync_suffix = NULL;
    assert_int_not_equal(status, BB_STATUS_OK);
    assert_int_equal(s_find(0, "ack", NULL, NULL), -1);
    assert_int_equal(s_find(0, "rename", "b7-i0-s1-a1.wav.part", NULL), -1);
    char path[512];
    snprintf(path, sizeof path, "%s/b7/b7-i0-s1-a1.wav", dir);
    assert_false(bb_exists(path));
    coord_ingest_destroy(&in);
    bb_rm_rf(dir);
}

/* ---- the registry ---- */

static void test_registry_finds_adds_and_copies(void **state)
{
    coord_registry_t *r = coord_registry_new();
    assert_non_null(r);
    assert_null(coord_registry_find(r, "juno"));
    assert_int_equal(coord_registry_size(r), 0);
    coord_node_t *a = coord_registry_get(r, "juno");
    coord_node_t *b = coord_registry_get(r, "moog");
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a->name, "juno");
    assert_false(a->online);
    assert_int_equal(coord_registry_size(r), 2);
    assert_ptr_equal(coord_registry_get(r, "juno"), coord_registry_find(r, "juno"));
    assert_int_equal(coord_registry_size(r), 2); /* get of a known name adds nothing */
    bool seen_juno = false, seen_moog = false;
    for (size_t i = 0; i < coord_registry_size(r); i++) {
        coord_node_t *n = coord_registry_at(r, i);
        seen_juno |= strcmp(n->name, "juno") == 0;
        seen_moog |= strcmp(n->name, "moog") == 0;
    }
    assert_true(seen_juno && seen_moog);
    assert_null(coord_registry_at(r, 2));

    /* capabilities are copied: the caller's message may go away */
    Bb__Capabilities caps = BB__CAPABILITIES__INIT;
    caps.version = strdup("1.2.3");
    coord_registry_set_caps(coord_registry_find(r, "juno"), &caps);
    free(caps.version);
    assert_non_null(coord_registry_find(r, "juno")->caps);
    assert_string_equal(coord_registry_find(r, "juno")->caps->version, "1.2.3");

    zframe_t *peer = zframe_new("id-1", 4);
    coord_registry_set_peer(coord_registry_find(r, "juno"), peer);
    zframe_destroy(&peer); /* copied too */
    coord_node_t *j = coord_registry_find(r, "juno");
    assert_non_null(j->peer);
    assert_memory_equal(zframe_data(j->peer), "id-1", 4);
    coord_registry_destroy(&r);
    assert_null(r);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_durability_order),
        cmocka_unit_test(test_ingest_fsync_failure_is_not_acknowledged),
        cmocka_unit_test(test_registry_finds_adds_and_copies),
    };
    return test_main_group(tests, argc, argv);
}
