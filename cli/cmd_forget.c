/*
 * cmd_forget.c — `batcherbird nodes forget NAME`: the coordinator forgets a node's name (a
 * machine that is gone, a name left by a misconfigured node). Only an offline node that no
 * running or paused batch uses; its certificate is revoked with `batcherbird keys revoke`.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_cmd_nodes_forget(cli_t *cli, int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: batcherbird nodes forget NAME\n\n"
               "The coordinator forgets the node NAME: it must be offline and no running or\n"
               "paused batch may use it (move its instrument first: batcherbird move). A\n"
               "certificate the node had stays trusted until batcherbird keys revoke.\n");
        return CLI_EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '-') {
        cli_error("usage: batcherbird nodes forget NAME");
        return CLI_EXIT_USAGE;
    }
    Bb__ForgetNodeRequest req = BB__FORGET_NODE_REQUEST__INIT;
    req.node = argv[1];
    ProtobufCMessage *out = NULL;
    int rc = cli_call(cli, "ForgetNode", &req.base, &out);
    if (rc)
        return rc;
    protobuf_c_message_free_unpacked(out, NULL);
    printf("node %s forgotten\n", argv[1]);
    return CLI_EXIT_OK;
}
