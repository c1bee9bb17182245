/*
 * export_sfz.c — the SFZ instrument file: one <region> per sample with its key range,
 * velocity range, pitch_keycenter and round-robin position; release samples as
 * trigger=release regions. Sample paths are relative to the .sfz file.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bb_err.h"
#include "export.h"

int coord_export_write_sfz(const char *path, const char *instrument, const coord_map_entry_t *e,
                           const char *const *files, size_t n, char *err, size_t errlen)
{
    char tmp[2048];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "cannot create %s", path);
        return BB_EIO;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    /* The instrument's name in a comment: keep it on one line. */
    char shown[160];
    snprintf(shown, sizeof shown, "%s", instrument);
    for (char *c = shown; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    fprintf(f, "// %s\n// Sampled by Batcherbird on %s: %zu samples.\n\n", shown, date, n);
    fprintf(f, "<control>\ndefault_path=./\n\n<global>\nloop_mode=no_loop\n\n");
    for (int pass = 0; pass < 2; pass++) {
        bool release = pass == 1;
        bool any = false;
        for (size_t i = 0; i < n; i++)
            any |= e[i].release == release;
        if (!any)
            continue;
        fprintf(f, "<group>%s\n", release ? " trigger=release" : "");
        for (size_t i = 0; i < n; i++) {
            if (e[i].release != release)
                continue;
            fprintf(f, "<region> sample=%s pitch_keycenter=%d lokey=%d hikey=%d lovel=%d hivel=%d",
                    files[i], e[i].note, e[i].lokey, e[i].hikey, e[i].lovel, e[i].hivel);
            if (e[i].seq_length > 1)
                fprintf(f, " seq_length=%d seq_position=%d", e[i].seq_length, e[i].seq_position);
            fputc('\n', f);
        }
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        snprintf(err, errlen, "writing %s failed", path);
        remove(tmp);
        return BB_EIO;
    }
    return 0;
}
