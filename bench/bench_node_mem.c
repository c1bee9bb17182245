/*
 * bench_node_mem.c — memory of the batcherbird-node program, with and without the
 * SoundFont voice. Prints figures; asserts nothing.
 *
 *   bench_node_mem [seconds]        (default 5: how long each node runs before measuring)
 *
 * Runs the real node binary (virtual audio and MIDI, 48 kHz stereo, 256-frame buffers, no
 * coordinator reachable, so it captures and waits) twice: with the built-in piano, then
 * with --instrument gm:0 (FluidSynth playing the General MIDI piano of the default
 * SoundFont, loaded only then). For each it reads /proc/PID/smaps_rollup:
 *   Rss      resident pages, shared libraries counted whole;
 *   Pss      proportional set size: each shared page divided by the processes mapping it,
 *            the fair share of the machine's memory;
 *   Private  Private_Clean + Private_Dirty: pages only this process uses (its heap, rings,
 *            stacks, and the writable data of its libraries);
 * and counts the shared objects mapped (/proc/PID/maps). Locked memory (mlockall) is
 * reported too: the node locks what it has when it starts, best effort.
 */
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bb_fs.h"
#include "sim_instrument.h"

typedef struct {
    long rss_kb, pss_kb, private_kb, locked_kb;
    int libs;
} s_mem_t;

static void s_node_path(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    const char *bin = getenv("BB_BIN_DIR");
    if (bin) /* else build/bench/bench_node_mem -> build/bin/batcherbird-node */
        snprintf(out, len, "%s/batcherbird-node", bin);
    else
        snprintf(out, len, "%s/../bin/batcherbird-node", dirname(self));
}

static int s_read(pid_t pid, s_mem_t *m)
{
    memset(m, 0, sizeof *m);
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "Rss: %ld kB", &v) == 1)
            m->rss_kb = v;
        else if (sscanf(line, "Pss: %ld kB", &v) == 1)
            m->pss_kb = v;
        else if (sscanf(line, "Private_Clean: %ld kB", &v) == 1 ||
                 sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
            m->private_kb += v;
        else if (sscanf(line, "Locked: %ld kB", &v) == 1)
            m->locked_kb = v;
    }
    fclose(f);
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    char seen[256][128];
    while (fgets(line, sizeof line, f)) {
        char *so = strstr(line, ".so");
        char *name = strchr(line, '/');
        if (!so || !name || m->libs >= 256)
            continue;
        name[strcspn(name, "\n")] = '\0';
        bool dup = false;
        for (int i = 0; i < m->libs && !dup; i++)
            dup = strncmp(seen[i], name, sizeof seen[i] - 1) == 0;
        if (!dup)
            snprintf(seen[m->libs++], sizeof seen[0], "%.127s", name);
    }
    fclose(f);
    return 0;
}

/* Runs the node with `instrument`, measures after `seconds`, stops it. */
static int s_measure(const char *node, const char *instrument, double seconds, s_mem_t *m)
{
    char spool[] = "/tmp/bench-node-mem-XXXXXX";
    if (!mkdtemp(spool))
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/tmp/bench_node_mem.log", "a", stderr))
            _exit(126);
        execl(node, node, "--spool", spool, "--name", "bench", "--coordinator", "tcp://127.0.0.1:9",
              "--rate", "48000", "--channels", "2", "--buffer", "256", "--instrument", instrument,
              (char *)NULL);
        _exit(127);
    }
    struct timespec ts = {.tv_sec = (time_t)seconds,
                          .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    int rc = s_read(pid, m);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    bb_rm_rf(spool);
    if (rc || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5;
    char node[PATH_MAX + 32];
    s_node_path(node, sizeof node);
    printf("batcherbird-node memory after %.0f s, idle (capturing, no coordinator):\n", seconds);
    printf("  %-34s %8s %8s %8s %8s %6s\n", "instrument", "Rss kB", "Pss kB", "Priv kB", "Lock kB",
           "libs");
    const char *instruments[] = {"piano", "gm:0"};
    const char *what[] = {"built-in piano (no SoundFont)", "gm:0 (FluidSynth + SoundFont)"};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && access(NODE_SIM_DEFAULT_SOUNDFONT, R_OK) != 0) {
            printf("  %-34s (skipped: no %s)\n", what[i], NODE_SIM_DEFAULT_SOUNDFONT);
            continue;
        }
        s_mem_t m;
        if (s_measure(node, instruments[i], seconds, &m)) {
            printf("  %-34s did not run (%s); see /tmp/bench_node_mem.log\n", what[i], node);
            continue;
        }
        printf("  %-34s %8ld %8ld %8ld %8ld %6d\n", what[i], m.rss_kb, m.pss_kb, m.private_kb,
               m.locked_kb, m.libs);
    }
    return 0;
}
