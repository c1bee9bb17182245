/*
 * cmd_submit.c — `batcherbird submit`: build a batch plan from flags and send it.
 *
 * Flags after `--instrument NAME` describe that instrument until the next --instrument;
 * batch-wide flags may stand anywhere. Note names are parsed once all flags are read, so
 * --c4 applies wherever it appears.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_notes.h"
#include "cli.h"
#include "export_map.h"

#define CLI_MAX_INSTRUMENTS 64

typedef struct {
    Bb__InstrumentSpec spec;
    Bb__MidiSetup setup;
    const char *notes;
    uint32_t velocities[128];
    uint32_t cc[256];
    Bb__QcSpec qc;
} s_inst_t;

/* A non-negative number of milliseconds (or dB) up to hi, into a float field. */
static int s_float(const char *opt, const char *text, double lo, double hi, float *out)
{
    double v;
    if (cli_parse_number("submit", opt, text, lo, hi, &v))
        return -1;
    *out = (float)v;
    return 0;
}

static void s_help(void)
{
    printf("usage: batcherbird submit --instrument NAME --node NODE [instrument options]\n"
           "                          [--instrument NAME --node NODE ...] [batch options]\n"
           "\n"
           "Plans a batch: every instrument plays every note of its range at every velocity,\n"
           "round robins times. Instruments on different nodes are sampled in parallel.\n"
           "\n"
           "Instrument options (after its --instrument):\n"
           "  --node NODE             capture node the instrument is connected to\n"
           "  --notes LOW:HIGH        note range, e.g. C2:C4 or 36:60 (default C3)\n"
           "  --step N                semitones between sampled notes (default 1)\n"
           "  --velocities LIST       e.g. 64,127 (default 127)\n"
           "  --round-robins N        takes of each note and velocity (default 1)\n"
           "  --hold DURATION         how long the key is held, e.g. 1.5 or 1500ms (default 1 s)\n"
           "  --release DURATION      longest release recorded after note-off (default 1 s)\n"
           "  --release-policy P      adaptive (end when the tail reaches the noise) | fixed\n"
           "  --preroll DURATION      audio kept before each note-on (default 100ms)\n"
           "  --channel N             MIDI channel 1-16 (default 1)\n"
           "  --program N             program change 0-127 before the first take\n"
           "  --bank MSB[:LSB]        bank select before the program change\n"
           "  --cc N=V[,N=V...]       controller values before the first take\n"
           "  --retakes N             automatic retakes of a take that fails QC (default 2)\n"
           "  --release-samples       also record release-trigger samples\n"
           "  --pre-attack MS         keep MS before every onset, faded in (default 0)\n"
           "  --fade-out MS           fade-out length (default 10)\n"
           "  --fade-curve CURVE      linear | equal-power | exponential (default equal-power)\n"
           "  --end MODE              where a sample ends: noise (its tail reaches the noise\n"
           "                          floor, default) | below-peak\n"
           "  --end-below-peak DB     for --end below-peak (default 60)\n"
           "  --loop                  find a sustain loop in every sample\n"
           "  --loop-crossfade MS     crossfade before the loop end (default 0)\n"
           "  --unpitched             no pitch check (drums, noises)\n"
           "  --level-check           gain staging first: play the loudest velocity on the\n"
           "                          lowest, middle and highest note and report the input\n"
           "                          gain change for the target peak\n"
           "  --level-target DB       that target (default -6 dBFS; implies --level-check)\n"
           "  --level-set-cc          when too loud, lower MIDI volume (CC7) to reach the\n"
           "                          target; the takes wait for the level check\n"
           "\n"
           "Batch options:\n"
           "  --name NAME             batch name (default: the first instrument's)\n"
           "  --out DIR               library folder on the coordinator's machine\n"
           "                          (default: inside its state folder)\n"
           "  --bit-depth 16|24|32    export bit depth (default 24; 32 = float)\n"
           "  --format wav|flac       (default wav)\n"
           "  --peak DB               normalisation peak target, dBFS (default -1)\n"
           "  --normalise MODE        instrument | velocity | sample | none (default instrument)\n"
           "  --no-dither             16-bit files without TPDF dither\n"
           "  --tune                  correct tuning from the measured pitch (smpl, SFZ tune)\n"
           "  --name-template T       sample file names, default\n"
           "                          {instrument}_{note}{octave}_{midi}_v{velocity}_rr{rr}\n"
           "                          (also {name} = C#3, {release} = _rel on release samples)\n"
           "  --map centred|upward    how samples stretch over the keys between them\n"
           "  --extend HOW            how far the outer samples reach: full (keys 0-127,\n"
           "                          default), octave, none, or the keyboard's ends LO:HI\n"
           "  --loop-sustain          looped samples play their tail after the key is released\n"
           "  --c4                    note names with C4 = MIDI 60 (default C3 = 60)\n"
           "  --watch                 follow the batch's progress until it ends\n");
}

