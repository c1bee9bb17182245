/*
 * cli.h — shared pieces of the `batcherbird` command: the connection to the coordinator,
 * calls that turn every failure into one clear line, and exit codes.
 */
#ifndef CLI_H
#define CLI_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bb_rpc.h"
#include "operator.pb-c.h"

/* Exit codes, the same for every command (main.c's --help lists them). */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1,      /* the coordinator said no, or the work failed */
    CLI_EXIT_USAGE = 2,       /* bad command line or plan: nothing was sent */
    CLI_EXIT_UNAVAILABLE = 3, /* no coordinator answered */
    CLI_EXIT_DECLINED = 4     /* a confirmation was declined or could not be asked */
};

#define CLI_DEFAULT_TIMEOUT_MS 3000

typedef struct {
    const char *coordinator; /* operator endpoint */
    const char *events;      /* event endpoint */
    int timeout_ms;
    bb_rpc_t *rpc;
    bool color;              /* stdout is a terminal */
    const char *config;      /* the config file read, or NULL */
    const char *coord_from;  /* where the endpoint came from: "--coordinator",
                              * "BATCHERBIRD_COORDINATOR", the config file, "default" */
    const char *cert_path;   /* --cert or BATCHERBIRD_CERT: an operator certificate */
    const char *server_key;  /* --coordinator-key or BATCHERBIRD_COORDINATOR_KEY */
    zcert_t *cert;           /* loaded on first use */
    char server_key_z85[48]; /* the coordinator's public key, when cert is set */
} cli_t;

/* A command of `batcherbird`: main.c's table, one entry per command. argc/argv start at
 * the command's name. */
typedef struct {
    const char *name;
    int (*run)(cli_t *cli, int argc, char **argv);
    const char *summary;
} cli_command_t;

/* Connects (lazily) and calls /bb.Operator/<method>. On failure prints one line
 * "batcherbird: STATUS: message" to stderr and returns the exit code to use. */
int cli_call(cli_t *cli, const char *method, const ProtobufCMessage *req, ProtobufCMessage **reply);
/* Makes cli->rpc if there is none (with the certificate, when one is given). Returns the
 * exit code: CLI_EXIT_OK, or a failure already printed. */
int cli_connect(cli_t *cli);
/* Applies the operator certificate to a socket about to connect to the coordinator (the
 * event SUB); a no-op without one. Returns the exit code, as above. */
int cli_secure(cli_t *cli, zsock_t *sock);
void cli_close(cli_t *cli);

/* As cli_call, but prints nothing: returns the bb status code with err set. For calls
 * whose failure is not an error (a dry run asking for the nodes' figures). */
int cli_call_quiet(cli_t *cli, const char *method, const ProtobufCMessage *req, int timeout_ms,
                   ProtobufCMessage **reply, char *err, size_t len);

/* Prints "batcherbird: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a number in [lo, hi] given for option `opt` of command `cmd`; on a bad value prints
 * "batcherbird: CMD: OPT TEXT: expected a number from LO to HI" and returns -1. */
int cli_parse_number(const char *cmd, const char *opt, const char *text, double lo, double hi,
                     double *out);
/* Parses a duration: "1.5" or "1.5s" (seconds) or "100ms". Returns 0 or -1. */
int cli_parse_duration_ms(const char *text, uint32_t *ms);
/* Parses a batch number (1, 2, ...) given to `cmd`; prints why not and returns 0 when it
 * is not one. */
uint64_t cli_parse_batch(const char *cmd, const char *text);
/* Prints j to stdout as indented JSON with a newline and releases it. 0, or -1 when j is
 * NULL (out of memory). */
int cli_print_json(json_t *j);
/* Resets getopt_long for a command's options (argv[0] is the command's name). */
void cli_getopt_reset(void);

/* Derives the event endpoint from an operator endpoint: tcp://host:P -> tcp://host:P+1. */
void cli_events_from(const char *operator_ep, char *out, size_t len);

