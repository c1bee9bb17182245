/*
 * test_fixture.c — see test_fixture.h. Argument lists are the program's own options
 * followed by the test's; logs are numbered per start so a restart keeps the old one.
 */
#include "test_fixture.h"

#include <czmq.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bb_fs.h"
#include "bb_rpc.h"

#define S_POLL_MS 100

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* own[0..n_own) then extra (NULL-terminated) into out, NULL-terminated; -1 if too many. */
static int s_args(const char **out, const char *const *own, int n_own, const char *const *extra)
{
    int n = 0;
    for (int i = 0; i < n_own; i++)
        out[n++] = own[i];
    for (int i = 0; extra && extra[i]; i++) {
        if (n >= n_own + TEST_FIXTURE_ARGS_MAX) {
            fprintf(stderr, "test_fixture: more than %d extra arguments\n", TEST_FIXTURE_ARGS_MAX);
            return -1;
        }
        out[n++] = extra[i];
    }
    out[n] = NULL;
    return 0;
}

static void s_init(test_fixture_t *f, const char *tag, int heartbeat_ms)
{
    memset(f, 0, sizeof *f);
    test_tmpdir(f->dir, sizeof f->dir, tag);
    snprintf(f->nodes, sizeof f->nodes, "ipc://%s/n.ipc", f->dir);
    snprintf(f->ops, sizeof f->ops, "ipc://%s/o.ipc", f->dir);
    snprintf(f->events, sizeof f->events, "ipc://%s/e.ipc", f->dir);
    snprintf(f->state, sizeof f->state, "%s/state", f->dir);
    snprintf(f->db, sizeof f->db, "%s/batcherbird.db", f->state);
    f->heartbeat_ms = heartbeat_ms;
}

void test_fixture_init_plain(test_fixture_t *f, const char *tag, int heartbeat_ms)
{
    s_init(f, tag, heartbeat_ms);
    unsetenv("BATCHERBIRD_CERT");
}

int test_fixture_cert(const test_fixture_t *f, const char *role, const char *name, char *path,
                      size_t len)
{
    if (bb_path_fmt(path, len, "%s/%s-%s.cert", f->dir, role, name))
        return -1;
    if (bb_exists(path))
        return 0;
    const char *args[] = {"keys",  "new", "--role",  role,     "--name", name,
                          "--out", path,  "--state", f->state, NULL};
    char *err = NULL;
    int rc = test_run("batcherbird", args, 30, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "test_fixture: keys new %s %s: %s\n", role, name, err ? err : "");
    free(err);
    return rc == 0 ? 0 : -1;
}

int test_fixture_secure(const test_fixture_t *f, void *zsock, const char *role, const char *name)
{
    if (!f->curve)
        return 0;
    char path[400], server_path[400];
    if (test_fixture_cert(f, role, name, path, sizeof path) ||
        bb_path_fmt(server_path, sizeof server_path, "%s/keys/coordinator.cert", f->state))
        return -1;
    zcert_t *cert = zcert_load(path), *server = zcert_load(server_path);
    int rc = cert && server ? 0 : -1;
    if (!rc) {
        zcert_apply(cert, zsock);
        zsock_set_curve_serverkey(zsock, zcert_public_txt(server));
    }
    zcert_destroy(&cert);
    zcert_destroy(&server);
    return rc;
}

bb_rpc_t *test_fixture_rpc(const test_fixture_t *f, const char *endpoint, const char *role,
                           const char *name)
{
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    zcert_t *cert = NULL, *server = NULL;
    char err[256];
    if (f->curve) {
        char path[400], server_path[400];
        if (test_fixture_cert(f, role, name, path, sizeof path) ||
            bb_path_fmt(server_path, sizeof server_path, "%s/keys/coordinator.cert", f->state))
            return NULL;
        cert = zcert_load(path);
        server = zcert_load(server_path);
        if (!cert || !server) {
            zcert_destroy(&cert);
            zcert_destroy(&server);
            return NULL;
        }
        opts.curve_cert = cert;
        opts.curve_server_key = zcert_public_txt(server);
    }
    bb_rpc_t *rpc = bb_rpc_new_dealer(endpoint, &opts, err, sizeof err);
    if (!rpc)
        fprintf(stderr, "test_fixture: %s\n", err);
    zcert_destroy(&cert); /* applied to the socket: no longer needed */
    zcert_destroy(&server);
    return rpc;
}

