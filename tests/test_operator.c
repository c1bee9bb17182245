/*
 * test_operator.c — the operator's side end to end (issue 13): a real coordinator and
 * simulated capture nodes (fast) over ipc://, driven through the `batcherbird` binary as
 * a user or a script would.
 *
 * Cases (one CTest entry each, each with its own coordinator and nodes):
 *  - plan_equals_options: a plan file and the equivalent command line store the same
 *    batch (`plan show --json --all` of both is identical), and what `plan show` prints
 *    submits the same batch again;
 *  - dry_run: --dry-run checks against the coordinator, prints the estimate, sends nothing;
 *    an unknown node in a plan file is reported at its line;
 *  - bank: a bank of three programs on one node becomes three instruments, sampled one
 *    after another, each after its program change (the simulated instrument's own record
 *    of which program sounded each note) and sounding like its program (the exported
 *    samples' attack and sustain);
 *  - housekeeping: retake replaces exactly the chosen samples (report and manifest name
 *    the new takes for them, the old ones for the rest); export --again writes the
 *    library with changed settings; process re-cuts the raw takes with the batch's
 *    stored settings and the options on top; delete leaves no file of the batch (raw takes,
 *    library, plan) and no trace in the coordinator, while a file of someone else's in
 *    the library folder stays, and another batch is untouched;
 *  - rig: two instruments on one node (one 4-channel stream) from different inputs and
 *    MIDI channels record at the same time, each from its own channels (the pad's takes
 *    are the pad's: a slow attack; the organ's: flat), the one summed to mono written as
 *    mono files, and the batch takes about as long as the longer instrument;
 *  - json: the --json output of nodes, submit, status, report, plan show and plan check
 *    parses and holds every field docs/json.md lists, with its type; watch in a log
 *    prints one timestamped line per take with its verdict.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <sndfile.h>

#include "bb_fs.h"
#include "test_util.h"

#define S_NODES 3

static char s_dir[256], s_nodes_ep[300], s_ops[300], s_events[300];
static test_proc_t s_coord, s_node[S_NODES];
/* op-c is two simulated synths on one 4-channel interface: an organ on inputs 1-2 (MIDI
 * channel 1, port sim1), a pad on inputs 3-4 (MIDI channel 2, port sim2) */
static const char *s_node_names[S_NODES] = {"op-a", "op-b", "op-c"};

static int s_cli(char **out, char **err, const char *const *args)
{
    const char *full[80] = {"--coordinator", s_ops, "--events", s_events};
    int n = 4;
    for (int i = 0; args[i] && n < 79; i++)
        full[n++] = args[i];
    full[n] = NULL;
    return test_run("batcherbird", full, 120, out, err);
}

static void s_dump_logs(void)
{
    test_dump_log(&s_coord);
    for (int i = 0; i < S_NODES; i++)
        test_dump_log(&s_node[i]);
}

static int s_setup(void **state)
{
    test_tmpdir(s_dir, sizeof s_dir, "operator");
    snprintf(s_nodes_ep, sizeof s_nodes_ep, "ipc://%s/n.ipc", s_dir);
    snprintf(s_ops, sizeof s_ops, "ipc://%s/o.ipc", s_dir);
    snprintf(s_events, sizeof s_events, "ipc://%s/e.ipc", s_dir);
    char state_dir[300], log[300];
    snprintf(state_dir, sizeof state_dir, "%s/state", s_dir);
    snprintf(log, sizeof log, "%s/coordinator.log", s_dir);
    const char *cargs[] = {"--state",   state_dir,  "--nodes", s_nodes_ep,       "--operators",
                           s_ops,       "--events", s_events,  "--heartbeat-ms", "200",
                           "--library", s_dir,      NULL};
    if (test_start(&s_coord, "batcherbird-coordinator", cargs, log))
        return -1;
    for (int i = 0; i < S_NODES; i++) {
        char spool[300];
        snprintf(spool, sizeof spool, "%s/spool-%s", s_dir, s_node_names[i]);
        snprintf(log, sizeof log, "%s/%s.log", s_dir, s_node_names[i]);
        char truth[300];
        snprintf(truth, sizeof truth, "%s/truth-%s.txt", s_dir, s_node_names[i]);
        bool rig = i == 2;
        const char *nargs[] = {"--coordinator",
                               s_nodes_ep,
                               "--name",
                               s_node_names[i],
                               "--instrument",
                               rig ? "organ,pad" : "organ",
                               "--spool",
                               spool,
                               "--fast",
                               "--heartbeat-ms",
                               "200",
                               "--sim-truth",
                               truth,
                               rig ? "--channels" : NULL,
                               rig ? "4" : NULL,
                               NULL};
        if (test_start(&s_node[i], "batcherbird-node", nargs, log))
            return -1;
    }
    /* until both nodes are online */
    for (int tries = 0; tries < 300; tries++) {
        char *out = NULL;
        const char *args[] = {"nodes", NULL};
        int rc = s_cli(&out, NULL, args);
        int online = 0;
        for (const char *p = out; rc == 0 && p && (p = strstr(p, " online ")); p++)
            online++;
        free(out);
        if (online == S_NODES)
            return 0;
        usleep(100 * 1000);
    }
    s_dump_logs();
    return -1;
}

