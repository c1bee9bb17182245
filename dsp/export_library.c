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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

#define S_MAP_MIN ((off_t)1 << 20) /* a regular file this large is mapped, not read */

/* CRC-32 and size of what fd reads to its end; closes fd. A large regular file is mapped
 * instead (the .sf2 export.c checks was 40 % of the bytes process read: mapped, the pages
 * it has just written are not copied again). */
static int s_crc_fd(int fd, const char *path, uint32_t *crc, uint64_t *size, char *err,
                    size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= S_MAP_MIN &&
        lseek(fd, 0, SEEK_CUR) == 0) {
        void *at = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (at != MAP_FAILED) {
            madvise(at, (size_t)st.st_size, MADV_SEQUENTIAL);
            *crc = bb_crc32(0, at, (size_t)st.st_size);
            *size = (uint64_t)st.st_size;
            munmap(at, (size_t)st.st_size);
            close(fd);
            return 0;
        }
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

int dsp_file_crc32(const char *path, uint32_t *crc, uint64_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return bb_err_from_errno(errno);
    }
    return s_crc_fd(fd, path, crc, size, err, errlen);
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
        dsp_library_file_t rec;
        bool has = false;
        if (!absent && dsp_library_root_file(root, own[i], &rec, &has) == 0 && has) {
            int rc = dsp_library_check_changed(root, &rec, 1, err, errlen);
            if (rc)
                return rc;
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
        /* a re-export: what Batcherbird wrote there must still be as written */
        dsp_library_file_t *owned = NULL;
        size_t n_owned = 0;
        int rc = dsp_library_instrument_files(root, folders[i], &owned, &n_owned, err, errlen);
        if (!rc)
            rc = dsp_library_check_changed(root, owned, n_owned, err, errlen);
        free(owned);
        if (rc)
            return rc;
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
    char dir[PATH_MAX];
    *files_out = NULL;
    *n_out = 0;
    if (bb_path_fmt(dir, sizeof dir, "%s/%s", root, folder)) {
        snprintf(err, errlen, "the library folder's path is too long");
        return BB_ETOOLONG;
    }
    return dsp_library_record_files(dir, folder, files_out, n_out, err, errlen);
}

int dsp_library_record_files(const char *dir, const char *folder, dsp_library_file_t **files_out,
                             size_t *n_out, char *err, size_t errlen)
{
    *files_out = NULL;
    *n_out = 0;
    char rec[PATH_MAX + 128];
    int w = snprintf(rec, sizeof rec, "%s/%s", dir, DSP_EXPORT_INST_RECORD);
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

/* ---- what is still as written ---- */

/* True when the folder that holds `path` lies inside root (both resolved). */
static bool s_parent_inside(const char *root, const char *path)
{
    char root_real[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
    bb_dirname(path, dir, sizeof dir);
    if (!realpath(root, root_real) || !realpath(dir, real))
        return false;
    size_t n = strlen(root_real);
    return strncmp(real, root_real, n) == 0 &&
           (real[n] == '\0' || real[n] == '/' || root_real[n - 1] == '/');
}

/* True when path is a regular file (never through a link) of this size and CRC-32. */
static bool s_same_file(const char *path, uint64_t size, uint32_t crc)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
        return false;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    uint32_t have;
    uint64_t got;
    char err[64];
    return s_crc_fd(fd, path, &have, &got, err, sizeof err) == 0 && got == size && have == crc;
}

bool dsp_library_file_unchanged(const char *root, const dsp_library_file_t *f)
{
    char path[PATH_MAX];
    if (!dsp_library_path_ok(f->path) || bb_path_fmt(path, sizeof path, "%s/%s", root, f->path))
        return false;
    return s_parent_inside(root, path) && s_same_file(path, f->size, f->crc32);
}

/* Appends `what` to a comma list of at most S_LIST_SHOWN names in list[len]; counts all. */
#define S_LIST_SHOWN 5
static void s_list_add(char *list, size_t len, size_t *count, const char *what)
{
    if (*count < S_LIST_SHOWN) {
        size_t used = strlen(list);
        int w = snprintf(list + used, len - used, "%s%s", used ? ", " : "", what);
        if (w < 0 || (size_t)w >= len - used)
            list[used] = '\0'; /* a name too long for the list: counted, not shown */
    }
    (*count)++;
}

/* " and N more" when the list was cut. */
static void s_list_more(char *out, size_t len, size_t count)
{
    if (count > S_LIST_SHOWN)
        snprintf(out, len, " and %zu more", count - S_LIST_SHOWN);
    else
        out[0] = '\0';
}

int dsp_library_check_changed(const char *root, const dsp_library_file_t *owned, size_t n,
                              char *err, size_t errlen)
{
    char list[1024] = "", more[48];
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        struct stat st;
        if (bb_path_fmt(path, sizeof path, "%s/%s", root, owned[i].path) ||
            (lstat(path, &st) != 0 && errno == ENOENT))
            continue; /* gone: nothing to keep */
        if (!dsp_library_file_unchanged(root, &owned[i]))
            s_list_add(list, sizeof list, &count, path);
    }
    if (count == 0)
        return 0;
    s_list_more(more, sizeof more, count);
    snprintf(err, errlen,
             "%s%s %s changed since Batcherbird wrote %s: %s kept, and nothing is written over "
             "%s. Give %s a name of your own (your files stay in the folder through every "
             "export) or move %s away, then try again",
             list, more, count > 1 ? "were" : "was", count > 1 ? "them" : "it",
             count > 1 ? "they are" : "it is", count > 1 ? "them" : "it", count > 1 ? "them" : "it",
             count > 1 ? "them" : "it");
    return BB_EEXIST;
}

static int s_cmp_file(const void *a, const void *b)
{
    return strcmp((*(const dsp_library_file_t *const *)a)->path,
                  (*(const dsp_library_file_t *const *)b)->path);
}

/* `owned` sorted by path, for s_find. NULL (out of memory) when n > 0 and it fails. */
static const dsp_library_file_t **s_sorted(const dsp_library_file_t *owned, size_t n)
{
    const dsp_library_file_t **v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        v[i] = &owned[i];
    if (v && n > 1)
        qsort(v, n, sizeof *v, s_cmp_file);
    return v;
}

/* The entry of the sorted list for folder/rel, or NULL. */
static const dsp_library_file_t *s_find(const dsp_library_file_t **v, size_t n, const char *folder,
                                        const char *rel)
{
    dsp_library_file_t key;
    if (bb_path_fmt(key.path, sizeof key.path, "%s/%s", folder, rel))
        return NULL;
    const dsp_library_file_t *k = &key;
    const dsp_library_file_t **hit = bsearch(&k, v, n, sizeof *v, s_cmp_file);
    return hit ? *hit : NULL;
}

/* True when some path of the sorted list lies under folder/rel/. */
static bool s_owns_under(const dsp_library_file_t **v, size_t n, const char *folder,
                         const char *rel)
{
    char prefix[DSP_LIBRARY_PATH_MAX + 2];
    if (bb_path_fmt(prefix, sizeof prefix, "%s/%s/", folder, rel))
        return false;
    size_t plen = strlen(prefix);
    size_t lo = 0, hi = n; /* the first path >= prefix */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(v[mid]->path, prefix) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && strncmp(v[lo]->path, prefix, plen) == 0;
}

int dsp_library_check_writes(const char *root, const char *folder, const char *const *writes,
                             size_t n, const dsp_library_file_t *owned, size_t n_owned, char *err,
                             size_t errlen)
{
    const dsp_library_file_t **v = s_sorted(owned, n_owned);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    char list[1024] = "", more[48];
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        struct stat st;
        if (bb_path_fmt(path, sizeof path, "%s/%s/%s", root, folder, writes[i]))
            continue; /* the export itself refuses a path this long */
        if (lstat(path, &st) == 0) {
            const dsp_library_file_t *f = s_find(v, n_owned, folder, writes[i]);
            if (!f || !dsp_library_file_unchanged(root, f))
                s_list_add(list, sizeof list, &count, path);
            continue;
        }
        /* the folders on its way must be folders */
        char *slash = strrchr(path, '/');
        while (slash && slash > path + strlen(root) + 1 + strlen(folder)) {
            *slash = '\0';
            if (lstat(path, &st) == 0) {
                if (!S_ISDIR(st.st_mode))
                    s_list_add(list, sizeof list, &count, path);
                break;
            }
            slash = strrchr(path, '/');
        }
    }
    free(v);
    if (count == 0)
        return 0;
    s_list_more(more, sizeof more, count);
    snprintf(err, errlen,
             "%s%s %s in the way: Batcherbird did not write %s (or it was changed since), and "
             "this export writes files of %s name%s. %s left alone: rename %s or move %s "
             "away, then export again",
             list, more, count > 1 ? "are" : "is", count > 1 ? "them" : "it",
             count > 1 ? "those" : "that", count > 1 ? "s" : "", count > 1 ? "They are" : "It is",
             count > 1 ? "them" : "it", count > 1 ? "them" : "it");
    return BB_EEXIST;
}

