/*
 * bench_process.c — speed of `batcherbird process` (offline analysis and export of raw
 * takes into WAV, SFZ, .sf2, DecentSampler and .multisample), in x realtime per core.
 * Prints figures; asserts nothing.
 *
 *   bench_process [--takes N] [--runs N] [--dir DIR] [--keep] [-- PROCESS-OPTION...]
 *
 * It renders N raw takes (default 300) of the real-material corpus (tests/qc_real.h:
 * SoundFont programs through FluidSynth and TiMidity++, drum kits, band-limited
 * oscillators; spread evenly over every instrument whose source is installed) into a new
 * folder under DIR (default $TMPDIR, else /tmp), as a node records them (32-bit float
 * stereo WAV and sidecar). Then it runs `batcherbird process --in RAW --out OUT` (with
 * any options after `--`) --runs times (default 5), removing OUT before each run, and
 * takes each child's CPU time from wait4 (user + system: writing the library is mostly
 * kernel time). It prints each run, then the median: seconds of audio, CPU seconds and
 * "x realtime per core" = audio seconds / CPU seconds. The output folder's file system
 * is named because it changes the figure (tmpfs against ext4: the system time of
 * writing). Both folders are removed at the end unless --keep (then their paths are
 * printed). BB_BIN_DIR names the folder of the batcherbird program (default: this
 * build's).
 */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qc_real.h"

#define S_MAX_RUNS  50
#define S_MAX_EXTRA 32

typedef struct {
    double cpu_s, user_s, sys_s, wall_s;
} s_run_t;

static off_t s_bytes;

static int s_sum_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        s_bytes += st->st_size;
    return 0;
}

static int s_remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "bench_process: removing %s: %s\n", path, strerror(errno));
    return 0;
}

/* Removes a folder and everything in it (a missing folder is not an error). */
static void s_remove_tree(const char *dir)
{
    nftw(dir, s_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *s_fs_name(const char *dir)
{
    struct statfs fs;
    if (statfs(dir, &fs) != 0)
        return "unknown";
    switch ((unsigned long)fs.f_type) {
    case 0x01021994UL:
        return "tmpfs";
    case 0xEF53UL:
        return "ext4";
    case 0x58465342UL:
        return "xfs";
    case 0x9123683EUL:
        return "btrfs";
    case 0x794C7630UL:
        return "overlayfs";
    default:
        return "other";
    }
}

/* One `batcherbird process` run; 0 when it exited 0. */
static int s_run(const char *prog, const char *in, const char *out, char **extra, int n_extra,
                 s_run_t *r)
{
    const char *argv[8 + S_MAX_EXTRA] = {prog, "process", "--in", in, "--out", out};
    int argc = 6;
    for (int i = 0; i < n_extra; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    fflush(stdout); /* the child must not print what is still buffered here */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execv(prog, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0) {
        perror("bench_process: running batcherbird process");
        return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    r->user_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    r->sys_s = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    r->cpu_s = r->user_s + r->sys_s;
    r->wall_s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench_process: %s process exited with status %d\n", prog,
                WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return -1;
    }
    return 0;
}

static int s_by_cpu(const void *a, const void *b)
{
    double x = ((const s_run_t *)a)->cpu_s, y = ((const s_run_t *)b)->cpu_s;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int takes = 300, runs = 5, n_extra = 0;
    bool keep = false;
    const char *base = getenv("TMPDIR");
    char **extra = NULL;
    if (!base || !*base)
        base = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--takes") && i + 1 < argc)
            takes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = true;
        else if (!strcmp(argv[i], "--")) {
            extra = argv + i + 1;
            n_extra = argc - i - 1;
            break;
        } else {
            fprintf(stderr, "usage: bench_process [--takes N] [--runs N] [--dir DIR] [--keep] "
                            "[-- PROCESS-OPTION...]\n");
            return 2;
        }
    }
    if (takes < 1 || runs < 1 || runs > S_MAX_RUNS || n_extra > S_MAX_EXTRA) {
        fprintf(stderr, "bench_process: --takes >= 1, --runs 1..%d, at most %d process options\n",
                S_MAX_RUNS, S_MAX_EXTRA);
        return 2;
    }
    const char *bin = getenv("BB_BIN_DIR");
    char prog[512];
    snprintf(prog, sizeof prog, "%s/batcherbird", bin ? bin : BB_BENCH_BIN_DIR);

    char top[512], in[600], out[600];
    snprintf(top, sizeof top, "%s/bench_process_XXXXXX", base);
    if (!mkdtemp(top)) {
        fprintf(stderr, "bench_process: making a folder in %s: %s\n", base, strerror(errno));
        return 1;
    }
    snprintf(in, sizeof in, "%s/raw", top);
    snprintf(out, sizeof out, "%s/library", top);
    if (mkdir(in, 0755) != 0) {
        perror("bench_process: mkdir");
        s_remove_tree(top);
        return 1;
    }

    /* Every take of every instrument whose source is installed; qc_real_write_raw picks
     * `takes` of them evenly spaced. */
    size_t n_inst, n = qc_real_takes(NULL, 0, ~0u, true, true, 1);
    const qc_real_inst_t *insts = qc_real_instruments(&n_inst);
    qc_real_spec_t *specs = calloc(n + 1, sizeof *specs);
    if (!specs) {
        s_remove_tree(top);
        return 1;
    }
    n = qc_real_takes(specs, n, ~0u, true, true, 1);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (qc_real_available(insts[specs[i].inst].src))
            specs[kept++] = specs[i];
    size_t written = 0;
    double seconds = qc_real_write_raw(&written, in, specs, kept, (size_t)takes);
    free(specs);
    qc_real_shutdown();
    if (seconds <= 0) {
        fprintf(stderr, "bench_process: no take rendered\n");
        s_remove_tree(top);
        return 1;
    }

    printf("batcherbird process --in RAW --out OUT");
    for (int i = 0; i < n_extra; i++)
        printf(" %s", extra[i]);
    printf("\n%zu raw takes, %.1f s of stereo audio; output on %s (%s)\n", written, seconds,
           s_fs_name(top), top);
    s_run_t r[S_MAX_RUNS];
    int ok = 0;
    for (int i = 0; i < runs; i++) {
        s_remove_tree(out);
        if (s_run(prog, in, out, extra, n_extra, &r[ok]))
            break;
        s_bytes = 0;
        nftw(out, s_sum_file, 16, FTW_PHYS);
        printf("run %d: %.3f s CPU (user %.3f, sys %.3f), %.3f s wall, %.0f MB written = %.0fx "
               "realtime per core\n",
               i + 1, r[ok].cpu_s, r[ok].user_s, r[ok].sys_s, r[ok].wall_s, s_bytes / 1e6,
               seconds / r[ok].cpu_s);
        ok++;
    }
    if (ok > 0) {
        qsort(r, (size_t)ok, sizeof r[0], s_by_cpu);
        const s_run_t *m = &r[ok / 2];
        printf("median of %d: %.1f s of audio, %.3f s CPU (user %.3f, sys %.3f) = %.0fx realtime "
               "per core, analysis + export\n",
               ok, seconds, m->cpu_s, m->user_s, m->sys_s, seconds / m->cpu_s);
    }
    if (keep)
        printf("kept: raw takes in %s, library in %s\n", in, out);
    else
        s_remove_tree(top);
    return ok == runs ? 0 : 1;
}
