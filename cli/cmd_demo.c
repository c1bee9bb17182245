/*
 * cmd_demo.c — `batcherbird demo`: the whole system on one machine in under a minute.
 *
 * Starts a coordinator and two capture nodes with simulated instruments as child
 * processes talking over ipc:// sockets in a private temporary folder (so a real
 * coordinator on the default ports is never disturbed), samples both instruments in
 * parallel with live progress, exports the library, prints where it is, and stops
 * everything it started, on success, failure or Ctrl-C alike.
 */
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bb_clock.h"
#include "bb_fs.h"
#include "cli.h"
#include "estimate.h"
#include "plan.h"

#define DEMO_SOUNDFONT "/usr/share/sounds/sf2/TimGM6mb.sf2" /* Debian: timgm6mb-soundfont */

extern char **environ;

#define DEMO_NODES              2
#define DEMO_REGISTER_TIMEOUT_S 20.0

typedef struct {
    pid_t pid;
    char log[PATH_MAX];
    const char *what;
} s_child_t;

static int s_spawn(s_child_t *c, const char *bin_dir, const char *prog, char *const args[],
                   const char *log)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", bin_dir, prog);
    snprintf(c->log, sizeof c->log, "%s", log);
    c->what = prog;
    char *argv[32];
    int n = 0;
    argv[n++] = path;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    int rc = posix_spawn(&c->pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        cli_error("demo: cannot start %s: %s", path, strerror(rc));
        c->pid = 0;
        return -1;
    }
    return 0;
}

static void s_stop(s_child_t *c)
{
    if (c->pid <= 0)
        return;
    kill(c->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
            c->pid = 0;
            return;
        }
        bb_sleep_ms(50);
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
}

static bool s_alive(s_child_t *c)
{
    return c->pid > 0 && waitpid(c->pid, NULL, WNOHANG) == 0;
}

static void s_show_log(const s_child_t *c)
{
    char *text;
    size_t len;
    if (bb_read_file(c->log, &text, &len))
        return;
    const char *tail = len > 2000 ? text + len - 2000 : text;
    fprintf(stderr, "---- last lines of %s ----\n%s\n", c->what, tail);
    free(text);
}

static void s_bin_dir(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(out, len, ".");
        return;
    }
    self[n] = '\0';
    bb_dirname(self, out, len);
}

static void s_help(void)
{
    printf("usage: batcherbird demo [--out DIR] [--speed X] [--keep-state] [--builtin-piano]\n"
           "\n"
           "Samples two simulated instruments (a piano and a pad) on two capture nodes in\n"
           "parallel, with a coordinator, all started here as child processes, and writes\n"
           "a sampler library to DIR (default ./batcherbird-demo): per instrument 24-bit WAV\n"
           "samples, an SFZ, a DecentSampler .dspreset, a SoundFont .sf2 and a Bitwig/PreSonus\n"
           ".multisample; manifest.json and report.html for the library. The piano is the\n"
           "General MIDI grand of the TimGM6mb SoundFont played by FluidSynth when that is\n"
           "installed. Runs in real time by default and takes well under a minute.\n"
           "\n"
           "  --out DIR        where the library goes\n"
           "  --speed X        run the simulated instruments X times faster\n"
           "  --keep-state     keep the coordinator's state folder and logs\n"
           "  --builtin-piano  the synthesised piano even when the SoundFont is there\n");
}

