/*
 * main.c — `batcherbird`: the operator's command. Global options, then a command.
 */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_log.h"
#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(cli_t *cli, int argc, char **argv);
    const char *summary;
} s_command_t;

static const s_command_t s_commands[] = {
    {"nodes", cli_cmd_nodes, "list capture nodes"},
    {"submit", cli_cmd_submit, "plan a batch of instruments to sample"},
    {"status", cli_cmd_status, "recent batches, or one batch per instrument"},
    {"watch", cli_cmd_watch, "live progress of a batch until it ends"},
    {"pause", cli_cmd_control, "pause a batch"},
    {"resume", cli_cmd_control, "resume a paused batch"},
    {"cancel", cli_cmd_control, "cancel a batch"},
    {"demo", cli_cmd_demo, "sample two simulated instruments on this machine"},
    {"export", cli_cmd_export, "fetch a finished library from the coordinator"},
    {"report", cli_cmd_report, "every take of a batch with its QC verdict and figures"},
    {"process", cli_cmd_process, "run QC and export on raw takes, offline"},
    {"calibrate", cli_cmd_calibrate, "measure and store a node's MIDI-to-audio delay"},
    {"meter", cli_cmd_meter, "a node's input levels, live"},
};

static void s_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird [--coordinator ENDPOINT] [--events ENDPOINT] "
                 "[--timeout SECONDS] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf(out, "  %-10s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf(out,
            "\n  --coordinator ENDPOINT  the coordinator's operator endpoint (default %s)\n"
            "  --events ENDPOINT       its event endpoint (default: the operator port + 1)\n"
            "  --timeout SECONDS       how long to wait for an answer (default %.0f)\n"
            "\n'batcherbird COMMAND --help' tells more.\n",
            BB_ENDPOINT_OPERATORS, CLI_DEFAULT_TIMEOUT_MS / 1000.0);
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_set_logstream(NULL);
    bb_log_set_ident("batcherbird");
    if (!getenv("BB_LOG"))
        bb_log_set_level(BB_LOG_WARN);
    cli_t cli = {.coordinator = BB_ENDPOINT_OPERATORS, .timeout_ms = CLI_DEFAULT_TIMEOUT_MS};
    char events[256] = "";
    const char *events_opt = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--version")) {
            printf("batcherbird %s\n", BB_VERSION);
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--coordinator") && i + 1 < argc) {
            cli.coordinator = argv[++i];
        } else if (!strcmp(argv[i], "--events") && i + 1 < argc) {
            events_opt = argv[++i];
        } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            char *end;
            double s = strtod(argv[++i], &end);
            if (*end || s <= 0 || s > 3600) {
                cli_error("--timeout %s: seconds, more than 0", argv[i]);
                return CLI_EXIT_USAGE;
            }
            cli.timeout_ms = (int)(s * 1000);
        } else {
            cli_error("unknown option %s (see batcherbird --help)", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (i == argc) {
        s_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (events_opt)
        snprintf(events, sizeof events, "%s", events_opt);
    else
        cli_events_from(cli.coordinator, events, sizeof events);
    cli.events = events;
    cli.color = isatty(STDOUT_FILENO);
    for (size_t k = 0; k < sizeof s_commands / sizeof s_commands[0]; k++) {
        if (!strcmp(argv[i], s_commands[k].name)) {
            int rc = s_commands[k].run(&cli, argc - i, argv + i);
            cli_close(&cli);
            return rc;
        }
    }
    cli_error("unknown command '%s' (see batcherbird --help)", argv[i]);
    return CLI_EXIT_USAGE;
}
