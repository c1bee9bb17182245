/*
 * cmd_housekeeping.c — after a night: `batcherbird retake` (record chosen slots again),
 * `batcherbird export BATCH --again` (export again with the batch's settings, optionally
 * changed) and `batcherbird delete` (a batch, its raw takes and its library). The work is
 * the coordinator's (coordinator/service_housekeeping.c); these read the options, ask,
 * and follow the batch until the new takes or the new export are done.
 */
#include <czmq.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "plan_check.h"
#include "plan_fields.h"

/* ---- retake ---- */

static void s_retake_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird retake BATCH --instrument NAME [--notes NOTES]\n"
                 "                          [--velocities LIST] [--round-robins LIST] [--c4]\n"
                 "                          [--no-watch] [--json]\n\n"
                 "Records chosen samples of a batch again: the takes of NAME at these notes (a\n"
                 "range C2:C4 or a list C2,E2; default every note), velocities (default every\n"
                 "one) and round robins (e.g. 1,3; default every one). Each new take replaces the\n"
                 "old one, and the instrument's library is exported again when they are done.\n"
                 "Follows the batch until then (--no-watch returns at once).\n");
}

int cli_cmd_retake(cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"instrument", required_argument, NULL, 'i'},
                                          {"notes", required_argument, NULL, 'n'},
                                          {"velocities", required_argument, NULL, 'v'},
                                          {"round-robins", required_argument, NULL, 'r'},
                                          {"c4", no_argument, NULL, '4'},
                                          {"no-watch", no_argument, NULL, 'W'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *inst = NULL, *notes = NULL, *vels = NULL, *rrs = NULL;
    bool c4 = false, watch = true, json = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'i':
            inst = optarg;
            break;
        case 'n':
            notes = optarg;
            break;
        case 'v':
            vels = optarg;
            break;
        case 'r':
            rrs = optarg;
            break;
        case '4':
            c4 = true;
            break;
        case 'W':
            watch = false;
            break;
        case 'j':
            json = true;
            watch = false;
            break;
        case 'h':
            s_retake_usage(stdout);
            return CLI_EXIT_OK;
        default:
            cli_error("retake: %s %s (see batcherbird retake --help)", argv[optind - 1],
                      optopt ? "needs a value" : "is not an option");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1 || !inst) {
        cli_error("retake: give the batch and --instrument NAME (see batcherbird retake --help)");
        return CLI_EXIT_USAGE;
    }
    uint64_t id = cli_parse_batch("retake", argv[optind]);
    if (!id)
        return CLI_EXIT_USAGE;
    /* notes and velocities through the plan's own parsers, on a scratch instrument */
    Bb__BatchSpec *scratch = dsp_plan_new();
    Bb__InstrumentSpec *in = scratch ? dsp_plan_add_instrument(scratch, inst) : NULL;
    if (!in) {
        cli_error("retake: out of memory");
        return CLI_EXIT_FAILED;
    }
    dsp_plan_target_t t = {
        .batch = scratch, .inst = in, .notes = c4 ? BB_NOTES_C4_IS_60 : BB_NOTES_C3_IS_60};
    char why[256];
    uint32_t note_list[128], rr_list[16];
    Bb__RetakeRequest req = BB__RETAKE_REQUEST__INIT;
    req.batch_id = id;
    req.instrument = (char *)inst;
    int exit_code = CLI_EXIT_USAGE;
    if (notes) {
        if (dsp_plan_field_set(dsp_plan_field_find("notes"), &t, notes, why, sizeof why)) {
            cli_error("retake: --notes %s: %s", notes, why);
            goto done;
        }
        req.n_notes = dsp_plan_notes(in, note_list);
        req.notes = note_list;
    }
    if (vels) {
        if (dsp_plan_field_set(dsp_plan_field_find("velocities"), &t, vels, why, sizeof why)) {
            cli_error("retake: --velocities %s: %s", vels, why);
            goto done;
        }
        req.n_velocities = in->n_velocities;
        req.velocities = in->velocities;
    }
    if (rrs) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", rrs);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            char *end;
            long v = strtol(tok, &end, 10);
            if (*end || v < 1 || v > 16 || req.n_round_robins == 16) {
                cli_error("retake: --round-robins %s: a list like 1,3 (each 1-16)", rrs);
                goto done;
            }
            rr_list[req.n_round_robins++] = (uint32_t)v;
        }
        req.round_robins = rr_list;
    }
    void *sub = watch ? cli_watch_subscribe(cli) : NULL;
    ProtobufCMessage *out = NULL;
    exit_code = cli_call(cli, "RetakeSlots", &req.base, &out);
    if (exit_code) {
        zsock_destroy((zsock_t **)&sub);
        goto done;
    }
    uint32_t takes = ((Bb__RetakeReply *)out)->takes;
    protobuf_c_message_free_unpacked(out, NULL);
    if (json)
        cli_print_json(json_pack("{s:I, s:s, s:i}", "batch", (json_int_t)id, "instrument", inst,
                                 "takes", (int)takes));
    else
        printf("batch %llu: %u take(s) of %s to record again\n", (unsigned long long)id, takes,
               inst);
    exit_code = watch ? cli_watch_batch_sub(cli, id, false, sub) : CLI_EXIT_OK;
