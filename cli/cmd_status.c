/*
 * cmd_status.c — `batcherbird status [BATCH]` and `batcherbird watch BATCH`.
 *
 * Watch polls GetBatch twice a second and listens to the event stream. On a terminal it
 * prints events worth a person's attention (failed takes, nodes going away, exports)
 * above a block of progress bars redrawn in place. Without a terminal (a log, a pipe) it
 * prints one timestamped line per event (each take with its verdict, retakes, instrument
 * states and exports, nodes) and a progress line at most every CLI_WATCH_LOG_EVERY_S,
 * so a night's log reads from top to bottom. A poll refused for its certificate
 * (UNAUTHENTICATED: revoked while watching; the coordinator then also cuts the event feed)
 * ends watch with the coordinator's reason and exit 1; other failures are retried for
 * CLI_WATCH_GIVE_UP_S.
 *
 * status --json prints the batch(es) as documented in docs/json.md.
 */
#include <czmq.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_clock.h"
#include "cli.h"

#define CLI_WATCH_POLL_MS     500
#define CLI_WATCH_GIVE_UP_S   15.0
#define CLI_BAR_WIDTH         24
#define CLI_WATCH_LOG_EVERY_S 10.0 /* progress lines in a log, at most this often */

static const char *s_inst_state(int s)
{
    static const char *words[] = {"waiting", "recording", "exporting", "done",
                                  "paused",  "cancelled", "failed"};
    return s >= 0 && s <= 6 ? words[s] : "?";
}

static const char *s_batch_state(int s)
{
    static const char *words[] = {"running", "paused", "done", "cancelled", "failed"};
    return s >= 0 && s <= 4 ? words[s] : "?";
}

static bool s_finished(int state)
{
    return state == BB__BATCH_STATE__BATCH_DONE || state == BB__BATCH_STATE__BATCH_CANCELLED ||
           state == BB__BATCH_STATE__BATCH_FAILED;
}

static void s_bar(char *out, uint32_t done, uint32_t total)
{
    int fill = total ? (int)((uint64_t)done * CLI_BAR_WIDTH / total) : 0;
    for (int i = 0; i < CLI_BAR_WIDTH; i++)
        out[i] = i < fill ? '#' : '-';
    out[CLI_BAR_WIDTH] = '\0';
}

/* One line per instrument; returns the number of lines printed. */
static int s_progress(const Bb__BatchStatus *st, bool tty)
{
    int lines = 0;
    size_t width = 10;
    for (size_t i = 0; i < st->n_instruments; i++)
        if (strlen(st->instruments[i]->name) > width)
            width = strlen(st->instruments[i]->name) > 24 ? 24 : strlen(st->instruments[i]->name);
    for (size_t i = 0; i < st->n_instruments; i++) {
        const Bb__InstrumentStatus *is = st->instruments[i];
        char bar[CLI_BAR_WIDTH + 1], eta[32], detail[256] = "";
        uint32_t finished = is->done + is->failed;
        s_bar(bar, finished, is->total);
        cli_format_duration(is->eta_s, eta, sizeof eta);
        if (is->state == BB__INSTRUMENT_STATE__INST_RECORDING && *is->current)
            snprintf(detail, sizeof detail, "%s  ETA %s", is->current, eta);
        else if (*is->message)
            snprintf(detail, sizeof detail, "%s", is->message);
        printf("%s  %-*.*s [%s] %4u/%-4u %3u%%  %-9s %s%s\n", tty ? "\033[2K" : "", (int)width,
               (int)width, is->name, bar, finished, is->total,
               is->total ? finished * 100 / is->total : 0, s_inst_state(is->state), detail,
               is->failed ? "" : "");
        lines++;
    }
    return lines;
}

void cli_print_status(const Bb__BatchStatus *st)
{
    char elapsed[32];
    cli_format_duration(st->elapsed_s, elapsed, sizeof elapsed);
    printf("batch %llu '%s': %s, %s elapsed%s%s\n", (unsigned long long)st->id, st->name,
           s_batch_state(st->state), elapsed, *st->message ? ", " : "", st->message);
    printf("library: %s\n", st->out_dir);
    s_progress(st, false);
    for (size_t i = 0; i < st->n_instruments; i++) {
        const Bb__InstrumentStatus *is = st->instruments[i];
        if (is->failed || is->retakes)
            printf("  %s: %u take(s) failed QC, %u retake(s)\n", is->name, is->failed, is->retakes);
        if (*is->library_path)
            printf("  %s: %u samples in %s\n", is->name, is->files, is->library_path);
    }
}

