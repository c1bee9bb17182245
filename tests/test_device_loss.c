/*
 * test_device_loss.c — the audio device goes away in the middle of a take and comes
 * back; the node's own pieces run in-process as in batcherbird-node (capture, MIDI
 * thread, recorder, spool, audio watch), with this test in the link's place receiving
 * the recorder's TAKE / FAILED messages.
 *
 * 1. The virtual interface vanishes 1 s after it starts, silently (--sim-device-loss):
 *    a take recorded before stays in the spool; the take being recorded fails with
 *    "audio device lost: no audio ..."; the watch reports NODE_DEVICE_LOST with the
 *    reason (what heartbeats send); a job offered meanwhile is refused (UNAVAILABLE);
 *    the interface returns, the watch reopens it, and a new take is recorded with its
 *    note-on exactly where the note is.
 * 2. The real PortAudio backend on a private dummy JACK server that is killed (SIGKILL)
 *    mid-take: the take fails with "audio device lost", heartbeats say NODE_DEVICE_LOST,
 *    and the process does not crash (PortAudio 19.6 aborts when a JACK stream is closed
 *    after its server died, so the backend leaves it and asks for a restart). Then the
 *    real batcherbird-node under the same fault: it restarts itself (same pid), waits
 *    for the device, and reopens it when the server and the instrument client are back.
 *    Skipped (the case, not the program) when jackd cannot start.
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

#include "audio.h"
#include "audio_watch.h"
#include "bb_clock.h"
#include "bb_err.h"
#include "capture_rt.h"
#include "midi.h"
#include "midi_sched.h"
#include "recorder.h"
#include "sim_instrument.h"
#include "spool.h"
#include "test_util.h"
#ifdef BB_TEST_HAVE_JACK
#include "test_jack_util.h"
#endif

#define RATE        48000
#define RING_FRAMES (1u << 17)
#define BLOCK_SLOTS 4096
#define TOLERANCE   48 /* 1 ms */
#define ATTEMPTS    4  /* takes before a disturbed timing check is skipped */

typedef struct {
    node_sim_t *sim;
    node_capture_t *cap;
    void *ring, *blocks;
    node_midi_port_t *port;
    node_midi_sched_t *midi;
    node_spool_t *spool;
    node_recorder_t *rec;
    zsock_t *pull;
    node_audio_watch_t *watch;
    bool own_sim;
    char dir[256];
} s_node_t;

static node_sim_t *s_new_sim(void)
{
    node_sim_config_t sc = NODE_SIM_CONFIG_INIT;
    sc.preset = NODE_SIM_ORGAN;
    sc.channels = 1;
    sc.latency_ms = 0;
    sc.noise_floor_db = -300;
    return node_sim_new(&sc);
}

/* The node's pieces over `be`; `sim` is the instrument its MIDI plays (NULL: its own, which
 * the virtual audio backend renders too). */
