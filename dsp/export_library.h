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
 * Inside an instrument folder of ours, a file is Batcherbird's while it is still as written:
 * the size and CRC-32 its record (or the coordinator's database) gave it when it was written.
 * A re-export replaces those files; everything else in the folder is the user's and stays
 * (moved into the new folder at the same path). A file Batcherbird wrote that has changed
 * since is the user's work: a re-export of its folder stops with an error naming it, before
 * anything is written, and so does a file of the user's where the export would write one
 * of its own. The same holds for manifest.json and report.html at the root, whose sizes and
 * CRCs the library record (.batcherbird-library.json) keeps.
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
/* The same from the record in `dir` (an instrument folder under any name: a staging or old
 * folder), keeping the paths under folder/. */
int dsp_library_record_files(const char *dir, const char *folder, dsp_library_file_t **files,
                             size_t *n, char *err, size_t errlen);

/* True when root/f->path is still the file Batcherbird wrote: a regular file (not a link),
 * in a folder that lies inside root, with f's size and CRC-32. */
bool dsp_library_file_unchanged(const char *root, const dsp_library_file_t *f);

/* The files of `owned` (paths from root) that are there but no longer as written (changed
 * by someone, or replaced by something else): BB_EEXIST with a message naming them and
 * what to do, before anything is touched; 0 when there are none (missing files are fine). */
int dsp_library_check_changed(const char *root, const dsp_library_file_t *owned, size_t n,
                              char *err, size_t errlen);

/* Checks that the files an export writes into root/folder (`writes`, paths relative to that
 * folder, e.g. "samples/A_C3.wav") are absent or Batcherbird's and unchanged (in `owned`,
 * paths from root), and that the folders on their way are folders. BB_EEXIST naming the
 * files in the way otherwise. */
int dsp_library_check_writes(const char *root, const char *folder, const char *const *writes,
                             size_t n, const dsp_library_file_t *owned, size_t n_owned, char *err,
                             size_t errlen);

/* After a re-export put its new folder `to` in place of the old one, now at `from`: moves
 * into `to` everything of `from` that is not Batcherbird's unchanged (files not in `owned`
 * or changed, folders of the user's whole, links as links), each to the same path; then
 * removes from `from` the files of `owned` that are still as written, its instrument record
 * and staging mark, and the folders left empty. `owned` paths are from the library root and
 * start with folder/. 0 when `from` is gone; otherwise BB_EEXIST with a message naming what
 * was kept there (nothing is ever removed that is not Batcherbird's). */
int dsp_library_carry(const char *from, const char *to, const char *folder,
                      const dsp_library_file_t *owned, size_t n_owned, char *err, size_t errlen);

/* Removes root/f->path when it is still as written (dsp_library_file_unchanged). 1 when
 * removed, 0 when it was not there, -1 when it is kept (changed, or not a regular file). */
int dsp_library_remove_unchanged(const char *root, const dsp_library_file_t *f);

/* Writes the library record (DSP_EXPORT_LIBRARY_RECORD) of root: manifest.json and
 * report.html as they are now (size, CRC-32). 0 or an error with a message. */
int dsp_library_record_root(const char *root, char *err, size_t errlen);
/* Reads the library record of root: *has false when there is none (a library written
 * before it existed) or it does not list rel. */
int dsp_library_root_file(const char *root, const char *rel, dsp_library_file_t *f, bool *has);

/* Reads up to len bytes (<= DSP_LIBRARY_CHUNK_MAX) of root/rel at offset into buf;
 * *got may be short at the end of the file; *size is the file's current size. The caller
 * has decided that rel may be served; here the path must be valid and the file a regular
 * one inside the root (symbolic links that lead out are refused). BB_EINVAL, BB_ENOTFOUND
 * or BB_EIO with a message. */
int dsp_library_read(const char *root, const char *rel, uint64_t offset, void *buf, size_t len,
                     size_t *got, uint64_t *size, char *err, size_t errlen);

#endif
