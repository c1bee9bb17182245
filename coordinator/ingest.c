/*
 * ingest.c — take reception of ingest.h.
 *
 * Chunks are byte ranges of interleaved float32 little-endian frames; a chunk boundary
 * may fall inside a frame (a 3-channel frame is 12 bytes), so up to one partial frame is
 * carried over to the next chunk. The CRC covers the bytes exactly as they arrived.
 */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_clock.h"
#include "bb_crc32.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_log.h"
#include "bb_pb.h"
#include "bb_rpc.h"
#include "bb_take_id.h"

#define COORD_MAX_FRAME_BYTES (8 * 4)

typedef struct {
    char id[BB_TAKE_ID_MAX + 1];
    char node[64];
    char dir[1200];
    char part[1400];
    Bb__TakeJob *job;
    uint32_t rate, channels;
    int fd;
    SNDFILE *sf;
    uint32_t next_seq;
    uint32_t crc;
    uint64_t bytes;
    uint64_t max_bytes; /* what the plan allows this take */
    uint64_t frames;
    uint8_t carry[COORD_MAX_FRAME_BYTES];
    size_t carry_len;
    int64_t last_ms;
} s_take_t;

struct coord_ingest_t {
    char dir[1024];
    s_take_t *takes[COORD_INGEST_MAX];
    size_t n;
};

static int64_t s_now_ms(void)
{
    return bb_mono_ns() / BB_NS_PER_MS;
}

coord_ingest_t *coord_ingest_new(const char *takes_dir)
{
    coord_ingest_t *self = calloc(1, sizeof *self);
    if (self)
        snprintf(self->dir, sizeof self->dir, "%s", takes_dir);
    return self;
}

static void s_free(s_take_t *t, bool remove_part)
{
    if (t->sf)
        sf_close(t->sf);
    if (t->fd >= 0)
        close(t->fd);
    if (remove_part)
        unlink(t->part);
    if (t->job)
        bb__take_job__free_unpacked(t->job, NULL);
    free(t);
}

void coord_ingest_destroy(coord_ingest_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_ingest_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        s_free(self->takes[i], true);
    free(self);
    *self_p = NULL;
}

static s_take_t *s_find(coord_ingest_t *self, const char *id, size_t *at)
{
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp(self->takes[i]->id, id) == 0) {
            if (at)
                *at = i;
            return self->takes[i];
        }
    }
    return NULL;
}

void coord_ingest_drop(coord_ingest_t *self, const char *take_id)
{
    size_t at;
    s_take_t *t = s_find(self, take_id, &at);
    if (!t)
        return;
    s_free(t, true);
    self->takes[at] = self->takes[--self->n];
}

const char *coord_ingest_node(coord_ingest_t *self, const char *take_id)
{
    s_take_t *t = s_find(self, take_id, NULL);
    return t ? t->node : NULL;
}

size_t coord_ingest_count_node(coord_ingest_t *self, const char *node)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++)
        n += strcmp(self->takes[i]->node, node) == 0;
    return n;
}

void coord_ingest_expire(coord_ingest_t *self, int64_t max_idle_ms)
{
    int64_t now = s_now_ms();
    for (size_t i = 0; i < self->n;) {
        if (now - self->takes[i]->last_ms > max_idle_ms) {
            bb_warn("take %s: stream from %s went silent; dropping the partial copy",
                    self->takes[i]->id, self->takes[i]->node);
            coord_ingest_drop(self, self->takes[i]->id);
        } else {
            i++;
        }
    }
}

int coord_ingest_check(const Bb__TakeBeginRequest *req, char *msg, size_t len)
{
    const Bb__TakeJob *job = req->job;
    const Bb__TakeFormat *fmt = req->format;
    if (!job || !fmt) {
        snprintf(msg, len, "TakeBegin needs the job and the format");
        return BB_STATUS_INVALID_ARGUMENT;
    }
    if (!bb_take_id_ok(job->take_id)) {
        snprintf(msg, len, "take id '%.100s' is not acceptable", job->take_id);
        return BB_STATUS_INVALID_ARGUMENT;
    }
    if (fmt->format != BB__SAMPLE_FORMAT__FLOAT32_LE || fmt->channels < 1 || fmt->channels > 8 ||
        !(fmt->sample_rate == 44100 || fmt->sample_rate == 48000 || fmt->sample_rate == 88200 ||
          fmt->sample_rate == 96000)) {
        snprintf(msg, len, "take %s: unsupported format (%u Hz, %u channels)", job->take_id,
                 fmt->sample_rate, fmt->channels);
        return BB_STATUS_INVALID_ARGUMENT;
    }
    return BB_STATUS_OK;
}

