/*
 * cmd_calibrate.c — `batcherbird calibrate NODE [--notes N]`: measures the MIDI-to-audio
 * delay of the instrument on a node and stores it, so later takes place their note-on
 * where the sound really starts.
 *
 * It plays N notes as a measurement batch (no library is written), takes the onset of
 * each from the QC pipeline relative to the note-on frame the node reported (which
 * already includes the node's current offset), and sets the node's offset to the current
 * one plus the mean. Notes that fail QC are left out; fewer than two usable notes is an
 * error, not a guess.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_notes.h"
#include "cli.h"

static void s_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird calibrate NODE [--notes N] [--from NOTE] [--velocity V]\n"
                 "                             [--channel C] [--dry-run]\n\n"
                 "Plays N notes (default 8, two semitones apart from NOTE, default C3) on the\n"
                 "instrument of NODE, measures the delay from each note-on to the start of its\n"
                 "sound, prints the mean and spread, and stores the mean as the node's latency\n"
                 "offset: later takes place their note-on that much later in the audio.\n\n"
                 "  --notes N      notes to measure, 2-64 (default 8)\n"
                 "  --from NOTE    lowest note (default C3 = MIDI 60)\n"
                 "  --velocity V   (default 127)\n"
                 "  --channel C    MIDI channel 1-16 (default 1)\n"
                 "  --dry-run      measure and print, change nothing\n");
}

static int s_find_node(cli_t *cli, const char *name, double *offset)
{
    Bb__ListNodesRequest req = BB__LIST_NODES_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    int rc = cli_call(cli, "ListNodes", &req.base, &reply);
    if (rc)
        return rc;
    const Bb__ListNodesReply *list = (const Bb__ListNodesReply *)reply;
    const Bb__NodeInfo *found = NULL;
    for (size_t i = 0; i < list->n_nodes && !found; i++)
        if (strcmp(list->nodes[i]->name, name) == 0)
            found = list->nodes[i];
    rc = CLI_EXIT_FAILED;
    if (!found)
        cli_error("calibrate: NOT_FOUND: no node named '%s' (see batcherbird nodes)", name);
    else if (!found->online)
        cli_error("calibrate: node %s is offline", name);
    else {
        *offset = found->latency_offset_ms;
        rc = CLI_EXIT_OK;
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

int cli_cmd_calibrate(cli_t *cli, int argc, char **argv)
{
    const char *node = NULL;
    unsigned notes = 8, velocity = 127, channel = 1;
    int from = 60;
    bool dry = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--dry-run")) {
            dry = true;
        } else if (!strcmp(a, "--notes") && v) {
            notes = (unsigned)strtoul(v, &end, 10);
            if (*end || notes < 2 || notes > 64) {
                cli_error("calibrate: --notes %s: use 2 to 64", v);
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--velocity") && v) {
            velocity = (unsigned)strtoul(v, &end, 10);
            if (*end || velocity < 1 || velocity > 127) {
                cli_error("calibrate: --velocity %s: use 1 to 127", v);
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--channel") && v) {
            channel = (unsigned)strtoul(v, &end, 10);
            if (*end || channel < 1 || channel > 16) {
                cli_error("calibrate: --channel %s: use 1 to 16", v);
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (!strcmp(a, "--from") && v) {
            if (bb_note_parse(v, BB_NOTES_C3_IS_60, &from) != 0) {
                cli_error("calibrate: --from %s: a note name (C3, F#2) or MIDI number", v);
                return CLI_EXIT_USAGE;
            }
            i++;
        } else if (a[0] != '-' && !node) {
            node = a;
        } else {
            cli_error("calibrate: unexpected '%s' (see batcherbird calibrate --help)", a);
            return CLI_EXIT_USAGE;
        }
    }
    if (!node) {
        cli_error("calibrate: which node? (see batcherbird nodes)");
        return CLI_EXIT_USAGE;
    }
    int hi = from + 2 * ((int)notes - 1);
    if (hi > 127) {
        cli_error("calibrate: %u notes two semitones apart from %d go past MIDI 127", notes, from);
        return CLI_EXIT_USAGE;
    }
    double current = 0;
    int rc = s_find_node(cli, node, &current);
    if (rc)
        return rc;

    /* The measurement batch: short notes, loudest velocity, no retakes, no library. */
    char inst_name[128], batch_name[160];
    snprintf(inst_name, sizeof inst_name, "Calibration %s", node);
    snprintf(batch_name, sizeof batch_name, "calibrate %s", node);
    uint32_t vel[1] = {velocity};
    Bb__InstrumentSpec inst = BB__INSTRUMENT_SPEC__INIT;
    inst.name = inst_name;
    inst.node = (char *)node;
    inst.midi_channel = channel;
    inst.note_lo = (uint32_t)from;
    inst.note_hi = (uint32_t)hi;
    inst.step = 2;
    inst.velocities = vel;
    inst.n_velocities = 1;
    inst.round_robins = 1;
    inst.hold_ms = 300;
    inst.release_ms = 400;
    inst.max_retakes = 0;
    Bb__InstrumentSpec *insts[1] = {&inst};
    Bb__BatchSpec batch = BB__BATCH_SPEC__INIT;
    batch.name = batch_name;
    batch.instruments = insts;
    batch.n_instruments = 1;
    batch.no_export = true;
    ProtobufCMessage *reply = NULL;
    if ((rc = cli_call(cli, "SubmitBatch", &batch.base, &reply)) != 0)
        return rc;
    uint64_t id = ((Bb__SubmitBatchReply *)reply)->batch_id;
    protobuf_c_message_free_unpacked(reply, NULL);
    printf("calibrating %s: batch %llu plays %u notes from MIDI %d\n", node, (unsigned long long)id,
           notes, from);
    if ((rc = cli_watch_batch(cli, id, true)) != 0)
        return rc;

    Bb__BatchRequest breq = BB__BATCH_REQUEST__INIT;
    breq.batch_id = id;
    if ((rc = cli_call(cli, "ListTakes", &breq.base, &reply)) != 0)
        return rc;
    const Bb__TakeList *list = (const Bb__TakeList *)reply;
    double sum = 0, sq = 0, lo = INFINITY, hi_ms = -INFINITY;
    int n = 0, unusable = 0;
    for (size_t i = 0; i < list->n_takes; i++) {
        const Bb__TakeRow *r = list->takes[i];
        if (r->superseded)
            continue;
        if (!strcmp(r->verdict, "fail")) {
            unusable++;
            continue;
        }
        double d = r->onset_ms;
        sum += d, sq += d * d, n++;
        lo = d < lo ? d : lo;
        hi_ms = d > hi_ms ? d : hi_ms;
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    if (n < 2) {
        cli_error("calibrate: only %d of %u notes gave a usable onset (see batcherbird report "
                  "%llu); nothing changed",
                  n, notes, (unsigned long long)id);
        return CLI_EXIT_FAILED;
    }
    double mean = sum / n;
    double sd = sqrt(fmax(0.0, sq / n - mean * mean));
    double offset = current + mean;
    printf("MIDI-to-audio delay over %d note(s): mean %+.3f ms, spread %.3f ms (min %+.3f, max "
           "%+.3f) relative to the current offset %.3f ms\n",
           n, mean, sd, lo, hi_ms, current);
    if (unusable)
        printf("%d note(s) failed QC and were not used\n", unusable);
    if (sd > 1.0)
        printf("warning: the delay varies by more than 1 ms between notes; the instrument or "
               "its MIDI path is not steady\n");
    if (dry) {
        printf("dry run: the offset of %s stays %.3f ms (it would be %.3f ms)\n", node, current,
               offset);
        return CLI_EXIT_OK;
    }
    Bb__NodeLatencyRequest lreq = BB__NODE_LATENCY_REQUEST__INIT;
    lreq.node = (char *)node;
    lreq.latency_offset_ms = offset;
    if ((rc = cli_call(cli, "SetNodeLatency", &lreq.base, &reply)) != 0)
        return rc;
    protobuf_c_message_free_unpacked(reply, NULL);
    printf("latency offset of %s: %.3f ms (was %.3f ms); later takes use it\n", node, offset,
           current);
    return CLI_EXIT_OK;
}
