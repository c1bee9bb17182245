/*
 * test_util.h — what the integration tests share: temporary folders, starting the real
 * programs as child processes (with their output in log files), running the CLI and
 * capturing what it prints and its exit code.
 */
#ifndef BB_TEST_UTIL_H
#define BB_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TEST_SKIP 77 /* ctest SKIP_RETURN_CODE */

struct CMUnitTest;

/* Skipping honestly. cmocka's skip() ends a test as skipped, but the program would still
 * exit 0 and ctest would count it as passed. So tests skip through test_skip(), which
 * prints "SKIP: <reason>" and counts it, and main() returns test_main_result(): 1 when a
 * test failed, TEST_SKIP when one was skipped, 0 when every one ran and passed. A program
 * with several independent cases takes the case to run as its argument, so that each is
 * its own CTest entry (bb_add_test CASES) and one skipped case does not hide the others. */
void test_note_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define test_skip(...)                                                                             \
    do {                                                                                           \
        test_note_skip(__VA_ARGS__);                                                               \
        skip();                                                                                    \
    } while (0)
int test_skipped(void);
/* Runs `tests` (all, or the one named argv[1]; an unknown name fails) and gives the exit
 * code described above. */
#define test_main_group(tests, argc, argv)                                                         \
    test_main_result(test_select((tests), sizeof(tests) / sizeof((tests)[0]), (argc), (argv)) < 0  \
                         ? 1                                                                       \
                         : cmocka_run_group_tests((tests), NULL, NULL))
/* Sets cmocka's filter to argv[1] when given; -1 (and a message) when no test has that name. */
int test_select(const struct CMUnitTest *tests, size_t n, int argc, char **argv);
int test_main_result(int failed);

typedef struct {
    pid_t pid;
    char log[512];
} test_proc_t;

/* The first of n consecutive loopback TCP ports that are free to bind now, below the
 * kernel's ephemeral range (Linux: 32768 and up, where any outgoing connection on the host
 * may take one), searched from a place that depends on the pid so that tests running at
 * the same time look in different places. -1 if none is found. */
int test_tcp_ports(int n);

/* A fresh folder under /tmp; the path is written to out. It is removed when the process
 * exits, unless a test failed or BB_TEST_KEEP is set. */
void test_tmpdir(char *out, size_t len, const char *tag);
/* A file or folder the test made outside such a folder, removed at exit in the same way. */
void test_remove_at_exit(const char *path);
/* Path of a built program (from BB_BIN_DIR). */
void test_bin(char *out, size_t len, const char *prog);
/* Starts a built program with argv (NULL-terminated, without argv[0]); output to log. */
int test_start(test_proc_t *p, const char *prog, const char *const *args, const char *log);
/* SIGTERM, then SIGKILL after 5 s; returns the exit status (or -1). */
int test_stop(test_proc_t *p);
bool test_alive(test_proc_t *p);
/* Prints the end of a process's log (for failures). */
void test_dump_log(const test_proc_t *p);

/* Runs a built program to completion; captures stdout and stderr (malloc'd, may be NULL).
 * Returns its exit code, or -1 if it could not run or timed out (then it is killed). */
int test_run(const char *prog, const char *const *args, int timeout_s, char **out, char **err);

/* Polls until `path` exists or timeout; returns true if it does. */
bool test_wait_file(const char *path, double timeout_s);

#endif