#define S_STAGING_MARK ".batcherbird-staging" /* export.c's mark of a staging folder */

typedef struct {
    const char *from, *to, *folder;
    const dsp_library_file_t **owned;
    size_t n_owned;
    char kept[PATH_MAX]; /* the first thing left in `from` */
} s_carry_t;

static void s_kept(s_carry_t *c, const char *path)
{
    if (!c->kept[0])
        snprintf(c->kept, sizeof c->kept, "%s", path);
}

/* Carries and cleans the folder rel ("" for the top) of c->from. */
static void s_carry_dir(s_carry_t *c, const char *rel)
{
    char dir[PATH_MAX];
    if (bb_path_fmt(dir, sizeof dir, "%s%s%s", c->from, *rel ? "/" : "", rel)) {
        s_kept(c, c->from);
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        s_kept(c, dir);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[PATH_MAX], src[PATH_MAX], dst[PATH_MAX];
        if (bb_path_fmt(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) ||
            bb_path_fmt(src, sizeof src, "%s/%s", c->from, sub) ||
            bb_path_fmt(dst, sizeof dst, "%s/%s", c->to, sub)) {
            s_kept(c, dir);
            continue;
        }
        struct stat st, dt;
        if (lstat(src, &st) != 0)
            continue;
        bool top = !*rel;
        if (top &&
            (!strcmp(e->d_name, DSP_EXPORT_INST_RECORD) || !strcmp(e->d_name, S_STAGING_MARK))) {
            if (S_ISREG(st.st_mode) && unlink(src) == 0)
                continue; /* ours: the new folder has its own */
            s_kept(c, src);
            continue;
        }
        bool there = lstat(dst, &dt) == 0;
        if (S_ISDIR(st.st_mode)) {
            if (!there && !s_owns_under(c->owned, c->n_owned, c->folder, sub)) {
                if (rename(src, dst) != 0) /* a folder of the user's, whole */
                    s_kept(c, src);
                continue;
            }
            if (!there && mkdir(dst, st.st_mode & 07777) != 0) {
                s_kept(c, src);
                continue;
            }
            if (there && !S_ISDIR(dt.st_mode)) {
                s_kept(c, src);
                continue;
            }
            s_carry_dir(c, sub);
            if (rmdir(src) != 0 && errno != ENOENT)
                s_kept(c, src);
            continue;
        }
        const dsp_library_file_t *f = s_find(c->owned, c->n_owned, c->folder, sub);
        if (f && S_ISREG(st.st_mode) && s_same_file(src, f->size, f->crc32)) {
            if (unlink(src) != 0) /* Batcherbird's, replaced by the new export */
                s_kept(c, src);
        } else if (there || rename(src, dst) != 0) {
            s_kept(c, src); /* never over anything: it stays where it is */
        }
    }
    closedir(d);
}

