/*
 * main.c — batcherbird-coordinator: schedules batches over the capture nodes, keeps
 * state in SQLite under --state, receives, checks and exports takes.
 */
#include <czmq.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bb_err.h"
#include "bb_log.h"
#include "bb_rpc.h"
#include "coord.h"

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: batcherbird-coordinator [--state DIR] [options]\n"
            "\n"
            "Schedules sampling batches over capture nodes, stores every take durably, and\n"
            "exports finished instruments as sampler libraries. Started again on the same\n"
            "--state folder it continues where it was.\n"
            "\n"
            "  --state DIR           database, raw takes, keys and the default library folder\n"
            "                        (default ~/.local/state/batcherbird/coordinator)\n"
            "  --library DIR         libraries are written under DIR only; a batch's --out is\n"
            "                        relative to it (default STATE/library)\n"
            "  --auth curve|none     CurveZMQ certificates (default: curve when STATE holds\n"
            "                        keys, see batcherbird keys init), or none: plaintext, for\n"
            "                        loopback and ipc:// endpoints only\n"
            "  --insecure            with --auth none, allow endpoints other machines reach\n"
            "  --max-connections N   per endpoint (default %d)\n"
            "  --disk-reserve MB     free space kept on the state folder's disk: below it no\n"
            "                        take is recorded, and status says why (default 256)\n"
            "  --nodes ENDPOINT      where capture nodes connect (default %s)\n"
            "  --operators ENDPOINT  where the CLI connects (default %s)\n"
            "  --events ENDPOINT     progress events, ZeroMQ PUB (default %s)\n"
            "  --heartbeat-ms MS     node heartbeat interval (default 1000); a node silent\n"
            "                        for 3.5 intervals is offline\n"
            "  --log-level LEVEL     error | warn | info | debug (default info)\n"
            "  --help\n",
            COORD_MAX_PEERS, BB_ENDPOINT_NODES, BB_ENDPOINT_OPERATORS, BB_ENDPOINT_EVENTS);
}

/* Raises the open-file limit to its hard limit (at most COORD_NOFILE_WANT): every
 * connection, every take being received and SQLite hold one. */
#define COORD_NOFILE_WANT 65536
static void s_raise_nofile(int max_peers)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = rl.rlim_max < COORD_NOFILE_WANT ? rl.rlim_max : COORD_NOFILE_WANT;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t need = (rlim_t)max_peers * 3 + 256;
    if (rl.rlim_cur < need)
        bb_warn("the open-file limit is %llu: %d connections on each of 3 endpoints and the "
                "takes need about %llu (raise LimitNOFILE, or lower --max-connections)",
                (unsigned long long)rl.rlim_cur, max_peers, (unsigned long long)need);
}

int main(int argc, char **argv)
{
    zsys_init();
    zsys_set_logstream(NULL);
    bb_log_set_ident("coordinator");
    enum {
        O_STATE = 256,
        O_NODES,
        O_OPS,
        O_EVENTS,
        O_HB,
        O_LOG,
        O_LIBRARY,
        O_AUTH,
        O_INSECURE,
        O_MAXCONN,
        O_DISKRES,
        O_HELP
    };
    static const struct option longopts[] = {{"state", 1, 0, O_STATE},
                                             {"nodes", 1, 0, O_NODES},
                                             {"operators", 1, 0, O_OPS},
                                             {"events", 1, 0, O_EVENTS},
                                             {"heartbeat-ms", 1, 0, O_HB},
                                             {"log-level", 1, 0, O_LOG},
                                             {"library", 1, 0, O_LIBRARY},
                                             {"auth", 1, 0, O_AUTH},
                                             {"insecure", 0, 0, O_INSECURE},
                                             {"max-connections", 1, 0, O_MAXCONN},
                                             {"disk-reserve", 1, 0, O_DISKRES},
                                             {"help", 0, 0, O_HELP},
                                             {0, 0, 0, 0}};
    char default_state[PATH_MAX];
    const char *home = getenv("HOME");
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg && *xdg)
        snprintf(default_state, sizeof default_state, "%s/batcherbird/coordinator", xdg);
    else
        snprintf(default_state, sizeof default_state, "%s/.local/state/batcherbird/coordinator",
                 home ? home : ".");
    coord_config_t cfg = {.state_dir = default_state,
                          .node_endpoint = BB_ENDPOINT_NODES,
                          .operator_endpoint = BB_ENDPOINT_OPERATORS,
                          .event_endpoint = BB_ENDPOINT_EVENTS,
                          .heartbeat_ms = 1000,
                          .disk_reserve_mb = COORD_DISK_RESERVE_MB};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_STATE:
            cfg.state_dir = optarg;
            break;
        case O_NODES:
            cfg.node_endpoint = optarg;
            break;
        case O_OPS:
            cfg.operator_endpoint = optarg;
            break;
        case O_EVENTS:
            cfg.event_endpoint = optarg;
            break;
        case O_LIBRARY:
            cfg.library_dir = optarg;
            break;
        case O_AUTH:
            if (!strcmp(optarg, "curve")) {
                cfg.auth = COORD_AUTH_CURVE;
            } else if (!strcmp(optarg, "none")) {
                cfg.auth = COORD_AUTH_NONE;
            } else {
                fprintf(stderr, "batcherbird-coordinator: --auth: curve or none\n");
                return 2;
            }
            break;
        case O_INSECURE:
            cfg.insecure = true;
            break;
        case O_DISKRES: {
            char *end;
            double v = strtod(optarg, &end);
            if (*end || !(v >= 0 && v <= 1e9)) {
                fprintf(stderr, "batcherbird-coordinator: --disk-reserve: MB, 0 or more\n");
                return 2;
            }
            cfg.disk_reserve_mb = v;
            break;
        }
        case O_MAXCONN: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 4 || v > 16384) {
                fprintf(stderr, "batcherbird-coordinator: --max-connections: 4 to 16384\n");
                return 2;
            }
            cfg.max_peers = (int)v;
            break;
        }
        case O_HB: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 50 || v > 60000) {
                fprintf(stderr, "batcherbird-coordinator: --heartbeat-ms: 50 to 60000\n");
                return 2;
            }
            cfg.heartbeat_ms = (int)v;
            break;
        }
        case O_LOG: {
            bb_log_level_t level;
            if (bb_log_parse_level(optarg, &level)) {
                fprintf(stderr, "batcherbird-coordinator: --log-level: error, warn, info or "
                                "debug\n");
                return 2;
            }
            bb_log_set_level(level);
            break;
        }
        case 'h':
        case O_HELP:
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "batcherbird-coordinator: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return 2;
    }
    if (cfg.insecure && cfg.auth != COORD_AUTH_NONE) {
        fprintf(stderr, "batcherbird-coordinator: --insecure goes with --auth none\n");
        return 2;
    }
    s_raise_nofile(cfg.max_peers > 0 ? cfg.max_peers : COORD_MAX_PEERS);
    char err[1024];
    coord_t *coord = coord_new(&cfg, err, sizeof err);
    if (!coord) {
        fprintf(stderr, "batcherbird-coordinator: %s\n", err);
        return 1;
    }
    bb_info("state in %s, libraries under %s; nodes on %s, operators on %s, events on %s (%s)",
            cfg.state_dir, coord->library_dir, cfg.node_endpoint, cfg.operator_endpoint,
            cfg.event_endpoint,
            coord->curve ? "CURVE: certificates required" : "plaintext, no authentication");
    coord_run(coord);
    bb_info("stopping");
    coord_destroy(&coord);
    return 0;
}
