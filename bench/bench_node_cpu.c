/*
 * bench_node_cpu.c — CPU and memory of a capture node running one 48 kHz stereo stream.
 * Prints figures; asserts nothing.
 *
 *   bench_node_cpu [seconds]        (default 60)
 *
 * 1. The batcherbird-node program itself (virtual audio and MIDI, 48 kHz stereo, 256-frame
 *    buffers, no coordinator reachable so it only captures): getrusage of the child over
 *    `seconds` of real time -> CPU as % of one core, and its peak resident set.
 * 2. The node's pieces in this process recording takes back to back for `seconds` (capture
 *    callback, MIDI thread, recorder with pre-roll, release tracking and spooling): CPU of
 *    the whole process, from which the simulated instrument's own rendering (measured
 *    alone over the same audio) is taken out, because with real hardware the instrument
 *    costs the node nothing.
 * Targets (DESIGN.md): CPU < 2 % of one core, resident memory < 16 MB.
 */
#include <czmq.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audio.h"
#include "bb_clock.h"
#include "bb_log.h"
#include "capture_rt.h"
#include "midi.h"
#include "midi_sched.h"
#include "recorder.h"
#include "sim_instrument.h"
#include "spool.h"

#define RATE        48000
#define CHANNELS    2
#define RING_FRAMES (1u << 17)
#define BLOCKS      4096

static double s_cpu(const struct rusage *ru)
{
    return ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 + ru->ru_stime.tv_sec +
           ru->ru_stime.tv_usec / 1e6;
}

static double s_process_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void s_node_binary(double seconds)
{
    char self[PATH_MAX], node[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    const char *bin = getenv("BB_BIN_DIR");
    if (bin) /* else build/bench/bench_node_cpu -> build/bin/batcherbird-node */
        snprintf(node, sizeof node, "%s/batcherbird-node", bin);
    else
        snprintf(node, sizeof node, "%s/../bin/batcherbird-node", dirname(self));
    char spool[] = "/tmp/bench-node-XXXXXX";
    if (!mkdtemp(spool))
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/tmp/bench_node_cpu.log", "w", stderr);
        execl(node, node, "--spool", spool, "--name", "bench", "--coordinator", "tcp://127.0.0.1:9",
              "--rate", "48000", "--channels", "2", "--buffer", "256", (char *)NULL);
        _exit(127);
    }
    int64_t t0 = bb_mono_ns();
    bb_sleep_ms((int64_t)(seconds * 1000));
    /* Resident memory split: private (the node's own) and file-backed (shared libraries). */
    char path[64], line[256];
    long rss_kb = -1, anon_kb = -1;
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "Rss: %ld kB", &rss_kb);
        sscanf(line, "Anonymous: %ld kB", &anon_kb);
    }
    if (f)
        fclose(f);
    kill(pid, SIGTERM);
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    double wall = (bb_mono_ns() - t0) / 1e9;
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) {
        printf("  batcherbird-node did not run (%s); see /tmp/bench_node_cpu.log\n", node);
        return;
    }
    printf("  batcherbird-node, capturing, no takes: CPU %.2f %% of one core over %.0f s "
           "(user %.2f s, sys %.2f s), peak RSS %.1f MB\n",
           100 * s_cpu(&ru) / wall, wall, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss / 1024.0);
    if (rss_kb >= 0)
        printf("  its resident memory at the end: %.1f MB, of which %.1f MB private (heap, rings, "
               "stacks) and the rest pages of shared libraries\n",
               rss_kb / 1024.0, anon_kb / 1024.0);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", spool);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", spool);
}

static Bb__TakeJob *s_job(char *id, int k)
{
    static Bb__TakeJob job;
    job = (Bb__TakeJob)BB__TAKE_JOB__INIT;
    snprintf(id, 32, "bench-%05d", k);
    job.take_id = id;
    job.batch_id = 1;
    job.instrument = "piano";
    job.midi_channel = 1;
    job.note = (uint32_t)(48 + k % 24);
    job.velocity = (uint32_t)(40 + (k * 37) % 88);
    job.round_robin = 1;
    job.preroll_ms = 100;
    job.hold_ms = 500;
    job.release_ms = 400;
    job.release_policy = BB__RELEASE_POLICY__RELEASE_ADAPTIVE;
    return &job;
}

