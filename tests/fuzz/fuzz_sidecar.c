/*
 * fuzz_sidecar.c — libFuzzer target: a raw take's JSON sidecar (dsp/take_raw.c), as
 * `batcherbird process` reads it from any folder it is pointed at. The input is written
 * to a file in /dev/shm and read back with dsp_raw_read_sidecar(); a sidecar that reads
 * is written again and read again, and must come back the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "take_raw.h"

static char s_path[256], s_again[280];

/* libFuzzer ends a timed run with exit(): the two scratch files go with it. */
static void s_remove_files(void)
{
    unlink(s_path);
    unlink(s_again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!*s_path) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(s_path, sizeof s_path, "%s/bbfuzz-sidecar-%d.json", dir, (int)getpid());
        snprintf(s_again, sizeof s_again, "%s.again", s_path);
        atexit(s_remove_files);
    }
    FILE *f = fopen(s_path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    dsp_raw_meta_t meta, back;
    char err[256];
    if (dsp_raw_read_sidecar(s_path, &meta, err, sizeof err) == 0 &&
        dsp_raw_write_sidecar(s_again, &meta) == 0) {
        if (dsp_raw_read_sidecar(s_again, &back, err, sizeof err) != 0)
            abort(); /* what we wrote must read */
        if (strcmp(meta.take_id, back.take_id) != 0 || meta.note != back.note ||
            meta.frames != back.frames || meta.note_on_frame != back.note_on_frame)
            abort(); /* and come back the same */
    }
    return 0;
}