static int s_uint_list(const char *text, uint32_t *out, size_t max, size_t *n, uint32_t lo,
                       uint32_t hi)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long v = strtol(tok, &end, 10);
        if (*end || v < (long)lo || v > (long)hi || *n == max)
            return -1;
        out[(*n)++] = (uint32_t)v;
    }
    return *n ? 0 : -1;
}

static int s_uint(const char *opt, const char *text, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < (long)lo || v > (long)hi) {
        cli_error("submit: %s %s: expected a whole number from %u to %u", opt, text, lo, hi);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

int cli_cmd_submit(cli_t *cli, int argc, char **argv)
{
    static s_inst_t insts[CLI_MAX_INSTRUMENTS];
    size_t n = 0;
    Bb__BatchSpec batch = BB__BATCH_SPEC__INIT;
    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    char out_abs[PATH_MAX] = "";
    bool watch = false;
    bb_note_convention_t conv = BB_NOTES_C3_IS_60;
    const char *extend_arg = NULL;
    char extend[16] = "";
    s_inst_t *cur = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_help();
            return CLI_EXIT_OK;
        }
        bool takes_value = strcmp(a, "--c4") && strcmp(a, "--watch") &&
                           strcmp(a, "--release-samples") && strcmp(a, "--loop") &&
                           strcmp(a, "--unpitched") && strcmp(a, "--no-dither") &&
                           strcmp(a, "--tune") && strcmp(a, "--loop-sustain") &&
                           strcmp(a, "--level-check") && strcmp(a, "--level-set-cc");
        if (takes_value && i + 1 >= argc) {
            cli_error("submit: %s needs a value (see batcherbird submit --help)", a);
            return CLI_EXIT_USAGE;
        }
        const char *v = takes_value ? argv[++i] : NULL;
        /* batch-wide */
        if (!strcmp(a, "--instrument")) {
            if (n == CLI_MAX_INSTRUMENTS) {
                cli_error("submit: at most %d instruments per batch", CLI_MAX_INSTRUMENTS);
                return CLI_EXIT_USAGE;
            }
            cur = &insts[n++];
            memset(cur, 0, sizeof *cur);
            cur->spec = (Bb__InstrumentSpec)BB__INSTRUMENT_SPEC__INIT;
            cur->spec.name = (char *)v;
            cur->spec.velocities = cur->velocities;
            cur->velocities[0] = 127;
            cur->spec.n_velocities = 1;
            cur->spec.max_retakes = 2;
            cur->spec.release_ms = 1000;
            cur->setup = (Bb__MidiSetup)BB__MIDI_SETUP__INIT;
            cur->setup.bank_msb = cur->setup.bank_lsb = cur->setup.program = -1;
            cur->setup.cc = cur->cc;
            cur->qc = (Bb__QcSpec)BB__QC_SPEC__INIT;
            cur->spec.qc = &cur->qc;
            continue;
        }
        if (!strcmp(a, "--name")) {
            batch.name = (char *)v;
            continue;
        }
        if (!strcmp(a, "--out")) {
            if (v[0] == '/') {
                snprintf(out_abs, sizeof out_abs, "%s", v);
            } else {
                char cwd[PATH_MAX];
                if (!getcwd(cwd, sizeof cwd)) {
                    cli_error("submit: cannot tell the current folder; give --out an absolute "
                              "path");
                    return CLI_EXIT_USAGE;
                }
                snprintf(out_abs, sizeof out_abs, "%s/%s", cwd, v);
            }
            ex.out_dir = out_abs;
            continue;
        }
        if (!strcmp(a, "--bit-depth")) {
            if (s_uint(a, v, 16, 32, &ex.bit_depth) ||
                (ex.bit_depth != 16 && ex.bit_depth != 24 && ex.bit_depth != 32)) {
                cli_error("submit: --bit-depth: use 16, 24 or 32");
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        if (!strcmp(a, "--format")) {
            ex.format = (char *)v;
            continue;
        }
        if (!strcmp(a, "--normalise") || !strcmp(a, "--normalize")) {
            ex.normalise = (char *)v;
            continue;
        }
        if (!strcmp(a, "--no-dither")) {
            ex.no_dither = true;
            continue;
        }
        if (!strcmp(a, "--tune")) {
            ex.tune = true;
            continue;
        }
        if (!strcmp(a, "--loop-sustain")) {
            ex.loop_sustain = true;
            continue;
        }
        if (!strcmp(a, "--name-template")) {
            ex.name_template = (char *)v; /* the coordinator checks it and says why */
            continue;
        }
        if (!strcmp(a, "--map")) {
            ex.map = (char *)v;
            continue;
        }
        if (!strcmp(a, "--extend")) {
            extend_arg = v; /* read once --c4 is known */
            continue;
        }
        if (!strcmp(a, "--peak")) {
            char *end;
            ex.peak_target_db = strtof(v, &end);
            if (*end || ex.peak_target_db > 0 || ex.peak_target_db < -60) {
                cli_error("submit: --peak %s: a level from -60 to 0 dBFS", v);
                return CLI_EXIT_USAGE;
            }
            if (ex.peak_target_db == 0)
                ex.peak_target_db = -0.001f; /* 0 means "default" on the wire */
            continue;
        }
        if (!strcmp(a, "--c4")) {
            conv = BB_NOTES_C4_IS_60;
            ex.c4_is_60 = true;
            continue;
        }
        if (!strcmp(a, "--watch")) {
            watch = true;
            continue;
        }
        /* per instrument */
        if (!cur) {
            cli_error("submit: %s belongs to an instrument: put --instrument NAME first", a);
            return CLI_EXIT_USAGE;
        }
        Bb__InstrumentSpec *s = &cur->spec;
        if (!strcmp(a, "--node")) {
            s->node = (char *)v;
        } else if (!strcmp(a, "--notes")) {
            cur->notes = v;
        } else if (!strcmp(a, "--step")) {
            if (s_uint(a, v, 1, 127, &s->step))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--velocities")) {
            if (s_uint_list(v, cur->velocities, 127, &s->n_velocities, 1, 127)) {
                cli_error("submit: --velocities %s: a list like 32,64,127 (each 1-127)", v);
                return CLI_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--round-robins")) {
            if (s_uint(a, v, 1, 16, &s->round_robins))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--hold") || !strcmp(a, "--release") || !strcmp(a, "--preroll")) {
            uint32_t ms;
            if (cli_parse_duration_ms(v, &ms) || ms > 60000) {
                cli_error("submit: %s %s: a duration like 1.5, 1.5s or 100ms (at most 60 s)", a, v);
                return CLI_EXIT_USAGE;
            }
            if (!strcmp(a, "--hold")) {
                if (ms == 0) {
                    cli_error("submit: --hold must be longer than 0");
                    return CLI_EXIT_USAGE;
                }
                s->hold_ms = ms;
            } else if (!strcmp(a, "--release")) {
                s->release_ms = ms;
            } else {
                s->preroll_ms = ms ? ms : 1;
            }
        } else if (!strcmp(a, "--release-policy")) {
            if (!strcmp(v, "adaptive"))
                s->release_policy = BB__RELEASE_POLICY__RELEASE_ADAPTIVE;
            else if (!strcmp(v, "fixed"))
                s->release_policy = BB__RELEASE_POLICY__RELEASE_FIXED;
            else {
                cli_error("submit: --release-policy %s: adaptive or fixed", v);
                return CLI_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--channel")) {
            if (s_uint(a, v, 1, 16, &s->midi_channel))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--program")) {
            uint32_t p;
            if (s_uint(a, v, 0, 127, &p))
                return CLI_EXIT_USAGE;
            cur->setup.program = (int32_t)p;
            s->has_setup = true;
        } else if (!strcmp(a, "--bank")) {
            unsigned msb, lsb = 0;
            int got = sscanf(v, "%u:%u", &msb, &lsb);
            if (got < 1 || msb > 127 || lsb > 127) {
                cli_error("submit: --bank %s: MSB or MSB:LSB, each 0-127", v);
                return CLI_EXIT_USAGE;
            }
            cur->setup.bank_msb = (int32_t)msb;
            cur->setup.bank_lsb = got == 2 ? (int32_t)lsb : -1;
            s->has_setup = true;
        } else if (!strcmp(a, "--cc")) {
            char buf[512];
            snprintf(buf, sizeof buf, "%s", v);
            for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save)) {
                unsigned c, val;
                if (sscanf(tok, "%u=%u", &c, &val) != 2 || c > 127 || val > 127 ||
                    cur->setup.n_cc + 2 > 256) {
                    cli_error("submit: --cc %s: pairs like 7=100,11=127", v);
                    return CLI_EXIT_USAGE;
                }
                cur->cc[cur->setup.n_cc++] = c;
                cur->cc[cur->setup.n_cc++] = val;
            }
            s->has_setup = true;
        } else if (!strcmp(a, "--retakes")) {
            if (s_uint(a, v, 0, 10, &s->max_retakes))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--release-samples")) {
            s->release_samples = true;
        } else if (!strcmp(a, "--loop")) {
            s->loop = true;
        } else if (!strcmp(a, "--level-check")) {
            s->level_check = true;
        } else if (!strcmp(a, "--level-set-cc")) {
            s->level_check = s->level_set_cc = true;
        } else if (!strcmp(a, "--level-target")) {
            if (s_float(a, v, -40, -0.1, &s->level_target_db))
                return CLI_EXIT_USAGE;
            s->level_check = true;
        } else if (!strcmp(a, "--unpitched")) {
            cur->qc.unpitched = true;
        } else if (!strcmp(a, "--pre-attack")) {
            if (s_float(a, v, 0, 100, &cur->qc.pre_attack_ms))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--fade-out")) {
            if (s_float(a, v, 0, 2000, &cur->qc.fade_out_ms))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--loop-crossfade")) {
            if (s_float(a, v, 0, 1000, &cur->qc.loop_crossfade_ms))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--end-below-peak")) {
            if (s_float(a, v, 1, 140, &cur->qc.end_below_peak_db))
                return CLI_EXIT_USAGE;
        } else if (!strcmp(a, "--fade-curve")) {
            cur->qc.fade_curve = (char *)v; /* checked by the coordinator, which says why */
        } else if (!strcmp(a, "--end")) {
            cur->qc.end_mode = (char *)v;
        } else {
            cli_error("submit: unknown option %s (see batcherbird submit --help)", a);
            return CLI_EXIT_USAGE;
        }
    }
    if (n == 0) {
        cli_error("submit: no instruments: use --instrument NAME --node NODE ...");
        return CLI_EXIT_USAGE;
    }
    Bb__InstrumentSpec *ptrs[CLI_MAX_INSTRUMENTS];
    for (size_t i = 0; i < n; i++) {
        s_inst_t *in = &insts[i];
        if (!in->spec.node || !*in->spec.node) {
            cli_error("submit: instrument %s has no --node", in->spec.name);
            return CLI_EXIT_USAGE;
        }
        int lo = 60, hi = 60;
        if (in->notes && bb_note_range_parse(in->notes, conv, &lo, &hi)) {
            int a, b;
            const char *colon = strchr(in->notes, ':');
            bool reversed = false;
            if (colon) {
                char left[32];
                snprintf(left, sizeof left, "%.*s", (int)(colon - in->notes), in->notes);
                reversed = bb_note_parse(left, conv, &a) == 0 &&
                           bb_note_parse(colon + 1, conv, &b) == 0 && a > b;
            }
            if (reversed)
                cli_error("INVALID_ARGUMENT: instrument %s: note range %s is empty: the low "
                          "note is above the high note",
                          in->spec.name, in->notes);
            else
                cli_error("INVALID_ARGUMENT: instrument %s: '%s' is not a note range (use "
                          "LOW:HIGH with names like C2, F#3, Bb1 or MIDI numbers 0-127)",
                          in->spec.name, in->notes);
            return CLI_EXIT_USAGE;
        }
        in->spec.note_lo = (uint32_t)lo;
        in->spec.note_hi = (uint32_t)hi;
        if (in->spec.has_setup)
            in->spec.setup = &in->setup;
        ptrs[i] = &in->spec;
    }
    if (extend_arg) { /* on the wire as MIDI numbers, whatever the note naming */
        dsp_map_config_t map = DSP_MAP_CONFIG_INIT;
        char why[200];
        if (dsp_map_extend_parse(extend_arg, conv, &map, why, sizeof why)) {
            cli_error("submit: %s", why);
            return CLI_EXIT_USAGE;
        }
        dsp_map_extend_name(&map, extend, sizeof extend);
        ex.extend = extend;
    }
    batch.instruments = ptrs;
    batch.n_instruments = n;
    batch.export = &ex;

    ProtobufCMessage *out = NULL;
    int rc = cli_call(cli, "SubmitBatch", &batch.base, &out);
    if (rc)
        return rc;
    Bb__SubmitBatchReply *reply = (Bb__SubmitBatchReply *)out;
    uint64_t id = reply->batch_id;
    printf("batch %llu submitted: %zu instrument(s), %u takes\n", (unsigned long long)id, n,
           reply->total_takes);
    protobuf_c_message_free_unpacked(out, NULL);
    if (watch)
        return cli_watch_batch(cli, id, false);
    printf("follow it with: batcherbird watch %llu\n", (unsigned long long)id);
    return CLI_EXIT_OK;
}
