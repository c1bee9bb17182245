/*
 * test_fixture.h — one coordinator and its capture nodes as real processes in a fresh
 * folder, talking over ipc:// endpoints in it: what every integration test starts.
 *
 * The folder holds the endpoints (n.ipc for nodes, o.ipc for operators, e.ipc for
 * events), the coordinator's state, each node's spool (spool-NAME) and every log
 * (coordinator-N.log, NAME-N.log, N counting restarts). BB_TEST_KEEP=1 keeps it.
 * Programs get the fixture's endpoints and heartbeat; a test adds its own arguments.
 *
 * The fixture sets CURVE up as a studio would (batcherbird keys init / keys new): the
 * coordinator's keys in its state folder, an operator certificate (operator.cert, also put
 * in BATCHERBIRD_CERT for every CLI the test runs) and one certificate per node
 * (node-NAME.cert, given to the node with --cert). The coordinator's library root
 * (--library) is the fixture's folder, so a test's --out anywhere in it is accepted.
 * test_fixture_init_plain() starts without keys (plaintext over ipc://).
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
    bool curve;                             /* keys were made: CURVE everywhere */
    char operator_cert[320];                /* the operator certificate, when curve */
    char db[350];                           /* its SQLite file */
    int heartbeat_ms;
    test_proc_t coord;
    int coord_starts;
    test_proc_t node[TEST_FIXTURE_NODES_MAX];
    char node_name[TEST_FIXTURE_NODES_MAX][64];
    int node_starts[TEST_FIXTURE_NODES_MAX];
} test_fixture_t;

/* A fresh folder named after tag, the endpoints in it, and the keys; starts nothing. */
void test_fixture_init(test_fixture_t *f, const char *tag, int heartbeat_ms);
/* The same without keys: plaintext. */
void test_fixture_init_plain(test_fixture_t *f, const char *tag, int heartbeat_ms);

/* The certificate file of a node or an operator named `name` (made and trusted on first
 * use, like `batcherbird keys new --state`), for a test's own connections. 0 or -1. */
int test_fixture_cert(const test_fixture_t *f, const char *role, const char *name, char *path,
                      size_t len);
/* Makes a test's own ZeroMQ socket (a zsock_t, before it connects) speak CURVE as the
 * node or operator `name`; a no-op without keys. 0 or -1. */
int test_fixture_secure(const test_fixture_t *f, void *zsock, const char *role, const char *name);
/* A bb_rpc DEALER to `endpoint` as the node or operator `name` (CURVE when the fixture has
 * keys). NULL on failure. */
struct bb_rpc_t;
struct bb_rpc_t *test_fixture_rpc(const test_fixture_t *f, const char *endpoint, const char *role,
                                  const char *name);

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