done:
    bb__batch_spec__free_unpacked(scratch, NULL);
    return exit_code;
}

/* ---- export --again ---- */

enum { S_AGAIN = 'a', S_OUT = 'o', S_HELP = 'h', S_FIELD = 1000 };

static bool s_export_field(const dsp_plan_field_t *f)
{
    return f->scope == DSP_PLAN_EXPORT && strcmp(f->name, "out") != 0;
}

static void s_again_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird export BATCH --again|--retry [export options] [--out DIR]\n\n"
                 "Exports a finished batch again on the coordinator, with its own settings and\n"
                 "the export options given here on top (they become the batch's settings),\n"
                 "into its library folder; with --out, then fetches it to DIR. Processing\n"
                 "settings (pre-attack, fades, loops) need the takes cut again: use\n"
                 "batcherbird process on the raw takes for those.\n\n");
    cli_export_options_usage(out);
}

int cli_export_again(cli_t *cli, int argc, char **argv)
{
    struct option longs[128];
    size_t nl = 0;
    for (size_t i = 0; i < dsp_plan_n_fields && nl + 8 < 128; i++) {
        const dsp_plan_field_t *f = &dsp_plan_fields[i];
        if (!s_export_field(f))
            continue;
        int has = f->arg ? required_argument : no_argument;
        longs[nl++] = (struct option){f->name, has, NULL, S_FIELD + (int)i};
        if (f->alias)
            longs[nl++] = (struct option){f->alias, has, NULL, S_FIELD + (int)i};
    }
    longs[nl++] = (struct option){"again", no_argument, NULL, S_AGAIN};
    longs[nl++] = (struct option){"retry", no_argument, NULL, S_AGAIN}; /* after a failed export */
    longs[nl++] = (struct option){"out", required_argument, NULL, S_OUT};
    longs[nl++] = (struct option){"help", no_argument, NULL, S_HELP};
    longs[nl] = (struct option){NULL, 0, NULL, 0};
    const char *fetch_to = NULL;
    struct {
        int field;
        const char *value;
    } given[64];
    int n_given = 0, c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == S_AGAIN)
            continue;
        if (c == S_OUT) {
            fetch_to = optarg;
        } else if (c == S_HELP) {
            s_again_usage(stdout);
            return CLI_EXIT_OK;
        } else if (c >= S_FIELD && n_given < 64) {
            given[n_given].field = c - S_FIELD;
            given[n_given++].value = optarg;
        } else {
            cli_error("export: %s %s (see batcherbird export --again --help)", argv[optind - 1],
                      optopt ? "needs a value" : "is not an export option");
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error("usage: batcherbird export BATCH --again [export options] [--out DIR]");
        return CLI_EXIT_USAGE;
    }
    uint64_t id = cli_parse_batch("export", argv[optind]);
    if (!id)
        return CLI_EXIT_USAGE;
    Bb__BatchRequest breq = BB__BATCH_REQUEST__INIT;
    breq.batch_id = id;
    ProtobufCMessage *plan_msg = NULL;
    int rc = cli_call(cli, "GetPlan", &breq.base, &plan_msg);
    if (rc)
        return rc;
    Bb__BatchSpec *plan = (Bb__BatchSpec *)plan_msg;
    Bb__ExportAgainRequest req = BB__EXPORT_AGAIN_REQUEST__INIT;
    req.batch_id = id;
    if (n_given) {
        bb_note_convention_t conv =
            plan->export && plan->export->c4_is_60 ? BB_NOTES_C4_IS_60 : BB_NOTES_C3_IS_60;
        dsp_plan_target_t t = {.batch = plan, .notes = conv};
        for (int i = 0; i < n_given; i++) {
            const dsp_plan_field_t *f = &dsp_plan_fields[given[i].field];
            char why[256];
            if (dsp_plan_field_set(f, &t, given[i].value, why, sizeof why)) {
                cli_error("export: --%s %s: %s", f->name, given[i].value ? given[i].value : "",
                          why);
                protobuf_c_message_free_unpacked(plan_msg, NULL);
                return CLI_EXIT_USAGE;
            }
        }
        req.export = plan->export;
    }
    void *sub = cli_watch_subscribe(cli);
    ProtobufCMessage *out = NULL;
    rc = cli_call(cli, "ExportAgain", &req.base, &out);
    protobuf_c_message_free_unpacked(plan_msg, NULL);
    if (rc) {
        zsock_destroy((zsock_t **)&sub);
        return rc;
    }
    Bb__ExportAgainReply *reply = (Bb__ExportAgainReply *)out;
    printf("batch %llu: exporting %u instrument(s) again into %s\n", (unsigned long long)id,
           reply->instruments, reply->library);
    protobuf_c_message_free_unpacked(out, NULL);
    rc = cli_watch_batch_sub(cli, id, false, sub);
    if (rc || !fetch_to)
        return rc;
    char ids[32];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    char *fetch[] = {"export", ids, "--out", (char *)fetch_to, NULL};
    return cli_cmd_export(cli, 4, fetch);
}

