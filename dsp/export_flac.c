/*
 * export_flac.c — RIFF foreign metadata in FLAC (export_flac.h).
 *
 * The WAV file the blocks come from is written by libsndfile in memory with the same
 * audio and chunks as a WAV export (export_audio.c), so its sizes are the decoded file's.
 * Walking its chunk list is a few lines of RIFF (little-endian id + size, bodies padded
 * to even length); the blocks go in with libFLAC's metadata chain, which rewrites the file
 * when they do not fit in its padding.
 */
#include "export_flac.h"

#include <FLAC/metadata.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bb_err.h"

#define S_RIFF_HEADER  12 /* "RIFF" <size> "WAVE" */
#define S_CHUNK_HEADER 8  /* id, little-endian size */
#define S_MAX_BLOCKS   64

typedef struct {
    size_t offset, size;
} s_piece_t;

static uint32_t s_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The pieces flac would store, in order; returns how many, or -1 with a message. */
static int s_pieces(const unsigned char *wav, size_t len, s_piece_t *out, char *err, size_t errlen)
{
    if (len < S_RIFF_HEADER || memcmp(wav, "RIFF", 4) || memcmp(wav + 8, "WAVE", 4) ||
        (size_t)s_le32(wav + 4) + 8 != len) {
        snprintf(err, errlen, "not a whole RIFF/WAVE file");
        return -1;
    }
    int n = 0;
    out[n++] = (s_piece_t){0, S_RIFF_HEADER};
    bool fmt = false, data = false;
    for (size_t at = S_RIFF_HEADER; at < len;) {
        if (len - at < S_CHUNK_HEADER || n == S_MAX_BLOCKS) {
            snprintf(err, errlen, "damaged chunk list at byte %zu", at);
            return -1;
        }
        size_t body = s_le32(wav + at + 4);
        body += body & 1; /* pad byte */
        if (body > len - at - S_CHUNK_HEADER) {
            snprintf(err, errlen, "chunk at byte %zu runs past the end", at);
            return -1;
        }
        bool is_data = memcmp(wav + at, "data", 4) == 0;
        if (memcmp(wav + at, "fmt ", 4) == 0)
            fmt = true;
        if (is_data && (!fmt || data)) {
            snprintf(err, errlen, "\"data\" before \"fmt \" or twice");
            return -1;
        }
        data |= is_data;
        out[n++] = (s_piece_t){at, S_CHUNK_HEADER + (is_data ? 0 : body)};
        at += S_CHUNK_HEADER + body;
    }
    if (!fmt || !data) {
        snprintf(err, errlen, "no \"fmt \" or \"data\" chunk");
        return -1;
    }
    return n;
}

int dsp_flac_add_riff(const char *flac_path, const unsigned char *wav, size_t len, char *err,
                      size_t errlen)
{
    s_piece_t pieces[S_MAX_BLOCKS];
    char why[128];
    int n = s_pieces(wav, len, pieces, why, sizeof why);
    if (n < 0) {
        snprintf(err, errlen, "%s: cannot store its RIFF chunks: %s", flac_path, why);
        return BB_EINVAL;
    }
    int rc = BB_EIO;
    FLAC__Metadata_Chain *chain = FLAC__metadata_chain_new();
    FLAC__Metadata_Iterator *it = FLAC__metadata_iterator_new();
    if (!chain || !it) {
        snprintf(err, errlen, "%s: out of memory", flac_path);
        rc = BB_ENOMEM;
        goto cleanup;
    }
    if (!FLAC__metadata_chain_read(chain, flac_path)) {
        snprintf(err, errlen, "%s: cannot read its metadata: %s", flac_path,
                 FLAC__Metadata_ChainStatusString[FLAC__metadata_chain_status(chain)]);
        goto cleanup;
    }
    FLAC__metadata_iterator_init(it, chain);
    /* after the last block that is not padding: in front of the padding, in file order */
    for (FLAC__Metadata_Iterator *probe = it;;) {
        if (!FLAC__metadata_iterator_next(probe))
            break;
        if (FLAC__metadata_iterator_get_block_type(probe) == FLAC__METADATA_TYPE_PADDING) {
            FLAC__metadata_iterator_prev(probe);
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        FLAC__StreamMetadata *app = FLAC__metadata_object_new(FLAC__METADATA_TYPE_APPLICATION);
        if (!app ||
            !FLAC__metadata_object_application_set_data(app, (FLAC__byte *)(wav + pieces[i].offset),
                                                        (unsigned)pieces[i].size, true)) {
            FLAC__metadata_object_delete(app);
            snprintf(err, errlen, "%s: out of memory", flac_path);
            rc = BB_ENOMEM;
            goto cleanup;
        }
        memcpy(app->data.application.id, DSP_FLAC_RIFF_ID, 4);
        if (!FLAC__metadata_iterator_insert_block_after(it, app)) {
            FLAC__metadata_object_delete(app);
            snprintf(err, errlen, "%s: cannot add a metadata block", flac_path);
            goto cleanup;
        }
    }
    if (!FLAC__metadata_chain_write(chain, true, false)) {
        snprintf(err, errlen, "%s: cannot write its metadata: %s (disk full?)", flac_path,
                 FLAC__Metadata_ChainStatusString[FLAC__metadata_chain_status(chain)]);
        goto cleanup;
    }
    rc = 0;
cleanup:
    if (it)
        FLAC__metadata_iterator_delete(it);
    if (chain)
        FLAC__metadata_chain_delete(chain);
    return rc;
}