static int s_teardown(void **state)
{
    for (int i = 0; i < S_NODES; i++)
        test_stop(&s_node[i]);
    test_stop(&s_coord);
    if (!getenv("BB_TEST_KEEP"))
        bb_rm_rf(s_dir);
    else
        fprintf(stderr, "kept %s\n", s_dir);
    return 0;
}

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The batch number from submit's "batch N submitted" line. */
static unsigned long long s_batch_of(const char *out)
{
    const char *line = strstr(out, "batch ");
    unsigned long long id = 0;
    while (line && sscanf(line, "batch %llu submitted", &id) != 1)
        line = strstr(line + 1, "batch ");
    if (!id)
        fail_msg("no 'batch N submitted' in:\n%s", out);
    return id;
}

static char *s_plan_json(unsigned long long id)
{
    char ids[32];
    snprintf(ids, sizeof ids, "%llu", id);
    char *out = NULL, *err = NULL;
    const char *args[] = {"plan", "show", ids, "--json", "--all", NULL};
    int rc = s_cli(&out, &err, args);
    if (rc != 0)
        fail_msg("plan show %s: %d\n%s", ids, rc, err ? err : "");
    free(err);
    return out;
}

/* ---- a plan file and the same plan as options ---- */

static const char s_plan_text[] = "name: Same Night\n"
                                  "format: wav\n"
                                  "bit-depth: 16\n"
                                  "normalise: velocity\n"
                                  "hold: 300ms\n"
                                  "release: 0.4\n"
                                  "instruments:\n"
                                  "  - instrument: Organ One\n"
                                  "    node: op-a\n"
                                  "    notes: C3:E3\n"
                                  "    step: 2\n"
                                  "    velocities: [64, 127]\n"
                                  "    cc: {7: 100}\n"
                                  "    program: 3\n"
                                  "  - instrument: Organ Two\n"
                                  "    node: op-b\n"
                                  "    notes: [C2, G2]\n"
                                  "    round-robins: 2\n"
                                  "    unpitched: true\n"
                                  "    fade-out: 20\n";

static void test_plan_equals_options(void **state)
{
    char plan[300];
    snprintf(plan, sizeof plan, "%s/same.yaml", s_dir);
    s_write(plan, s_plan_text);
    char *out = NULL, *err = NULL;
    const char *from_file[] = {"submit", plan, NULL};
    int rc = s_cli(&out, &err, from_file);
    if (rc)
        fail_msg("submit PLAN: %d\n%s", rc, err);
    unsigned long long a = s_batch_of(out);
    free(out);
    free(err);
    const char *from_options[] = {
        "submit",     "--name",       "Same Night", "--format",       "wav",       "--bit-depth",
        "16",         "--normalise",  "velocity",   "--hold",         "300ms",     "--release",
        "0.4",        "--instrument", "Organ One",  "--node",         "op-a",      "--notes",
        "C3:E3",      "--step",       "2",          "--velocities",   "64,127",    "--cc",
        "7=100",      "--program",    "3",          "--instrument",   "Organ Two", "--node",
        "op-b",       "--notes",      "C2,G2",      "--round-robins", "2",         "--unpitched",
        "--fade-out", "20",           NULL};
    rc = s_cli(&out, &err, from_options);
    if (rc)
        fail_msg("submit OPTIONS: %d\n%s", rc, err);
    unsigned long long b = s_batch_of(out);
    free(out);
    free(err);
    assert_true(b != a);
    char *ja = s_plan_json(a), *jb = s_plan_json(b);
    assert_string_equal(ja, jb);
    json_error_t e;
    json_t *j = json_loads(ja, 0, &e);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "Same Night");
    assert_int_equal(json_array_size(json_object_get(j, "instruments")), 2);
    json_decref(j);

    /* what plan show prints is a plan file that stores the same batch again */
    char ids[32], shown[300];
    snprintf(ids, sizeof ids, "%llu", a);
    const char *show[] = {"plan", "show", ids, NULL};
    assert_int_equal(s_cli(&out, &err, show), 0);
    snprintf(shown, sizeof shown, "%s/shown.yaml", s_dir);
    s_write(shown, out);
    free(out);
    free(err);
    const char *again[] = {"submit", shown, NULL};
    rc = s_cli(&out, &err, again);
    if (rc)
        fail_msg("submit of plan show's output: %d\n%s", rc, err);
    unsigned long long c = s_batch_of(out);
    free(out);
    free(err);
    char *jc = s_plan_json(c);
    assert_string_equal(ja, jc);
    free(ja);
    free(jb);
    free(jc);
}

/* ---- dry run ---- */

