/*
 * smf_write.c — see smf_write.h (why it is written here, and the format's source).
 */
#include "smf_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define S_DIVISION 500 /* ticks per quarter note at 500000 us per quarter: 1 tick = 1 ms */

static int s_len(uint8_t status)
{
    switch (status & 0xF0) {
    case 0xC0:
    case 0xD0:
        return 2;
    default:
        return 3;
    }
}

/* At one time: note-offs, then controllers (a bank select before its program change),
 * then program changes, bends and pressure, then note-ons. */
static int s_rank(const smf_event_t *e)
{
    switch (e->msg[0] & 0xF0) {
    case 0x80:
        return 0;
    case 0xB0:
        return 1;
    case 0x90:
        return 3;
    default:
        return 2;
    }
}

static int s_cmp(const void *pa, const void *pb)
{
    const smf_event_t *a = pa, *b = pb;
    if (a->t_ms != b->t_ms)
        return a->t_ms < b->t_ms ? -1 : 1;
    return s_rank(a) - s_rank(b);
}

/* A variable-length quantity: 7 bits per byte, most significant first. */
static size_t s_vlq(uint8_t *out, uint32_t v)
{
    uint8_t b[5];
    size_t n = 0;
    b[n++] = v & 0x7F;
    while (v >>= 7)
        b[n++] = (uint8_t)(0x80 | (v & 0x7F));
    for (size_t i = 0; i < n; i++)
        out[i] = b[n - 1 - i];
    return n;
}

int smf_write(const char *path, smf_event_t *ev, size_t n, int32_t tail_ms)
{
    qsort(ev, n, sizeof *ev, s_cmp);
    /* at most 5 + 3 bytes per event, the tempo and the end */
    uint8_t *trk = malloc(8 * n + 32);
    if (!trk)
        return -1;
    size_t len = 0;
    const uint8_t tempo[] = {0x00, 0xFF, 0x51, 0x03, 0x07, 0xA1, 0x20}; /* 500000 us */
    for (size_t i = 0; i < sizeof tempo; i++)
        trk[len++] = tempo[i];
    int32_t last = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t t = ev[i].t_ms > last ? ev[i].t_ms : last;
        len += s_vlq(trk + len, (uint32_t)(t - last));
        for (int k = 0; k < s_len(ev[i].msg[0]); k++)
            trk[len++] = ev[i].msg[k];
        last = t;
    }
    len += s_vlq(trk + len, (uint32_t)(tail_ms > 0 ? tail_ms : 0));
    trk[len++] = 0xFF, trk[len++] = 0x2F, trk[len++] = 0x00;
    const uint8_t hdr[] = {'M',
                           'T',
                           'h',
                           'd',
                           0,
                           0,
                           0,
                           6,
                           0,
                           0,
                           0,
                           1,
                           S_DIVISION >> 8,
                           S_DIVISION & 0xFF,
                           'M',
                           'T',
                           'r',
                           'k',
                           (uint8_t)(len >> 24),
                           (uint8_t)(len >> 16),
                           (uint8_t)(len >> 8),
                           (uint8_t)len};
    FILE *f = fopen(path, "wb");
    int rc = -1;
    if (f) {
        rc = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(trk, 1, len, f) == len ? 0 : -1;
        int saved = errno;
        if (fclose(f) != 0)
            rc = -1;
        else
            errno = saved;
    }
    free(trk);
    return rc;
}