static int s_get(cli_t *cli, uint64_t id, Bb__BatchStatus **st)
{
    Bb__BatchRequest req = BB__BATCH_REQUEST__INIT;
    req.batch_id = id;
    return cli_call(cli, "GetBatch", &req.base, (ProtobufCMessage **)st);
}

/* A batch as documented in docs/json.md. */
json_t *cli_batch_json(const Bb__BatchStatus *st)
{
    json_t *insts = json_array();
    uint32_t done = 0, total = 0;
    for (size_t i = 0; insts && i < st->n_instruments; i++) {
        const Bb__InstrumentStatus *is = st->instruments[i];
        done += is->done + is->failed;
        total += is->total;
        json_array_append_new(
            insts,
            json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:o?, s:f, s:s, s:s, s:i, s:s}", "name",
                      is->name, "node", is->node, "state", s_inst_state(is->state), "done",
                      (int)is->done, "total", (int)is->total, "failed", (int)is->failed, "retakes",
                      (int)is->retakes, "eta_s", is->eta_s >= 0 ? json_real(is->eta_s) : NULL,
                      "elapsed_s", is->elapsed_s, "current", is->current, "library",
                      is->library_path, "files", (int)is->files, "message", is->message));
    }
    /* whole seconds: an integer keeps every digit (a real is printed to 6 significant
     * digits, which rounds a Unix time by days) */
    return json_pack("{s:I, s:s, s:s, s:I, s:f, s:s, s:s, s:i, s:i, s:o}", "id", (json_int_t)st->id,
                     "name", st->name, "state", s_batch_state(st->state), "created_unix",
                     (json_int_t)llround(st->created_unix), "elapsed_s", st->elapsed_s, "library",
                     st->out_dir, "message", st->message, "takes_done", (int)done, "takes_total",
                     (int)total, "instruments", insts ? insts : json_array());
}

int cli_cmd_status(cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'j') {
            json = true;
        } else if (c == 'h') {
            printf("usage: batcherbird status [BATCH] [--json]\n\nWithout BATCH: the recent "
                   "batches. With it: that batch per instrument.\n--json prints the same as "
                   "JSON (docs/json.md).\n");
            return CLI_EXIT_OK;
        } else {
            cli_error("status: unknown option %s (see batcherbird status --help)",
                      argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        cli_error("usage: batcherbird status [BATCH] [--json]");
        return CLI_EXIT_USAGE;
    }
    if (optind < argc) {
        uint64_t id = cli_parse_batch("status", argv[optind]);
        if (!id)
            return CLI_EXIT_USAGE;
        Bb__BatchStatus *st = NULL;
        int rc = s_get(cli, id, &st);
        if (rc)
            return rc;
        if (json)
            cli_print_json(cli_batch_json(st));
        else
            cli_print_status(st);
        protobuf_c_message_free_unpacked(&st->base, NULL);
        return CLI_EXIT_OK;
    }
    Bb__ListBatchesRequest req = BB__LIST_BATCHES_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    int rc = cli_call(cli, "ListBatches", &req.base, &out);
    if (rc)
        return rc;
    Bb__ListBatchesReply *reply = (Bb__ListBatchesReply *)out;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < reply->n_batches; i++)
            json_array_append_new(arr, cli_batch_json(reply->batches[i]));
        cli_print_json(json_pack("{s:o}", "batches", arr ? arr : json_array()));
        protobuf_c_message_free_unpacked(out, NULL);
        return CLI_EXIT_OK;
    }
    if (reply->n_batches == 0)
        printf("No batches yet. Plan one with: batcherbird submit --help\n");
    else
        printf("%-6s %-24s %-10s %-9s %s\n", "BATCH", "NAME", "STATE", "TAKES", "ELAPSED");
    for (size_t i = 0; i < reply->n_batches; i++) {
        const Bb__BatchStatus *b = reply->batches[i];
        uint32_t done = 0, total = 0;
        for (size_t k = 0; k < b->n_instruments; k++) {
            done += b->instruments[k]->done + b->instruments[k]->failed;
            total += b->instruments[k]->total;
        }
        char elapsed[32], takes[32];
        cli_format_duration(b->elapsed_s, elapsed, sizeof elapsed);
        snprintf(takes, sizeof takes, "%u/%u", done, total);
        printf("%-6llu %-24.24s %-10s %-9s %s\n", (unsigned long long)b->id, b->name,
               s_batch_state(b->state), takes, elapsed);
        /* why a running batch does not move: an instrument waiting for its node, a full
         * disk, a plan still being written */
        bool active =
            b->state == BB__BATCH_STATE__BATCH_RUNNING || b->state == BB__BATCH_STATE__BATCH_PAUSED;
        if (active && *b->message)
            printf("       %s\n", b->message);
        for (size_t k = 0; active && k < b->n_instruments; k++)
            if (*b->instruments[k]->message)
                printf("       %s: %s\n", b->instruments[k]->name, b->instruments[k]->message);
    }
    protobuf_c_message_free_unpacked(out, NULL);
    return CLI_EXIT_OK;
}