static void test_dry_run(void **state)
{
    char plan[300];
    snprintf(plan, sizeof plan, "%s/dry.yaml", s_dir);
    s_write(plan, s_plan_text);
    char *out = NULL, *err = NULL;
    const char *dry[] = {"submit", plan, "--dry-run", NULL};
    assert_int_equal(s_cli(&out, &err, dry), 0);
    assert_non_null(strstr(out, "Organ One"));
    assert_non_null(strstr(out, "Dry run: no batch was made."));
    assert_non_null(strstr(out, "disk space free")); /* the coordinator checked out and space */
    /* Organ One: 3 notes (C3, D3, E3) x 2 velocities; Organ Two: 2 notes x 2 round robins */
    assert_non_null(strstr(out, "total"));
    free(out);
    free(err);
    const char *json[] = {"submit", plan, "--dry-run", "--json", NULL};
    assert_int_equal(s_cli(&out, &err, json), 0);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    if (!j)
        fail_msg("not JSON: %s\n%s", e.text, out);
    json_t *est = json_object_get(j, "estimate");
    assert_int_equal(json_integer_value(json_object_get(est, "takes")), 10);
    /* each take: 100 ms pre-roll + 300 ms hold + 400 ms release */
    assert_true(json_real_value(json_object_get(est, "audio_s")) > 10 * 0.8 - 1e-6);
    assert_true(json_real_value(json_object_get(est, "audio_s")) < 10 * 0.8 + 1e-6);
    assert_true(json_is_true(json_object_get(j, "dry_run")));
    json_decref(j);
    free(out);
    free(err);
    /* nothing was submitted */
    const char *status[] = {"status", NULL};
    assert_int_equal(s_cli(&out, &err, status), 0);
    assert_non_null(strstr(out, "No batches yet"));
    free(out);
    free(err);

    /* an unknown node: the plan's line, checked against the coordinator's nodes */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/bad.yaml", s_dir);
    s_write(bad, "instruments:\n  - instrument: X\n    node: op-z\n");
    const char *sub[] = {"submit", bad, NULL};
    assert_int_equal(s_cli(&out, &err, sub), 2);
    char where[350];
    snprintf(where, sizeof where, "%s:3:11: error: instrument X: no node named 'op-z'", bad);
    if (!strstr(err, where))
        fail_msg("expected '%s' in:\n%s", where, err);
    free(out);
    free(err);
}

/* ---- a bank of patches ---- */

/* The envelope of a WAV in 10 ms RMS windows (all channels): the time its first window
 * comes within 3 dB of the loudest (s), and the level at `at_s` against the loudest (dB). */
static void s_shape(const char *path, double at_s, double *rise_s, double *at_db)
{
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        fail_msg("cannot read %s", path);
    float *x = malloc((size_t)info.frames * info.channels * sizeof *x);
    assert_non_null(x);
    assert_int_equal(sf_readf_float(sf, x, info.frames), info.frames);
    sf_close(sf);
    sf_count_t win = info.samplerate / 100, nw = info.frames / win;
    assert_true(nw > 0);
    double *db = calloc((size_t)nw, sizeof *db), loudest = -400;
    for (sf_count_t w = 0; w < nw; w++) {
        double e = 0;
        for (sf_count_t i = w * win; i < (w + 1) * win; i++)
            for (int c = 0; c < info.channels; c++)
                e += (double)x[i * info.channels + c] * x[i * info.channels + c];
        db[w] = 10 * log10(e / (double)(win * info.channels) + 1e-30);
        if (db[w] > loudest)
            loudest = db[w];
    }
    sf_count_t rise = 0;
    while (rise < nw && db[rise] < loudest - 3.0)
        rise++;
    sf_count_t at = (sf_count_t)(at_s * 100);
    *rise_s = rise / 100.0;
    *at_db = (at < nw ? db[at] : -400) - loudest;
    free(db);
    free(x);
}

