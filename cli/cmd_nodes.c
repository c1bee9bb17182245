/*
 * cmd_nodes.c — `batcherbird nodes`: the capture nodes the coordinator knows.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_cmd_nodes(cli_t *cli, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: batcherbird nodes\n\nLists the capture nodes the coordinator knows: "
                   "online or not, backends,\nformat, state, takes waiting in their spools.\n");
            return CLI_EXIT_OK;
        }
        cli_error("nodes: unexpected argument '%s' (see batcherbird nodes --help)", argv[i]);
        return CLI_EXIT_USAGE;
    }
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    int rc = cli_call(cli, "ListNodes", &req.base, &out);
    if (rc)
        return rc;
    Bb__ListNodesReply *reply = (Bb__ListNodesReply *)out;
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
                                : n->state == BB__NODE_STATE__NODE_RECORDING   ? "recording"
                                : n->state == BB__NODE_STATE__NODE_DEVICE_LOST ? "NO DEVICE"
                                                                               : "idle";
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
