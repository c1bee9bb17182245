/*
 * recorder_pass.c — the take passes of recorder_pass.h: plain loops over the history
 * ring, each resuming where its position says it stopped.
 */
#include "recorder_pass.h"

#include <math.h>

/* Pre-roll halves within this power ratio (0.5 dB) count as steady room noise. */
#define S_STEADY_RATIO 1.122

int64_t node_pass_ms_to_frames(uint32_t rate, double ms)
{
    return (int64_t)llround(ms * rate / 1000.0);
}

uint32_t node_history_run(const node_history_t *h, int64_t frame, int64_t n)
{
    uint64_t at = (uint64_t)frame & h->mask;
    uint64_t run = h->cap - at;
    return (uint32_t)((int64_t)run < n ? (int64_t)run : n);
}

double node_history_window_db(const node_history_t *h, int64_t pos, int64_t win)
{
    double loudest = 0;
    for (uint32_t c = 0; c < h->channels; c++) {
        double sq = 0;
        for (int64_t i = 0; i < win; i++) {
            float v = node_history_at(h, pos + i)[c];
            sq += (double)v * v;
        }
        if (sq / win > loudest)
            loudest = sq / win;
    }
    return loudest > 0 ? 10.0 * log10(loudest) : NODE_REC_MIN_FLOOR_DB;
}

void node_pass_noise(node_take_pass_t *t, const node_history_t *h, node_room_floor_t *room)
{
    if (t->noise_done)
        return;
    int64_t stop = t->on_frame < h->end ? t->on_frame : h->end;
    for (; t->noise_pos < stop; t->noise_pos++) {
        const float *f = node_history_at(h, t->noise_pos);
        int half = t->noise_pos >= (t->start_frame + t->on_frame) / 2;
        for (uint32_t c = 0; c < h->channels; c++) {
            t->noise_sq[c] += (double)f[c] * f[c];
            t->noise_half_sq[half] += (double)f[c] * f[c];
        }
        t->noise_n++;
    }
    if (t->noise_pos >= t->on_frame) {
        double worst = 0;
        for (uint32_t c = 0; c < h->channels; c++)
            if (t->noise_n && t->noise_sq[c] / t->noise_n > worst)
                worst = t->noise_sq[c] / t->noise_n;
        double db = worst > 0 ? 10.0 * log10(worst) : NODE_REC_MIN_FLOOR_DB;
        if (db < NODE_REC_MIN_FLOOR_DB)
            db = NODE_REC_MIN_FLOOR_DB;
        /* Only a steady pre-roll (its halves within 0.5 dB) may raise the floor: one that
         * still holds a decaying tail says nothing about the room. */
        double h0 = t->noise_half_sq[0], h1 = t->noise_half_sq[1];
        bool steady = h0 > 0 && h1 > 0 && h0 < S_STEADY_RATIO * h1 && h1 < S_STEADY_RATIO * h0;
        if (room->known && db > room->db) {
            if (steady)
                room->db = db - room->db > NODE_REC_FLOOR_CREEP_DB
                               ? room->db + NODE_REC_FLOOR_CREEP_DB
                               : db;
            db = room->db;
        } else {
            room->db = db;
            room->known = true;
        }
        t->noise_db = db;
        t->noise_done = true;
    }
}

void node_pass_release(node_take_pass_t *t, const node_history_t *h, uint32_t rate, double floor_db)
{
    if (t->end_frame >= 0 || t->noise_pos < t->on_frame)
        return;
    const int64_t win = node_pass_ms_to_frames(rate, NODE_REC_WINDOW_MS);
    const int64_t quiet_need = node_pass_ms_to_frames(rate, NODE_REC_QUIET_MS);
    const double quiet_db = t->noise_db + floor_db;
    while (t->env_pos + win <= h->end && t->end_frame < 0) {
        double db = node_history_window_db(h, t->env_pos, win);
        t->env_pos += win;
        t->quiet_frames = db <= quiet_db ? t->quiet_frames + (uint32_t)win : 0;
        if (t->quiet_frames >= quiet_need)
            t->end_frame = t->env_pos;
        else if (t->env_pos >= t->end_limit) {
            t->end_frame = t->end_limit;
            t->capped = true;
        }
    }
}

void node_pass_keyup(node_take_pass_t *t, const node_history_t *h, uint32_t rate)
{
    if (t->keyup_done || t->off_frame <= t->start_frame)
        return;
    int64_t win = node_pass_ms_to_frames(rate, NODE_REC_WINDOW_MS);
    int64_t from = t->off_frame - win;
    if (from < t->start_frame)
        from = t->start_frame;
    if (t->off_frame > h->end || from < h->end - (int64_t)h->cap || t->off_frame <= from)
        return; /* not there yet (or no longer: then it stays unmeasured) */
    t->keyup_db = node_history_window_db(h, from, t->off_frame - from);
    t->keyup_done = true;
}

int node_pass_spool(node_take_pass_t *t, const node_history_t *h, node_pass_write_fn write,
                    void *arg)
{
    int64_t stop = h->end;
    int64_t end = t->end_frame >= 0 ? t->end_frame : t->end_limit;
    if (end < stop)
        stop = end;
    while (t->written_until < stop) {
        uint32_t n = node_history_run(h, t->written_until, stop - t->written_until);
        int rc = write(arg, node_history_at(h, t->written_until), n);
        if (rc)
            return rc;
        t->written_until += n;
    }
    return 0;
}