static void test_bank(void **state)
{
    char plan[300], lib[300];
    snprintf(lib, sizeof lib, "%s/lib", s_dir);
    snprintf(plan, sizeof plan, "%s/bank.yaml", s_dir);
    char text[1024];
    snprintf(text, sizeof text,
             "name: Bank\n"
             "out: %s\n"
             "instruments:\n"
             "  - instrument: Synth\n"
             "    node: op-a\n"
             "    program: [0, 2, 3]\n" /* the simulation: piano, pad, organ */
             "    settle: 300ms\n"
             "    sysex: [\"F0 7E 7F 09 01 F7\"]\n"
             "    notes: [C3, G3]\n"
             "    velocities: [127]\n"
             "    hold: 600ms\n"
             "    release: 400ms\n"
             "    release-policy: fixed\n",
             lib);
    s_write(plan, text);
    char *out = NULL, *err = NULL;
    const char *sub[] = {"submit", plan, "--watch", NULL};
    int rc = s_cli(&out, &err, sub);
    if (rc) {
        s_dump_logs();
        fail_msg("submit --watch: %d\n%s\n%s", rc, out, err);
    }
    assert_non_null(strstr(out, "3 instrument(s), 6 takes"));
    free(out);
    free(err);

    /* the simulation's record: each note-on with the program it sounded with; the three
     * patches one after another, each complete before the next program change */
    char truth[300];
    snprintf(truth, sizeof truth, "%s/truth-op-a.txt", s_dir);
    FILE *f = fopen(truth, "r");
    assert_non_null(f);
    int programs[32], n = 0;
    char line[512];
    while (fgets(line, sizeof line, f) && n < 32) {
        const char *p = strstr(line, "program=");
        if (strncmp(line, "on ", 3) == 0 && p)
            programs[n++] = atoi(p + 8);
    }
    fclose(f);
    const int want[] = {0, 0, 2, 2, 3, 3};
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++)
        if (programs[i] != want[i])
            fail_msg("note-on %d sounded with program %d, expected %d", i + 1, programs[i],
                     want[i]);

    /* three libraries that sound like their programs: G3 at velocity 127 */
    const char *folders[] = {"Synth-000", "Synth-002", "Synth-003"};
    double rise[3], late[3];
    for (int i = 0; i < 3; i++) {
        char wav[600];
        snprintf(wav, sizeof wav, "%s/%s/samples/%s_G3_067_v127_rr1.wav", lib, folders[i],
                 folders[i]);
        s_shape(wav, 0.55, &rise[i], &late[i]);
        fprintf(stderr, "%s: within 3 dB of its loudest after %.2f s, %.1f dB at 0.55 s\n",
                folders[i], rise[i], late[i]);
    }
    assert_true(rise[0] < 0.03); /* piano: a sharp attack ... */
    assert_true(late[0] < -1.5); /* ... that decays while held */
    assert_true(rise[1] > 0.08); /* pad: a slow attack */
    assert_true(rise[2] < 0.03); /* organ: a sharp attack ... */
    assert_true(late[2] > -0.5); /* ... and a flat sustain */
}

/* ---- --json against docs/json.md ---- */

/* The fields of the table after "<!-- fields: KEY -->": path and type, one per line. */
/* Lines whose meaning says so are left out: "not in a dry run" in a dry run, "only
 * there" (only in a dry run) otherwise. */
static bool s_dry;

static int s_doc_fields(const char *key, char paths[][96], char types[][32], int max)
{
    const char *src = getenv("BB_SOURCE_DIR");
    char path[512], anchor[64];
    snprintf(path, sizeof path, "%s/docs/json.md", src ? src : "..");
    snprintf(anchor, sizeof anchor, "<!-- fields: %s -->", key);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    bool in = false;
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, anchor)) {
            in = true;
            continue;
        }
        if (!in)
            continue;
        if (line[0] != '|')
            break;
        char field[96], type[32];
        if (sscanf(line, "| `%95[^`]` | %31[^|]|", field, type) != 2 || n == max)
            continue;
        if (strstr(line, s_dry ? "not in a dry run" : "only there"))
            continue;
        for (char *e = type + strlen(type); e > type && e[-1] == ' ';)
            *--e = '\0';
        snprintf(paths[n], 96, "%s", field);
        snprintf(types[n], 32, "%s", type);
        n++;
    }
    fclose(f);
    if (n == 0)
        fail_msg("docs/json.md has no table for %s", key);
    return n;
}

static bool s_type_ok(const json_t *v, const char *type)
{
    bool null_ok = strstr(type, "or null") != NULL;
    if (json_is_null(v))
        return null_ok;
    if (!strncmp(type, "integer", 7))
        return json_is_integer(v);
    if (!strncmp(type, "number", 6))
        return json_is_number(v);
    if (!strncmp(type, "string", 6))
        return json_is_string(v);
    if (!strncmp(type, "boolean", 7))
        return json_is_boolean(v);
    if (!strncmp(type, "array", 5))
        return json_is_array(v);
    if (!strncmp(type, "object", 6))
        return json_is_object(v);
    return false;
}

/* Checks `path` (a.b[].c) in v: every element of each array must have the rest. */
static void s_check_path(const json_t *v, const char *path, const char *type, const char *full)
{
    if (!*path) {
        if (!s_type_ok(v, type))
            fail_msg("%s: not a %s", full, type);
        return;
    }
    char head[96];
    size_t len = strcspn(path, ".");
    snprintf(head, sizeof head, "%.*s", (int)len, path);
    const char *rest = path[len] == '.' ? path + len + 1 : path + len;
    bool each = len > 2 && !strcmp(head + len - 2, "[]");
    if (each)
        head[len - 2] = '\0';
    const json_t *x = json_object_get(v, head);
    if (!x)
        fail_msg("%s: no '%s'", full, head);
    if (!each) {
        s_check_path(x, rest, type, full);
        return;
    }
    if (!json_is_array(x) || json_array_size(x) == 0)
        fail_msg("%s: '%s' is not a non-empty array", full, head);
    size_t i;
    const json_t *item;
    json_array_foreach(x, i, item)
    {
        s_check_path(item, rest, type, full);
    }
}

/* Runs the CLI, parses its stdout as JSON. */
static json_t *s_json_of(const char *const *args)
{
    char *out = NULL, *err = NULL;
    int rc = s_cli(&out, &err, args);
    if (rc != 0)
        fail_msg("%s: exit %d\n%s", args[0], rc, err ? err : "");
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    if (!j)
        fail_msg("%s --json: not JSON (%s at line %d)\n%s", args[0], e.text, e.line, out);
    free(out);
    free(err);
    return j;
}

