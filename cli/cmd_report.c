/*
 * cmd_report.c — `batcherbird report BATCH`: every take of a batch with its QC figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void s_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird report BATCH [--c4]\n\n"
                 "Prints one line per take of the batch: note, velocity, round robin, QC verdict,\n"
                 "peak level, signal-to-noise ratio, pitch error, onset after the note-on,\n"
                 "trimmed length and the reasons for a warning or failure. Takes replaced by a\n"
                 "retake are marked with *.\n\n"
                 "  --c4   name notes with C4 = 60 (default C3 = 60)\n");
}

int cli_cmd_report(cli_t *cli, int argc, char **argv)
{
    const char *batch = NULL;
    bool c4 = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--c4")) {
            c4 = true;
        } else if (argv[i][0] != '-' && !batch) {
            batch = argv[i];
        } else {
            cli_error("report: unexpected '%s' (see batcherbird report --help)", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    char *end = NULL;
    unsigned long long id = batch ? strtoull(batch, &end, 10) : 0;
    if (!batch || !*batch || *end || id == 0) {
        cli_error("report: which batch? give its number (see batcherbird status)");
        return CLI_EXIT_USAGE;
    }
    Bb__BatchRequest req = BB__BATCH_REQUEST__INIT;
    req.batch_id = id;
    ProtobufCMessage *reply = NULL;
    int rc = cli_call(cli, "ListTakes", &req.base, &reply);
    if (rc)
        return rc;
    Bb__TakeList *list = (Bb__TakeList *)reply;
    if (list->n_takes == 0)
        printf("batch %llu has no takes yet\n", id);
    else
        cli_print_take_table(stdout, list->takes, list->n_takes, c4);
    protobuf_c_message_free_unpacked(reply, NULL);
    return CLI_EXIT_OK;
}