/* ---- delete ---- */

static void s_delete_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird delete BATCH [--keep-library] [--yes] [--json]\n\n"
                 "Removes a batch that is not running (cancel it first): its state on the\n"
                 "coordinator, its raw takes and, unless --keep-library, the library files it\n"
                 "exported. Only files Batcherbird wrote are removed: a folder that holds\n"
                 "anything else is left with those files in it, and named. Asks first unless\n"
                 "--yes.\n");
}

int cli_cmd_delete(cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"keep-library", no_argument, NULL, 'k'},
                                          {"yes", no_argument, NULL, 'y'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    bool keep = false, yes = false, json = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == 'k') {
            keep = true;
        } else if (c == 'y') {
            yes = true;
        } else if (c == 'j') {
            json = true;
        } else if (c == 'h') {
            s_delete_usage(stdout);
            return CLI_EXIT_OK;
        } else {
            cli_error("delete: unknown option %s (see batcherbird delete --help)",
                      argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error("usage: batcherbird delete BATCH [--keep-library] [--yes]");
        return CLI_EXIT_USAGE;
    }
    uint64_t id = cli_parse_batch("delete", argv[optind]);
    if (!id)
        return CLI_EXIT_USAGE;
    Bb__BatchRequest breq = BB__BATCH_REQUEST__INIT;
    breq.batch_id = id;
    ProtobufCMessage *st_msg = NULL;
    int rc = cli_call(cli, "GetBatch", &breq.base, &st_msg);
    if (rc)
        return rc;
    Bb__BatchStatus *st = (Bb__BatchStatus *)st_msg;
    if (!yes) {
        if (!isatty(STDIN_FILENO)) {
            cli_error("delete: batch %llu '%s' would be deleted: add --yes to do it without a "
                      "terminal to ask on",
                      (unsigned long long)id, st->name);
            protobuf_c_message_free_unpacked(st_msg, NULL);
            return CLI_EXIT_DECLINED;
        }
        fprintf(stderr, "Delete batch %llu '%s', its raw takes%s%s? [y/N] ", (unsigned long long)id,
                st->name, keep ? "" : " and its library in ", keep ? "" : st->out_dir);
        char line[16];
        if (!fgets(line, sizeof line, stdin) || (line[0] != 'y' && line[0] != 'Y')) {
            protobuf_c_message_free_unpacked(st_msg, NULL);
            return CLI_EXIT_DECLINED;
        }
    }
    protobuf_c_message_free_unpacked(st_msg, NULL);
    Bb__DeleteBatchRequest req = BB__DELETE_BATCH_REQUEST__INIT;
    req.batch_id = id;
    req.keep_library = keep;
    ProtobufCMessage *out = NULL;
    rc = cli_call(cli, "DeleteBatch", &req.base, &out);
    if (rc)
        return rc;
    Bb__DeleteBatchReply *reply = (Bb__DeleteBatchReply *)out;
    if (json) {
        json_t *kept = json_array();
        for (size_t i = 0; kept && i < reply->n_kept; i++)
            json_array_append_new(kept, json_string(reply->kept[i]));
        cli_print_json(json_pack("{s:I, s:i, s:o}", "batch", (json_int_t)id, "files_removed",
                                 (int)reply->files_removed, "kept", kept ? kept : json_array()));
    } else {
        printf("batch %llu deleted: %u file(s) removed\n", (unsigned long long)id,
               reply->files_removed);
        for (size_t i = 0; i < reply->n_kept; i++)
            printf("  kept %s: yours (a folder with files Batcherbird did not write, or a "
                   "file changed since Batcherbird wrote it)\n",
                   reply->kept[i]);
    }
    protobuf_c_message_free_unpacked(out, NULL);
    return CLI_EXIT_OK;
}
