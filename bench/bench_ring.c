/*
 * bench_ring.c — throughput of the SPSC ring (ring.h) the audio callback writes and the
 * recorder reads. Prints figures; asserts nothing.
 *
 *   bench_ring [seconds]
 *
 * Two threads, as in the node: a producer writing blocks of 256 stereo float frames (a
 * callback's worth) as fast as the ring takes them, a consumer reading up to 4096 frames
 * at a time, over a ring of 2^16 frames. Then the same on one thread (write a block, read
 * it back) for the cost of the operations without cross-core traffic. A 48 kHz stereo
 * stream needs 48 000 frames/s.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ring.h"

#define CHANNELS    2
#define RING_FRAMES (1u << 16)
#define BLOCK       256
#define READ_MAX    4096

static node_ring_t s_ring;
static atomic_bool s_stop;
static _Atomic uint64_t s_read_frames;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *s_consumer(void *arg)
{
    float *buf = malloc(sizeof(float) * CHANNELS * READ_MAX);
    uint64_t total = 0;
    float check = 0;
    while (!atomic_load_explicit(&s_stop, memory_order_relaxed) || node_ring_readable(&s_ring)) {
        size_t n = node_ring_read(&s_ring, buf, READ_MAX);
        if (n)
            check += buf[0];
        total += n;
    }
    atomic_store(&s_read_frames, total);
    free(buf);
    return (void *)(uintptr_t)(check != 0.5f); /* keep the reads */
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    void *storage = malloc(node_ring_storage_size(sizeof(float) * CHANNELS, RING_FRAMES));
    float block[BLOCK * CHANNELS];
    for (int i = 0; i < BLOCK * CHANNELS; i++)
        block[i] = (float)i / (BLOCK * CHANNELS);
    node_ring_init(&s_ring, storage, sizeof(float) * CHANNELS, RING_FRAMES);

    pthread_t consumer;
    pthread_create(&consumer, NULL, s_consumer, NULL);
    uint64_t written = 0, full = 0;
    double t0 = s_now(), t1;
    do {
        for (int k = 0; k < 64; k++) {
            size_t n = node_ring_write(&s_ring, block, BLOCK);
            written += n;
            full += n < BLOCK;
        }
        t1 = s_now();
    } while (t1 - t0 < seconds);
    atomic_store(&s_stop, true);
    pthread_join(consumer, NULL);
    double rate = (double)atomic_load(&s_read_frames) / (t1 - t0);
    printf("bench_ring: SPSC ring, %d-ch float frames, ring %u frames, blocks of %d\n", CHANNELS,
           RING_FRAMES, BLOCK);
    printf("  two threads : %.1f M frames/s (%.2f GB/s), %.0fx a 48 kHz stereo stream; "
           "producer found it full %llu times\n",
           rate / 1e6, rate * CHANNELS * sizeof(float) / 1e9, rate / 48000.0,
           (unsigned long long)full);

    float out[BLOCK * CHANNELS];
    uint64_t frames = 0;
    float check = 0;
    t0 = s_now();
    do {
        for (int k = 0; k < 1024; k++) {
            node_ring_write(&s_ring, block, BLOCK);
            frames += node_ring_read(&s_ring, out, BLOCK);
            check += out[k % (BLOCK * CHANNELS)];
        }
        t1 = s_now();
    } while (t1 - t0 < seconds / 2);
    rate = (double)frames / (t1 - t0);
    printf("  one thread  : %.1f M frames/s write+read (%.1f ns per %d-frame block)%s\n",
           rate / 1e6, (t1 - t0) / ((double)frames / BLOCK) * 1e9, BLOCK, check < 0 ? " " : "");
    free(storage);
    return 0;
}