static void s_node_up(s_node_t *n, const node_audio_backend_t *be, node_audio_config_t *cfg,
                      node_sim_t *sim)
{
    static int serial;
    memset(n, 0, sizeof *n);
    n->own_sim = !sim;
    n->sim = sim ? sim : s_new_sim();
    assert_non_null(n->sim);
    n->cap = calloc(1, sizeof *n->cap);
    n->ring = calloc(RING_FRAMES, sizeof(float));
    n->blocks = calloc(BLOCK_SLOTS, sizeof(node_block_t));
    assert_int_equal(
        node_capture_init(n->cap, 1, RATE, n->ring, RING_FRAMES, n->blocks, BLOCK_SLOTS), 0);
    char err[512] = "";
    const node_midi_backend_t *vm = node_midi_backend("virtual");
    assert_int_equal(vm->open(&n->port, NULL, n->sim, err, sizeof err), 0);
    n->midi = node_midi_sched_new(vm, n->port);
    test_tmpdir(n->dir, sizeof n->dir, "devloss");
    n->spool = node_spool_new(n->dir, err, sizeof err);
    assert_non_null(n->spool);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://devloss-%d", ++serial);
    char bind[70];
    snprintf(bind, sizeof bind, "@%s", ep);
    n->pull = zsock_new_pull(bind);
    assert_non_null(n->pull);
    node_recorder_config_t rc = {.cap = n->cap,
                                 .midi = n->midi,
                                 .spool = n->spool,
                                 .node_name = "test",
                                 .notify_endpoint = ep,
                                 .history_frames = RING_FRAMES};
    n->rec = node_recorder_new(&rc);
    assert_non_null(n->rec);
    if (!cfg->backend_ctx && strcmp(be->name, "virtual") == 0)
        cfg->backend_ctx = n->sim;
    node_audio_watch_config_t wc = NODE_AUDIO_WATCH_CONFIG_INIT;
    wc.backend = be;
    wc.audio = cfg;
    wc.cap = n->cap;
    wc.recorder = n->rec;
    wc.silence_ms = 200;
    wc.retry_min_ms = 100;
    wc.retry_max_ms = 800;
    n->watch = node_audio_watch_new(&wc, err, sizeof err);
    if (!n->watch)
        fail_msg("audio: %s", err);
}

/* The capture memory of an abandoned stream (see s_node_down). */
static void *s_abandoned[3];

static void s_node_down(s_node_t *n)
{
    node_recorder_destroy(&n->rec);
    node_audio_watch_destroy(&n->watch);
    /* A stream PortAudio could not close (its JACK server was killed) is abandoned: its
     * callback thread may still run into the capture memory (ThreadSanitizer saw it), so
     * that memory stays until the process ends, as main.c does. */
    const node_audio_backend_t *pa = node_audio_backend("portaudio");
    bool abandoned = pa && pa->needs_restart && pa->needs_restart();
    node_midi_sched_destroy(&n->midi);
    node_midi_backend("virtual")->close(n->port);
    zsock_destroy(&n->pull);
    node_spool_destroy(&n->spool);
    if (n->own_sim)
        node_sim_destroy(&n->sim);
    if (!abandoned) {
        free(n->cap);
        free(n->ring);
        free(n->blocks);
    } else { /* kept reachable, so LeakSanitizer does not call it lost */
        s_abandoned[0] = n->cap;
        s_abandoned[1] = n->ring;
        s_abandoned[2] = n->blocks;
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", n->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", n->dir);
}

static int s_submit(s_node_t *n, const char *id, uint32_t hold_ms, char *err, size_t errlen)
{
    Bb__TakeJob job = BB__TAKE_JOB__INIT;
    job.take_id = (char *)id;
    job.batch_id = 1;
    job.instrument = "organ";
    job.midi_channel = 1;
    job.note = 57;
    job.velocity = 120;
    job.round_robin = 1;
    job.preroll_ms = 100;
    job.hold_ms = hold_ms;
    job.release_ms = 150;
    job.release_policy = BB__RELEASE_POLICY__RELEASE_FIXED;
    return node_recorder_submit(n->rec, &job, err, errlen);
}

/* Polls the watch (as main does) until the recorder says something or the time is up.
 * Returns 1 with what, id and detail set (zstr_free them), 0 on time-out. */
static int s_next(s_node_t *n, double timeout_s, char **what, char **id, char **detail)
{
    int64_t until = bb_mono_ns() + (int64_t)(timeout_s * 1e9);
    zpoller_t *poller = zpoller_new(n->pull, NULL);
    int got = 0;
    while (bb_mono_ns() < until) {
        node_audio_watch_poll(n->watch);
        if (zpoller_wait(poller, 10) == n->pull) {
            *what = *id = *detail = NULL;
            zstr_recvx(n->pull, what, id, detail, NULL);
            got = 1;
            break;
        }
    }
    zpoller_destroy(&poller);
    return got;
}

static void s_poll_for(s_node_t *n, double seconds)
{
    int64_t until = bb_mono_ns() + (int64_t)(seconds * 1e9);
    while (bb_mono_ns() < until) {
        node_audio_watch_poll(n->watch);
        bb_sleep_ms(10);
    }
}

