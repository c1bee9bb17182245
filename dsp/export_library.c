/*
 * export_library.c — listing and reading a library's files for a remote fetch.
 *
 * The list comes from manifest.json ("files": path, bytes, crc32). A CRC from the
 * manifest is trusted only while the file still has the size the manifest says and is
 * not newer than the manifest; otherwise it is computed, so a listing is cheap for a
 * library that has not been touched since its export and still right for one that was.
 *
 * Reads are allowed only for files the manifest lists: the folder a batch exports to is
 * chosen by an operator and may hold anything else. The listed paths of the last library
 * read are cached (one entry, reloaded when the manifest changes), so a chunk costs a
 * stat and a binary search rather than a parse.
 */
#include "export_library.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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

/* ---- the listed-paths cache ---- */

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char root[PATH_MAX];
    struct timespec mtime;
    off_t size;
    char **paths; /* sorted */
    size_t n;
} s_cache;

static int s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void s_cache_drop(void)
{
    for (size_t i = 0; i < s_cache.n; i++)
        free(s_cache.paths[i]);
    free(s_cache.paths);
    memset(&s_cache, 0, sizeof s_cache);
}

void dsp_library_cache_clear(void)
{
    pthread_mutex_lock(&s_lock);
    s_cache_drop();
    pthread_mutex_unlock(&s_lock);
}

static int s_cache_load(const char *root, const char *mpath, const struct stat *mst)
{
    s_cache_drop();
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    int rc = bb_read_file(mpath, &text, &len);
    if (!rc)
        rc = bb_json_load(&doc, text, len, NULL, 0);
    free(text);
    const json_t *list = rc ? NULL : json_object_get(doc, "files");
    size_t n = json_array_size(list);
    s_cache.paths = calloc(n ? n : 1, sizeof *s_cache.paths);
    if (!rc && !s_cache.paths)
        rc = BB_ENOMEM;
    for (size_t i = 0; !rc && i < n; i++) {
        const char *p = NULL;
        if (bb_json_get_string(json_array_get(list, i), "path", &p) == 0 &&
            dsp_library_path_ok(p)) {
            if (!(s_cache.paths[s_cache.n] = strdup(p)))
                rc = BB_ENOMEM;
            else
                s_cache.n++;
        }
    }
    json_decref(doc);
    if (rc) {
        s_cache_drop();
        return rc;
    }
    qsort(s_cache.paths, s_cache.n, sizeof *s_cache.paths, s_cmp);
    snprintf(s_cache.root, sizeof s_cache.root, "%s", root);
    s_cache.mtime = mst->st_mtim;
    s_cache.size = mst->st_size;
    return 0;
}

bool dsp_library_listed(const char *root, const char *rel)
{
    if (!dsp_library_path_ok(rel))
        return false;
    if (strcmp(rel, DSP_EXPORT_MANIFEST) == 0)
        return true;
    char mpath[PATH_MAX];
    snprintf(mpath, sizeof mpath, "%s/%s", root, DSP_EXPORT_MANIFEST);
    struct stat mst;
    if (stat(mpath, &mst) != 0)
        return false;
    pthread_mutex_lock(&s_lock);
    bool hit = false;
    int rc = 0;
    if (strcmp(s_cache.root, root) != 0 || s_cache.size != mst.st_size ||
        s_cache.mtime.tv_sec != mst.st_mtim.tv_sec || s_cache.mtime.tv_nsec != mst.st_mtim.tv_nsec)
        rc = s_cache_load(root, mpath, &mst);
    if (!rc)
        hit = bsearch(&rel, s_cache.paths, s_cache.n, sizeof *s_cache.paths, s_cmp) != NULL;
    pthread_mutex_unlock(&s_lock);
    return hit;
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
    if (!dsp_library_listed(root, rel)) {
        snprintf(err, errlen, "%s is not a file of this library", rel);
        return BB_ENOTFOUND;
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
