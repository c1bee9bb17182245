/*
 * export_library.h — a library folder as Batcherbird may touch it: what it may write there
 * without deleting or overwriting anything it did not write, and the files another machine
 * may fetch from it.
 *
 * Ours: an instrument folder holding its record (.batcherbird-instrument.json naming that
 * folder), a manifest.json of format DSP_EXPORT_MANIFEST_FORMAT, a report.html with
 * DSP_EXPORT_REPORT_TITLE. Anything else in the way of an export is someone else's, and the
 * export stops with an error naming it.
 *
 * Serving: which files may be fetched is the caller's to know from what it wrote (the
 * coordinator keeps the list in its database), never from what a file on disk claims;
 * dsp_library_instrument_files() reads an instrument's record right after the export that
 * wrote it, for that list. dsp_library_list() reads what a manifest says (for offline use).
 * Paths are relative to the library root, '/'-separated, and must pass dsp_library_path_ok()
 * on both sides of the wire.
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

/* What the root's manifest says the library holds, with size and CRC-32 (from the manifest
 * when the file has not changed since it was written, else computed). For offline use: a
 * manifest is a file on disk and says what anyone wrote into it. *files is malloc'd.
 * BB_ENOTFOUND when the root has no manifest yet. */
int dsp_library_list(const char *root, dsp_library_file_t **files, size_t *n, char *err,
                     size_t errlen);

/* Checks that root can take an export of the instrument folders `folders` (safe names; may
 * be none) without deleting or overwriting anything Batcherbird did not write: root is a
 * folder (made if missing when `probe` is set) we can write to (a probe file is made and
 * removed), its manifest.json and report.html are absent or ours, and each folder is absent
 * or holds its record. 0, or BB_EEXIST / BB_EACCES / ... with a message naming what is in
 * the way and what to do. */
int dsp_library_check_out(const char *root, const char *const *folders, size_t n, bool probe,
                          char *err, size_t errlen);

/* The files of the instrument exported into root/folder, from the record the export just
 * wrote (paths relative to root, inside folder/ only), with its .sfz, .dspreset and
 * samples. *files is malloc'd. */
int dsp_library_instrument_files(const char *root, const char *folder, dsp_library_file_t **files,
                                 size_t *n, char *err, size_t errlen);

/* Reads up to len bytes (<= DSP_LIBRARY_CHUNK_MAX) of root/rel at offset into buf;
 * *got may be short at the end of the file; *size is the file's current size. The caller
 * has decided that rel may be served; here the path must be valid and the file a regular
 * one inside the root (symbolic links that lead out are refused). BB_EINVAL, BB_ENOTFOUND
 * or BB_EIO with a message. */
int dsp_library_read(const char *root, const char *rel, uint64_t offset, void *buf, size_t len,
                     size_t *got, uint64_t *size, char *err, size_t errlen);

#endif
