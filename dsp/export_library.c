/*
 * export_library.c — a library folder as Batcherbird may touch it (export_library.h).
 *
 * Whether a file is ours is decided by what we write into it (a record naming its folder,
 * the manifest's format, the report's title), never by a file's name alone. The write probe
 * is a real file creation, so a folder that exists but cannot be written to (permissions,
 * a read-only mount, a full disk) is found before a batch records for hours into it.
 *
 * dsp_library_list() reads manifest.json ("files": path, bytes, crc32); a CRC from it is
 * trusted only while the file still has the size the manifest says and is not newer than
 * the manifest, otherwise it is computed.
 */
#include "export_library.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_crc32.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_json.h"
#include "export.h"

#define S_READ_BLOCK (64 * 1024)

bool dsp_library_path_ok(const char *rel)
{
    if (!rel || !*rel || rel[0] == '/' || strlen(rel) >= DSP_LIBRARY_PATH_MAX)
        return false;
    const char *comp = rel;
    for (const char *p = rel;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '/' || c == '\0') {
            size_t n = (size_t)(p - comp);
            if (n == 0 || comp[0] == '.')
                return false; /* empty, ".", "..", hidden */
            if (c == '\0')
                return true;
            comp = p + 1;
            continue;
        }
        if (c < 0x20 || c == 0x7F || c == '\\')
            return false;
    }
}

int dsp_file_crc32(const char *path, uint32_t *crc, uint64_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return bb_err_from_errno(errno);
    }
    unsigned char *buf = malloc(S_READ_BLOCK);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    uint32_t c = 0;
    uint64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, buf, S_READ_BLOCK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            rc = bb_err_from_errno(errno);
            break;
        }
        if (r == 0)
            break;
        c = bb_crc32(c, buf, (size_t)r);
        total += (uint64_t)r;
    }
    free(buf);
    close(fd);
    if (!rc) {
        *crc = c;
        *size = total;
    }
    return rc;
}

/* True when `path` (resolved) lies inside `root_real`. */
static bool s_inside(const char *root_real, const char *path)
{
    char real[PATH_MAX];
    if (!realpath(path, real))
        return false;
    size_t n = strlen(root_real);
    return strncmp(real, root_real, n) == 0 && (real[n] == '/' || root_real[n - 1] == '/');
}

static int s_add(dsp_library_file_t **files, size_t *n, size_t *cap, const char *root,
                 const char *rel, const json_t *entry, const struct stat *manifest_st, char *err,
                 size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is listed in the manifest but missing: export again", path);
        return BB_ENOTFOUND;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        dsp_library_file_t *nf = realloc(*files, nc * sizeof *nf);
        if (!nf) {
            snprintf(err, errlen, "out of memory");
            return BB_ENOMEM;
        }
        *files = nf;
        *cap = nc;
    }
    dsp_library_file_t *f = &(*files)[*n];
    snprintf(f->path, sizeof f->path, "%s", rel);
    int64_t bytes = -1, crc = -1;
    if (entry) {
        bb_json_get_int(entry, "bytes", &bytes);
        bb_json_get_int(entry, "crc32", &crc);
    }
    bool fresh = st.st_mtim.tv_sec < manifest_st->st_mtim.tv_sec ||
                 (st.st_mtim.tv_sec == manifest_st->st_mtim.tv_sec &&
                  st.st_mtim.tv_nsec <= manifest_st->st_mtim.tv_nsec);
    if (entry && fresh && bytes == (int64_t)st.st_size && crc >= 0 && crc <= UINT32_MAX) {
        f->size = (uint64_t)st.st_size;
        f->crc32 = (uint32_t)crc;
    } else {
        int rc = dsp_file_crc32(path, &f->crc32, &f->size, err, errlen);
        if (rc)
            return rc;
    }
    (*n)++;
    return 0;
}