void test_fixture_init(test_fixture_t *f, const char *tag, int heartbeat_ms)
{
    s_init(f, tag, heartbeat_ms);
    const char *args[] = {"keys", "init", "--state", f->state, NULL};
    char *err = NULL;
    if (test_run("batcherbird", args, 30, NULL, &err) != 0 ||
        test_fixture_cert(f, "operator", "tests", f->operator_cert, sizeof f->operator_cert)) {
        fprintf(stderr, "test_fixture: cannot make the keys: %s\n", err ? err : "");
        free(err);
        return;
    }
    free(err);
    f->curve = true;
    setenv("BATCHERBIRD_CERT", f->operator_cert, 1); /* every CLI this test runs */
}

int test_fixture_coord_start(test_fixture_t *f, const char *const *extra)
{
    char log[400], hb[16];
    snprintf(log, sizeof log, "%s/coordinator-%d.log", f->dir, ++f->coord_starts);
    snprintf(hb, sizeof hb, "%d", f->heartbeat_ms);
    const char *own[] = {"--state",  f->state,  "--nodes",        f->nodes, "--operators", f->ops,
                         "--events", f->events, "--heartbeat-ms", hb,       "--library",   f->dir};
    const char *args[sizeof own / sizeof own[0] + TEST_FIXTURE_ARGS_MAX + 1];
    if (s_args(args, own, (int)(sizeof own / sizeof own[0]), extra))
        return -1;
    return test_start(&f->coord, "batcherbird-coordinator", args, log);
}

int test_fixture_node_start(test_fixture_t *f, int i, const char *name, const char *const *extra)
{
    if (i < 0 || i >= TEST_FIXTURE_NODES_MAX)
        return -1;
    snprintf(f->node_name[i], sizeof f->node_name[i], "%s", name);
    char spool[400], log[400], hb[16];
    snprintf(spool, sizeof spool, "%s/spool-%s", f->dir, name);
    snprintf(log, sizeof log, "%s/%s-%d.log", f->dir, name, ++f->node_starts[i]);
    snprintf(hb, sizeof hb, "%d", f->heartbeat_ms);
    char cert[400];
    if (f->curve && test_fixture_cert(f, "node", name, cert, sizeof cert))
        return -1;
    const char *own[] = {"--coordinator", f->nodes,         "--name", name,     "--spool",
                         spool,           "--heartbeat-ms", hb,       "--cert", cert};
    int n_own = (int)(sizeof own / sizeof own[0]) - (f->curve ? 0 : 2);
    const char *args[sizeof own / sizeof own[0] + TEST_FIXTURE_ARGS_MAX + 1];
    if (s_args(args, own, n_own, extra))
        return -1;
    return test_start(&f->node[i], "batcherbird-node", args, log);
}

