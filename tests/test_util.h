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

typedef struct {
    pid_t pid;
    char log[512];
} test_proc_t;

/* A fresh folder under /tmp; the path is written to out. */
void test_tmpdir(char *out, size_t len, const char *tag);
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