int dsp_library_list(const char *root, dsp_library_file_t **files_out, size_t *n_out, char *err,
                     size_t errlen)
{
    *files_out = NULL;
    *n_out = 0;
    char mpath[PATH_MAX];
    snprintf(mpath, sizeof mpath, "%s/%s", root, DSP_EXPORT_MANIFEST);
    struct stat mst;
    if (stat(mpath, &mst) != 0) {
        snprintf(err, errlen, "%s has no %s yet: nothing has been exported there", root,
                 DSP_EXPORT_MANIFEST);
        return BB_ENOTFOUND;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = bb_read_file(mpath, &text, &len);
    if (rc) {
        snprintf(err, errlen, "cannot read %s: %s", mpath, bb_strerror(rc));
        return rc;
    }
    json_t *doc = NULL;
    char perr[128];
    rc = bb_json_load(&doc, text, len, perr, sizeof perr);
    free(text);
    if (rc) {
        snprintf(err, errlen, "%s is damaged (%s): export again", mpath, perr);
        return BB_EINVAL;
    }
    const json_t *list = json_object_get(doc, "files");
    dsp_library_file_t *files = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; !rc && i < json_array_size(list); i++) {
        const json_t *e = json_array_get(list, i);
        const char *rel = NULL;
        if (bb_json_get_string(e, "path", &rel) || !dsp_library_path_ok(rel)) {
            snprintf(err, errlen, "%s lists an unsafe path '%s': refused", mpath,
                     rel ? rel : "(none)");
            rc = BB_EINVAL;
            break;
        }
        rc = s_add(&files, &n, &cap, root, rel, e, &mst, err, errlen);
    }
    if (!rc)
        rc = s_add(&files, &n, &cap, root, DSP_EXPORT_MANIFEST, NULL, &mst, err, errlen);
    json_decref(doc);
    if (rc) {
        free(files);
        return rc;
    }
    *files_out = files;
    *n_out = n;
    return 0;
}

/* ---- what is ours ---- */

#define S_SNIFF_BYTES 4096 /* how much of a report.html is read to find its title */

/* True when the file at path does not exist (*absent) or is one we wrote. */
static bool s_root_file_ours(const char *path, bool manifest, bool *absent)
{
    struct stat st;
    *absent = lstat(path, &st) != 0 && errno == ENOENT;
    if (*absent)
        return true;
    if (!S_ISREG(st.st_mode))
        return false;
    if (manifest) {
        char *text = NULL;
        size_t len = 0;
        json_t *doc = NULL;
        const char *format = NULL;
        bool ours = bb_read_file(path, &text, &len) == 0 &&
                    bb_json_load(&doc, text, len, NULL, 0) == 0 &&
                    bb_json_get_string(doc, "format", &format) == 0 &&
                    strcmp(format, DSP_EXPORT_MANIFEST_FORMAT) == 0;
        json_decref(doc);
        free(text);
        return ours;
    }
    char head[S_SNIFF_BYTES + 1];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, head, S_SNIFF_BYTES);
    close(fd);
    if (n <= 0)
        return false;
    head[n] = '\0';
    return strstr(head, DSP_EXPORT_REPORT_TITLE) != NULL;
}

/* True when dir holds the record of an instrument exported into it. */
static bool s_folder_ours(const char *dir, const char *folder)
{
    char rec[PATH_MAX + 128];
    int w = snprintf(rec, sizeof rec, "%s/%s", dir, DSP_EXPORT_INST_RECORD);
    if (w < 0 || (size_t)w >= sizeof rec)
        return false;
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    const char *name = NULL;
    bool ours = bb_read_file(rec, &text, &len) == 0 &&
                bb_json_load(&doc, text, len, NULL, 0) == 0 &&
                bb_json_get_string(doc, "folder", &name) == 0 && strcmp(name, folder) == 0;
    json_decref(doc);
    free(text);
    return ours;
}

