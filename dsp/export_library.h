/*
 * export_library.h — a finished library as a set of files another machine can fetch.
 *
 * The files of a library are the ones its manifest.json lists (every sample, SFZ and
 * DecentSampler file, report.html) plus manifest.json itself: nothing else under the
 * library folder is ever served. Paths are relative to the library root, '/'-separated,
 * and must pass dsp_library_path_ok() on both sides of the wire.
 */
#ifndef DSP_EXPORT_LIBRARY_H
#define DSP_EXPORT_LIBRARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSP_LIBRARY_CHUNK_MAX (256 * 1024) /* bytes per fetched chunk, at most */
#define DSP_LIBRARY_PATH_MAX  512

typedef struct {
    char path[DSP_LIBRARY_PATH_MAX];
    uint64_t size;
    uint32_t crc32;
} dsp_library_file_t;

/* True for a relative path made of safe components: not empty, not absolute, no "." or
 * ".." or hidden (dot-first) component, no empty component, no backslash, no control
 * characters, shorter than DSP_LIBRARY_PATH_MAX. */
bool dsp_library_path_ok(const char *rel);

/* CRC-32 and size of a whole file. 0, or an error naming the file. */
int dsp_file_crc32(const char *path, uint32_t *crc, uint64_t *size, char *err, size_t errlen);

/* The library's files with size and CRC-32 (from the manifest when the file has not
 * changed since it was written, else computed). *files is malloc'd. BB_ENOTFOUND when the
 * root has no manifest yet. */
int dsp_library_list(const char *root, dsp_library_file_t **files, size_t *n, char *err,
                     size_t errlen);

/* True when rel is manifest.json or a file the root's manifest lists. */
bool dsp_library_listed(const char *root, const char *rel);
/* Frees the cache of listed paths dsp_library_listed() keeps. */
void dsp_library_cache_clear(void);

/* Reads up to len bytes (<= DSP_LIBRARY_CHUNK_MAX) of root/rel at offset into buf;
 * *got may be short at the end of the file; *size is the file's current size. The path
 * must be valid and listed (dsp_library_listed), and the file must lie inside the root (symbolic
 * links that lead out are refused). BB_EINVAL, BB_ENOTFOUND or BB_EIO with a message. */
int dsp_library_read(const char *root, const char *rel, uint64_t offset, void *buf, size_t len,
                     size_t *got, uint64_t *size, char *err, size_t errlen);

#endif
