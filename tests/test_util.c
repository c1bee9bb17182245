/*
 * test_util.c — process and folder helpers for the integration tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bb_fs.h"
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

extern char **environ;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* What this process made under /tmp, removed when it exits (tests clean up what they make,
 * whichever way they end: passed, skipped, or returned early). Kept when a test failed or
 * BB_TEST_KEEP is set, and said so. Only the process that registered a path removes it: a
 * forked child that exits leaves its parent's folders alone. */
#define S_CLEANUP_MAX 512
static char *s_cleanup[S_CLEANUP_MAX];
static size_t s_n_cleanup;
static pid_t s_cleanup_pid;
static bool s_failed;

static void s_cleanup_run(void)
{
    if (getpid() != s_cleanup_pid)
        return;
    bool keep = s_failed || getenv("BB_TEST_KEEP");
    for (size_t i = 0; i < s_n_cleanup; i++) {
        if (keep && access(s_cleanup[i], F_OK) == 0)
            fprintf(stderr, "kept %s\n", s_cleanup[i]);
        else if (!keep)
            bb_rm_rf(s_cleanup[i]);
        free(s_cleanup[i]);
    }
    s_n_cleanup = 0;
}

void test_remove_at_exit(const char *path)
{
    if (s_cleanup_pid != getpid()) { /* first use in this process */
        s_n_cleanup = 0;
        s_cleanup_pid = getpid();
        atexit(s_cleanup_run);
    }
    char *copy = strdup(path);
    if (copy && s_n_cleanup < S_CLEANUP_MAX)
        s_cleanup[s_n_cleanup++] = copy;
    else
        free(copy);
}

void test_tmpdir(char *out, size_t len, const char *tag)
{
    snprintf(out, len, "/tmp/bbtest-%s-XXXXXX", tag);
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(1);
    }
    test_remove_at_exit(out);
}

void test_bin(char *out, size_t len, const char *prog)
{
    const char *dir = getenv("BB_BIN_DIR");
    snprintf(out, len, "%s/%s", dir ? dir : "./bin", prog);
}

static int s_spawn(pid_t *pid, const char *prog, const char *const *args, int out_fd, int err_fd)
{
    char path[512];
    test_bin(path, sizeof path, prog);
    const char *argv[64];
    int n = 0;
    argv[n++] = path;
    for (int i = 0; args && args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
    int rc = posix_spawn(pid, path, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc)
        fprintf(stderr, "cannot start %s: %s\n", path, strerror(rc));
    return rc ? -1 : 0;
}

int test_start(test_proc_t *p, const char *prog, const char *const *args, const char *log)
{
    snprintf(p->log, sizeof p->log, "%s", log);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    int rc = s_spawn(&p->pid, prog, args, fd, fd);
    close(fd);
    return rc;
}

int test_stop(test_proc_t *p)
{
    if (p->pid <= 0)
        return -1;
    int status = 0;
    kill(p->pid, SIGTERM);
    double t0 = s_now();
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid)
            break;
        if (s_now() - t0 > 5) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            break;
        }
        s_sleep_ms(20);
    }
    p->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool test_alive(test_proc_t *p)
{
    return p->pid > 0 && waitpid(p->pid, NULL, WNOHANG) == 0;
}

void test_dump_log(const test_proc_t *p)
{
    FILE *f = fopen(p->log, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > 4000 ? size - 4000 : 0, SEEK_SET);
    char buf[4001];
    size_t n = fread(buf, 1, 4000, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "---- %s ----\n%s\n", p->log, buf);
}

static char *s_slurp(int fd)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return buf;
}

int test_run(const char *prog, const char *const *args, int timeout_s, char **out, char **err)
{
    char o[] = "/tmp/bbtest-outXXXXXX", e[] = "/tmp/bbtest-errXXXXXX";
    int ofd = mkstemp(o), efd = mkstemp(e);
    unlink(o);
    unlink(e);
    pid_t pid;
    if (s_spawn(&pid, prog, args, ofd, efd)) {
        close(ofd);
        close(efd);
        return -1;
    }
    int status = 0;
    double t0 = s_now();
    bool timed_out = false;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (s_now() - t0 > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            timed_out = true;
            break;
        }
        s_sleep_ms(10);
    }
    if (out)
        *out = s_slurp(ofd);
    if (err)
        *err = s_slurp(efd);
    close(ofd);
    close(efd);
    if (timed_out)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool test_wait_file(const char *path, double timeout_s)
{
    double t0 = s_now();
    struct stat st;
    while (stat(path, &st) != 0) {
        if (s_now() - t0 > timeout_s)
            return false;
        s_sleep_ms(20);
    }
    return true;
}

/* ---- skipping ---- */

static int s_skipped;

void test_note_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    s_skipped++;
}

int test_skipped(void)
{
    return s_skipped;
}

int test_select(const struct CMUnitTest *tests, size_t n, int argc, char **argv)
{
    if (argc < 2)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(tests[i].name, argv[1]) == 0) {
            cmocka_set_test_filter(argv[1]);
            return 0;
        }
    fprintf(stderr, "no test named '%s' in this program\n", argv[1]);
    return -1;
}

int test_main_result(int failed)
{
    s_failed = failed != 0;
    if (failed)
        return 1;
    return s_skipped ? TEST_SKIP : 0;
}

static bool s_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

int test_tcp_ports(int n)
{
    enum { LO = 10000, HI = 32000 };
    int span = (HI - LO) / n;
    int start = (int)(getpid() % span);
    for (int k = 0; k < span; k++) {
        int base = LO + (start + k) % span * n, i = 0;
        while (i < n && s_port_free(base + i))
            i++;
        if (i == n)
            return base;
    }
    return -1;
}
