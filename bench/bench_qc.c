/*
 * bench_qc.c — accuracy and speed of the QC pipeline on a corpus rendered by the
 * simulated instrument (ground truth known). Prints figures; asserts nothing.
 *
 *   bench_qc [takes-per-cell]
 *
 * Accuracy: onset error (median / p95 / max, ms) for sharp and slow attacks, pitch error
 * (cents). Speed: seconds of audio analysed per second of one core's CPU time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline.h"
#include "qc_corpus.h"

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void s_report(const char *what, const char *unit, double *v, int n)
{
    if (n == 0)
        return;
    qsort(v, (size_t)n, sizeof *v, s_cmp);
    printf("  %-22s n=%-4d median %7.3f %s   p95 %7.3f %s   max %7.3f %s\n", what, n, v[n / 2],
           unit, v[(int)(0.95 * (n - 1))], unit, v[n - 1], unit);
}

static double s_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 2;
    if (reps < 1)
        reps = 1;
    const int velocities[] = {30, 64, 100, 127};
    const double latencies[][2] = {{0, 0}, {3, 3}, {8, 6}, {15, 15}};
    const double noises[] = {-96, -80, -70, -60};
    const int notes[] = {28, 40, 52, 64, 76, 88};
    int cells = NODE_SIM_PRESET_COUNT * 4 * 4 * 4 * reps;
    double *sharp = calloc((size_t)cells, sizeof(double));
    double *slow = calloc((size_t)cells, sizeof(double));
    double *cents = calloc((size_t)cells, sizeof(double));
    int ns = 0, nl = 0, nc = 0, fails = 0, n = 0;
    double worst = -1;
    char worst_what[160] = "";
    double audio_s = 0, cpu = 0;
    for (int r = 0; r < reps; r++)
        for (int p = 0; p < NODE_SIM_PRESET_COUNT; p++)
            for (int v = 0; v < 4; v++)
                for (int l = 0; l < 4; l++)
                    for (int z = 0; z < 4; z++) {
                        qc_corpus_spec_t sp = QC_CORPUS_SPEC_INIT;
                        sp.preset = (node_sim_preset_t)p;
                        sp.velocity = velocities[v];
                        sp.latency_ms = latencies[l][0];
                        sp.assumed_latency_ms = latencies[l][1];
                        sp.noise_db = noises[z];
                        sp.note = notes[(v + l + z + r) % 6];
                        sp.seed = (uint32_t)(1000 + n);
                        sp.hold_ms = p == NODE_SIM_PAD ? 900 : 500;
                        qc_corpus_take_t take;
                        if (qc_corpus_render(&sp, &take) != 0) {
                            fprintf(stderr, "bench_qc: out of memory\n");
                            return 1;
                        }
                        dsp_pipeline_config_t cfg = DSP_PIPELINE_CONFIG_INIT;
                        dsp_take_info_t info = {.note_on = take.note_on_frame,
                                                .note_off = take.note_off_frame,
                                                .note = sp.note,
                                                .velocity = sp.velocity};
                        dsp_analysis_t a;
                        double t0 = s_cpu_s();
                        dsp_analyze(take.audio, take.frames, sp.channels, sp.rate, &info, &cfg, &a);
                        cpu += s_cpu_s() - t0;
                        audio_s += (double)take.frames / sp.rate;
                        double err_ms =
                            fabs((double)(a.onset - take.true_onset)) * 1000.0 / sp.rate;
                        if (err_ms > worst) {
                            worst = err_ms;
                            snprintf(worst_what, sizeof worst_what,
                                     "%s note %d velocity %d, latency %.0f ms (assumed %.0f), "
                                     "noise %.0f dBFS",
                                     node_sim_preset_name(sp.preset), sp.note, sp.velocity,
                                     sp.latency_ms, sp.assumed_latency_ms, sp.noise_db);
                        }
                        if (qc_corpus_sharp(sp.preset))
                            sharp[ns++] = err_ms;
                        else
                            slow[nl++] = err_ms;
                        if (a.pitch_hz > 0)
                            cents[nc++] = fabs(1200.0 * log2(a.pitch_hz / take.true_hz));
                        if (a.verdict == DSP_FAIL)
                            fails++;
                        qc_corpus_free(&take);
                        n++;
                    }
    double *all = calloc((size_t)n, sizeof(double));
    memcpy(all, sharp, sizeof(double) * (size_t)ns);
    memcpy(all + ns, slow, sizeof(double) * (size_t)nl);
    printf("QC accuracy on %d simulated takes (5 presets x 4 velocities x 4 latencies x 4 noise "
           "floors x %d):\n",
           n, reps);
    s_report("onset error, all", "ms", all, n);
    s_report("onset error, sharp", "ms", sharp, ns);
    s_report("onset error, slow", "ms", slow, nl);
    printf("  largest onset error: %s\n", worst_what);
    s_report("pitch error", "ct", cents, nc);
    printf("  pitch found on %d of %d takes; false fails on clean takes: %d\n", nc, n, fails);
    printf("QC speed: %.1f s of stereo 48 kHz audio in %.3f s CPU = %.0fx realtime per core\n",
           audio_s, cpu, cpu > 0 ? audio_s / cpu : 0);
    free(sharp);
    free(slow);
    free(cents);
    free(all);
    return 0;
}
