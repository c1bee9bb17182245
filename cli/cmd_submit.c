/*
 * cmd_submit.c — `batcherbird submit [PLAN.yaml] [options]`: build a plan from a plan file
 * and/or options, check it, estimate it, and send it.
 *
 * The options are the plan's fields (dsp/plan_fields.h), parsed with getopt_long from a
 * table made of the field table, so every option is a plan-file key of the same name and
 * both read through the same parser. Options go on top of the plan file: `--instrument
 * NAME` selects that instrument of the file (or starts a new one) and the options after
 * it describe it; instrument options before any --instrument apply to every instrument
 * of the file and to each one started later. Note names are read after all options, so
 * --c4 applies wherever it stands.
 *
 * Before anything is sent the plan goes through the checks of plan.h (with the
 * coordinator's nodes) and the estimate of estimate.h is printed; a plan over an hour or
 * CLI_CONFIRM_TAKES takes asks for confirmation unless --yes.
 */
#include <czmq.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_err.h"
#include "cli.h"
#include "estimate.h"
#include "plan.h"
#include "plan_check.h"

/* Options of submit that are not plan fields. */
enum {
    S_OPT_WATCH = 'w',
    S_OPT_DRY_RUN = 'n',
    S_OPT_YES = 'y',
    S_OPT_REPLACE = 'r',
    S_OPT_JSON = 'j',
    S_OPT_HELP = 'h',
    S_OPT_FIELD = 1000 /* + index in dsp_plan_fields */
};

static void s_help_fields(bool per_instrument)
{
    for (size_t i = 0; i < dsp_plan_n_fields; i++) {
        const dsp_plan_field_t *f = &dsp_plan_fields[i];
        if (dsp_plan_field_per_instrument(f) != per_instrument || !strcmp(f->name, "instrument"))
            continue;
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        char choices[160] = "";
        if (f->choices) {
            char list[128];
            dsp_choice_list(f->choices, list, sizeof list);
            snprintf(choices, sizeof choices, " [%s]", list);
        }
        printf("  %-24s%s%s\n", left, f->help, choices);
    }
}

static void s_help(void)
{
    printf("usage: batcherbird submit [PLAN.yaml] [--instrument NAME --node NODE [instrument "
           "options]]...\n"
           "                          [batch options] [--dry-run] [--yes] [--watch] [--json]\n"
           "\n"
           "Plans a batch: every instrument plays every note of its range at every velocity,\n"
           "round robins times. Instruments on different nodes are sampled in parallel.\n"
           "A plan file (YAML; see examples/) holds the same settings by the same names,\n"
           "e.g. 'hold: 1.5'; options given here go on top of it. Before starting, submit\n"
           "prints the takes, audio, time and disk space the plan needs.\n"
           "\n"
           "  --dry-run               check and estimate only (the coordinator checks the out\n"
           "                          folder and its free space too); no batch is made\n"
           "  --replace               the out folder holds an earlier batch's export of these\n"
           "                          instruments: replace it (your own files in it stay)\n"
           "  --yes                   start a large plan (over an hour or %d takes) without "
           "asking\n"
           "  --watch                 follow the batch's progress until it ends\n"
           "  --json                  print the result as JSON (docs/json.md)\n"
           "\n"
           "Instrument options (after its --instrument; before any --instrument, for all):\n"
           "  --instrument NAME       starts an instrument (selects it, if the plan file has it)\n",
           CLI_CONFIRM_TAKES);
    s_help_fields(true);
    printf("\nBatch options:\n");
    s_help_fields(false);
}

/* The getopt_long table: every field and its alias, then submit's own options. */
static struct option *s_long_options(void)
{
    size_t n = 0;
    struct option *o = calloc(dsp_plan_n_fields * 2 + 8, sizeof *o);
    if (!o)
        return NULL;
    for (size_t i = 0; i < dsp_plan_n_fields; i++) {
        const dsp_plan_field_t *f = &dsp_plan_fields[i];
        int has = f->arg ? required_argument : no_argument;
        o[n++] = (struct option){f->name, has, NULL, S_OPT_FIELD + (int)i};
        if (f->alias)
            o[n++] = (struct option){f->alias, has, NULL, S_OPT_FIELD + (int)i};
    }
    o[n++] = (struct option){"watch", no_argument, NULL, S_OPT_WATCH};
    o[n++] = (struct option){"dry-run", no_argument, NULL, S_OPT_DRY_RUN};
    o[n++] = (struct option){"yes", no_argument, NULL, S_OPT_YES};
    o[n++] = (struct option){"replace", no_argument, NULL, S_OPT_REPLACE};
    o[n++] = (struct option){"json", no_argument, NULL, S_OPT_JSON};
    o[n++] = (struct option){"help", no_argument, NULL, S_OPT_HELP};
    return o;
}

