/*
 * cmd_meter.c — `batcherbird meter NODE`: the node's input levels, live, as dBFS bars.
 *
 * Nodes send their per-channel peak, RMS, 2 s peak hold and clip count ten times a second;
 * the coordinator republishes them on its event socket under "meter.<node>". On a terminal
 * the bars are redrawn in place; otherwise (or with --count) one line per channel and
 * reading is printed.
 *
 * A monitor on the subscriber reports a handshake the coordinator refused: the certificate
 * was revoked (the coordinator then cuts every subscriber, and a revoked one is refused as
 * it reconnects) or is not trusted there; meter ends saying so instead of waiting for
 * levels that cannot come.
 */
#include <czmq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "node.pb-c.h"

#define METER_BAR      40    /* characters for -60..0 dBFS */
#define METER_FLOOR_DB -60.0 /* the bar's left edge */
#define METER_WAIT_MS  3000  /* no reading within this long: say so */

static void s_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird meter NODE [--count N]\n\n"
                 "Shows the input levels of NODE live: per channel a bar from -60 to 0 dBFS\n"
                 "(# up to the RMS, = up to the peak, | at the 2 s peak hold), the peak in\n"
                 "dBFS and CLIP when samples reached full scale. Ctrl-C stops.\n\n"
                 "  --count N   print N readings as plain lines and exit\n");
}

static int s_col(double db)
{
    if (!(db > METER_FLOOR_DB))
        return 0;
    if (db >= 0)
        return METER_BAR;
    return (int)lround((db - METER_FLOOR_DB) / -METER_FLOOR_DB * METER_BAR);
}

/* One channel: "ch1 [#####===   |    ]  -12.3 dBFS  rms -20.1  hold  -6.0  CLIP" */
static void s_line(FILE *out, size_t ch, const Bb__ChannelMeter *m, uint64_t clipped_before)
{
    char bar[METER_BAR + 1];
    int rms = s_col(m->rms_db), peak = s_col(m->peak_db), hold = s_col(m->peak_hold_db);
    for (int i = 0; i < METER_BAR; i++)
        bar[i] = i < rms ? '#' : i < peak ? '=' : ' ';
    if (hold > 0)
        bar[hold - 1] = '|';
    bar[METER_BAR] = '\0';
    fprintf(out, "ch%-2zu [%s] %6.1f dBFS  rms %6.1f  hold %6.1f%s\n", ch + 1, bar,
            m->peak_db < -99 ? -99.9 : m->peak_db, m->rms_db < -99 ? -99.9 : m->rms_db,
            m->peak_hold_db < -99 ? -99.9 : m->peak_hold_db,
            m->clipped_samples > clipped_before ? "  CLIP" : "");
}

int cli_cmd_meter(cli_t *cli, int argc, char **argv)
{
    const char *node = NULL;
    long count = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
            char *end = NULL;
            count = strtol(argv[++i], &end, 10);
            if (*end || count < 1) {
                cli_error("meter: --count %s: a positive number", argv[i]);
                return CLI_EXIT_USAGE;
            }
        } else if (argv[i][0] != '-' && !node) {
            node = argv[i];
        } else {
            cli_error("meter: unexpected '%s' (see batcherbird meter --help)", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!node) {
        cli_error("meter: which node? (see batcherbird nodes)");
        return CLI_EXIT_USAGE;
    }
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub) {
        cli_error("meter: cannot create a socket");
        return CLI_EXIT_FAILED;
    }
    char topic[96];
    snprintf(topic, sizeof topic, "meter.%s", node);
    zsock_set_subscribe(sub, topic);
    zsock_set_linger(sub, 0);
    int src = cli_secure(cli, sub);
    if (src) {
        zsock_destroy(&sub);
        return src;
    }
    if (zsock_connect(sub, "%s", cli->events) < 0) {
        cli_error("meter: cannot connect to the coordinator's events at %s", cli->events);
        zsock_destroy(&sub);
        return CLI_EXIT_UNAVAILABLE;
    }
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://cli-meter-refusals-%ld", (long)getpid());
    zsock_t *mon = NULL;
    if (zmq_socket_monitor(zsock_resolve(sub), mon_ep, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
        mon = zsock_new_pair(NULL);
        if (mon && zsock_connect(mon, "%s", mon_ep) != 0)
            zsock_destroy(&mon);
    }
    bool tty = count < 0 && isatty(STDOUT_FILENO);
    zpoller_t *poller = zpoller_new(sub, mon, NULL);
    int drawn = 0, rc = CLI_EXIT_OK;
    long shown = 0;
    uint64_t clipped[32] = {0};
    bool first = true;
    while (count < 0 || shown < count) {
        void *which = zpoller_wait(poller, METER_WAIT_MS);
        if (zsys_interrupted || zpoller_terminated(poller))
            break;
        if (!which) {
            cli_error("meter: no levels from node %s within %d s (is it online? see "
                      "batcherbird nodes)",
                      node, METER_WAIT_MS / 1000);
            rc = CLI_EXIT_UNAVAILABLE;
            break;
        }
        if (which == mon) {
            if (tty && drawn)
                printf("\033[%dA\033[J", drawn);
            fflush(stdout);
            cli_error("UNAUTHENTICATED: the coordinator's event feed at %s refused this "
                      "certificate (revoked, or not in its trusted folder): ask for a new one "
                      "(batcherbird keys new)",
                      cli->events);
            rc = CLI_EXIT_FAILED;
            break;
        }
        zmsg_t *msg = zmsg_recv(sub);
        char *t = msg ? zmsg_popstr(msg) : NULL;
        zframe_t *body = msg ? zmsg_pop(msg) : NULL;
        Bb__MetersRequest *m =
            body && t && !strcmp(t, topic)
                ? bb__meters_request__unpack(NULL, zframe_size(body), zframe_data(body))
                : NULL;
        zstr_free(&t);
        zframe_destroy(&body);
        zmsg_destroy(&msg);
        if (!m)
            continue; /* another node with the same prefix, or damaged: skip */
        if (tty && drawn)
            printf("\033[%dA", drawn);
        if (!tty && m->n_meters > 0)
            printf("%s%s\n", node,
                   m->state == BB__NODE_STATE__NODE_RECORDING ? " (recording)" : "");
        for (size_t c = 0; c < m->n_meters; c++) {
            uint64_t before = c < 32 && !first ? clipped[c] : m->meters[c]->clipped_samples;
            s_line(stdout, c, m->meters[c], before);
            if (c < 32)
                clipped[c] = m->meters[c]->clipped_samples;
        }
        if (m->n_meters == 0)
            printf("%s: no input channels\n", node);
        drawn = (int)m->n_meters + (m->n_meters == 0);
        fflush(stdout);
        first = false;
        shown++;
        bb__meters_request__free_unpacked(m, NULL);
    }
    zpoller_destroy(&poller);
    if (mon)
        zmq_socket_monitor(zsock_resolve(sub), NULL, 0);
    zsock_destroy(&mon);
    zsock_destroy(&sub);
    return rc;
}
