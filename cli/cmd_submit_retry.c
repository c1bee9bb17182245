/*
 * cmd_submit_retry.c — SubmitBatch that a lost answer cannot turn into two batches.
 *
 * The plan carries a request id (a fresh UUID, or BATCHERBIRD_REQUEST_ID when a script sets
 * one, so that running the same submit again is safe too). When the coordinator does not
 * answer in time the call is made again with the same id: a coordinator that had received
 * it answers with the batch it made then (existing = true) instead of making another.
 */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_submit_check(cli_t *cli, Bb__BatchSpec *plan, uint64_t takes_bytes, uint64_t library_bytes,
                     Bb__SubmitBatchReply **reply, char *err, size_t len)
{
    *reply = NULL;
    plan->dry_run = true;
    plan->takes_bytes = takes_bytes;
    plan->library_bytes = library_bytes;
    char msg[512] = "";
    ProtobufCMessage *out = NULL;
    int status =
        cli_call_quiet(cli, "SubmitBatch", &plan->base, cli->timeout_ms, &out, msg, sizeof msg);
    plan->dry_run = false;
    if (status == BB_STATUS_OK)
        *reply = (Bb__SubmitBatchReply *)out;
    else
        snprintf(err, len, "%s: %s", bb_status_name(status), msg);
    return status;
}

static void s_size(uint64_t bytes, char *out, size_t len)
{
    if (bytes >= 1000000000ull)
        snprintf(out, len, "%.1f GB", bytes / 1e9);
    else
        snprintf(out, len, "%.1f MB", bytes / 1e6);
}

void cli_submit_check_print(const Bb__SubmitBatchReply *reply, FILE *out)
{
    char lib[32], takes[32];
    s_size(reply->library_free_bytes, lib, sizeof lib);
    s_size(reply->takes_free_bytes, takes, sizeof takes);
    fprintf(out,
            "Coordinator: checked%s%s; disk space free: %s for the library, %s for raw takes.\n",
            *reply->out_dir ? ", library in " : "", reply->out_dir, lib, takes);
}

int cli_submit_batch(cli_t *cli, Bb__BatchSpec *plan, ProtobufCMessage **reply)
{
    char id[64];
    const char *given = getenv("BATCHERBIRD_REQUEST_ID");
    if (*plan->request_id) {
        snprintf(id, sizeof id, "%s", plan->request_id);
    } else if (given && *given) {
        snprintf(id, sizeof id, "%.63s", given);
    } else {
        zuuid_t *uuid = zuuid_new();
        snprintf(id, sizeof id, "%s", uuid ? zuuid_str_canonical(uuid) : "");
        zuuid_destroy(&uuid);
    }
    char *keep = plan->request_id;
    plan->request_id = id;
    int status = BB_STATUS_UNAVAILABLE;
    char err[512] = "";
    for (int tries = 1; tries <= CLI_SUBMIT_TRIES; tries++) {
        status = cli_call_quiet(cli, "SubmitBatch", &plan->base, cli->timeout_ms, reply, err,
                                sizeof err);
        if (status != BB_STATUS_DEADLINE_EXCEEDED || tries == CLI_SUBMIT_TRIES)
            break;
        fprintf(stderr,
                "batcherbird: no answer from the coordinator within %.1f s; asking again "
                "(the same request %s: it makes one batch)\n",
                cli->timeout_ms / 1000.0, id);
    }
    plan->request_id = keep;
    if (status == BB_STATUS_OK) {
        if (((Bb__SubmitBatchReply *)*reply)->existing)
            fprintf(stderr, "batcherbird: the coordinator had the first request: this is the "
                            "batch it made then\n");
        return CLI_EXIT_OK;
    }
    if (status == BB_STATUS_DEADLINE_EXCEEDED) {
        cli_error("UNAVAILABLE: no answer from the coordinator at %s after %d tries of %.1f s "
                  "(request %s: running the same submit with BATCHERBIRD_REQUEST_ID=%s is safe)",
                  cli->coordinator, CLI_SUBMIT_TRIES, cli->timeout_ms / 1000.0, id, id);
        return CLI_EXIT_UNAVAILABLE;
    }
    cli_error("%s: %s", bb_status_name(status), err);
    return status == BB_STATUS_UNAVAILABLE ? CLI_EXIT_UNAVAILABLE : CLI_EXIT_FAILED;
}