typedef struct {
    bool watch, dry_run, yes, json, c4, replace;
    const char *plan_file;
} s_flags_t;

/* Reports getopt_long's complaint about argv[optind - 1]. */
static void s_bad_option(char **argv, const struct option *longs)
{
    const char *arg = argv[optind - 1];
    if (optopt >= S_OPT_FIELD || (optopt && strchr("wnyrjh", optopt)))
        cli_error("submit: %s needs a value (see batcherbird submit --help)", arg);
    else
        cli_error("submit: unknown option %s (see batcherbird submit --help)", arg);
}

/* Pass 1: submit's own flags, the note convention, and the plan file. */
static int s_scan(int argc, char **argv, const struct option *longs, s_flags_t *fl)
{
    cli_getopt_reset();
    int c, c4_index = (int)(dsp_plan_field_find("c4") - dsp_plan_fields);
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case S_OPT_WATCH:
            fl->watch = true;
            break;
        case S_OPT_DRY_RUN:
            fl->dry_run = true;
            break;
        case S_OPT_YES:
            fl->yes = true;
            break;
        case S_OPT_REPLACE:
            fl->replace = true;
            break;
        case S_OPT_JSON:
            fl->json = true;
            break;
        case S_OPT_HELP:
            s_help();
            return 1;
        case '?':
        case ':':
            s_bad_option(argv, longs);
            return -1;
        default:
            if (c == S_OPT_FIELD + c4_index)
                fl->c4 = true;
            break;
        }
    }
    if (optind < argc)
        fl->plan_file = argv[optind++];
    if (optind < argc) {
        cli_error("submit: one plan file at a time ('%s' is another; see batcherbird submit "
                  "--help)",
                  argv[optind]);
        return -1;
    }
    return 0;
}

/* Pass 2: the plan fields in order, on top of the plan file. */
static int s_apply(int argc, char **argv, const struct option *longs, Bb__BatchSpec *plan,
                   cli_plan_src_t *src, bb_note_convention_t conv)
{
    size_t from_file = plan->n_instruments;
    Bb__BatchSpec *scratch = dsp_plan_new();
    Bb__InstrumentSpec *defaults = scratch ? dsp_plan_add_instrument(scratch, "") : NULL;
    if (!defaults) {
        cli_error("submit: out of memory");
        return -1;
    }
    Bb__InstrumentSpec *cur = NULL;
    int rc = 0, c;
    cli_getopt_reset();
    while (!rc && (c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c < S_OPT_FIELD)
            continue;
        const dsp_plan_field_t *f = &dsp_plan_fields[c - S_OPT_FIELD];
        char why[512];
        if (!strcmp(f->name, "instrument")) {
            cur = NULL;
            for (size_t i = 0; i < plan->n_instruments && !cur; i++)
                if (strcmp(plan->instruments[i]->name, optarg) == 0)
                    cur = plan->instruments[i];
            if (!cur) {
                if (!*optarg) {
                    cli_error("submit: --instrument needs a name");
                    rc = -1;
                    break;
                }
                cur = dsp_plan_add_instrument(plan, optarg);
                if (!cur || dsp_plan_apply_defaults(cur, defaults, conv) ||
                    cli_plan_src_fit(src, plan->n_instruments)) {
                    cli_error("submit: at most %d instruments per batch", DSP_PLAN_MAX_INSTRUMENTS);
                    rc = -1;
                }
            }
            continue;
        }
        dsp_plan_target_t t = {.batch = plan, .inst = cur, .notes = conv};
        int err = 0;
        if (dsp_plan_field_per_instrument(f) && !cur) {
            /* before any --instrument: for the file's instruments and every later one */
            t.inst = defaults;
            t.batch = scratch;
            err = dsp_plan_field_set(f, &t, optarg, why, sizeof why);
            for (size_t i = 0; !err && i < from_file; i++) {
                dsp_plan_target_t ti = {.batch = plan, .inst = plan->instruments[i], .notes = conv};
                err = dsp_plan_field_set(f, &ti, optarg, why, sizeof why);
                if (!err && src && i < src->n_inst)
                    src->inst[i][f - dsp_plan_fields] = (cli_mark_t){0, 0};
            }
        } else {
            err = dsp_plan_field_set(f, &t, optarg, why, sizeof why);
            if (!err && src && cur && f->scope != DSP_PLAN_BATCH && f->scope != DSP_PLAN_EXPORT)
                for (size_t i = 0; i < plan->n_instruments && i < src->n_inst; i++)
                    if (plan->instruments[i] == cur)
                        src->inst[i][f - dsp_plan_fields] = (cli_mark_t){0, 0};
        }
        if (err) {
            if (optarg)
                cli_error("submit: --%s %s: %s", f->name, optarg, why);
            else
                cli_error("submit: --%s: %s", f->name, why);
            rc = -1;
        }
    }
    bb__batch_spec__free_unpacked(scratch, NULL);
    return rc;
}