int dsp_library_carry(const char *from, const char *to, const char *folder,
                      const dsp_library_file_t *owned, size_t n_owned, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(from, &st) != 0 && errno == ENOENT)
        return 0;
    s_carry_t c = {.from = from, .to = to, .folder = folder, .n_owned = n_owned};
    c.owned = s_sorted(owned, n_owned);
    if (!c.owned) {
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    if (S_ISDIR(st.st_mode))
        s_carry_dir(&c, "");
    free(c.owned);
    if (rmdir(from) == 0 || errno == ENOENT) {
        bb_fsync_dir(to);
        return 0;
    }
    snprintf(err, errlen,
             "the earlier export of %s was replaced, but %s could not be moved into the new "
             "folder: it is kept in %s (nothing of yours was removed); move it where you want "
             "it",
             to, c.kept[0] ? c.kept : from, from);
    return BB_EEXIST;
}

int dsp_library_remove_unchanged(const char *root, const dsp_library_file_t *f)
{
    char path[PATH_MAX];
    struct stat st;
    if (!dsp_library_path_ok(f->path) || bb_path_fmt(path, sizeof path, "%s/%s", root, f->path))
        return -1;
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return 0;
    if (!dsp_library_file_unchanged(root, f))
        return -1;
    return unlink(path) == 0 ? 1 : -1;
}

