/*
 * capture_rt.c — the audio callback. Everything here runs on the audio device's realtime
 * thread: no allocation, no locks, no logging, no system calls, loops bounded by the
 * block size and the channel count.
 *
 * Meters are published with a seqlock: the callback makes the sequence odd, stores the
 * values, makes it even again; a reader that sees an odd or changed sequence reads again.
 * The writer never waits. The ordering comes from the values' own release stores and
 * acquire loads rather than from fences: each value's release store keeps the odd
 * sequence before it, each acquire load keeps the second sequence read after it (same
 * cost on x86, and ThreadSanitizer, which does not model fences, checks it).
 */
#include "capture_rt.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "bb_err.h"

#define NODE_METER_PUBLISH_HZ 100

static uint32_t s_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float s_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

int node_capture_init(node_capture_t *cap, uint32_t channels, uint32_t sample_rate,
                      void *audio_storage, uint32_t ring_frames, void *block_storage,
                      uint32_t block_slots)
{
    if (!cap || channels < 1 || channels > NODE_MAX_CHANNELS || sample_rate == 0)
        return BB_EINVAL;
    memset(cap, 0, sizeof *cap);
    int rc = node_ring_init(&cap->audio, audio_storage, channels * sizeof(float), ring_frames);
    if (rc)
        return rc;
    rc = node_ring_init(&cap->blocks, block_storage, sizeof(node_block_t), block_slots);
    if (rc)
        return rc;
    cap->channels = channels;
    cap->sample_rate = sample_rate;
    cap->publish_frames = sample_rate / NODE_METER_PUBLISH_HZ;
    atomic_init(&cap->monitor, false);
    return 0;
}

/* One write per page of [p, p + len): the kernel maps each page at its first write. */
static void s_touch(void *p, size_t len, size_t page)
{
    volatile uint8_t *b = p;
    for (size_t off = 0; off < len; off += page)
        b[off] = 0;
    if (len)
        b[len - 1] = 0;
}

void node_capture_prefault(node_capture_t *cap)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t step = page > 0 ? (size_t)page : 4096;
    s_touch(cap->audio.buf, cap->audio.capacity * cap->audio.elem_size, step);
    s_touch(cap->blocks.buf, cap->blocks.capacity * cap->blocks.elem_size, step);
}

static void s_publish_meters(node_capture_t *cap)
{
    uint32_t seq = atomic_load_explicit(&cap->meter_seq, memory_order_relaxed);
    atomic_store_explicit(&cap->meter_seq, seq + 1, memory_order_relaxed);
    for (uint32_t c = 0; c < cap->channels; c++) {
        float rms = cap->acc_frames ? (float)sqrt(cap->acc_sq[c] / cap->acc_frames) : 0.0f;
        atomic_store_explicit(&cap->meter_peak[c], s_bits(cap->acc_peak[c]), memory_order_release);
        atomic_store_explicit(&cap->meter_rms[c], s_bits(rms), memory_order_release);
        cap->acc_peak[c] = 0.0f;
        cap->acc_sq[c] = 0.0;
    }
    atomic_store_explicit(&cap->meter_seq, seq + 2, memory_order_release);
    cap->acc_frames = 0;
}

void node_capture_rt_process(void *user, const float *in, float *out, uint32_t frames,
                             int64_t adc_ns, uint32_t flags)
{
    node_capture_t *cap = user;
    const uint32_t ch = cap->channels;

    if (out) {
        if (atomic_load_explicit(&cap->monitor, memory_order_relaxed) && in)
            memcpy(out, in, (size_t)frames * ch * sizeof(float));
        else
            memset(out, 0, (size_t)frames * ch * sizeof(float));
    }
    if (!in)
        return;

    size_t written = node_ring_write(&cap->audio, in, frames);
    if (written < frames) {
        flags |= NODE_CAPTURE_RING_FULL;
        atomic_fetch_add_explicit(&cap->dropped_frames, frames - written, memory_order_relaxed);
    }
    if (flags & (NODE_AUDIO_INPUT_OVERFLOW | NODE_CAPTURE_RING_FULL))
        atomic_fetch_add_explicit(&cap->overflows, 1, memory_order_relaxed);

    node_block_t block = {
        .frame = cap->next_frame, .adc_ns = adc_ns, .frames = (uint32_t)written, .flags = flags};
    if (node_ring_write(&cap->blocks, &block, 1) == 0) {
        /* the recorder loses this block's time stamp: count it, and as an overflow once */
        atomic_fetch_add_explicit(&cap->lost_blocks, 1, memory_order_relaxed);
        if (!(flags & (NODE_AUDIO_INPUT_OVERFLOW | NODE_CAPTURE_RING_FULL)))
            atomic_fetch_add_explicit(&cap->overflows, 1, memory_order_relaxed);
    }
    cap->next_frame += written;

    float block_peak[NODE_MAX_CHANNELS] = {0};
    uint32_t clips[NODE_MAX_CHANNELS] = {0};
    for (uint32_t i = 0; i < frames; i++) {
        const float *f = in + (size_t)i * ch;
        for (uint32_t c = 0; c < ch; c++) {
            float a = fabsf(f[c]);
            if (a > block_peak[c])
                block_peak[c] = a;
            clips[c] += a >= NODE_CAPTURE_CLIP_LEVEL;
            cap->acc_sq[c] += (double)f[c] * f[c];
        }
    }
    for (uint32_t c = 0; c < ch; c++) {
        if (block_peak[c] > cap->acc_peak[c])
            cap->acc_peak[c] = block_peak[c];
        if (clips[c])
            atomic_fetch_add_explicit(&cap->clipped[c], clips[c], memory_order_relaxed);
        /* Raise the unread peak. The reader only ever swaps in 0, so a try fails only when
         * it read in between; two tries, then give up (bounded: this is the callback). */
        uint32_t bits = s_bits(block_peak[c]);
        uint32_t cur = atomic_load_explicit(&cap->peak_unread[c], memory_order_relaxed);
        for (int tries = 0; tries < 2 && bits > cur; tries++)
            if (atomic_compare_exchange_strong_explicit(&cap->peak_unread[c], &cur, bits,
                                                        memory_order_relaxed, memory_order_relaxed))
                break;
    }
    cap->acc_frames += frames;
    if (cap->acc_frames >= cap->publish_frames)
        s_publish_meters(cap);

    atomic_store_explicit(&cap->frames_total, cap->next_frame, memory_order_relaxed);
    atomic_store_explicit(&cap->last_callback_ns, adc_ns, memory_order_release);
}

void node_capture_meters(node_capture_t *cap, node_meters_t *out)
{
    uint32_t s1, s2;
    do {
        s1 = atomic_load_explicit(&cap->meter_seq, memory_order_acquire);
        for (uint32_t c = 0; c < cap->channels; c++) {
            out->peak[c] = s_float(atomic_load_explicit(&cap->meter_peak[c], memory_order_acquire));
            out->rms[c] = s_float(atomic_load_explicit(&cap->meter_rms[c], memory_order_acquire));
        }
        s2 = atomic_load_explicit(&cap->meter_seq, memory_order_relaxed);
    } while ((s1 & 1) || s1 != s2);
    out->channels = cap->channels;
    out->seq = s2;
}

void node_capture_take_peaks(node_capture_t *cap, float *peaks)
{
    for (uint32_t c = 0; c < cap->channels; c++)
        peaks[c] = s_float(atomic_exchange_explicit(&cap->peak_unread[c], 0, memory_order_relaxed));
}
