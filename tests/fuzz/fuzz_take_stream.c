/*
 * fuzz_take_stream.c — libFuzzer target: take reception (coordinator/ingest.c) on any
 * sequence of TakeBegin, TakeChunk and TakeEnd a node could send.
 *
 * An input is a list of operations, each an opcode byte and its fields taken from the
 * bytes that follow (zero when the input runs out):
 *   0  TakeBegin  take id (one of 4, or a byte string), rate, channels, limit in bytes
 *   1  TakeChunk  take id, seq, a length and that many data bytes
 *   2  TakeEnd    take id, frames, note-on, note-off, crc (or the true one), chunks
 *   3  drop, 4 expire
 * The takes folder is in /dev/shm, emptied between inputs and removed at exit. Ingest must refuse
 * what is wrong with a status, never crash, leak a descriptor or write outside its folder.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bb_crc32.h"
#include "bb_fs.h"
#include "bb_log.h"
#include "bb_rpc.h"
#include "ingest.h"

typedef struct {
    const uint8_t *p;
    size_t left;
} s_in_t;

static uint32_t s_u32(s_in_t *in, int bytes)
{
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v <<= 8;
        if (in->left) {
            v |= *in->p++;
            in->left--;
        }
    }
    return v;
}

static const char *const s_ids[] = {"b1-i0-s0-a1", "b1-i0-s1-a1", "b2-i1-s0-a2", "../b1"};

static char s_dir[256];

/* libFuzzer ends a timed run with exit(): the takes folder goes with it. */
static void s_remove_dir(void)
{
    bb_rm_rf(s_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!*s_dir) {
        bb_log_set_level(BB_LOG_ERROR);
        snprintf(s_dir, sizeof s_dir, "%s/bbfuzz-takes-%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
        atexit(s_remove_dir);
    }
    bb_rm_rf(s_dir);
    bb_mkdir_p(s_dir);
    coord_ingest_t *ing = coord_ingest_new(s_dir);
    s_in_t in = {data, size};
    uint32_t crc[4] = {0};
    char msg[512];
    for (int ops = 0; in.left && ops < 64; ops++) {
        unsigned op = s_u32(&in, 1) % 5;
        const char *id = s_ids[s_u32(&in, 1) % 4];
        int which = 0;
        for (int k = 0; k < 4; k++)
            if (s_ids[k] == id)
                which = k;
        if (op == 0) {
            Bb__TakeJob job = BB__TAKE_JOB__INIT;
            job.take_id = (char *)id;
            job.batch_id = s_u32(&in, 1);
            job.instrument = "Fuzz";
            Bb__TakeFormat fmt = BB__TAKE_FORMAT__INIT;
            static const uint32_t rates[] = {44100, 48000, 88200, 96000, 12345};
            fmt.sample_rate = rates[s_u32(&in, 1) % 5];
            fmt.channels = s_u32(&in, 1) % 10;
            Bb__TakeBeginRequest req = BB__TAKE_BEGIN_REQUEST__INIT;
            req.node = "n";
            req.job = &job;
            req.format = &fmt;
            uint32_t limit = s_u32(&in, 3);
            coord_ingest_begin(ing, &req, "n", limit, msg, sizeof msg);
            crc[which] = 0;
        } else if (op == 1) {
            uint32_t seq = s_u32(&in, 1);
            size_t len = s_u32(&in, 2) % 4096;
            if (len > in.left)
                len = in.left;
            Bb__TakeChunkRequest req = BB__TAKE_CHUNK_REQUEST__INIT;
            req.take_id = (char *)id;
            req.seq = seq;
            req.data.data = (uint8_t *)in.p;
            req.data.len = len;
            if (coord_ingest_chunk(ing, &req, msg, sizeof msg) == BB_STATUS_OK)
                crc[which] = bb_crc32(crc[which], in.p, len);
            in.p += len;
            in.left -= len;
        } else if (op == 2) {
            Bb__TakeEndRequest req = BB__TAKE_END_REQUEST__INIT;
            req.take_id = (char *)id;
            req.frames = s_u32(&in, 2);
            req.note_on_frame = (int32_t)s_u32(&in, 2) - 100;
            req.note_off_frame = (int32_t)s_u32(&in, 2) - 100;
            uint32_t c = s_u32(&in, 1);
            req.crc32 = c == 0 ? crc[which] : c;
            req.chunks = s_u32(&in, 1);
            dsp_raw_meta_t meta;
            char path[1400];
            coord_ingest_end(ing, &req, &meta, path, sizeof path, msg, sizeof msg);
        } else if (op == 3) {
            coord_ingest_drop(ing, id);
        } else {
            coord_ingest_expire(ing, 0);
        }
    }
    coord_ingest_destroy(&ing);
    return 0;
}
