/*
 * export_text.c — a growing text buffer for the instrument files and the report, with
 * XML escaping, written to disk durably (temp file, fsync, rename).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_fs.h"
#include "export.h"

static bool s_reserve(dsp_buf_t *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void dsp_buf_puts(dsp_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (!s_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n + 1);
    b->len += n;
}

/* Formats straight into the room the buffer has, and formats again only when the text did
 * not fit (the report prints tens of thousands of numbers: formatting each twice, once to
 * measure it, was a tenth of the report's time). */
void dsp_buf_printf(dsp_buf_t *b, const char *fmt, ...)
{
    if (!s_reserve(b, 64))
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (!s_reserve(b, (size_t)n)) {
            b->data[b->len] = '\0';
            return;
        }
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* Length of a valid UTF-8 sequence at p (2..4), or 0. */
static int s_utf8_len(const unsigned char *p)
{
    int n = (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (n == 2 && *p < 0xC2) || (n == 4 && *p > 0xF4))
        return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((n == 3 && *p == 0xE0 && p[1] < 0xA0) || (n == 4 && *p == 0xF0 && p[1] < 0x90) ||
        (n == 3 && *p == 0xED && p[1] >= 0xA0))
        return 0; /* overlong or surrogate */
    return n;
}

void dsp_buf_xml(dsp_buf_t *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        if (*p >= 0x80) {
            int n = s_utf8_len(p);
            if (n == 0) {
                dsp_buf_puts(b, "?"); /* not UTF-8: never let it make the file invalid */
            } else if (s_reserve(b, (size_t)n)) {
                memcpy(b->data + b->len, p, (size_t)n);
                b->len += (size_t)n;
                b->data[b->len] = '\0';
                p += n - 1;
            }
            continue;
        }
        switch (*p) {
        case '&':
            dsp_buf_puts(b, "&amp;");
            break;
        case '<':
            dsp_buf_puts(b, "&lt;");
            break;
        case '>':
            dsp_buf_puts(b, "&gt;");
            break;
        case '"':
            dsp_buf_puts(b, "&quot;");
            break;
        case '\'':
            dsp_buf_puts(b, "&apos;");
            break;
        default:
            if (*p < 0x20 || *p == 0x7F) {
                dsp_buf_puts(b, " "); /* XML 1.0 cannot hold control characters */
            } else if (s_reserve(b, 1)) {
                b->data[b->len++] = (char)*p;
                b->data[b->len] = '\0';
            }
        }
    }
}

void dsp_buf_text_line(dsp_buf_t *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        int n = *p >= 0x80 ? s_utf8_len(p) : 1;
        if (*p >= 0x80 && n == 0) {
            dsp_buf_puts(b, "?");
        } else if (*p < 0x20 || *p == 0x7F) {
            dsp_buf_puts(b, " ");
        } else if (s_reserve(b, (size_t)n)) {
            memcpy(b->data + b->len, p, (size_t)n);
            b->len += (size_t)n;
            b->data[b->len] = '\0';
            p += n - 1;
        }
    }
}

void dsp_buf_free(dsp_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int dsp_buf_write(dsp_buf_t *b, const char *path, char *err, size_t errlen)
{
    if (b->oom) {
        snprintf(err, errlen, "out of memory writing %s", path);
        return BB_ENOMEM;
    }
    int rc = bb_write_file_atomic(path, b->data ? b->data : "", b->len);
    if (rc)
        snprintf(err, errlen, "cannot write %s: %s", path, bb_strerror(rc));
    return rc;
}
