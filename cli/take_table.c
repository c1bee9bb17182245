/*
 * take_table.c — the per-take table of `batcherbird report` and `batcherbird process`:
 * one line per take a person can scan, grouped by instrument, failures easy to spot.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bb_notes.h"
#include "cli.h"

static void s_header(FILE *out, const char *instrument)
{
    fprintf(out, "\n%s\n", *instrument ? instrument : "(unnamed instrument)");
    fprintf(out, "  %-5s %4s %3s %3s  %-7s %8s %7s %8s %8s %9s  %s\n", "note", "midi", "vel", "rr",
            "verdict", "peak", "SNR", "pitch", "onset", "length", "reasons");
}

void cli_print_take_table(FILE *out, Bb__TakeRow *const *rows, size_t n, bool c4_is_60)
{
    const char *current = NULL;
    int pass = 0, warn = 0, fail = 0, superseded = 0;
    for (size_t i = 0; i < n; i++) {
        const Bb__TakeRow *r = rows[i];
        if (!current || strcmp(current, r->instrument) != 0) {
            current = r->instrument;
            s_header(out, current);
        }
        char name[8];
        bb_note_name((int)r->note, c4_is_60 ? BB_NOTES_C4_IS_60 : BB_NOTES_C3_IS_60, name,
                     sizeof name);
        char pitch[16] = "-";
        if (r->has_pitch)
            snprintf(pitch, sizeof pitch, "%+.1fct", r->pitch_cents);
        char rr[8];
        snprintf(rr, sizeof rr, "%u%s", r->round_robin, r->release_trigger ? "R" : "");
        char verdict[16];
        snprintf(verdict, sizeof verdict, "%s%s", r->verdict, r->superseded ? "*" : "");
        char snr[16] = "-"; /* not known: no pre-roll to measure the floor */
        if (isfinite(r->snr_db))
            snprintf(snr, sizeof snr, "%.1fdB", r->snr_db);
        fprintf(out, "  %-5s %4u %3u %3s  %-7s %6.1fdB %7s %8s %6.1fms %8.3fs  %s\n", name, r->note,
                r->velocity, rr, verdict, r->peak_db, snr, pitch, r->onset_ms, r->trimmed_s,
                r->reasons);
        if (r->superseded)
            superseded++;
        else if (!strcmp(r->verdict, "pass"))
            pass++;
        else if (!strcmp(r->verdict, "warn"))
            warn++;
        else
            fail++;
    }
    fprintf(out, "\n%zu take(s): %d pass, %d warn, %d fail", n, pass, warn, fail);
    if (superseded)
        fprintf(out, ", %d replaced by a later take (*)", superseded);
    fprintf(out, "\n");
}
