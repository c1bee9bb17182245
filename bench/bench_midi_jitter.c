/*
 * bench_midi_jitter.c — how close to its deadline the node's MIDI thread (midi_sched.h)
 * sends each message. Prints figures; asserts nothing.
 *
 *   bench_midi_jitter [events] [spacing-ms]
 *
 * The node as it runs: the simulated instrument played through the virtual MIDI backend
 * and rendered by the virtual audio backend into a capture ring that a consumer drains,
 * so the audio thread competes with the MIDI thread as it does in a node. Note-on/off
 * pairs are posted ahead at absolute CLOCK_MONOTONIC deadlines `spacing` apart; the
 * figures are (sent - deadline) from the scheduler's reports: p50, p99, max, in us.
 * Target (DESIGN.md): p99 < 200 us.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio.h"
#include "bb_clock.h"
#include "capture_rt.h"
#include "midi.h"
#include "midi_sched.h"
#include "sim_instrument.h"

#define RING_FRAMES (1u << 16)
#define BLOCKS      4096
#define AHEAD       32 /* events posted ahead of the one being sent */

static atomic_bool s_stop;

static void *s_drain(void *arg)
{
    node_capture_t *cap = arg;
    float *buf = malloc(sizeof(float) * 2 * 4096);
    node_block_t b;
    while (!atomic_load(&s_stop)) {
        while (node_ring_read(&cap->blocks, &b, 1))
            ;
        while (node_ring_read(&cap->audio, buf, 4096))
            ;
        bb_sleep_ms(2);
    }
    free(buf);
    return NULL;
}

static int s_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int events = argc > 1 ? atoi(argv[1]) : 2000;
    double spacing_ms = argc > 2 ? atof(argv[2]) : 2.5;
    if (events < 2)
        events = 2;
    node_sim_config_t sc = NODE_SIM_CONFIG_INIT;
    node_sim_t *sim = node_sim_new(&sc);
    node_capture_t *cap = calloc(1, sizeof *cap);
    void *ring = calloc(RING_FRAMES, 2 * sizeof(float));
    void *blocks = calloc(BLOCKS, sizeof(node_block_t));
    node_capture_init(cap, 2, 48000, ring, RING_FRAMES, blocks, BLOCKS);
    char err[256];
    node_audio_config_t ac = NODE_AUDIO_CONFIG_INIT;
    ac.backend_ctx = sim;
    ac.buffer_frames = 64;
    const node_audio_backend_t *va = node_audio_backend("virtual");
    node_audio_stream_t *st = NULL;
    if (va->open(&st, &ac, node_capture_rt_process, cap, err, sizeof err) ||
        va->start(st, err, sizeof err)) {
        fprintf(stderr, "bench_midi_jitter: audio: %s\n", err);
        return 1;
    }
    pthread_t drain;
    pthread_create(&drain, NULL, s_drain, cap);
    const node_midi_backend_t *vm = node_midi_backend("virtual");
    node_midi_port_t *port = NULL;
    vm->open(&port, NULL, sim, err, sizeof err);
    node_midi_sched_t *midi = node_midi_sched_new(vm, port);

    int64_t *late = calloc((size_t)events, sizeof *late);
    int64_t spacing = (int64_t)(spacing_ms * BB_NS_PER_MS);
    int64_t t0 = bb_mono_ns() + 100 * BB_NS_PER_MS;
    int posted = 0, got = 0, failed = 0;
    while (got < events) {
        while (posted < events && posted - got < AHEAD) {
            node_midi_event_t ev = {.tag = (uint64_t)posted,
                                    .deadline_ns = t0 + posted * spacing,
                                    .len = 3,
                                    .msg = {(uint8_t)(posted % 2 ? 0x80 : 0x90), 60, 100}};
            if (node_midi_sched_post(midi, &ev) == 0)
                posted++;
            else
                break;
        }
        node_midi_event_t r;
        while (node_midi_sched_report(midi, &r)) {
            late[got++] = r.sent_ns - r.deadline_ns;
            failed += r.status != 0;
        }
        bb_sleep_ms(1);
    }
    node_midi_sched_destroy(&midi);
    vm->close(port);
    atomic_store(&s_stop, true);
    pthread_join(drain, NULL);
    va->stop(st);
    va->close(st);

    qsort(late, (size_t)events, sizeof *late, s_cmp);
    int64_t sum = 0;
    for (int i = 0; i < events; i++)
        sum += late[i];
    printf("bench_midi_jitter: %d events %.1f ms apart through midi_sched + virtual MIDI, "
           "virtual audio running (64-frame blocks)\n",
           events, spacing_ms);
    printf("  sent - deadline: p50 %.1f us   p99 %.1f us   max %.1f us   min %.1f us   mean %.1f "
           "us   (%d send errors)\n",
           late[events / 2] / 1e3, late[(int)(0.99 * (events - 1))] / 1e3, late[events - 1] / 1e3,
           late[0] / 1e3, (double)sum / events / 1e3, failed);
    struct sched_param sp = {.sched_priority = sched_get_priority_min(SCHED_FIFO) + 10};
    int fifo = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
    printf("  SCHED_FIFO %s to this process (the MIDI thread asks for it)\n",
           fifo ? "is granted" : "is refused");
    free(late);
    free(cap);
    free(ring);
    free(blocks);
    node_sim_destroy(&sim);
    return 0;
}
