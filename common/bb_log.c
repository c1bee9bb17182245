/*
 * bb_log.c — stderr logging with a level and an ident.
 *
 * A line is formatted into one buffer and written with one write(2), so lines from
 * several threads do not interleave mid-line.
 */
#include "bb_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bb_err.h"

#define BB_LOG_LINE_MAX  2048
#define BB_LOG_IDENT_MAX 64

static int s_level = -1;
static char s_ident[BB_LOG_IDENT_MAX] = "batcherbird";

int bb_log_parse_level(const char *text, bb_log_level_t *level)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (text && strcasecmp(text, names[i]) == 0) {
            *level = (bb_log_level_t)i;
            return 0;
        }
    }
    return BB_EINVAL;
}

bb_log_level_t bb_log_get_level(void)
{
    if (s_level < 0) {
        bb_log_level_t level = BB_LOG_INFO;
        bb_log_parse_level(getenv("BB_LOG"), &level);
        s_level = (int)level;
    }
    return (bb_log_level_t)s_level;
}

void bb_log_set_level(bb_log_level_t level)
{
    s_level = (int)level;
}

void bb_log_set_ident(const char *ident)
{
    snprintf(s_ident, sizeof s_ident, "%s", ident ? ident : "");
}

void bb_log(bb_log_level_t level, const char *fmt, ...)
{
    static const char tag[] = "EWID";
    if ((int)level > (int)bb_log_get_level())
        return;
    char line[BB_LOG_LINE_MAX];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %c %s: ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, tag[level], s_ident);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line - 1)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