/* Waits for one message and checks it. */
static void s_expect(s_node_t *n, double timeout_s, const char *what, const char *id,
                     const char *detail_prefix)
{
    char *w = NULL, *i = NULL, *d = NULL;
    if (!s_next(n, timeout_s, &w, &i, &d))
        fail_msg("no %s for %s within %.1f s", what, id, timeout_s);
    printf("recorder: %s %s %s\n", w, i, d ? d : "");
    assert_string_equal(w, what);
    assert_string_equal(i, id);
    if (detail_prefix)
        assert_true(d && strncmp(d, detail_prefix, strlen(detail_prefix)) == 0);
    zstr_free(&w);
    zstr_free(&i);
    zstr_free(&d);
}

/* The spooled take's note-on frame against where its attack is in its audio. */
static void s_check_alignment(s_node_t *n, const char *id)
{
    Bb__SpoolHeader *hdr = NULL;
    assert_int_equal(node_spool_load_header(n->spool, id, &hdr), 0);
    int fd;
    uint64_t bytes;
    assert_int_equal(node_spool_open_data(n->spool, id, &fd, &bytes), 0);
    float *x = malloc(bytes);
    assert_true(read(fd, x, bytes) == (ssize_t)bytes);
    close(fd);
    int64_t frames = (int64_t)(bytes / sizeof(float)), onset = -1;
    for (int64_t i = 0; i < frames; i++)
        if (fabsf(x[i]) > 1e-4f) {
            onset = i;
            break;
        }
    int64_t on = hdr->end->note_on_frame;
    printf("take %s: %lld frames, note-on at %lld, attack at %lld (%+lld frames)\n", id,
           (long long)frames, (long long)on, (long long)onset, (long long)(onset - on));
    assert_true(onset > 0);
    assert_true(llabs(onset - on) <= TOLERANCE);
    free(x);
    bb__spool_header__free_unpacked(hdr, NULL);
}

/* Polls a log file for a line containing `needle`. */
/* Waits until `needle` appears at least n times in the log at path. */
static bool s_log_count(const char *path, const char *needle, int n, double timeout_s)
{
    int64_t until = bb_mono_ns() + (int64_t)(timeout_s * 1e9);
    do {
        FILE *f = fopen(path, "r");
        char line[1024];
        int seen = 0;
        while (f && fgets(line, sizeof line, f))
            seen += strstr(line, needle) != NULL;
        if (f)
            fclose(f);
        if (seen >= n)
            return true;
        bb_sleep_ms(50);
    } while (bb_mono_ns() < until);
    return false;
}

static bool s_log_has(const char *path, const char *needle, double timeout_s)
{
    int64_t until = bb_mono_ns() + (int64_t)(timeout_s * 1e9);
    do {
        FILE *f = fopen(path, "r");
        char line[1024];
        bool found = false;
        while (f && !found && fgets(line, sizeof line, f))
            found = strstr(line, needle) != NULL;
        if (f)
            fclose(f);
        if (found)
            return true;
        bb_sleep_ms(50);
    } while (bb_mono_ns() < until);
    return false;
}

static void s_expect_lost(s_node_t *n, const char *why)
{
    char msg[256] = "";
    assert_int_equal(node_audio_watch_state(n->watch, msg, sizeof msg),
                     BB__NODE_STATE__NODE_DEVICE_LOST);
    printf("heartbeat state: NODE_DEVICE_LOST, \"%s\"\n", msg);
    assert_non_null(strstr(msg, why));
    char err[256] = "";
    assert_int_equal(s_submit(n, "during-loss", 100, err, sizeof err), BB_EUNAVAIL);
    printf("job offered meanwhile: %s\n", err);
    assert_non_null(strstr(err, "audio device lost"));
}