/* The nodes the coordinator knows; *reply NULL when it did not answer (then the dry run
 * goes on without them). Exit code of the failure otherwise. */
static int s_nodes(cli_t *cli, bool dry, Bb__ListNodesReply **reply, cli_nodes_t *names)
{
    *reply = NULL;
    *names = (cli_nodes_t){0};
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *out = NULL;
    if (dry) {
        char err[256];
        int timeout = cli->timeout_ms < 1500 ? cli->timeout_ms : 1500;
        if (cli_call_quiet(cli, "ListNodes", &req.base, timeout, &out, err, sizeof err) !=
            BB_STATUS_OK)
            return 0;
    } else {
        int rc = cli_call(cli, "ListNodes", &req.base, &out);
        if (rc)
            return rc;
    }
    *reply = (Bb__ListNodesReply *)out;
    names->known = true;
    names->n = (*reply)->n_nodes;
    names->names = calloc(names->n ? names->n : 1, sizeof *names->names);
    for (size_t i = 0; names->names && i < names->n; i++)
        names->names[i] = (*reply)->nodes[i]->name;
    return 0;
}

/* Asks on the terminal; false when there is none to ask. */
static bool s_confirm(const cli_estimate_t *e)
{
    if (!isatty(STDIN_FILENO)) {
        char wall[32];
        cli_format_duration(e->wall_s, wall, sizeof wall);
        cli_error("submit: the plan takes about %s (%u takes): add --yes to start it without a "
                  "terminal to ask on",
                  wall, e->takes);
        return false;
    }
    fprintf(stderr, "Start it? [y/N] ");
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return false;
    return line[0] == 'y' || line[0] == 'Y';
}

