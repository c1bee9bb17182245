/*
 * cmd_move.c — `batcherbird move BATCH INSTRUMENT --node OTHER`: an instrument of a running
 * or paused batch goes on with another node (its node died for good, or the instrument
 * was plugged into another one). The takes it still needs are recorded there; the MIDI
 * setup goes out again first.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void s_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird move BATCH INSTRUMENT --node NODE\n\n"
                 "Moves INSTRUMENT (its name in the plan) of a running or paused batch to\n"
                 "capture node NODE: the takes it still needs are recorded there. Takes the\n"
                 "old node recorded and still sends for them are refused once they have run\n"
                 "again on NODE.\n");
}

int cli_cmd_move(cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"node", required_argument, NULL, 'n'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *node = NULL;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'n') {
            node = optarg;
        } else if (c == 'h') {
            s_usage(stdout);
            return CLI_EXIT_OK;
        } else {
            cli_error("move: %s %s (see batcherbird move --help)", argv[optind - 1],
                      optopt ? "needs a value" : "is not an option");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 2 || !node) {
        cli_error("usage: batcherbird move BATCH INSTRUMENT --node NODE");
        return CLI_EXIT_USAGE;
    }
    uint64_t id = cli_parse_batch("move", argv[optind]);
    if (!id)
        return CLI_EXIT_USAGE;
    Bb__MoveInstrumentRequest req = BB__MOVE_INSTRUMENT_REQUEST__INIT;
    req.batch_id = id;
    req.instrument = argv[optind + 1];
    req.node = (char *)node;
    ProtobufCMessage *out = NULL;
    int rc = cli_call(cli, "MoveInstrument", &req.base, &out);
    if (rc)
        return rc;
    const Bb__MoveInstrumentReply *r = (const Bb__MoveInstrumentReply *)out;
    printf("batch %llu: %s moved from node %s to node %s; %u take(s) to record there\n",
           (unsigned long long)id, req.instrument, r->previous_node, node, r->takes_moved);
    protobuf_c_message_free_unpacked(out, NULL);
    return CLI_EXIT_OK;
}