static void s_wait_back(s_node_t *n, double timeout_s)
{
    int64_t until = bb_mono_ns() + (int64_t)(timeout_s * 1e9);
    while (node_audio_watch_recoveries(n->watch) == 0 && bb_mono_ns() < until) {
        node_audio_watch_poll(n->watch);
        bb_sleep_ms(10);
    }
    assert_int_equal(node_audio_watch_recoveries(n->watch), 1);
    char msg[256];
    assert_int_equal(node_audio_watch_state(n->watch, msg, sizeof msg), BB__NODE_STATE__NODE_IDLE);
}

static void test_virtual_unplug(void **state)
{
    node_audio_virtual_simulate_loss(1.0, 1.0);
    node_audio_config_t cfg = NODE_AUDIO_CONFIG_INIT;
    cfg.channels = 1;
    s_node_t n;
    s_node_up(&n, node_audio_backend("virtual"), &cfg, NULL);
    char err[256];
    assert_int_equal(s_submit(&n, "before", 100, err, sizeof err), 1);
    s_expect(&n, 2.0, "TAKE", "before", NULL);
    assert_true(s_submit(&n, "interrupted", 3000, err, sizeof err) >= 1);
    s_expect(&n, 3.0, "FAILED", "interrupted", "audio device lost: no audio from");
    assert_int_equal(node_audio_watch_losses(n.watch), 1);
    s_expect_lost(&n, "no audio from");
    s_wait_back(&n, 3.0);
    assert_int_equal(s_submit(&n, "after", 150, err, sizeof err), 1);
    s_expect(&n, 3.0, "TAKE", "after", NULL);
    s_check_alignment(&n, "after");
    /* what was recorded before the loss is still there */
    Bb__SpoolHeader *hdr = NULL;
    assert_int_equal(node_spool_load_header(n.spool, "before", &hdr), 0);
    bb__spool_header__free_unpacked(hdr, NULL);
    s_node_down(&n);
    node_audio_virtual_simulate_loss(0, 0);
}

