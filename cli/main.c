/*
 * main.c — `batcherbird`: the operator's command. Global options (getopt_long, stopping
 * at the command's name), where the coordinator is (option, environment, config file;
 * config.c), then the command from the table below: adding a command is one entry.
 */
#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_auth.h"
#include "bb_log.h"
#include "cli.h"
#include "config.h"

static const cli_command_t s_commands[] = {
    {"nodes", cli_cmd_nodes, "list capture nodes"},
    {"submit", cli_cmd_submit, "sample a plan (a plan file and/or options); --dry-run estimates"},
    {"plan", cli_cmd_plan, "check a plan file, or show the plan a batch ran"},
    {"status", cli_cmd_status, "recent batches, or one batch per instrument"},
    {"watch", cli_cmd_watch, "live progress of a batch until it ends"},
    {"pause", cli_cmd_control, "pause a batch"},
    {"resume", cli_cmd_control, "resume a paused batch"},
    {"cancel", cli_cmd_control, "cancel a batch"},
    {"demo", cli_cmd_demo, "sample two simulated instruments on this machine"},
    {"export", cli_cmd_export, "fetch a finished library; --again exports it again first"},
    {"report", cli_cmd_report, "every take of a batch with its QC verdict and figures"},
    {"retake", cli_cmd_retake, "record chosen samples of a batch again"},
    {"delete", cli_cmd_delete, "remove a batch, its raw takes and its library"},
    {"process", cli_cmd_process, "run QC and export on raw takes, offline"},
    {"calibrate", cli_cmd_calibrate, "measure and store a node's MIDI-to-audio delay"},
    {"meter", cli_cmd_meter, "a node's input levels, live"},
    {"keys", cli_cmd_keys, "certificates: the coordinator's keys, nodes' and operators'"},
    {"move", cli_cmd_move, "move an instrument of a batch to another node"},
};

static void s_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird [--coordinator ENDPOINT] [--events ENDPOINT] "
                 "[--timeout SECONDS]\n                   [--cert FILE] [--coordinator-key KEY] "
                 "COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        fprintf(out, "  %-10s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf(out,
            "\n  --coordinator ENDPOINT  the coordinator's operator endpoint (default %s)\n"
            "  --events ENDPOINT       its event endpoint (default: the operator port + 1)\n"
            "  --timeout SECONDS       how long to wait for an answer (default %.0f)\n"
            "  --cert FILE             an operator certificate (batcherbird keys new --role\n"
            "                          operator); default $" BB_AUTH_CERT_ENV "\n"
            "  --coordinator-key KEY   the coordinator's public key (Z85 or its .cert file);\n"
            "                          default: the one the certificate names, or\n"
            "                          $" BB_AUTH_SERVERKEY_ENV "\n"
            "  --version               print the version\n"
            "\nThe coordinator's address is typed once: --coordinator, else the environment\n"
            "variable BATCHERBIRD_COORDINATOR (and BATCHERBIRD_EVENTS), else the config file\n"
            "$XDG_CONFIG_HOME/batcherbird/config.yaml (~/.config/batcherbird/config.yaml):\n"
            "    coordinator: tcp://studio-pc:5556\n"
            "\nexit codes:\n"
            "  0  done\n"
            "  1  the coordinator refused, or the work failed (watch: the batch failed or was\n"
            "     cancelled)\n"
            "  2  bad command line or plan: nothing was sent\n"
            "  3  no coordinator answered\n"
            "  4  a confirmation was declined, or could not be asked (add --yes)\n"
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
    cli_t cli = {.coordinator = BB_ENDPOINT_OPERATORS,
                 .timeout_ms = CLI_DEFAULT_TIMEOUT_MS,
                 .coord_from = "default",
                 .cert_path = getenv(BB_AUTH_CERT_ENV),
                 .server_key = getenv(BB_AUTH_SERVERKEY_ENV)};
    cli_config_t conf;
    if (cli_config_load(&conf))
        return CLI_EXIT_USAGE;
    const char *events_opt = NULL, *coord_opt = NULL, *timeout_opt = NULL;
    static const struct option opts[] = {{"coordinator", required_argument, NULL, 'c'},
                                         {"events", required_argument, NULL, 'e'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"cert", required_argument, NULL, 'C'},
                                         {"coordinator-key", required_argument, NULL, 'K'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            coord_opt = optarg;
            break;
        case 'e':
            events_opt = optarg;
            break;
        case 't':
            timeout_opt = optarg;
            break;
        case 'C':
            cli.cert_path = optarg;
            break;
        case 'K':
            cli.server_key = optarg;
            break;
        case 'V':
            printf("batcherbird %s\n", BB_VERSION);
            return CLI_EXIT_OK;
        case 'h':
            s_usage(stdout);
            return CLI_EXIT_OK;
        default:
            if (optopt)
                cli_error("option %s needs a value (see batcherbird --help)", argv[optind - 1]);
            else
                cli_error("unknown option %s (see batcherbird --help)", argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind == argc) {
        s_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *env = getenv("BATCHERBIRD_COORDINATOR");
    cli.config = conf.path;
    if (coord_opt) {
        cli.coordinator = coord_opt;
        cli.coord_from = "--coordinator";
    } else if (env && *env) {
        cli.coordinator = env;
        cli.coord_from = "BATCHERBIRD_COORDINATOR";
    } else if (conf.coordinator) {
        cli.coordinator = conf.coordinator;
        cli.coord_from = conf.path;
    }
    const char *env_events = getenv("BATCHERBIRD_EVENTS");
    if (!events_opt && !coord_opt && env_events && *env_events)
        events_opt = env_events;
    if (!events_opt && !coord_opt && !(env && *env) && conf.events)
        events_opt = conf.events;
    double timeout_s = conf.timeout_s;
    if (timeout_opt) {
        char *end;
        timeout_s = strtod(timeout_opt, &end);
        if (*end || !(timeout_s > 0 && timeout_s <= 3600)) {
            cli_error("--timeout %s: seconds, more than 0", timeout_opt);
            return CLI_EXIT_USAGE;
        }
    }
    if (timeout_s > 0)
        cli.timeout_ms = (int)(timeout_s * 1000);
    char events[512];
    if (events_opt)
        snprintf(events, sizeof events, "%s", events_opt);
    else
        cli_events_from(cli.coordinator, events, sizeof events);
    cli.events = events;
    cli.color = isatty(STDOUT_FILENO);
    const char *name = argv[optind];
    for (size_t k = 0; k < sizeof s_commands / sizeof s_commands[0]; k++) {
        if (!strcmp(name, s_commands[k].name)) {
            int (*run)(cli_t *, int, char **) = s_commands[k].run;
            for (int i = optind + 1; i < argc && run == cli_cmd_export; i++)
                if (!strcmp(argv[i], "--again") || !strcmp(argv[i], "--retry"))
                    run = cli_export_again; /* export again, then fetch (cmd_housekeeping.c) */
            int rc = run(&cli, argc - optind, argv + optind);
            cli_close(&cli);
            return rc;
        }
    }
    cli_error("unknown command '%s' (see batcherbird --help)", name);
    return CLI_EXIT_USAGE;
}