static void s_node_in_process(double seconds)
{
    node_sim_config_t sc = NODE_SIM_CONFIG_INIT;
    node_sim_t *sim = node_sim_new(&sc);
    node_capture_t *cap = calloc(1, sizeof *cap);
    void *ring = calloc(RING_FRAMES, CHANNELS * sizeof(float));
    void *blocks = calloc(BLOCKS, sizeof(node_block_t));
    node_capture_init(cap, CHANNELS, RATE, ring, RING_FRAMES, blocks, BLOCKS);
    char err[256], dir[] = "/tmp/bench-rec-XXXXXX";
    if (!mkdtemp(dir))
        return;
    node_spool_t *spool = node_spool_new(dir, err, sizeof err);
    const node_midi_backend_t *vm = node_midi_backend("virtual");
    node_midi_port_t *port = NULL;
    vm->open(&port, NULL, sim, err, sizeof err);
    node_midi_sched_t *midi = node_midi_sched_new(vm, port);
    zsock_t *pull = zsock_new_pull("@inproc://bench-takes");
    node_recorder_config_t rc = {.cap = cap,
                                 .midi = midi,
                                 .spool = spool,
                                 .node_name = "bench",
                                 .notify_endpoint = "inproc://bench-takes",
                                 .history_frames = RING_FRAMES};
    node_recorder_t *rec = node_recorder_new(&rc);
    node_audio_config_t ac = NODE_AUDIO_CONFIG_INIT;
    ac.backend_ctx = sim;
    const node_audio_backend_t *va = node_audio_backend("virtual");
    node_audio_stream_t *st = NULL;
    if (va->open(&st, &ac, node_capture_rt_process, cap, err, sizeof err) ||
        va->start(st, err, sizeof err)) {
        printf("  cannot start the virtual audio: %s\n", err);
        return;
    }
    double cpu0 = s_process_cpu();
    int64_t t0 = bb_mono_ns(), end = t0 + (int64_t)(seconds * BB_NS_PER_S);
    int submitted = 0, takes = 0, failed = 0;
    char id[32];
    zpoller_t *poller = zpoller_new(pull, NULL);
    while (bb_mono_ns() < end) {
        if (node_recorder_busy(rec) < 2 &&
            node_recorder_submit(rec, s_job(id, submitted), err, sizeof err) > 0)
            submitted++;
        if (zpoller_wait(poller, 20) == pull) {
            char *what = NULL, *tid = NULL, *detail = NULL;
            zstr_recvx(pull, &what, &tid, &detail, NULL);
            if (what && strcmp(what, "TAKE") == 0) {
                takes++;
                node_spool_remove(spool, tid); /* as if uploaded */
            } else {
                failed++;
            }
            zstr_free(&what);
            zstr_free(&tid);
            zstr_free(&detail);
        }
    }
    double wall = (bb_mono_ns() - t0) / 1e9;
    double cpu = s_process_cpu() - cpu0;
    uint64_t frames = atomic_load(&cap->frames_total);
    va->stop(st);
    va->close(st);
    node_recorder_destroy(&rec);
    zpoller_destroy(&poller);
    zsock_destroy(&pull);
    node_midi_sched_destroy(&midi);
    vm->close(port);

    /* The instrument alone, over as much audio, with notes like the takes' */
    node_sim_t *alone = node_sim_new(&sc);
    float buf[256 * CHANNELS];
    double r0 = s_process_cpu();
    const uint64_t take_frames = (uint64_t)(1.0 * RATE); /* ~ a take, pre-roll to release */
    for (uint64_t f = 0; f < frames; f += 256) {
        int64_t t = (int64_t)((double)f * BB_NS_PER_S / RATE);
        if (f % take_frames == 0) {
            uint8_t on[3] = {0x90, (uint8_t)(48 + (f / take_frames) % 24), 100};
            node_sim_midi_in(alone, on, 3, t);
        } else if (f % take_frames == 256 * 94) { /* ~0.5 s later */
            uint8_t off[3] = {0x80, (uint8_t)(48 + (f / take_frames) % 24), 64};
            node_sim_midi_in(alone, off, 3, t);
        }
        node_sim_render(alone, buf, 256, f, t);
    }
    double render = s_process_cpu() - r0;
    node_sim_truth_t truth;
    while (node_sim_truth_pop(alone, &truth))
        ;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  node pieces in-process, %d takes back to back (%d failed), %.0f s: process CPU "
           "%.2f %%, of which the simulated instrument ~%.2f %%: node ~%.2f %% of one core\n",
           takes, failed, wall, 100 * cpu / wall, 100 * render / wall, 100 * (cpu - render) / wall);
    printf("  (this benchmark process's peak RSS, all of the above included: %.1f MB)\n",
           ru.ru_maxrss / 1024.0);
    node_sim_destroy(&alone);
    node_spool_destroy(&spool);
    node_sim_destroy(&sim);
    free(cap);
    free(ring);
    free(blocks);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 60.0;
    zsys_init();
    zsys_set_logstream(NULL);
    bb_log_set_level(BB_LOG_ERROR); /* the last take is cut short at the end, on purpose */
    printf("bench_node_cpu: one 48 kHz stereo stream, virtual backends, %.0f s each\n", seconds);
    s_node_binary(seconds);
    s_node_in_process(seconds);
    return 0;
}
