/*
 * cmd_nodes.c — `batcherbird nodes`: the capture nodes the coordinator knows.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *s_state_word(const Bb__NodeInfo *n)
{
    return n->state == BB__NODE_STATE__NODE_RECORDING     ? "recording"
           : n->state == BB__NODE_STATE__NODE_DEVICE_LOST ? "device-lost"
           : n->state == BB__NODE_STATE__NODE_PAUSED      ? "paused"
                                                          : "idle";
}

/* One node as documented in docs/json.md. */
static json_t *s_node_json(const Bb__NodeInfo *n)
{
    const Bb__Capabilities *c = n->caps;
    return json_pack(
        "{s:s, s:b, s:s, s:f, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:f, s:o?, s:s}", "name", n->name,
        "online", n->online, "state", s_state_word(n), "last_seen_s", n->last_seen_age_s,
        "audio_backend", c ? c->audio_backend : "", "midi_backend", c ? c->midi_backend : "",
        "instrument", c ? c->instrument : "", "sample_rate", (int)n->sample_rate, "channels",
        (int)n->channels, "spooled", (int)n->spooled, "xruns", (json_int_t)n->xruns,
        "latency_offset_ms", n->latency_offset_ms, "take_overhead_ms",
        n->take_overhead_samples ? json_real(n->take_overhead_ms) : NULL, "message", n->message);
}

int cli_cmd_nodes(cli_t *cli, int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "forget")) /* cmd_forget.c */
        return cli_cmd_nodes_forget(cli, argc - 1, argv + 1);
    static const struct option longs[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'j') {
            json = true;
        } else if (c == 'h') {
            printf("usage: batcherbird nodes [--json]\n\nLists the capture nodes the coordinator "
                   "knows: online or not, backends,\nformat, state, takes waiting in their "
                   "spools. --json prints them as JSON\n(docs/json.md).\n");
            return CLI_EXIT_OK;
        } else {
            cli_error("nodes: unknown option %s (see batcherbird nodes --help)", argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("nodes: unexpected argument '%s' (see batcherbird nodes --help)", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    int rc = cli_call(cli, "ListNodes", &req.base, &out);
    if (rc)
        return rc;
    Bb__ListNodesReply *reply = (Bb__ListNodesReply *)out;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < reply->n_nodes; i++)
            json_array_append_new(arr, s_node_json(reply->nodes[i]));
        rc = cli_print_json(json_pack("{s:o}", "nodes", arr ? arr : json_array()));
        protobuf_c_message_free_unpacked(out, NULL);
        return rc ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    }
    if (reply->n_nodes == 0) {
        printf("No capture nodes have registered yet. Start one with: batcherbird-node\n");
    } else {
        printf("%-20s %-8s %-9s %-22s %-10s %s\n", "NODE", "STATUS", "STATE", "AUDIO/MIDI",
               "FORMAT", "NOTES");
        for (size_t i = 0; i < reply->n_nodes; i++) {
            const Bb__NodeInfo *n = reply->nodes[i];
            char backends[64] = "-", format[32] = "-", notes[256] = "";
            if (n->caps)
                snprintf(backends, sizeof backends, "%s/%s%s%s", n->caps->audio_backend,
                         n->caps->midi_backend, *n->caps->instrument ? " " : "",
                         n->caps->instrument);
            if (n->sample_rate)
                snprintf(format, sizeof format, "%.1fk/%uch", n->sample_rate / 1000.0, n->channels);
            const char *state = !n->online                                     ? "-"
                                : n->state == BB__NODE_STATE__NODE_DEVICE_LOST ? "NO DEVICE"
                                                                               : s_state_word(n);
            int len = 0;
            if (n->online && n->last_seen_age_s > 2)
                len += snprintf(notes + len, sizeof notes - len, "last heard %.0f s ago; ",
                                n->last_seen_age_s);
            if (n->spooled)
                len +=
                    snprintf(notes + len, sizeof notes - len, "%u take(s) spooled; ", n->spooled);
            if (n->xruns)
                len += snprintf(notes + len, sizeof notes - len, "%llu overflow(s); ",
                                (unsigned long long)n->xruns);
            if (n->latency_offset_ms != 0)
                len += snprintf(notes + len, sizeof notes - len, "latency offset %.3f ms; ",
                                n->latency_offset_ms);
            if (*n->message)
                len += snprintf(notes + len, sizeof notes - len, "%s; ", n->message);
            if (len >= 2 && (size_t)len < sizeof notes)
                notes[len - 2] = '\0';
            printf("%-20s %-8s %-9s %-22s %-10s %s\n", n->name, n->online ? "online" : "offline",
                   state, backends, format, notes);
        }
    }
    protobuf_c_message_free_unpacked(out, NULL);
    return CLI_EXIT_OK;
}
