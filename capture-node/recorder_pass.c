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
        t->preroll_db = db;
        /* Only a steady pre-roll (its halves within 0.5 dB) after a wait for quiet that ran
         * out may raise the floor: one that still holds a decaying tail says nothing about
         * the room, and one just over the floor after a wait that succeeded is the end of
         * the instrument's own tail. */
        double h0 = t->noise_half_sq[0], h1 = t->noise_half_sq[1];
        bool steady = h0 > 0 && h1 > 0 && h0 < S_STEADY_RATIO * h1 && h1 < S_STEADY_RATIO * h0;
        if (room->known && db > room->db) {
            if (steady && t->room_may_rise)
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

static double s_db(double power)
{
    double db = power > 0 ? 10.0 * log10(power) : NODE_REC_MIN_FLOOR_DB;
    return db < NODE_REC_MIN_FLOOR_DB ? NODE_REC_MIN_FLOOR_DB : db;
}

/* Mean power of the `k` windows ending `back` windows before the newest. */
static double s_quiet_mean(const node_quiet_pass_t *q, uint32_t back, uint32_t k)
{
    double sum = 0;
    for (uint32_t i = 0; i < k; i++)
        sum +=
            q->pow[(q->head + 2 * NODE_REC_QUIET_WINDOWS - 1 - back - i) % NODE_REC_QUIET_WINDOWS];
    return sum / k;
}

void node_pass_quiet(node_quiet_pass_t *q, const node_history_t *h, uint32_t rate)
{
    const int64_t win = node_pass_ms_to_frames(rate, NODE_REC_WINDOW_MS);
    const uint32_t span = NODE_REC_QUIET_WINDOWS / 2;
    if (q->quiet_at >= 0)
        return;
    if (q->pos < h->end - (int64_t)h->cap) { /* fell out of the history: start again */
        q->pos = h->end - (int64_t)h->cap;
        q->n = 0;
    }
    while (q->quiet_at < 0 && q->pos + win <= h->end) {
        double db = node_history_window_db(h, q->pos, win);
        q->pos += win;
        q->pow[q->head] = db > NODE_REC_MIN_FLOOR_DB ? pow(10.0, db / 10.0) : 0;
        q->head = (q->head + 1) % NODE_REC_QUIET_WINDOWS;
        if (q->n < NODE_REC_QUIET_WINDOWS)
            q->n++;
        bool quiet = false;
        if (q->floor_known && q->n >= span) {
            q->level_db = s_db(s_quiet_mean(q, 0, span));
            quiet = q->level_db <= q->floor_db + NODE_REC_QUIET_MARGIN_DB;
        } else if (!q->floor_known && q->n >= 2 * span) {
            double last = s_quiet_mean(q, 0, span), before = s_quiet_mean(q, span, span);
            q->level_db = s_db(last);
            quiet = fabs(s_db(last) - s_db(before)) <= NODE_REC_STEADY_DB;
        }
        if (quiet) {
            q->quiet_at = q->pos;
        } else if (q->pos >= q->limit) {
            q->quiet_at = q->pos;
            q->timed_out = true;
        }
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