/* Commands: argc/argv start at the command's name. */
int cli_cmd_nodes(cli_t *cli, int argc, char **argv);
int cli_cmd_submit(cli_t *cli, int argc, char **argv);
int cli_cmd_status(cli_t *cli, int argc, char **argv);
int cli_cmd_watch(cli_t *cli, int argc, char **argv);
int cli_cmd_control(cli_t *cli, int argc, char **argv); /* pause, resume, cancel */
int cli_cmd_demo(cli_t *cli, int argc, char **argv);
int cli_cmd_export(cli_t *cli, int argc, char **argv); /* cmd_export.c */
int cli_cmd_report(cli_t *cli, int argc, char **argv);
int cli_cmd_process(cli_t *cli, int argc, char **argv); /* offline: raw takes -> library */
int cli_cmd_calibrate(cli_t *cli, int argc, char **argv);
int cli_cmd_meter(cli_t *cli, int argc, char **argv);
int cli_cmd_plan(cli_t *cli, int argc, char **argv);   /* plan check | plan show */
int cli_cmd_retake(cli_t *cli, int argc, char **argv); /* cmd_housekeeping.c */
int cli_cmd_delete(cli_t *cli, int argc, char **argv);
/* export BATCH --again: cli_cmd_export hands over when it sees --again. */
int cli_export_again(cli_t *cli, int argc, char **argv);
/* The export options --again takes (the plan's export fields), one per line, for --help. */
void cli_export_options_usage(FILE *out);
int cli_cmd_keys(cli_t *cli, int argc, char **argv);         /* cmd_keys.c: certificates */
int cli_cmd_nodes_forget(cli_t *cli, int argc, char **argv); /* cmd_forget.c: nodes forget */
int cli_cmd_move(cli_t *cli, int argc, char **argv);         /* cmd_move.c */
/* SubmitBatch with a request id of its own (kept when the plan has one): a call that gets
 * no answer is asked again, up to CLI_SUBMIT_TRIES times, with the same id, so that a
 * submit the coordinator did receive makes one batch (cmd_submit_retry.c). Exit code as
 * cli_call. */
#define CLI_SUBMIT_TRIES 3
int cli_submit_batch(cli_t *cli, Bb__BatchSpec *plan, ProtobufCMessage **reply);
/* Asks the coordinator to check plan as a submit would (BatchSpec.dry_run: the plan, its
 * out folder under the library root, what is in the way there, and the free space for the
 * estimated takes_bytes/library_bytes) without making anything. The bb status; *reply on
 * OK (the caller frees it), err ("STATUS: message") otherwise. */
int cli_submit_check(cli_t *cli, Bb__BatchSpec *plan, uint64_t takes_bytes, uint64_t library_bytes,
                     Bb__SubmitBatchReply **reply, char *err, size_t len);
/* "Coordinator: library in DIR; free: X for the library, Y for raw takes" for a check's
 * reply. */
void cli_submit_check_print(const Bb__SubmitBatchReply *reply, FILE *out);
/* What `keys init --state` and `keys new --state` do, quietly (the demo sets CURVE up with
 * them). Exit codes; a failure was printed. */
int cli_keys_init(const char *state);
int cli_keys_new(const char *state, const char *role, const char *name, const char *out);

/* One line per take (take_table.c), grouped by instrument, with a summary line. */
void cli_print_take_table(FILE *out, Bb__TakeRow *const *rows, size_t n, bool c4_is_60);

/* Watches a batch until it ends, drawing progress; returns the exit code. */
int cli_watch_batch(cli_t *cli, uint64_t batch_id, bool quiet_events);
/* A subscription to the coordinator's events, made before a batch is submitted so that
 * none of its events is missed (a zsock_t *, or NULL). */
void *cli_watch_subscribe(cli_t *cli);
/* cli_watch_batch with that subscription, which it takes over. */
int cli_watch_batch_sub(cli_t *cli, uint64_t batch_id, bool quiet_events, void *subscriber);
/* A batch's status as JSON (docs/json.md); NULL when out of memory. */
json_t *cli_batch_json(const Bb__BatchStatus *st);
/* Prints a batch's status as a table. */
void cli_print_status(const Bb__BatchStatus *st);
/* Formats seconds as h:mm:ss or m:ss. */
void cli_format_duration(double s, char *out, size_t len);

#endif