int cli_cmd_demo(cli_t *cli, int argc, char **argv)
{
    const char *out = "batcherbird-demo";
    const char *speed = "1";
    bool keep = false, builtin = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_help();
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--speed") && i + 1 < argc) {
            speed = argv[++i];
            char *end;
            double v = strtod(speed, &end);
            if (*end || v < 1 || v > 100) {
                cli_error("demo: --speed %s: a number from 1 to 100", speed);
                return CLI_EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--keep-state")) {
            keep = true;
        } else if (!strcmp(argv[i], "--builtin-piano")) {
            builtin = true;
        } else {
            cli_error("demo: unexpected argument '%s' (see batcherbird demo --help)", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    char out_abs[PATH_MAX];
    if (out[0] == '/') {
        snprintf(out_abs, sizeof out_abs, "%s", out);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) {
            cli_error("demo: cannot tell the current folder");
            return CLI_EXIT_FAILED;
        }
        if (bb_path_fmt(out_abs, sizeof out_abs, "%s/%s", cwd, out)) {
            cli_error("demo: --out %s: the path is too long", out);
            return CLI_EXIT_USAGE;
        }
    }
    int rc = bb_mkdir_p(out_abs);
    if (rc) {
        cli_error("demo: cannot create %s: %s", out_abs, strerror(errno));
        return CLI_EXIT_FAILED;
    }

    char tmp[] = "/tmp/batcherbird-demo-XXXXXX";
    if (!mkdtemp(tmp)) {
        cli_error("demo: cannot create a temporary folder: %s", strerror(errno));
        return CLI_EXIT_FAILED;
    }
    char bin_dir[PATH_MAX], state[PATH_MAX + 16], nodes_ep[PATH_MAX + 16], ops_ep[PATH_MAX + 16],
        ev_ep[PATH_MAX + 16];
    s_bin_dir(bin_dir, sizeof bin_dir);
    snprintf(state, sizeof state, "%s/state", tmp);
    snprintf(nodes_ep, sizeof nodes_ep, "ipc://%s/nodes.ipc", tmp);
    snprintf(ops_ep, sizeof ops_ep, "ipc://%s/operators.ipc", tmp);
    snprintf(ev_ep, sizeof ev_ep, "ipc://%s/events.ipc", tmp);

    s_child_t coord = {0}, nodes[DEMO_NODES] = {{0}};
    static const char *names[DEMO_NODES] = {"demo-piano", "demo-pad"};
    /* The piano is a real one (General MIDI Acoustic Grand from the SoundFont, played by
     * FluidSynth inside the simulated node) when the SoundFont is installed. */
    const char *presets[DEMO_NODES] = {"piano", "pad"};
    if (!builtin && access(DEMO_SOUNDFONT, R_OK) == 0)
        presets[0] = "gm:0";
    int exit_code = CLI_EXIT_FAILED;
    double t0 = bb_mono_ns() / 1e9;

    printf("Batcherbird demo: a coordinator and two capture nodes with simulated instruments\n");
    /* CURVE, as a studio sets it up: the coordinator's keys, a certificate per node and one
     * for this command (batcherbird keys init / keys new). */
    char certs[DEMO_NODES + 1][PATH_MAX + 32];
    if (cli_keys_init(state))
        goto cleanup;
    for (int i = 0; i <= DEMO_NODES; i++) {
        const char *role = i < DEMO_NODES ? "node" : "operator";
        const char *who = i < DEMO_NODES ? names[i] : "demo";
        snprintf(certs[i], sizeof certs[i], "%s/%s-%s.cert", tmp, role, who);
        if (cli_keys_new(state, role, who, certs[i]))
            goto cleanup;
    }
    char log[PATH_MAX + 32];
    snprintf(log, sizeof log, "%s/coordinator.log", tmp);
    char *cargs[] = {"--state",  state, "--nodes",   nodes_ep, "--operators", ops_ep,
                     "--events", ev_ep, "--library", out_abs,  NULL};
    if (s_spawn(&coord, bin_dir, "batcherbird-coordinator", cargs, log))
        goto cleanup;
    for (int i = 0; i < DEMO_NODES; i++) {
        char spool[PATH_MAX + 32];
        snprintf(spool, sizeof spool, "%s/spool-%s", tmp, names[i]);
        snprintf(log, sizeof log, "%s/%s.log", tmp, names[i]);
        char *nargs[] = {"--coordinator",    nodes_ep,  "--name", (char *)names[i], "--instrument",
                         (char *)presets[i], "--spool", spool,    "--speed",        (char *)speed,
                         "--cert",           certs[i],  NULL};
        if (s_spawn(&nodes[i], bin_dir, "batcherbird-node", nargs, log))
            goto cleanup;
    }

    cli->coordinator = ops_ep;
    cli->events = ev_ep;
    cli->timeout_ms = 5000;
    cli->cert_path = certs[DEMO_NODES];
    cli->server_key = NULL;
    /* Wait until both nodes have registered. */
    for (;;) {
        Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
        ProtobufCMessage *outm = NULL;
        char err[256];
        if (!cli->rpc && cli_connect(cli))
            goto cleanup;
        int online = 0;
        if (cli->rpc && bb_rpc_call(cli->rpc, &bb__operator__descriptor, "ListNodes", &req.base,
                                    1000, &outm, err, sizeof err) == BB_STATUS_OK) {
            Bb__ListNodesReply *r = (Bb__ListNodesReply *)outm;
            for (size_t i = 0; i < r->n_nodes; i++)
                online += r->nodes[i]->online;
            protobuf_c_message_free_unpacked(outm, NULL);
        }
        if (online == DEMO_NODES)
            break;
        if (zsys_interrupted)
            goto cleanup;
        bool dead = !s_alive(&coord);
        for (int i = 0; i < DEMO_NODES; i++)
            dead |= !s_alive(&nodes[i]);
        if (dead || bb_mono_ns() / 1e9 - t0 > DEMO_REGISTER_TIMEOUT_S) {
            cli_error("demo: the nodes did not come up (%s)",
                      dead ? "a process exited" : "timed out");
            s_show_log(&coord);
            for (int i = 0; i < DEMO_NODES; i++)
                s_show_log(&nodes[i]);
            goto cleanup;
        }
        bb_sleep_ms(100);
    }
    printf("Nodes online: %s (%s), %s (pad). Sampling both in parallel...\n\n", names[0],
           strcmp(presets[0], "piano") ? "SoundFont grand piano" : "simulated piano", names[1]);

    /* The plan: a piano over three octaves at two velocities, a looped pad with round
     * robins. */
    uint32_t piano_vel[] = {64, 127}, pad_vel[] = {100};
    Bb__InstrumentSpec piano = BB__INSTRUMENT_SPEC__INIT, pad = BB__INSTRUMENT_SPEC__INIT;
    piano.name = "Demo Piano";
    piano.node = (char *)names[0];
    piano.note_lo = 36;
    piano.note_hi = 72;
    piano.step = 4;
    piano.velocities = piano_vel;
    piano.n_velocities = 2;
    piano.round_robins = 1;
    piano.hold_ms = 600;
    piano.release_ms = 1000;
    piano.max_retakes = 2;
    pad.name = "Demo Pad";
    pad.node = (char *)names[1];
    pad.note_lo = 36;
    pad.note_hi = 72;
    pad.step = 12;
    pad.velocities = pad_vel;
    pad.n_velocities = 1;
    pad.round_robins = 2;
    pad.hold_ms = 2000;    /* room for a sustain loop after the 200 ms attack */
    pad.release_ms = 3000; /* a pad's tail is long; the node ends it when it is quiet */
    pad.max_retakes = 2;
    pad.loop = true; /* a held pad keeps sounding: the first thing a new user tries */
    Bb__QcSpec pad_qc = BB__QC_SPEC__INIT;
    pad_qc.loop_crossfade_ms = 20;
    pad.qc = &pad_qc;
    Bb__InstrumentSpec *insts[] = {&piano, &pad};
    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    ex.out_dir = out_abs;
    Bb__BatchSpec batch = BB__BATCH_SPEC__INIT;
    batch.name = "Batcherbird demo";
    batch.instruments = insts;
    batch.n_instruments = 2;
    batch.export = &ex;
    batch.replace = true; /* the demo's own folder: each run replaces the last one's export */
    /* what the plan should take, from the same estimate submit prints */
    double estimate_s = -1;
    {
        char msg[256];
        Bb__BatchSpec *norm = cli_plan_normalised(&batch, NULL, msg, sizeof msg);
        Bb__ListNodesRequest nreq = BB__LIST_NODES_REQUEST__INIT;
        ProtobufCMessage *nodes = NULL;
        cli_estimate_t est;
        if (norm && cli_call(cli, "ListNodes", &nreq.base, &nodes) == 0 &&
            cli_estimate(&est, norm, (Bb__ListNodesReply *)nodes) == 0) {
            estimate_s = est.wall_s;
            cli_estimate_free(&est);
        }
        if (nodes)
            protobuf_c_message_free_unpacked(nodes, NULL);
        if (norm)
            bb__batch_spec__free_unpacked(norm, NULL);
    }
    void *sub = cli_watch_subscribe(cli); /* before the batch: no event missed */
    ProtobufCMessage *outm = NULL;
    if (cli_call(cli, "SubmitBatch", &batch.base, &outm)) {
        zsock_destroy((zsock_t **)&sub);
        goto cleanup;
    }
    uint64_t id = ((Bb__SubmitBatchReply *)outm)->batch_id;
    uint32_t total = ((Bb__SubmitBatchReply *)outm)->total_takes;
    protobuf_c_message_free_unpacked(outm, NULL);
    char est_text[32];
    cli_format_duration(estimate_s, est_text, sizeof est_text);
    printf("Batch %llu: %u takes, estimated %s.\n", (unsigned long long)id, total, est_text);

    double t_submitted = bb_mono_ns() / 1e9;
    int wrc = cli_watch_batch_sub(cli, id, false, sub);
    double batch_s = bb_mono_ns() / 1e9 - t_submitted;
    if (wrc == CLI_EXIT_OK) {
        double wall = bb_mono_ns() / 1e9 - t0;
        printf("\nThe library is in %s\n", out_abs);
        printf("Open Demo-Piano/Demo-Piano.sfz there in any SFZ player (or .dspreset in "
               "DecentSampler, .sf2 in a SoundFont player, .multisample in Bitwig Studio);\n"
               "%s/report.html shows every take's verdict and waveform.\n",
               out_abs);
        printf("Demo finished in %.1f s; sampling took %.1f s (estimated %.1f s before it "
               "started).\n",
               wall, batch_s, estimate_s);
        exit_code = CLI_EXIT_OK;
    } else if (!zsys_interrupted) {
        s_show_log(&coord);
    }

cleanup:
    cli_close(cli);
    for (int i = 0; i < DEMO_NODES; i++)
        s_stop(&nodes[i]);
    s_stop(&coord);
    if (keep)
        printf("State and logs kept in %s\n", tmp);
    else
        bb_rm_rf(tmp);
    return exit_code;
}
