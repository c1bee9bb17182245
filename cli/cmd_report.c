/*
 * cmd_report.c — `batcherbird report BATCH`: every take of a batch with its QC figures.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_notes.h"
#include "cli.h"

static void s_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird report BATCH [--c4] [--json]\n\n"
                 "Prints one line per take of the batch: note, velocity, round robin, QC verdict,\n"
                 "peak level, signal-to-noise ratio, pitch error, onset after the note-on,\n"
                 "trimmed length and the reasons for a warning or failure. Takes replaced by a\n"
                 "retake are marked with *.\n\n"
                 "  --c4     name notes with C4 = 60 (default C3 = 60)\n"
                 "  --json   the same as JSON (docs/json.md)\n");
}

/* One take as documented in docs/json.md. */
static json_t *s_take_json(const Bb__TakeRow *r, bool c4)
{
    char name[BB_NOTE_NAME_MAX];
    bb_note_name((int)r->note, c4 ? BB_NOTES_C4_IS_60 : BB_NOTES_C3_IS_60, name, sizeof name);
    /* an SNR is not known without a pre-roll to measure the floor: null */
    json_t *snr = isfinite(r->snr_db) ? json_real(r->snr_db) : NULL;
    return json_pack("{s:s, s:s, s:i, s:s, s:i, s:i, s:i, s:s, s:f, s:o?, s:o?, s:f, s:f, s:s, "
                     "s:b, s:b}",
                     "take_id", r->take_id, "instrument", r->instrument, "note", (int)r->note,
                     "note_name", name, "velocity", (int)r->velocity, "round_robin",
                     (int)r->round_robin, "attempt", (int)r->attempt, "verdict", r->verdict,
                     "peak_db", (double)r->peak_db, "snr_db", snr, "pitch_cents",
                     r->has_pitch ? json_real(r->pitch_cents) : NULL, "length_s",
                     (double)r->trimmed_s, "onset_ms", (double)r->onset_ms, "reasons", r->reasons,
                     "release", r->release_trigger, "superseded", r->superseded);
}

int cli_cmd_report(cli_t *cli, int argc, char **argv)
{
    static const struct option longs[] = {{"c4", no_argument, NULL, '4'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    bool c4 = false, json = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        if (c == '4') {
            c4 = true;
        } else if (c == 'j') {
            json = true;
        } else if (c == 'h') {
            s_usage(stdout);
            return CLI_EXIT_OK;
        } else {
            cli_error("report: unknown option %s (see batcherbird report --help)",
                      argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cli_error("report: which batch? give its number (see batcherbird status)");
        return CLI_EXIT_USAGE;
    }
    uint64_t id = cli_parse_batch("report", argv[optind]);
    if (!id)
        return CLI_EXIT_USAGE;
    Bb__BatchRequest req = BB__BATCH_REQUEST__INIT;
    req.batch_id = id;
    ProtobufCMessage *reply = NULL;
    int rc = cli_call(cli, "ListTakes", &req.base, &reply);
    if (rc)
        return rc;
    Bb__TakeList *list = (Bb__TakeList *)reply;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < list->n_takes; i++)
            json_array_append_new(arr, s_take_json(list->takes[i], c4));
        cli_print_json(
            json_pack("{s:I, s:o}", "batch", (json_int_t)id, "takes", arr ? arr : json_array()));
    } else if (list->n_takes == 0) {
        printf("batch %llu has no takes yet\n", (unsigned long long)id);
    } else {
        cli_print_take_table(stdout, list->takes, list->n_takes, c4);
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    return CLI_EXIT_OK;
}