void test_fixture_kill(test_proc_t *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

int test_fixture_cli(const test_fixture_t *f, int timeout_s, char **out, char **err,
                     const char *const *args)
{
    const char *own[] = {"--coordinator", f->ops, "--events", f->events};
    const char *full[sizeof own / sizeof own[0] + TEST_FIXTURE_ARGS_MAX + 1];
    if (s_args(full, own, (int)(sizeof own / sizeof own[0]), args))
        return -1;
    char *o = NULL, *e = NULL;
    int rc = test_run("batcherbird", full, timeout_s, &o, &e);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    return rc;
}

/* Lines of `batcherbird nodes` that contain `want` and, when name is given, begin with
 * "name ". */
static int s_count_nodes(const test_fixture_t *f, const char *name, const char *want)
{
    char *out = NULL;
    const char *args[] = {"nodes", NULL};
    if (test_fixture_cli(f, 10, &out, NULL, args) != 0 || !out) {
        free(out);
        return 0;
    }
    int n = 0;
    size_t len = name ? strlen(name) : 0;
    for (char *line = out; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strstr(line, want) && (!name || (strncmp(line, name, len) == 0 && line[len] == ' ')))
            n++;
        line = nl ? nl + 1 : NULL;
    }
    free(out);
    return n;
}

bool test_fixture_wait_online(const test_fixture_t *f, int n, double timeout_s)
{
    for (double t0 = s_now(); s_now() - t0 < timeout_s; usleep(S_POLL_MS * 1000))
        if (s_count_nodes(f, NULL, " online ") >= n)
            return true;
    return false;
}

bool test_fixture_wait_node(const test_fixture_t *f, const char *name, const char *status,
                            double timeout_s)
{
    char want[32];
    snprintf(want, sizeof want, " %s ", status);
    for (double t0 = s_now(); s_now() - t0 < timeout_s; usleep(S_POLL_MS * 1000))
        if (s_count_nodes(f, name, want) > 0)
            return true;
    return false;
}

void test_fixture_dump_logs(const test_fixture_t *f)
{
    if (f->coord.log[0])
        test_dump_log(&f->coord);
    for (int i = 0; i < TEST_FIXTURE_NODES_MAX; i++)
        if (f->node[i].log[0])
            test_dump_log(&f->node[i]);
}

/* True if a log holds a sanitizer report. */
static bool s_log_has_sanitizer_report(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return false;
    char line[1024];
    bool hit = false;
    while (!hit && fgets(line, sizeof line, fp))
        hit = strstr(line, "Sanitizer") || strstr(line, "runtime error:");
    fclose(fp);
    return hit;
}

int test_fixture_stop_checked(test_fixture_t *f)
{
    int failed = 0;
    for (int i = 0; i < TEST_FIXTURE_NODES_MAX; i++) {
        if (f->node[i].pid > 0) {
            int rc = test_stop(&f->node[i]);
            if (rc != 0) {
                test_dump_log(&f->node[i]);
                fprintf(stderr, "node %s exited %d\n", f->node_name[i], rc);
                failed = -1;
            }
        }
    }
    if (f->coord.pid > 0) {
        int rc = test_stop(&f->coord);
        if (rc != 0) {
            test_dump_log(&f->coord);
            fprintf(stderr, "the coordinator exited %d\n", rc);
            failed = -1;
        }
    }
    DIR *d = opendir(f->dir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".log") != 0)
            continue;
        test_proc_t p = {0};
        if (bb_path_fmt(p.log, sizeof p.log, "%s/%s", f->dir, e->d_name) == 0 &&
            s_log_has_sanitizer_report(p.log)) {
            test_dump_log(&p);
            fprintf(stderr, "%s holds a sanitizer report\n", e->d_name);
            failed = -1;
        }
    }
    closedir(d);
    return failed;
}

void test_fixture_teardown(test_fixture_t *f)
{
    /* a failed test may have left one frozen */
    for (int i = 0; i < TEST_FIXTURE_NODES_MAX; i++)
        if (f->node[i].pid > 0)
            kill(f->node[i].pid, SIGCONT);
    if (f->coord.pid > 0)
        kill(f->coord.pid, SIGCONT);
    for (int i = 0; i < TEST_FIXTURE_NODES_MAX; i++)
        test_stop(&f->node[i]);
    test_stop(&f->coord);
    if (!f->dir[0])
        return;
    if (!getenv("BB_TEST_KEEP"))
        bb_rm_rf(f->dir);
    else
        fprintf(stderr, "kept %s\n", f->dir);
}
