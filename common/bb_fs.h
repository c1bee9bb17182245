/*
 * bb_fs.h — file system helpers: directories, durable writes, safe names.
 *
 * "Durable" means written, fsync'd, renamed into place and the directory fsync'd, so a
 * crash leaves either the old file or the whole new one.
 */
#ifndef BB_FS_H
#define BB_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define BB_SAFE_NAME_MAX 64 /* characters kept from a user-given name */

/* mkdir -p. Returns 0 or a bb_err code. */
int bb_mkdir_p(const char *path);
/* fsync a directory so renames and creations in it survive a crash. */
int bb_fsync_dir(const char *dir);
/* Writes `len` bytes to `path` durably (temp file, fsync, rename, fsync dir). */
int bb_write_file_atomic(const char *path, const void *data, size_t len);
/* Reads a whole file, NUL-terminated; *data is malloc'd. */
int bb_read_file(const char *path, char **data, size_t *len);
/* True if path exists. */
bool bb_exists(const char *path);
/* Removes a file or a directory tree without following symbolic links (a link is
 * removed, not what it points to). Works below any depth of path length: children are
 * reached with openat/unlinkat, never by building their paths. Returns 0 when it is gone
 * (or was never there), else the first error met; what could be removed is removed. */
int bb_rm_rf(const char *path);
/* snprintf into out that refuses to truncate: 0, or BB_ETOOLONG (out then holds "") when
 * the result needs len bytes or more. For paths and names built from parts. */
int bb_path_fmt(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Directory part of `path` into out ("." when none). */
void bb_dirname(const char *path, char *out, size_t len);

/* Reduces a user-given name to [A-Za-z0-9._+-], no leading dot, no "..", at most
 * BB_SAFE_NAME_MAX characters, never empty; spaces become dashes. When more than spaces
 * had to change (path separators, control or non-ASCII characters, truncation), a short
 * hash of the original is appended, so hostile names stay distinct.
 * out needs BB_SAFE_NAME_MAX + 8 bytes. */
void bb_safe_name(const char *in, char *out, size_t len);

#endif
