/*
 * cmd_control.c — `batcherbird pause|resume|cancel BATCH`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_cmd_control(cli_t *cli, int argc, char **argv)
{
    const char *cmd = argv[0];
    const char *method = !strcmp(cmd, "pause")    ? "PauseBatch"
                         : !strcmp(cmd, "resume") ? "ResumeBatch"
                                                  : "CancelBatch";
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: batcherbird %s BATCH\n\n", cmd);
        if (!strcmp(cmd, "pause"))
            printf("Stops handing out new takes; takes already playing finish and are kept.\n");
        else if (!strcmp(cmd, "resume"))
            printf("Continues a paused batch where it stopped.\n");
        else
            printf("Stops the batch: nodes silence their notes, queued takes are dropped.\n"
                   "Takes already recorded stay in the coordinator's state folder.\n");
        return CLI_EXIT_OK;
    }
    if (argc != 2) {
        cli_error("usage: batcherbird %s BATCH", cmd);
        return CLI_EXIT_USAGE;
    }
    char *end;
    unsigned long long id = strtoull(argv[1], &end, 10);
    if (!*argv[1] || *end || id == 0) {
        cli_error("%s: '%s' is not a batch number", cmd, argv[1]);
        return CLI_EXIT_USAGE;
    }
    Bb__BatchRequest req = BB__BATCH_REQUEST__INIT;
    req.batch_id = id;
    ProtobufCMessage *out = NULL;
    int rc = cli_call(cli, method, &req.base, &out);
    if (rc)
        return rc;
    static const char *words[] = {"running", "paused", "done", "cancelled", "failed"};
    Bb__ControlReply *reply = (Bb__ControlReply *)out;
    printf("batch %llu is %s\n", id,
           reply->state >= 0 && reply->state <= 4 ? words[reply->state] : "?");
    protobuf_c_message_free_unpacked(out, NULL);
    return CLI_EXIT_OK;
}