int coord_ingest_begin(coord_ingest_t *self, const Bb__TakeBeginRequest *req, const char *node,
                       uint64_t max_bytes, char *msg, size_t len)
{
    int status = coord_ingest_check(req, msg, len);
    if (status != BB_STATUS_OK)
        return status;
    const Bb__TakeJob *job = req->job;
    const Bb__TakeFormat *fmt = req->format;
    coord_ingest_drop(self, job->take_id); /* a restarted stream starts over */
    if (coord_ingest_count_node(self, node) >= COORD_INGEST_PER_NODE) {
        snprintf(msg, len, "node %s is sending %d takes already; finish those first", node,
                 COORD_INGEST_PER_NODE);
        return BB_STATUS_RESOURCE_EXHAUSTED;
    }
    if (self->n == COORD_INGEST_MAX) {
        snprintf(msg, len, "the coordinator is receiving %d takes already; try again",
                 COORD_INGEST_MAX);
        return BB_STATUS_RESOURCE_EXHAUSTED;
    }
    s_take_t *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(msg, len, "out of memory");
        return BB_STATUS_RESOURCE_EXHAUSTED;
    }
    t->fd = -1;
    snprintf(t->id, sizeof t->id, "%s", job->take_id);
    snprintf(t->node, sizeof t->node, "%s", node);
    t->max_bytes = max_bytes;
    snprintf(t->dir, sizeof t->dir, "%s/b%llu", self->dir, (unsigned long long)job->batch_id);
    snprintf(t->part, sizeof t->part, "%s/%s.wav.part", t->dir, t->id);
    t->rate = fmt->sample_rate;
    t->channels = fmt->channels;
    t->job = BB_PB_COPY(Bb__TakeJob, job);
    t->last_ms = s_now_ms();
    int rc = bb_mkdir_p(t->dir);
    if (!rc) {
        t->fd = open(t->part, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (t->fd < 0)
            rc = bb_err_from_errno(errno);
    }
    if (!rc) {
        SF_INFO info = {.samplerate = (int)t->rate,
                        .channels = (int)t->channels,
                        .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
        t->sf = sf_open_fd(t->fd, SFM_WRITE, &info, SF_FALSE);
        if (!t->sf)
            rc = BB_EIO;
    }
    if (rc || !t->job) {
        snprintf(msg, len, "cannot store take %s in %s: %s", t->id, t->dir,
                 rc ? bb_strerror(rc) : "out of memory");
        s_free(t, true);
        return rc ? bb_status_from_err(rc) : BB_STATUS_RESOURCE_EXHAUSTED;
    }
    self->takes[self->n++] = t;
    return BB_STATUS_OK;
}

int coord_ingest_chunk(coord_ingest_t *self, const Bb__TakeChunkRequest *req, char *msg, size_t len)
{
    s_take_t *t = s_find(self, req->take_id, NULL);
    if (!t) {
        snprintf(msg, len, "no take %s is being received (restart it with TakeBegin)",
                 req->take_id);
        return BB_STATUS_FAILED_PRECONDITION;
    }
    t->last_ms = s_now_ms();
    if (req->seq < t->next_seq)
        return BB_STATUS_OK; /* a resend of a chunk we have */
    if (req->seq > t->next_seq) {
        snprintf(msg, len, "take %s: chunk %u arrived, expected %u", t->id, req->seq, t->next_seq);
        return BB_STATUS_FAILED_PRECONDITION;
    }
    if (req->data.len > COORD_CHUNK_MAX_BYTES) {
        snprintf(msg, len, "take %s: chunk of %zu bytes is over the %d limit", t->id, req->data.len,
                 COORD_CHUNK_MAX_BYTES);
        coord_ingest_drop(self, req->take_id);
        return BB_STATUS_INVALID_ARGUMENT;
    }
    if (t->bytes + req->data.len > t->max_bytes) {
        snprintf(msg, len,
                 "take %s is longer than its plan allows (%.1f s of audio at most): refused", t->id,
                 (double)t->max_bytes / (t->channels * sizeof(float) * t->rate));
        coord_ingest_drop(self, req->take_id);
        return BB_STATUS_INVALID_ARGUMENT;
    }
    const size_t frame_bytes = t->channels * sizeof(float);
    const uint8_t *p = req->data.data;
    size_t left = req->data.len;
    t->crc = bb_crc32(t->crc, p, left);
    t->bytes += left;
    /* complete the carried partial frame */
    if (t->carry_len) {
        size_t need = frame_bytes - t->carry_len;
        size_t take = need < left ? need : left;
        memcpy(t->carry + t->carry_len, p, take);
        t->carry_len += take;
        p += take;
        left -= take;
        if (t->carry_len == frame_bytes) {
            float frame[8];
            memcpy(frame, t->carry, frame_bytes);
            if (sf_writef_float(t->sf, frame, 1) != 1)
                goto write_failed;
            t->frames++;
            t->carry_len = 0;
        }
    }
    size_t whole = left / frame_bytes;
    if (whole) {
        /* the payload may not be float-aligned; copy through an aligned buffer */
        float buf[4096];
        size_t per = sizeof buf / frame_bytes;
        for (size_t done = 0; done < whole;) {
            size_t n = whole - done < per ? whole - done : per;
            memcpy(buf, p + done * frame_bytes, n * frame_bytes);
            if (sf_writef_float(t->sf, buf, (sf_count_t)n) != (sf_count_t)n)
                goto write_failed;
            done += n;
        }
        t->frames += whole;
        p += whole * frame_bytes;
        left -= whole * frame_bytes;
    }
    memcpy(t->carry, p, left);
    t->carry_len = left;
    t->next_seq++;
    return BB_STATUS_OK;

write_failed:;
    int werr = bb_err_from_errno(errno);
    snprintf(msg, len, "take %s: writing failed on the coordinator (%s); the node keeps it", t->id,
             werr != BB_EIO ? bb_strerror(werr) : sf_strerror(t->sf));
    int status = bb_status_from_err(werr);
    coord_ingest_drop(self, req->take_id);
    return status;
}

int coord_ingest_end(coord_ingest_t *self, const Bb__TakeEndRequest *req, dsp_raw_meta_t *meta,
                     char *wav_path, size_t path_len, char *msg, size_t len)
{
    size_t at;
    s_take_t *t = s_find(self, req->take_id, &at);
    if (!t) {
        snprintf(msg, len, "no take %s is being received (restart it with TakeBegin)",
                 req->take_id);
        return BB_STATUS_FAILED_PRECONDITION;
    }
    if (req->chunks != t->next_seq || t->carry_len != 0 || req->frames != t->frames ||
        req->crc32 != t->crc) {
        snprintf(msg, len,
                 "take %s arrived damaged (chunks %u/%u, frames %llu/%llu, crc %08x/%08x); "
                 "send it again",
                 t->id, t->next_seq, req->chunks, (unsigned long long)t->frames,
                 (unsigned long long)req->frames, t->crc, req->crc32);
        coord_ingest_drop(self, req->take_id);
        return BB_STATUS_DATA_LOSS;
    }
    if (req->note_on_frame < 0 || (uint64_t)req->note_on_frame > t->frames ||
        req->note_off_frame < req->note_on_frame) {
        snprintf(msg, len, "take %s: note-on/off frames %lld/%lld do not fit its %llu frames",
                 t->id, (long long)req->note_on_frame, (long long)req->note_off_frame,
                 (unsigned long long)t->frames);
        coord_ingest_drop(self, req->take_id);
        return BB_STATUS_INVALID_ARGUMENT;
    }
    int close_rc = sf_close(t->sf);
    t->sf = NULL;
    int rc = close_rc == 0 && fsync(t->fd) == 0 ? 0 : bb_err_from_errno(errno);
    close(t->fd);
    t->fd = -1;
    char final[1400] = "", side[1400] = "";
    /* the caller's buffer must hold the WAV path too: checked before anything moves */
    if (!rc)
        rc = bb_path_fmt(final, sizeof final, "%s/%s.wav", t->dir, t->id);
    if (!rc)
        rc = bb_path_fmt(side, sizeof side, "%s/%s.json", t->dir, t->id);
    if (!rc)
        rc = bb_path_fmt(wav_path, path_len, "%s", final);
    if (!rc && rename(t->part, final) != 0)
        rc = bb_err_from_errno(errno);

    memset(meta, 0, sizeof *meta);
    const Bb__TakeJob *job = t->job;
    snprintf(meta->take_id, sizeof meta->take_id, "%s", t->id);
    snprintf(meta->instrument, sizeof meta->instrument, "%s", job->instrument);
    snprintf(meta->node, sizeof meta->node, "%s", t->node);
    meta->batch_id = job->batch_id;
    /* Take ids are "b<batch>-i<instrument>-s<seq>-a<attempt>" (service_node.c). */
    if (sscanf(t->id, "b%*u-i%d-", &meta->inst_idx) != 1)
        meta->inst_idx = 0;
    meta->note = (int)job->note;
    meta->velocity = (int)job->velocity;
    meta->round_robin = (int)job->round_robin;
    meta->release_trigger = job->release_trigger;
    meta->note_on_frame = req->note_on_frame;
    meta->note_off_frame = req->note_off_frame;
    meta->frames = (int64_t)t->frames;
    meta->sample_rate = (int)t->rate;
    meta->channels = (int)t->channels;
    meta->stream_start_frame = (int64_t)req->stream_start_frame;
    meta->latency_offset_ms = req->latency_offset_ms;
    meta->noise_floor_db = req->noise_floor_db;
    meta->xruns = (int64_t)req->xruns;
    meta->release_capped = req->release_capped;
    meta->attempt = (int)job->attempt;
    meta->start_unix = req->start_unix;
    meta->has_keyup = req->has_keyup;
    meta->keyup_level_db = req->keyup_level_db;
    if (!rc)
        rc = dsp_raw_write_sidecar(side, meta);
    if (!rc)
        rc = bb_fsync_dir(t->dir);
    if (rc) {
        snprintf(msg, len, "take %s could not be made durable: %s; the node keeps it", t->id,
                 bb_strerror(rc));
        if (*final)
            unlink(final);
        if (*side)
            unlink(side);
        coord_ingest_drop(self, req->take_id);
        return bb_status_from_err(rc);
    }
    s_free(t, false);
    self->takes[at] = self->takes[--self->n];
    return BB_STATUS_OK;
}
