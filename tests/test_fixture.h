/*
 * test_fixture.h — one coordinator and its capture nodes as real processes in a fresh
 * folder, talking over ipc:// endpoints in it: what every integration test starts.
 *
 * The folder holds the endpoints (n.ipc for nodes, o.ipc for operators, e.ipc for
 * events), the coordinator's state, each node's spool (spool-NAME) and every log
 * (coordinator-N.log, NAME-N.log, N counting restarts). BB_TEST_KEEP=1 keeps it.
 * Programs get the fixture's endpoints and heartbeat; a test adds its own arguments.
 */
#ifndef TEST_FIXTURE_H
#define TEST_FIXTURE_H

#include <stdbool.h>

#include "test_util.h"

#define TEST_FIXTURE_NODES_MAX 8
#define TEST_FIXTURE_ARGS_MAX  48 /* arguments a test may add to a program's own */

typedef struct {
    char dir[256];
    char nodes[300], ops[300], events[300]; /* endpoints */
    char state[300];                        /* the coordinator's --state */
    char db[350];                           /* its SQLite file */
    int heartbeat_ms;
    test_proc_t coord;
    int coord_starts;
    test_proc_t node[TEST_FIXTURE_NODES_MAX];
    char node_name[TEST_FIXTURE_NODES_MAX][64];
    int node_starts[TEST_FIXTURE_NODES_MAX];
} test_fixture_t;

/* A fresh folder named after tag and the endpoints in it; starts nothing. */
void test_fixture_init(test_fixture_t *f, const char *tag, int heartbeat_ms);

/* Starts (or restarts) the coordinator with the fixture's state, endpoints and heartbeat
 * plus `extra` (NULL-terminated, may be NULL). 0 or -1. */
int test_fixture_coord_start(test_fixture_t *f, const char *const *extra);

/* Starts (or restarts) node slot i as `name`, with its spool, the fixture's endpoint and
 * heartbeat plus `extra` (the instrument, --fast or --speed, faults). 0 or -1. */
int test_fixture_node_start(test_fixture_t *f, int i, const char *name, const char *const *extra);

/* SIGKILL and reap (a crash, as far as the others can tell). */
void test_fixture_kill(test_proc_t *p);

/* Runs the CLI against the fixture's coordinator (--coordinator and --events given);
 * returns its exit code, stdout and stderr in *out and *err (malloc'd; either may be
 * NULL to drop it). */
int test_fixture_cli(const test_fixture_t *f, int timeout_s, char **out, char **err,
                     const char *const *args);

/* Waits until `batcherbird nodes` lists at least n nodes online. */
bool test_fixture_wait_online(const test_fixture_t *f, int n, double timeout_s);
/* Waits until `batcherbird nodes` shows node `name` with `status` (online, offline). */
bool test_fixture_wait_node(const test_fixture_t *f, const char *name, const char *status,
                            double timeout_s);

/* Prints the end of every log of the fixture's programs. */
void test_fixture_dump_logs(const test_fixture_t *f);

/* Stops every program cleanly and returns 0 when each exited 0 and no log holds a
 * sanitizer report; otherwise prints what failed and returns -1. */
int test_fixture_stop_checked(test_fixture_t *f);

/* Stops everything (resuming frozen ones first) and removes the folder unless
 * BB_TEST_KEEP is set. Safe after test_fixture_stop_checked and on a bare init. */
void test_fixture_teardown(test_fixture_t *f);

#endif