int dsp_library_check_out(const char *root, const char *const *folders, size_t n, bool probe,
                          char *err, size_t errlen)
{
    struct stat st;
    if (stat(root, &st) != 0) {
        if (!probe) {
            snprintf(err, errlen, "the library folder %s: %s", root,
                     bb_strerror(bb_err_from_errno(errno)));
            return bb_err_from_errno(errno);
        }
        int rc = bb_mkdir_p(root);
        if (rc) {
            snprintf(err, errlen, "cannot create the library folder %s: %s", root, bb_strerror(rc));
            return rc;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is a file, not a folder: a library goes into a folder", root);
        return BB_EEXIST;
    }
    const char *own[] = {DSP_EXPORT_MANIFEST, DSP_EXPORT_REPORT};
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX + 32];
        bool absent;
        int w = snprintf(path, sizeof path, "%s/%s", root, own[i]);
        if (w < 0 || (size_t)w >= sizeof path) {
            snprintf(err, errlen, "the library folder's path is too long");
            return BB_ETOOLONG;
        }
        if (!s_root_file_ours(path, i == 0, &absent)) {
            snprintf(err, errlen,
                     "%s was not written by Batcherbird: it is left alone, and no library is "
                     "written beside it (move it away, or choose another output folder)",
                     path);
            return BB_EEXIST;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char dir[PATH_MAX + 128];
        int w = snprintf(dir, sizeof dir, "%s/%s", root, folders[i]);
        if (w < 0 || (size_t)w >= sizeof dir) {
            snprintf(err, errlen, "the library folder's path is too long");
            return BB_ETOOLONG;
        }
        if (lstat(dir, &st) != 0)
            continue; /* a new folder */
        if (!S_ISDIR(st.st_mode) || !s_folder_ours(dir, folders[i])) {
            snprintf(err, errlen,
                     "%s exists and was not written by Batcherbird (it has no %s): it is left "
                     "alone; move it away, or choose another output folder",
                     dir, DSP_EXPORT_INST_RECORD);
            return BB_EEXIST;
        }
    }
    if (!probe)
        return 0;
    char test[PATH_MAX + 64];
    int w = snprintf(test, sizeof test, "%s/.batcherbird-write-test-%ld", root, (long)getpid());
    if (w < 0 || (size_t)w >= sizeof test) {
        snprintf(err, errlen, "the library folder's path is too long");
        return BB_ETOOLONG;
    }
    int fd = open(test, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc = fd < 0 ? bb_err_from_errno(errno) : 0;
    if (fd >= 0 && write(fd, "x", 1) != 1)
        rc = bb_err_from_errno(errno);
    if (fd >= 0) {
        close(fd);
        unlink(test);
    }
    if (rc)
        snprintf(err, errlen, "cannot write into the library folder %s: %s", root, bb_strerror(rc));
    return rc;
}

int dsp_library_instrument_files(const char *root, const char *folder,
                                 dsp_library_file_t **files_out, size_t *n_out, char *err,
                                 size_t errlen)
{
    *files_out = NULL;
    *n_out = 0;
    char rec[PATH_MAX + 128];
    int w = snprintf(rec, sizeof rec, "%s/%s/%s", root, folder, DSP_EXPORT_INST_RECORD);
    if (w < 0 || (size_t)w >= sizeof rec) {
        snprintf(err, errlen, "the library folder's path is too long");
        return BB_ETOOLONG;
    }
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    int rc = bb_read_file(rec, &text, &len);
    if (!rc)
        rc = bb_json_load(&doc, text, len, NULL, 0);
    free(text);
    if (rc) {
        snprintf(err, errlen, "cannot read %s: %s", rec, bb_strerror(rc));
        return rc;
    }
    const json_t *list = json_object_get(doc, "files");
    size_t n = json_array_size(list), k = 0, flen = strlen(folder);
    dsp_library_file_t *files = calloc(n ? n : 1, sizeof *files);
    if (!files) {
        json_decref(doc);
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(list, i);
        const char *p = NULL;
        int64_t bytes = -1, crc = -1;
        if (bb_json_get_string(e, "path", &p) || !dsp_library_path_ok(p) ||
            strncmp(p, folder, flen) != 0 || p[flen] != '/' ||
            bb_json_get_int(e, "bytes", &bytes) || bb_json_get_int(e, "crc32", &crc) || bytes < 0 ||
            crc < 0 || crc > UINT32_MAX)
            continue; /* not a file of this folder */
        snprintf(files[k].path, sizeof files[k].path, "%s", p);
        files[k].size = (uint64_t)bytes;
        files[k].crc32 = (uint32_t)crc;
        k++;
    }
    json_decref(doc);
    *files_out = files;
    *n_out = k;
    return 0;
}

int dsp_library_read(const char *root, const char *rel, uint64_t offset, void *buf, size_t len,
                     size_t *got, uint64_t *size, char *err, size_t errlen)
{
    *got = 0;
    if (!dsp_library_path_ok(rel)) {
        snprintf(err, errlen, "'%s' is not a library path", rel ? rel : "");
        return BB_EINVAL;
    }
    if (len > DSP_LIBRARY_CHUNK_MAX) {
        snprintf(err, errlen, "chunks are at most %d bytes", DSP_LIBRARY_CHUNK_MAX);
        return BB_EINVAL;
    }
    char root_real[PATH_MAX], path[PATH_MAX];
    if (!realpath(root, root_real)) {
        snprintf(err, errlen, "the library %s is gone", root);
        return BB_ENOTFOUND;
    }
    if (bb_path_fmt(path, sizeof path, "%s/%s", root_real, rel) || !bb_exists(path)) {
        snprintf(err, errlen, "%s: no such file in the library", rel);
        return BB_ENOTFOUND;
    }
    if (!s_inside(root_real, path)) {
        snprintf(err, errlen, "%s leads outside the library: refused", rel);
        return BB_EINVAL;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", rel, strerror(errno));
        return BB_EIO;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", rel);
        rc = BB_EINVAL;
    }
    size_t have = 0;
    while (!rc && have < len && offset + have < (uint64_t)st.st_size) {
        ssize_t r = pread(fd, (char *)buf + have, len - have, (off_t)(offset + have));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read %s: %s", rel, strerror(errno));
            rc = BB_EIO;
        } else if (r == 0) {
            break;
        } else {
            have += (size_t)r;
        }
    }
    close(fd);
    if (!rc) {
        *got = have;
        *size = (uint64_t)st.st_size;
    }
    return rc;
}
