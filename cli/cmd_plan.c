/*
 * cmd_plan.c — `batcherbird plan check PLAN.yaml` and `batcherbird plan show BATCH`.
 *
 * check reads and checks a plan file as submit would, without submitting: every problem
 * with its file, line and column, then the estimate. It asks the coordinator (briefly)
 * for its nodes to check the instruments' nodes too, and says so when none answers.
 * show prints the plan a batch ran, as a plan file that submits the same batch again.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "estimate.h"
#include "plan.h"

#define S_NODES_TIMEOUT_MS 1500

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: batcherbird plan check PLAN.yaml [--offline] [--json]\n"
            "       batcherbird plan show BATCH [--all] [--json]\n"
            "\n"
            "check  reads a plan file and reports every problem as FILE:LINE:COLUMN: error:\n"
            "       MESSAGE, then what the plan needs (takes, audio, time, disk). The nodes are\n"
            "       checked against the coordinator's when one answers (not with --offline).\n"
            "       Exit code 0 when the plan is good, 2 when it has problems.\n"
            "show   prints the plan batch BATCH ran, as a plan file: save it and submit it to\n"
            "       sample the same again. Settings left at their defaults are left out\n"
            "       (--all prints every one). --json prints the same as JSON.\n");
}

static int s_check(cli_t *cli, const char *path, bool offline, bool json)
{
    Bb__BatchSpec *plan = dsp_plan_new();
    cli_plan_src_t src = {0};
    cli_diags_t diags = {0};
    cli_nodes_t nodes = {0};
    Bb__ListNodesReply *reply = NULL;
    int exit_code = CLI_EXIT_USAGE;
    if (!plan || cli_plan_src_fit(&src, 0)) {
        cli_error("plan: out of memory");
        goto done;
    }
    int problems = cli_plan_load(path, plan, &src, &diags);
    if (problems < 0) {
        cli_diags_print(&diags, stderr);
        goto done;
    }
    if (!offline) {
        Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
        char err[256];
        if (cli_call_quiet(cli, "ListNodes", &req.base, S_NODES_TIMEOUT_MS,
                           (ProtobufCMessage **)&reply, err, sizeof err) == BB_STATUS_OK) {
            nodes.known = true;
            nodes.n = reply->n_nodes;
            nodes.names = calloc(nodes.n ? nodes.n : 1, sizeof *nodes.names);
            for (size_t i = 0; nodes.names && i < nodes.n; i++)
                nodes.names[i] = reply->nodes[i]->name;
        }
    }
    problems += cli_plan_check(plan, &src, &nodes, &diags);
    cli_estimate_t est = {0};
    Bb__BatchSpec *norm = NULL;
    char msg[512];
    if (problems == 0) {
        norm = cli_plan_normalised(plan, NULL, msg, sizeof msg);
        if (!norm || cli_estimate(&est, norm, reply)) {
            cli_error("plan: %s", norm ? "out of memory" : msg);
            problems = 1;
        }
    }
    Bb__SubmitBatchReply *check = NULL;
    if (problems == 0 && nodes.known) { /* what the coordinator would refuse at submit */
        char err[700];
        if (cli_submit_check(cli, plan, est.takes_bytes, est.library_bytes, &check, err,
                             sizeof err) != BB_STATUS_OK) {
            cli_error("plan: %s: %s", path, err);
            problems = 1;
        }
    }
    if (json) {
        json_t *errs = json_array();
        for (size_t i = 0; errs && i < diags.n; i++)
            json_array_append_new(errs,
                                  json_pack("{s:s?, s:i, s:i, s:s}", "file", diags.items[i].file,
                                            "line", diags.items[i].at.line, "column",
                                            diags.items[i].at.col, "message", diags.items[i].msg));
        json_t *root =
            json_pack("{s:s, s:b, s:o, s:b}", "file", path, "ok", problems == 0, "errors",
                      errs ? errs : json_array(), "nodes_checked", nodes.known);
        if (root && problems == 0)
            json_object_set_new(root, "estimate", cli_estimate_json(&est));
        cli_print_json(root);
    } else if (problems) {
        cli_diags_print(&diags, stderr);
        fprintf(stderr, "%s: %d problem(s)\n", path, problems);
    } else {
        printf("%s: the plan is good: %zu instrument(s)%s\n", path, norm->n_instruments,
               nodes.known ? ""
               : offline   ? " (nodes not checked: --offline)"
                           : " (nodes not checked: no coordinator answered)");
        cli_estimate_print(&est, stdout);
        if (check)
            cli_submit_check_print(check, stdout);
    }
    if (check)
        protobuf_c_message_free_unpacked(&check->base, NULL);
    exit_code = problems ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    cli_estimate_free(&est);
    if (norm)
        bb__batch_spec__free_unpacked(norm, NULL);
done:
    free(nodes.names);
    if (reply)
        protobuf_c_message_free_unpacked(&reply->base, NULL);
    cli_diags_free(&diags);
    cli_plan_src_free(&src);
    if (plan)
        bb__batch_spec__free_unpacked(plan, NULL);
    return exit_code;
}

static int s_show(cli_t *cli, uint64_t id, bool all, bool json)
{
    Bb__BatchRequest req = BB__BATCH_REQUEST__INIT;
    req.batch_id = id;
    ProtobufCMessage *out = NULL;
    int rc = cli_call(cli, "GetPlan", &req.base, &out);
    if (rc)
        return rc;
    Bb__BatchSpec *plan = (Bb__BatchSpec *)out;
    if (json) {
        json_t *j = dsp_plan_to_json(plan, all);
        rc = cli_print_json(j) ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    } else {
        printf("# The plan of batch %llu, as the coordinator stored it%s.\n"
               "# Sample it again with: batcherbird submit THIS-FILE.yaml\n",
               (unsigned long long)id, all ? "" : " (defaults left out)");
        rc = cli_plan_print_yaml(plan, all, stdout) ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    }
    protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

int cli_cmd_plan(cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"offline", no_argument, NULL, 'o'},
                                          {"all", no_argument, NULL, 'a'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    bool offline = false, all = false, json = false;
    cli_getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'o':
            offline = true;
            break;
        case 'a':
            all = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            s_usage(stdout);
            return CLI_EXIT_OK;
        default:
            cli_error("plan: unknown option %s (see batcherbird plan --help)", argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    const char *what = optind < argc ? argv[optind] : NULL;
    const char *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (!what || !arg || optind + 2 < argc) {
        s_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(what, "check") == 0)
        return s_check(cli, arg, offline, json);
    if (strcmp(what, "show") == 0) {
        uint64_t id = cli_parse_batch("plan show", arg);
        return id ? s_show(cli, id, all, json) : CLI_EXIT_USAGE;
    }
    cli_error("plan: '%s': use plan check PLAN.yaml or plan show BATCH", what);
    return CLI_EXIT_USAGE;
}