int cli_cmd_submit(cli_t *cli, int argc, char **argv)
{
    struct option *longs = s_long_options();
    Bb__BatchSpec *plan = dsp_plan_new();
    Bb__BatchSpec *norm = NULL;
    Bb__ListNodesReply *nodes_reply = NULL;
    cli_nodes_t nodes = {0};
    cli_plan_src_t src = {0};
    cli_diags_t diags = {0};
    cli_estimate_t est = {0};
    s_flags_t fl = {0};
    int exit_code = CLI_EXIT_USAGE;
    if (!longs || !plan || cli_plan_src_fit(&src, 0)) {
        cli_error("submit: out of memory");
        goto done;
    }
    int scan = s_scan(argc, argv, longs, &fl);
    if (scan) {
        exit_code = scan > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
        goto done;
    }
    bb_note_convention_t conv = fl.c4 ? BB_NOTES_C4_IS_60 : BB_NOTES_C3_IS_60;
    if (fl.plan_file && cli_plan_load(fl.plan_file, plan, &src, &diags) < 0) {
        cli_diags_print(&diags, stderr);
        goto done;
    }
    /* out is a folder on the coordinator's machine: a relative one is taken inside its
     * library folder, there, not here */
    if (s_apply(argc, argv, longs, plan, &src, conv))
        goto done;
    if (plan->n_instruments == 0) {
        cli_error("submit: no instruments: give a plan file or --instrument NAME --node NODE "
                  "(see batcherbird submit --help)");
        goto done;
    }
    plan->replace = fl.replace;
    int rc = s_nodes(cli, fl.dry_run, &nodes_reply, &nodes);
    if (rc) {
        exit_code = rc;
        goto done;
    }
    cli_plan_check(plan, &src, &nodes, &diags);
    if (diags.n) {
        cli_diags_print(&diags, stderr);
        goto done;
    }
    char msg[1024];
    uint64_t total = 0;
    norm = cli_plan_normalised(plan, &total, msg, sizeof msg);
    if (!norm || cli_estimate(&est, norm, nodes_reply)) {
        cli_error("submit: %s", norm ? "out of memory" : msg);
        goto done;
    }
    if (fl.dry_run) {
        /* the coordinator checks what a submit would (out, free space) when it answers */
        Bb__SubmitBatchReply *check = NULL;
        if (nodes.known) {
            char err[700];
            int status = cli_submit_check(cli, plan, est.takes_bytes, est.library_bytes, &check,
                                          err, sizeof err);
            if (status != BB_STATUS_OK) {
                cli_error("submit --dry-run: %s", err);
                exit_code = status == BB_STATUS_UNAVAILABLE || status == BB_STATUS_DEADLINE_EXCEEDED
                                ? CLI_EXIT_UNAVAILABLE
                                : CLI_EXIT_FAILED;
                goto done;
            }
        }
        if (fl.json) {
            json_t *j = json_pack("{s:b, s:o}", "dry_run", 1, "estimate", cli_estimate_json(&est));
            if (j && check)
                json_object_set_new(
                    j, "coordinator",
                    json_pack("{s:s, s:I, s:I}", "out_dir", check->out_dir, "library_free_bytes",
                              (json_int_t)check->library_free_bytes, "takes_free_bytes",
                              (json_int_t)check->takes_free_bytes));
            cli_print_json(j);
        } else {
            cli_estimate_print(&est, stdout);
            if (check)
                cli_submit_check_print(check, stdout);
            else
                printf("Nodes, out folder and disk space not checked: no coordinator answered "
                       "at %s.\n",
                       cli->coordinator);
            printf("Dry run: no batch was made.\n");
        }
        if (check)
            protobuf_c_message_free_unpacked(&check->base, NULL);
        exit_code = CLI_EXIT_OK;
        goto done;
    }
    if (!fl.json)
        cli_estimate_print(&est, stdout);
    fflush(stdout);
    if (cli_estimate_needs_confirm(&est) && !fl.yes && !s_confirm(&est)) {
        exit_code = CLI_EXIT_DECLINED;
        goto done;
    }
    void *sub = fl.watch ? cli_watch_subscribe(cli) : NULL; /* before: no event is missed */
    ProtobufCMessage *out = NULL;
    plan->takes_bytes = est.takes_bytes; /* the coordinator checks its free space against them */
    plan->library_bytes = est.library_bytes;
    rc = cli_submit_batch(cli, plan, &out); /* asked again, same request id, if no answer */
    if (rc) {
        zsock_destroy((zsock_t **)&sub);
        exit_code = rc;
        goto done;
    }
    Bb__SubmitBatchReply *reply = (Bb__SubmitBatchReply *)out;
    uint64_t id = reply->batch_id;
    if (fl.json)
        cli_print_json(json_pack("{s:I, s:I, s:I, s:o}", "batch_id", (json_int_t)id, "total_takes",
                                 (json_int_t)reply->total_takes, "instruments",
                                 (json_int_t)norm->n_instruments, "estimate",
                                 cli_estimate_json(&est)));
    else
        printf("batch %llu submitted: %zu instrument(s), %u takes\n", (unsigned long long)id,
               norm->n_instruments, reply->total_takes);
    protobuf_c_message_free_unpacked(out, NULL);
    if (fl.watch) {
        exit_code = cli_watch_batch_sub(cli, id, false, sub);
    } else {
        if (!fl.json)
            printf("follow it with: batcherbird watch %llu\n", (unsigned long long)id);
        exit_code = CLI_EXIT_OK;
    }
done:
    cli_estimate_free(&est);
    cli_diags_free(&diags);
    cli_plan_src_free(&src);
    free(nodes.names);
    if (nodes_reply)
        protobuf_c_message_free_unpacked(&nodes_reply->base, NULL);
    if (norm)
        bb__batch_spec__free_unpacked(norm, NULL);
    if (plan)
        bb__batch_spec__free_unpacked(plan, NULL);
    free(longs);
    return exit_code;
}