static void s_check_doc(const char *key, const json_t *j, const char *skip_if)
{
    char paths[64][96], types[64][32];
    int n = s_doc_fields(key, paths, types, 64);
    for (int i = 0; i < n; i++)
        if (!skip_if || !strstr(paths[i], skip_if))
            s_check_path(j, paths[i], types[i], paths[i]);
}

static void test_json(void **state)
{
    char plan[300];
    snprintf(plan, sizeof plan, "%s/json.yaml", s_dir);
    s_write(plan, s_plan_text);
    /* submit --watch into a log: one timestamped line per take, with its verdict */
    char *out = NULL, *err = NULL;
    const char *watched[] = {"submit", plan, "--watch", NULL};
    assert_int_equal(s_cli(&out, &err, watched), 0);
    /* "2026-11-30 00:19:09 Organ One C3 v64 rr1: pass (1.02 s, peak -6.1 dBFS)" */
    int takes = 0;
    for (const char *p = out; (p = strstr(p, " rr")); p++) {
        const char *colon = strchr(p, ':');
        if (!colon || (strncmp(colon, ": pass", 6) && strncmp(colon, ": warn", 6)))
            continue;
        const char *bol = p;
        while (bol > out && bol[-1] != '\n')
            bol--;
        int y, mo, d, h, mi, se;
        assert_int_equal(sscanf(bol, "%d-%d-%d %d:%d:%d ", &y, &mo, &d, &h, &mi, &se), 6);
        takes++;
    }
    if (takes != 10)
        fail_msg("%d take lines in the log, expected 10:\n%s", takes, out);
    int bars = 0; /* no progress bars in a log: the final summary's two only */
    for (const char *p = out; (p = strstr(p, " [")); p++)
        bars += p[2] == '#' || p[2] == '-';
    assert_int_equal(bars, 2);
    free(out);
    free(err);

    /* submit --json */
    const char *sub[] = {"submit", plan, "--json", NULL};
    json_t *j = s_json_of(sub);
    s_check_doc("submit", j, NULL);
    json_int_t id = json_integer_value(json_object_get(j, "batch_id"));
    assert_int_equal(id, 2);
    assert_int_equal(json_integer_value(json_object_get(j, "total_takes")), 10);
    json_decref(j);
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *watch[] = {"watch", ids, NULL};
    assert_int_equal(s_cli(&out, &err, watch), 0);
    free(out);
    free(err);

    const char *dry[] = {"submit", plan, "--dry-run", "--json", NULL};
    j = s_json_of(dry);
    s_dry = true;
    s_check_doc("submit", j, NULL);
    s_dry = false;
    assert_true(json_is_true(json_object_get(j, "dry_run")));
    json_decref(j);

    const char *nodes[] = {"nodes", "--json", NULL};
    j = s_json_of(nodes);
    s_check_doc("nodes", j, NULL);
    /* the nodes ran takes: their overhead between takes is measured now */
    json_t *first = json_array_get(json_object_get(j, "nodes"), 0);
    assert_true(json_is_number(json_object_get(first, "take_overhead_ms")));
    json_decref(j);

    const char *status[] = {"status", ids, "--json", NULL};
    j = s_json_of(status);
    s_check_doc("status", j, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "done");
    assert_int_equal(json_integer_value(json_object_get(j, "takes_done")), 10);
    json_decref(j);
    const char *all[] = {"status", "--json", NULL};
    j = s_json_of(all);
    assert_int_equal(json_array_size(json_object_get(j, "batches")), 2);
    json_decref(j);

    const char *report[] = {"report", ids, "--json", NULL};
    j = s_json_of(report);
    s_check_doc("report", j, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "takes")), 10);
    json_decref(j);

    const char *show[] = {"plan", "show", ids, "--json", NULL};
    j = s_json_of(show);
    s_check_doc("plan show", j, NULL);
    json_decref(j);

    const char *check[] = {"plan", "check", plan, "--json", NULL};
    j = s_json_of(check);
    s_check_doc("plan check", j, "errors[]"); /* a good plan: no errors */
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_true(json_is_true(json_object_get(j, "nodes_checked")));
    json_decref(j);
    /* a bad plan: errors with their place, exit code 2 */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/bad.yaml", s_dir);
    s_write(bad, "instruments:\n  - instrument: X\n    node: op-a\n    step: 0\n");
    const char *badcheck[] = {"plan", "check", bad, "--json", NULL};
    assert_int_equal(s_cli(&out, &err, badcheck), 2);
    json_error_t e;
    j = json_loads(out, 0, &e);
    assert_non_null(j);
    s_check_doc("plan check", j, "estimate");
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    assert_int_equal(json_integer_value(json_object_get(e0, "line")), 4);
    assert_int_equal(json_integer_value(json_object_get(e0, "column")), 11);
    json_decref(j);
    free(out);
    free(err);
}

/* ---- retake, export again, delete ---- */

/* The take id of each sample of instrument `folder` in the library's manifest, by
 * "note/velocity". */