/* "2026-11-30 00:19:09" (local time) of a Unix time. */
static void s_stamp(double unix_s, char *out, size_t len)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* The log's progress line: takes done of the whole batch, per instrument in short. */
static void s_log_progress(const Bb__BatchStatus *st)
{
    uint32_t done = 0, total = 0;
    double eta = 0;
    for (size_t i = 0; i < st->n_instruments; i++) {
        done += st->instruments[i]->done + st->instruments[i]->failed;
        total += st->instruments[i]->total;
        if (st->instruments[i]->eta_s > eta)
            eta = st->instruments[i]->eta_s;
    }
    char stamp[32], left[32];
    s_stamp((double)time(NULL), stamp, sizeof stamp);
    cli_format_duration(eta, left, sizeof left);
    printf("%s progress: %u/%u takes (%u%%), %s, about %s left", stamp, done, total,
           total ? done * 100 / total : 0, s_batch_state(st->state), left);
    for (size_t i = 0; i < st->n_instruments; i++) {
        const Bb__InstrumentStatus *is = st->instruments[i];
        printf("%s %s %u/%u", i ? ";" : " |", is->name, is->done + is->failed, is->total);
    }
    printf("\n");
}

static bool s_event_worth_showing(int kind, bool log)
{
    if (log) /* in a log every take is a line */
        return kind != BB__EVENT_KIND__EV_TAKE_STARTED &&
               kind != BB__EVENT_KIND__EV_BATCH_SUBMITTED;
    return kind == BB__EVENT_KIND__EV_TAKE_FAILED || kind == BB__EVENT_KIND__EV_NODE_STATE ||
           kind == BB__EVENT_KIND__EV_LIBRARY_EXPORTED || kind == BB__EVENT_KIND__EV_BATCH_STATE ||
           kind == BB__EVENT_KIND__EV_INSTRUMENT_STATE;
}

void *cli_watch_subscribe(cli_t *cli)
{
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (sub) {
        zsock_set_subscribe(sub, "batch."); /* every batch: "batch.1" would match 10, 11 ... */
        zsock_set_subscribe(sub, "node.");
        zsock_set_linger(sub, 0);
        if (cli_secure(cli, sub) || zsock_connect(sub, "%s", cli->events) < 0)
            zsock_destroy(&sub);
    }
    return sub;
}

int cli_watch_batch(cli_t *cli, uint64_t id, bool quiet_events)
{
    return cli_watch_batch_sub(cli, id, quiet_events, cli_watch_subscribe(cli));
}

