/*
 * meter.c — see meter.h.
 */
#include "meter.h"

#include <math.h>
#include <string.h>

#include "bb_clock.h"

static float s_db(float linear)
{
    return linear > 0.0f ? fmaxf(20.0f * log10f(linear), NODE_METER_FLOOR_DB) : NODE_METER_FLOOR_DB;
}

void node_meter_init(node_meter_t *m, node_capture_t *cap)
{
    memset(m, 0, sizeof *m);
    m->cap = cap;
    m->channels = cap->channels;
    pthread_mutex_init(&m->lock, NULL);
    for (uint32_t c = 0; c < NODE_MAX_CHANNELS; c++) {
        m->out[c] = (Bb__ChannelMeter)BB__CHANNEL_METER__INIT;
        m->out_p[c] = &m->out[c];
    }
}

void node_meter_destroy(node_meter_t *m)
{
    pthread_mutex_destroy(&m->lock);
}

/* Takes the callback's unread peaks and its latest RMS into `m`; the caller holds m->lock. */
static void s_fold(node_meter_t *m, int64_t now_ns)
{
    float peaks[NODE_MAX_CHANNELS];
    node_meters_t latest;
    node_capture_take_peaks(m->cap, peaks);
    node_capture_meters(m->cap, &latest);
    for (uint32_t c = 0; c < m->channels; c++) {
        if (peaks[c] > m->peak[c])
            m->peak[c] = peaks[c];
        m->rms[c] = latest.rms[c];
        if (peaks[c] >= m->hold[c] || now_ns - m->hold_at[c] > NODE_METER_HOLD_MS * BB_NS_PER_MS) {
            m->hold[c] = peaks[c];
            m->hold_at[c] = now_ns;
        }
    }
}

void node_meter_update(node_meter_t *m, int64_t now_ns)
{
    pthread_mutex_lock(&m->lock);
    s_fold(m, now_ns);
    pthread_mutex_unlock(&m->lock);
}

/* Fills m->out from the levels folded so far; the caller holds m->lock. */
static void s_fill(node_meter_t *m, Bb__HeartbeatRequest *req)
{
    for (uint32_t c = 0; c < m->channels; c++) {
        m->out[c].peak_db = s_db(m->peak[c]);
        m->out[c].rms_db = s_db(m->rms[c]);
        m->out[c].peak_hold_db = s_db(m->hold[c]);
        m->out[c].clipped_samples = atomic_load(&m->cap->clipped[c]);
    }
    req->meters = m->out_p;
    req->n_meters = m->channels;
}

bool node_meter_report(node_meter_t *m, Bb__HeartbeatRequest *req, int64_t now_ns)
{
    pthread_mutex_lock(&m->lock);
    s_fold(m, now_ns); /* the peak since the last report, however late the 50 Hz update is */
    uint64_t frames = atomic_load_explicit(&m->cap->frames_total, memory_order_relaxed);
    bool fresh = frames != m->report_frames ||
                 now_ns - m->report_at >= (int64_t)NODE_METER_STALE_MS * BB_NS_PER_MS;
    if (fresh) {
        s_fill(m, req);
        for (uint32_t c = 0; c < m->channels; c++)
            m->peak[c] = 0.0f;
        m->report_frames = frames;
        m->report_at = now_ns;
    }
    pthread_mutex_unlock(&m->lock);
    return fresh;
}

void node_meter_snapshot(node_meter_t *m, Bb__HeartbeatRequest *req)
{
    pthread_mutex_lock(&m->lock);
    s_fill(m, req);
    pthread_mutex_unlock(&m->lock);
}