static void s_manifest_takes(const char *lib, const char *inst, char ids[128][128][96])
{
    char path[400];
    snprintf(path, sizeof path, "%s/manifest.json", lib);
    json_error_t e;
    json_t *m = json_load_file(path, 0, &e);
    if (!m)
        fail_msg("%s: %s", path, e.text);
    json_t *insts = json_object_get(m, "instruments"), *in;
    size_t i;
    bool found = false;
    json_array_foreach(insts, i, in)
    {
        if (strcmp(json_string_value(json_object_get(in, "name")), inst) != 0)
            continue;
        found = true;
        json_t *smp;
        size_t k;
        json_array_foreach(json_object_get(in, "samples"), k, smp)
        {
            int note = (int)json_integer_value(json_object_get(smp, "note"));
            int vel = (int)json_integer_value(json_object_get(smp, "velocity"));
            snprintf(ids[note][vel], 96, "%s", json_string_value(json_object_get(smp, "take_id")));
        }
    }
    if (!found)
        fail_msg("no instrument %s in %s", inst, path);
    json_decref(m);
}

/* Every regular file under dir, recursively (paths appended to list). */
static int s_files(const char *dir, char list[][512], int n, int max)
{
    DIR *d = opendir(dir);
    if (!d)
        return n;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st))
            continue;
        if (S_ISDIR(st.st_mode))
            n = s_files(p, list, n, max);
        else if (n < max)
            snprintf(list[n++], 512, "%s", p);
    }
    closedir(d);
    return n;
}