int cli_watch_batch_sub(cli_t *cli, uint64_t id, bool quiet_events, void *subscriber)
{
    zsock_t *sub = subscriber;
    Bb__BatchStatus *st = NULL;
    int rc = s_get(cli, id, &st);
    if (rc) {
        zsock_destroy(&sub);
        return rc;
    }
    bool tty = isatty(STDOUT_FILENO);
    int drawn = 0;
    double last_log = -1e9; /* monotonic seconds of the last progress line in a log */
    int64_t next_poll = 0;
    double lost_since = 0;
    zpoller_t *poller = sub ? zpoller_new(sub, NULL) : NULL;
    for (;;) {
        /* redraw, or a progress line in a log */
        if (tty) {
            if (drawn)
                printf("\033[%dA", drawn);
            drawn = s_progress(st, true);
            fflush(stdout);
        } else if (bb_mono_ns() / 1e9 - last_log >= CLI_WATCH_LOG_EVERY_S &&
                   !s_finished(st->state)) {
            s_log_progress(st);
            fflush(stdout);
            last_log = bb_mono_ns() / 1e9;
        }
        if (s_finished(st->state))
            break;

        /* wait for an event or the next poll */
        int64_t now = bb_mono_ns() / BB_NS_PER_MS;
        if (next_poll == 0)
            next_poll = now + CLI_WATCH_POLL_MS;
        int wait = next_poll > now ? (int)(next_poll - now) : 0;
        void *which = poller ? zpoller_wait(poller, wait) : NULL;
        if (!poller)
            bb_sleep_ms(wait);
        if (zsys_interrupted || (poller && zpoller_terminated(poller))) {
            printf("\nstopped watching; the batch goes on (batcherbird watch %llu)\n",
                   (unsigned long long)id);
            rc = CLI_EXIT_OK;
            goto out;
        }
        if (which == sub) {
            zmsg_t *msg = zmsg_recv(sub);
            zframe_t *t = msg ? zmsg_pop(msg) : NULL;
            zframe_t *body = msg ? zmsg_pop(msg) : NULL;
            Bb__Event *ev =
                body ? bb__event__unpack(NULL, zframe_size(body), zframe_data(body)) : NULL;
            if (ev && ev->batch_id != 0 && ev->batch_id != id) { /* another batch's */
                bb__event__free_unpacked(ev, NULL);
                ev = NULL;
                zframe_destroy(&t);
                zframe_destroy(&body);
                zmsg_destroy(&msg);
                continue;
            }
            if (ev && !quiet_events && s_event_worth_showing(ev->kind, !tty)) {
                if (tty && drawn) {
                    printf("\033[%dA\033[J", drawn);
                    drawn = 0;
                }
                if (tty) {
                    printf("  * %s\n", ev->message);
                } else {
                    char stamp[32];
                    s_stamp(ev->time_unix > 0 ? ev->time_unix : (double)time(NULL), stamp,
                            sizeof stamp);
                    printf("%s %s\n", stamp, ev->message);
                    fflush(stdout);
                }
            }
            int kind = ev ? (int)ev->kind : -1;
            if (ev)
                bb__event__free_unpacked(ev, NULL);
            zframe_destroy(&t);
            zframe_destroy(&body);
            zmsg_destroy(&msg);
            if (kind < 0 || kind == BB__EVENT_KIND__EV_TAKE_STARTED)
                continue;
        } else if ((bb_mono_ns() / BB_NS_PER_MS) < next_poll) {
            continue;
        }
        next_poll = 0;
        Bb__BatchStatus *fresh = NULL;
        Bb__BatchRequest req = BB__BATCH_REQUEST__INIT;
        req.batch_id = id;
        char err[256];
        int status = bb_rpc_call(cli->rpc, &bb__operator__descriptor, "GetBatch", &req.base,
                                 cli->timeout_ms, (ProtobufCMessage **)&fresh, err, sizeof err);
        if (status == BB_STATUS_UNAUTHENTICATED || status == BB_STATUS_PERMISSION_DENIED) {
            /* e.g. the certificate was revoked: the coordinator has also cut this watch's
             * event feed, and retrying cannot help */
            if (tty && drawn)
                printf("\033[%dA\033[J", drawn);
            fflush(stdout);
            cli_error("%s: %s; stopped watching (the batch goes on)", bb_status_name(status), err);
            rc = CLI_EXIT_FAILED;
            goto out;
        }
        if (status != BB_STATUS_OK) {
            double now_s = bb_mono_ns() / 1e9;
            if (lost_since == 0) {
                lost_since = now_s;
                if (tty && drawn) {
                    printf("\033[%dA\033[J", drawn);
                    drawn = 0;
                }
                printf("%s lost contact with the coordinator (%s); retrying\n", tty ? "  *" : "",
                       err);
            }
            if (now_s - lost_since > CLI_WATCH_GIVE_UP_S) {
                cli_error("UNAVAILABLE: the coordinator at %s stopped answering", cli->coordinator);
                rc = CLI_EXIT_UNAVAILABLE;
                goto out;
            }
            continue;
        }
        lost_since = 0;
        protobuf_c_message_free_unpacked(&st->base, NULL);
        st = fresh;
    }
    printf("\n");
    cli_print_status(st);
    rc = st->state == BB__BATCH_STATE__BATCH_DONE ? CLI_EXIT_OK : CLI_EXIT_FAILED;
out:
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    return rc;
}

int cli_cmd_watch(cli_t *cli, int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: batcherbird watch BATCH\n\nLive progress per instrument with ETA, and "
               "events worth knowing\n(failed takes, nodes going away, exports). Ends when the "
               "batch ends;\nexits 0 if it finished, 1 if it failed or was cancelled.\n"
               "When stdout is not a terminal (a log file, a pipe) it prints one timestamped\n"
               "line per event (every take with its QC verdict, retakes, exports) and a\n"
               "progress line at most every %.0f s.\n",
               CLI_WATCH_LOG_EVERY_S);
        return CLI_EXIT_OK;
    }
    if (argc != 2) {
        cli_error("usage: batcherbird watch BATCH");
        return CLI_EXIT_USAGE;
    }
    uint64_t id = cli_parse_batch("watch", argv[1]);
    return id ? cli_watch_batch(cli, id, false) : CLI_EXIT_USAGE;
}