static void test_jack_server_killed(void **state)
{
#if defined(BB_HAVE_PORTAUDIO) && defined(BB_TEST_HAVE_JACK)
    test_jackd_t jackd;
    if (test_jackd_start(&jackd, RATE, 256) != 0) {
        test_skip("cannot start a dummy JACK server (is jackd2 installed? see scripts/deps.sh)");
    }
    node_audio_config_t cfg = NODE_AUDIO_CONFIG_INIT;
    cfg.channels = 1;
    cfg.first_channel = 1; /* the instrument is on the client's out_1 */
    cfg.device = "bbsim";
    /* the instrument plays in a JACK client, which must exist before PortAudio looks */
    node_sim_t *sim = s_new_sim();
    test_jack_sim_t *client = test_jack_sim_new("bbsim", sim, 1000.0);
    assert_non_null(client);
    s_node_t n;
    test_jack_timed_t *timed = test_jack_timed_new(RATE, 256);
    assert_non_null(timed);
    s_node_up(&n, test_jack_timed_backend(node_audio_backend("portaudio"), timed), &cfg, sim);
    char err[256], why[256] = "";
    /* A take before the fault, aligned to the frame: a timing check, so only on a take the
     * host left alone (test_jack_util.h); measured again when disturbed. */
    bool measured = false;
    for (int attempt = 1; attempt <= ATTEMPTS && !measured; attempt++) {
        char id[32];
        snprintf(id, sizeof id, "jack-before-%d", attempt);
        test_jack_watch_start(client, timed, true);
        uint64_t overflows = atomic_load(&n.cap->overflows); /* the stream's start has some */
        assert_true(s_submit(&n, id, 150, err, sizeof err) >= 1);
        s_expect(&n, 3.0, "TAKE", id, NULL);
        measured = !test_jack_watch_disturbed(
            client, timed, atomic_load(&n.cap->overflows) - overflows, why, sizeof why);
        printf("host: %s\n", why);
        if (measured)
            s_check_alignment(&n, id);
    }
    if (!measured) { /* everything freed first: LeakSanitizer would fail a skipped case */
        s_node_down(&n);
        test_jack_sim_destroy(&client);
        node_sim_destroy(&sim);
        test_jackd_stop(&jackd);
        test_jack_timed_destroy(&timed);
        test_skip("the host disturbed all %d takes before the fault (last: %s)", ATTEMPTS, why);
    }
    assert_true(s_submit(&n, "jack-interrupted", 3000, err, sizeof err) >= 1);
    s_poll_for(&n, 0.5);
    printf("killing the JACK server mid-take\n");
    test_jackd_kill(&jackd);
    s_expect(&n, 3.0, "FAILED", "jack-interrupted", "audio device lost: ");
    s_expect_lost(&n, "'bbsim'");
    /* PortAudio cannot reopen after its JACK server died: the node must restart itself */
    assert_true(node_audio_watch_restart_needed(n.watch));
    s_node_down(&n);
    test_jack_sim_destroy(&client);

    /* The restart, with the real program: the server dies under it and comes back. */
    if (test_jackd_restart(&jackd) != 0) { /* jackd itself, on a busy host */
        node_sim_destroy(&sim);
        test_jackd_stop(&jackd);
        test_jack_timed_destroy(&timed);
        test_skip("the dummy JACK server did not start again in time: the node's restart "
                  "could not be checked");
    }
    client = test_jack_sim_new("bbsim", sim, 1000.0);
    assert_non_null(client);
    char dir[256], log[300];
    test_tmpdir(dir, sizeof dir, "devloss-node");
    snprintf(log, sizeof log, "%s/node.log", dir);
    const char *args[] = {"--audio",
                          "portaudio",
                          "--audio-device",
                          "bbsim",
                          "--first-channel",
                          "2",
                          "--channels",
                          "1",
                          "--midi",
                          "virtual",
                          "--spool",
                          dir,
                          "--coordinator",
                          "tcp://127.0.0.1:9",
                          "--name",
                          "devloss",
                          NULL};
    test_proc_t node;
    assert_int_equal(test_start(&node, "batcherbird-node", args, log), 0);
    /* running: the node logs this line after the stream has started */
    bool ok = s_log_has(log, "node devloss: portaudio audio", 10.0);
    printf("killing the JACK server under batcherbird-node\n");
    test_jackd_kill(&jackd);
    ok = ok && s_log_has(log, "restarting to reopen the audio device", 10.0);
    ok = ok && s_log_has(log, "--wait-for-device", 0) == false; /* not an error message */
    bb_sleep_ms(1000);
    ok = ok && test_alive(&node);
    printf("starting the JACK server again\n");
    test_jack_sim_destroy(&client);
    if (test_jackd_restart(&jackd) != 0) { /* jackd itself, on a busy host */
        test_stop(&node);
        node_sim_destroy(&sim);
        test_jackd_stop(&jackd);
        test_jack_timed_destroy(&timed);
        test_skip("the dummy JACK server did not start again in time: the node's restart "
                  "after it could not be checked");
    }
    client = test_jack_sim_new("bbsim", sim, 1000.0);
    assert_non_null(client);
    /* the restarted node either waited for the device ("is back after") or, when the
     * server was back before the node (a slow host, a sanitizer build), opened it at once:
     * its stream is running again either way */
    ok = ok && (s_log_has(log, "is back after", 15.0) ||
                s_log_count(log, "node devloss: portaudio audio", 2, 1.0));
    ok = ok && test_alive(&node);
    int status = test_stop(&node);
    if (!ok || status != 0)
        test_dump_log(&node);
    assert_true(ok);
    assert_int_equal(status, 0);
    test_jack_sim_destroy(&client);
    node_sim_destroy(&sim);
    test_jackd_stop(&jackd);
    test_jack_timed_destroy(&timed); /* last: the lost stream is left open, never called again */
#else
    test_skip("no PortAudio backend or no libjack in this build");
#endif
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_virtual_unplug),
        cmocka_unit_test(test_jack_server_killed),
    };
    return test_main_group(tests, argc, argv);
}