static void test_housekeeping(void **state)
{
    static char ids[128][128][96];
    char lib[300], lib_b[300], plan[300], text[1024];
    snprintf(lib, sizeof lib, "%s/lib-a", s_dir);
    snprintf(lib_b, sizeof lib_b, "%s/lib-b", s_dir);
    snprintf(plan, sizeof plan, "%s/hk.yaml", s_dir);
    snprintf(text, sizeof text,
             "name: Keep\nout: %s\ninstruments:\n"
             "  - instrument: Keys\n    node: op-a\n    notes: C3:E3\n    step: 2\n"
             "    velocities: [64, 127]\n    hold: 300ms\n    release: 300ms\n",
             lib);
    s_write(plan, text);
    char *out = NULL, *err = NULL;
    const char *sub_a[] = {"submit", plan, "--watch", NULL};
    assert_int_equal(s_cli(&out, &err, sub_a), 0); /* batch 1 */
    free(out);
    free(err);
    const char *sub_b[] = {"submit", plan, "--out", lib_b, "--name", "Other", "--watch", NULL};
    assert_int_equal(s_cli(&out, &err, sub_b), 0); /* batch 2, untouched below */
    free(out);
    free(err);

    /* retake C3 and E3 at velocity 127: exactly those two samples are new */
    const char *retake[] = {
        "retake", "1", "--instrument", "Keys", "--notes", "C3,E3", "--velocities", "127", NULL};
    int rc = s_cli(&out, &err, retake);
    if (rc)
        fail_msg("retake: %d\n%s\n%s", rc, out, err);
    assert_non_null(strstr(out, "2 take(s) of Keys to record again"));
    free(out);
    free(err);
    memset(ids, 0, sizeof ids);
    s_manifest_takes(lib, "Keys", ids);
    const int notes[] = {60, 62, 64}, vels[] = {64, 127};
    for (int a = 0; a < 3; a++)
        for (int v = 0; v < 2; v++) {
            bool chosen = notes[a] != 62 && vels[v] == 127;
            const char *id = ids[notes[a]][vels[v]];
            if (!*id)
                fail_msg("no sample for note %d velocity %d", notes[a], vels[v]);
            if (chosen != (strstr(id, "-a2") != NULL))
                fail_msg("note %d velocity %d is from take %s", notes[a], vels[v], id);
        }
    const char *report[] = {"report", "1", "--json", NULL};
    json_t *j = s_json_of(report);
    int superseded = 0, total = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(j, "takes"), i, t)
    {
        total++;
        superseded += json_is_true(json_object_get(t, "superseded"));
    }
    assert_int_equal(total, 8);      /* 6 + the 2 retakes */
    assert_int_equal(superseded, 2); /* the two old ones */
    json_decref(j);

    /* export again at 16 bits */
    const char *again[] = {"export", "1", "--again", "--bit-depth", "16", NULL};
    rc = s_cli(&out, &err, again);
    if (rc)
        fail_msg("export --again: %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    char wav[600];
    snprintf(wav, sizeof wav, "%s/Keys/samples/Keys_D3_062_v064_rr1.wav", lib);
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(wav, SFM_READ, &info);
    assert_non_null(sf);
    sf_close(sf);
    assert_int_equal(info.format & SF_FORMAT_SUBMASK, SF_FORMAT_PCM_16);
    const char *show[] = {"plan", "show", "1", "--json", NULL};
    j = s_json_of(show);
    assert_int_equal(json_integer_value(json_object_get(j, "bit-depth")), 16);
    json_decref(j);

    /* process re-cuts the raw takes with the batch's own settings (now 16 bits, from the
     * plan.json beside them), the options given on top */
    char raw[400], relib[400];
    snprintf(raw, sizeof raw, "%s/state/takes/b1", s_dir);
    snprintf(relib, sizeof relib, "%s/relib", s_dir);
    const char *proc[] = {"process", "--in", raw, "--out", relib, NULL};
    rc = s_cli(&out, &err, proc);
    if (rc)
        fail_msg("process: %d\n%s\n%s", rc, out, err);
    assert_non_null(strstr(out, "Keys: settings of its batch, from"));
    free(out);
    free(err);
    snprintf(wav, sizeof wav, "%s/Keys/samples/Keys_D3_062_v064_rr1.wav", relib);
    memset(&info, 0, sizeof info);
    sf = sf_open(wav, SFM_READ, &info);
    assert_non_null(sf);
    sf_close(sf);
    assert_int_equal(info.format & SF_FORMAT_SUBMASK, SF_FORMAT_PCM_16);
    char relib24[400];
    snprintf(relib24, sizeof relib24, "%s/relib24", s_dir);
    const char *proc24[] = {"process", "--in", raw, "--out", relib24, "--bit-depth", "24", NULL};
    assert_int_equal(s_cli(&out, &err, proc24), 0);
    free(out);
    free(err);
    snprintf(wav, sizeof wav, "%s/Keys/samples/Keys_D3_062_v064_rr1.wav", relib24);
    memset(&info, 0, sizeof info);
    sf = sf_open(wav, SFM_READ, &info);
    assert_non_null(sf);
    sf_close(sf);
    assert_int_equal(info.format & SF_FORMAT_SUBMASK, SF_FORMAT_PCM_24);

    /* delete batch 1: a file of someone else's in its folder stays */
    char foreign[400];
    snprintf(foreign, sizeof foreign, "%s/Keys/my-notes.txt", lib);
    s_write(foreign, "mine\n");
    static char before[256][512], after[256][512];
    char takes1[400], takes2[400];
    snprintf(takes1, sizeof takes1, "%s/state/takes/b1", s_dir);
    snprintf(takes2, sizeof takes2, "%s/state/takes/b2", s_dir);
    int n_before = s_files(lib, before, 0, 256);
    n_before = s_files(takes1, before, n_before, 256);
    assert_true(n_before > 12);
    int n_b = s_files(lib_b, after, 0, 256);
    n_b = s_files(takes2, after, n_b, 256);
    const char *del_no[] = {"delete", "1", NULL}; /* no terminal to ask on, no --yes */
    assert_int_equal(s_cli(&out, &err, del_no), 4);
    free(out);
    free(err);
    const char *del[] = {"delete", "1", "--yes", NULL};
    rc = s_cli(&out, &err, del);
    if (rc)
        fail_msg("delete: %d\n%s", rc, err);
    assert_non_null(strstr(out, "kept"));
    free(out);
    free(err);
    int n_left = s_files(lib, after, 0, 256);
    n_left = s_files(takes1, after, n_left, 256);
    if (n_left != 1 || strcmp(after[0], foreign) != 0)
        fail_msg("%d file(s) of the batch are left, e.g. %s", n_left, n_left ? after[0] : "");
    const char *status[] = {"status", "1", NULL};
    assert_int_equal(s_cli(&out, &err, status), 1);
    assert_non_null(strstr(err, "NOT_FOUND"));
    free(out);
    free(err);
    /* batch 2 is whole */
    static char b_now[256][512];
    int n_b_now = s_files(lib_b, b_now, 0, 256);
    n_b_now = s_files(takes2, b_now, n_b_now, 256);
    assert_int_equal(n_b_now, n_b);
    const char *status2[] = {"status", "2", NULL};
    assert_int_equal(s_cli(&out, &err, status2), 0);
    free(out);
    free(err);
}

/* ---- several instruments on one node ---- */

static int s_wav_channels(const char *path)
{
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        fail_msg("cannot read %s", path);
    sf_close(sf);
    return info.channels;
}