/* ---- the library record: manifest.json and report.html as written ---- */

#define S_LIBRARY_RECORD_FORMAT "batcherbird-library-record"

int dsp_library_record_root(const char *root, char *err, size_t errlen)
{
    const char *names[] = {DSP_EXPORT_MANIFEST, DSP_EXPORT_REPORT};
    json_t *files = json_array();
    int rc = files ? 0 : BB_ENOMEM;
    for (int k = 0; !rc && k < 2; k++) {
        char path[PATH_MAX];
        uint32_t crc;
        uint64_t size;
        if (bb_path_fmt(path, sizeof path, "%s/%s", root, names[k]))
            rc = BB_ETOOLONG;
        if (!rc && !bb_exists(path))
            continue;
        if (!rc)
            rc = dsp_file_crc32(path, &crc, &size, err, errlen);
        if (!rc && json_array_append_new(files, json_pack("{s:s, s:I, s:I}", "path", names[k],
                                                          "bytes", (json_int_t)size, "crc32",
                                                          (json_int_t)crc)) != 0)
            rc = BB_ENOMEM;
    }
    char path[PATH_MAX];
    if (!rc && bb_path_fmt(path, sizeof path, "%s/%s", root, DSP_EXPORT_LIBRARY_RECORD))
        rc = BB_ETOOLONG;
    json_t *doc =
        rc ? NULL : json_pack("{s:s, s:O}", "format", S_LIBRARY_RECORD_FORMAT, "files", files);
    if (!rc && !doc)
        rc = BB_ENOMEM;
    if (!rc)
        rc = bb_json_write_file(path, doc, BB_JSON_COMPACT_READ);
    if (rc)
        snprintf(err, errlen, "cannot write the library record of %s: %s", root, bb_strerror(rc));
    json_decref(doc);
    json_decref(files);
    return rc;
}

int dsp_library_root_file(const char *root, const char *rel, dsp_library_file_t *f, bool *has)
{
    *has = false;
    char path[PATH_MAX];
    if (bb_path_fmt(path, sizeof path, "%s/%s", root, DSP_EXPORT_LIBRARY_RECORD))
        return BB_ETOOLONG;
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    const char *format = NULL;
    if (bb_read_file(path, &text, &len) || bb_json_load(&doc, text, len, NULL, 0) ||
        bb_json_get_string(doc, "format", &format) || strcmp(format, S_LIBRARY_RECORD_FORMAT)) {
        json_decref(doc);
        free(text);
        return 0;
    }
    const json_t *list = json_object_get(doc, "files");
    for (size_t i = 0; i < json_array_size(list) && !*has; i++) {
        const json_t *e = json_array_get(list, i);
        const char *p = NULL;
        int64_t bytes = -1, crc = -1;
        if (bb_json_get_string(e, "path", &p) || strcmp(p, rel) != 0 ||
            bb_json_get_int(e, "bytes", &bytes) || bb_json_get_int(e, "crc32", &crc) || bytes < 0 ||
            crc < 0 || crc > UINT32_MAX)
            continue;
        snprintf(f->path, sizeof f->path, "%s", rel);
        f->size = (uint64_t)bytes;
        f->crc32 = (uint32_t)crc;
        *has = true;
    }
    json_decref(doc);
    free(text);
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