static void test_rig(void **state)
{
    char lib[300], plan[300], text[1200];
    snprintf(lib, sizeof lib, "%s/lib-rig", s_dir);
    snprintf(plan, sizeof plan, "%s/rig.yaml", s_dir);
    snprintf(text, sizeof text,
             "name: Rig\nout: %s\nvelocities: [100]\nrelease-policy: fixed\n"
             "instruments:\n"
             "  - instrument: Rig Organ\n    node: op-c\n    inputs: [1, 2]\n"
             "    channel: 1\n    notes: C3:C4\n    step: 3\n    hold: 600ms\n"
             "    release: 300ms\n"
             "  - instrument: Rig Pad\n    node: op-c\n    inputs: [3, 4]\n    sum: true\n"
             "    midi-port: sim2\n    notes: C3:C4\n    step: 6\n    hold: 900ms\n"
             "    release: 500ms\n",
             lib);
    s_write(plan, text);
    char *out = NULL, *err = NULL;
    const char *dry[] = {"submit", plan, "--dry-run", "--json", NULL};
    json_t *j = s_json_of(dry);
    json_t *est = json_object_get(j, "estimate");
    double organ_s = json_real_value(
               json_object_get(json_array_get(json_object_get(est, "instruments"), 0), "wall_s")),
           pad_s = json_real_value(
               json_object_get(json_array_get(json_object_get(est, "instruments"), 1), "wall_s")),
           wall_s = json_real_value(json_object_get(est, "wall_s"));
    /* the estimate runs them in parallel too */
    assert_true(wall_s < organ_s + pad_s - 0.5 && wall_s >= (organ_s > pad_s ? organ_s : pad_s));
    json_decref(j);
    const char *sub[] = {"submit", plan, "--watch", NULL};
    int rc = s_cli(&out, &err, sub);
    if (rc) {
        s_dump_logs();
        fail_msg("submit: %d\n%s\n%s", rc, out, err);
    }
    free(out);
    free(err);

    /* the simulation's record, per part: when each note sounded (stream frames) */
    char truth[300], line[512];
    snprintf(truth, sizeof truth, "%s/truth-op-c.txt", s_dir);
    FILE *f = fopen(truth, "r");
    assert_non_null(f);
    long long first[2] = {-1, -1}, last_on[2] = {-1, -1}, last_end[2] = {-1, -1};
    bool heard[2][128] = {{false}}; /* notes each part played (a retake plays one twice) */
    long long newest = 0;
    bool restarted = false; /* the stream started again: frames are not comparable */
    while (fgets(line, sizeof line, f)) {
        unsigned long long frame;
        int part;
        const char *fp = strstr(line, "frame="), *pp = strstr(line, "part=");
        if (!fp || !pp || sscanf(fp, "frame=%llu", &frame) != 1 ||
            sscanf(pp, "part=%d", &part) != 1 || part < 0 || part > 1)
            continue;
        if ((long long)frame + 48000 < newest)
            restarted = true;
        if ((long long)frame > newest)
            newest = (long long)frame;
        unsigned note = 0;
        const char *np = strstr(line, "note=");
        if (np)
            sscanf(np, "note=%u", &note);
        if (!strncmp(line, "on ", 3)) {
            heard[part][note & 127] = true;
            if (first[part] < 0)
                first[part] = (long long)frame;
            last_on[part] = (long long)frame;
        }
        if (!strncmp(line, "end ", 4) || !strncmp(line, "off ", 4))
            last_end[part] = (long long)frame;
    }
    fclose(f);
    for (int note = 0; note < 128; note++) { /* each part its own notes only */
        bool organ = note >= 60 && note <= 72 && (note - 60) % 3 == 0; /* C3 D#3 F#3 A3 C4 */
        bool pad = note == 60 || note == 66 || note == 72;             /* C3 F#3 C4 */
        if (heard[0][note] != organ || heard[1][note] != pad)
            fail_msg("note %d: organ %s it, pad %s it", note,
                     heard[0][note] ? "played" : "did not play",
                     heard[1][note] ? "played" : "did not play");
    }
    if (restarted) /* a busy host stalled the simulated interface past the node's watchdog */
        test_skip("the simulated interface stopped and started again (host too busy): the "
                  "timing of the two parts cannot be compared");
    /* in parallel: each part's first note sounded before the other's last */
    assert_true(first[1] < last_on[0] && first[0] < last_on[1]);
    /* about the time of the longer one: a figure, not asserted (the simulated interface
     * runs from the host's clock, and a busy host stretches one lane's gaps; the
     * interleaving above is what shows the two parts ran in parallel) */
    long long span0 = last_end[0] - first[0], span1 = last_end[1] - first[1];
    long long lo = first[0] < first[1] ? first[0] : first[1];
    long long hi = last_end[0] > last_end[1] ? last_end[0] : last_end[1];
    long long longer = span0 > span1 ? span0 : span1;
    fprintf(stderr,
            "figure: organ %.2f s, pad %.2f s, both %.2f s (simulated time; %.0f %% of the "
            "longer part)\n",
            span0 / 48000.0, span1 / 48000.0, (hi - lo) / 48000.0,
            100.0 * (double)(hi - lo) / (double)(longer > 0 ? longer : 1));

    /* each from its own channels: a stereo organ, a mono pad (summed) that sounds like one */
    char wav[600];
    snprintf(wav, sizeof wav, "%s/Rig-Organ/samples/Rig-Organ_F#3_066_v100_rr1.wav", lib);
    assert_int_equal(s_wav_channels(wav), 2);
    double rise, late;
    s_shape(wav, 0.5, &rise, &late);
    assert_true(rise < 0.03 && late > -0.5); /* the organ: instant, flat */
    snprintf(wav, sizeof wav, "%s/Rig-Pad/samples/Rig-Pad_F#3_066_v100_rr1.wav", lib);
    assert_int_equal(s_wav_channels(wav), 1);
    s_shape(wav, 0.5, &rise, &late);
    assert_true(rise > 0.08); /* the pad: its slow attack */
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plan_equals_options, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bank, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_json, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_housekeeping, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rig, s_setup, s_teardown),
    };
    return test_main_group(tests, argc, argv);
}
