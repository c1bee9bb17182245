/*
 * spool.c — the local take spool of spool.h.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_crc32.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_log.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the spool and take streams store float32 little-endian as in memory"
#endif

#define NODE_SPOOL_PATH_MAX 4096

struct node_spool_t {
    char dir[NODE_SPOOL_PATH_MAX];
};

struct node_spool_take_t {
    node_spool_t *spool;
    char id[BB_TAKE_ID_MAX + 1];
    FILE *file;
    uint32_t channels;
    uint64_t frames;
    uint32_t crc;
};

/* The longest file name the spool makes: a take id and its longest extension. */
#define S_NAME_MAX (BB_TAKE_ID_MAX + sizeof ".raw.part")

/* dir/id.ext into out. node_spool_new checked that dir leaves room for S_NAME_MAX, so
 * this fails only for an id longer than a take id may be: BB_ETOOLONG then. */
static int s_path(const node_spool_t *self, const char *id, const char *ext, char *out, size_t len)
{
    return bb_path_fmt(out, len, "%s/%s%s", self->dir, id, ext);
}

static int s_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

node_spool_t *node_spool_new(const char *dir, char *err, size_t errlen)
{
    if (strlen(dir) + 1 + S_NAME_MAX > NODE_SPOOL_PATH_MAX) {
        snprintf(err, errlen, "spool directory path is too long (%zu characters; at most %zu)",
                 strlen(dir), NODE_SPOOL_PATH_MAX - 1 - S_NAME_MAX);
        return NULL;
    }
    int rc = bb_mkdir_p(dir);
    if (rc) {
        snprintf(err, errlen, "cannot create spool directory %s: %s", dir, bb_strerror(rc));
        return NULL;
    }
    node_spool_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->dir, sizeof self->dir, "%s", dir);
    /* Remove what a crash left half-written: .part files and .raw without a .hdr. */
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            char path[NODE_SPOOL_PATH_MAX];
            size_t n = strlen(e->d_name);
            if (n >= S_NAME_MAX)
                continue; /* longer than any name the spool makes: not ours */
            if (s_ends_with(e->d_name, ".part") || s_ends_with(e->d_name, ".tmp")) {
                if (s_path(self, e->d_name, "", path, sizeof path) == 0)
                    unlink(path);
            } else if (s_ends_with(e->d_name, ".raw")) {
                char id[S_NAME_MAX];
                memcpy(id, e->d_name, n - 4);
                id[n - 4] = '\0';
                if (s_path(self, id, ".hdr", path, sizeof path) == 0 && !bb_exists(path) &&
                    s_path(self, id, ".raw", path, sizeof path) == 0) {
                    bb_warn("spool: removing %s, recorded but never completed", path);
                    unlink(path);
                }
            }
        }
        closedir(d);
    }
    return self;
}

void node_spool_destroy(node_spool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

const char *node_spool_dir(const node_spool_t *self)
{
    return self->dir;
}

node_spool_take_t *node_spool_take_begin(node_spool_t *self, const char *id, uint32_t channels,
                                         char *err, size_t errlen)
{
    if (!bb_take_id_ok(id)) {
        snprintf(err, errlen, "take id '%s' is not a safe file name", id ? id : "");
        return NULL;
    }
    node_spool_take_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    char path[NODE_SPOOL_PATH_MAX];
    t->file = s_path(self, id, ".raw.part", path, sizeof path) == 0 ? fopen(path, "wb") : NULL;
    if (!t->file) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        free(t);
        return NULL;
    }
    setvbuf(t->file, NULL, _IOFBF, 1 << 16);
    t->spool = self;
    t->channels = channels;
    snprintf(t->id, sizeof t->id, "%s", id);
    return t;
}

int node_spool_take_write(node_spool_take_t *t, const float *frames, uint32_t n)
{
    size_t bytes = (size_t)n * t->channels * sizeof(float);
    if (n == 0)
        return 0;
    if (fwrite(frames, 1, bytes, t->file) != bytes)
        return errno == ENOSPC ? BB_ENOSPACE : BB_EIO;
    t->crc = bb_crc32(t->crc, frames, bytes);
    t->frames += n;
    return 0;
}

uint64_t node_spool_take_frames(const node_spool_take_t *t)
{
    return t->frames;
}

void node_spool_take_abort(node_spool_take_t **take_p)
{
    if (!take_p || !*take_p)
        return;
    node_spool_take_t *t = *take_p;
    char path[NODE_SPOOL_PATH_MAX];
    if (t->file)
        fclose(t->file);
    if (s_path(t->spool, t->id, ".raw.part", path, sizeof path) == 0)
        unlink(path);
    free(t);
    *take_p = NULL;
}

int node_spool_take_commit(node_spool_take_t **take_p, Bb__SpoolHeader *hdr, uint32_t chunk_bytes)
{
    node_spool_take_t *t = *take_p;
    char part[NODE_SPOOL_PATH_MAX], raw[NODE_SPOOL_PATH_MAX], head[NODE_SPOOL_PATH_MAX];
    /* t->id passed bb_take_id_ok in take_begin, so these fit (see s_path) */
    int rc = s_path(t->spool, t->id, ".raw.part", part, sizeof part);
    if (!rc)
        rc = s_path(t->spool, t->id, ".raw", raw, sizeof raw);
    if (!rc)
        rc = s_path(t->spool, t->id, ".hdr", head, sizeof head);
    if (!rc && (fflush(t->file) != 0 || fsync(fileno(t->file)) != 0))
        rc = errno == ENOSPC ? BB_ENOSPACE : BB_EIO;
    if (fclose(t->file) != 0 && !rc)
        rc = errno == ENOSPC ? BB_ENOSPACE : BB_EIO;
    t->file = NULL;
    if (!rc && rename(part, raw) != 0)
        rc = bb_err_from_errno(errno);
    if (!rc) {
        uint64_t bytes = t->frames * t->channels * sizeof(float);
        hdr->end->frames = t->frames;
        hdr->end->crc32 = t->crc;
        hdr->end->chunks = (uint32_t)((bytes + chunk_bytes - 1) / chunk_bytes);
        size_t len = bb__spool_header__get_packed_size(hdr);
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf) {
            rc = BB_ENOMEM;
        } else {
            bb__spool_header__pack(hdr, buf);
            rc = bb_write_file_atomic(head, buf, len);
            free(buf);
        }
    }
    if (rc) {
        unlink(part);
        unlink(raw);
        unlink(head);
    }
    free(t);
    *take_p = NULL;
    return rc;
}

typedef struct {
    char *id;
    struct timespec mtime;
} s_entry_t;

static int s_cmp_entry(const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->id, y->id);
}

int node_spool_list(node_spool_t *self, char ***ids_out, size_t *n_out)
{
    *ids_out = NULL;
    *n_out = 0;
    DIR *d = opendir(self->dir);
    if (!d)
        return bb_err_from_errno(errno);
    s_entry_t *entries = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!s_ends_with(e->d_name, ".hdr"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            s_entry_t *ne = realloc(entries, cap * sizeof *ne);
            if (!ne)
                break;
            entries = ne;
        }
        char path[NODE_SPOOL_PATH_MAX];
        struct stat st;
        if (strlen(e->d_name) >= S_NAME_MAX || s_path(self, e->d_name, "", path, sizeof path) ||
            stat(path, &st) != 0)
            continue; /* a name longer than the spool makes is not a take */
        entries[n].id = strndup(e->d_name, strlen(e->d_name) - 4);
        entries[n].mtime = st.st_mtim;
        if (entries[n].id)
            n++;
    }
    closedir(d);
    if (n > 1)
        qsort(entries, n, sizeof *entries, s_cmp_entry);
    char **ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids) {
        for (size_t i = 0; i < n; i++)
            free(entries[i].id);
        free(entries);
        return BB_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = entries[i].id;
    free(entries);
    *ids_out = ids;
    *n_out = n;
    return 0;
}

int node_spool_load_header(node_spool_t *self, const char *id, Bb__SpoolHeader **hdr)
{
    char path[NODE_SPOOL_PATH_MAX];
    int rc = s_path(self, id, ".hdr", path, sizeof path);
    if (rc)
        return rc;
    char *data;
    size_t len;
    rc = bb_read_file(path, &data, &len);
    if (rc)
        return rc;
    *hdr = bb__spool_header__unpack(NULL, len, (uint8_t *)data);
    free(data);
    if (*hdr && (!(*hdr)->job || !(*hdr)->end || !(*hdr)->format)) {
        bb__spool_header__free_unpacked(*hdr, NULL);
        *hdr = NULL;
    }
    return *hdr ? 0 : BB_EPROTO;
}

int node_spool_open_data(node_spool_t *self, const char *id, int *fd, uint64_t *bytes)
{
    char path[NODE_SPOOL_PATH_MAX];
    int rc = s_path(self, id, ".raw", path, sizeof path);
    if (rc)
        return rc;
    *fd = open(path, O_RDONLY);
    if (*fd < 0)
        return bb_err_from_errno(errno);
    struct stat st;
    if (fstat(*fd, &st) != 0) {
        close(*fd);
        return BB_EIO;
    }
    *bytes = (uint64_t)st.st_size;
    return 0;
}

int node_spool_set_aside(node_spool_t *self, const char *id)
{
    char dir[NODE_SPOOL_PATH_MAX + 16], from[NODE_SPOOL_PATH_MAX];
    char to[NODE_SPOOL_PATH_MAX + 16 + BB_TAKE_ID_MAX + 8];
    snprintf(dir, sizeof dir, "%s/refused", self->dir);
    int rc = bb_mkdir_p(dir);
    const char *ext[] = {".raw", ".hdr"}; /* the header last: complete means it exists */
    for (int i = 0; !rc && i < 2; i++) {
        s_path(self, id, ext[i], from, sizeof from);
        snprintf(to, sizeof to, "%s/%s%s", dir, id, ext[i]);
        if (rename(from, to) != 0)
            rc = bb_err_from_errno(errno);
    }
    if (!rc)
        rc = bb_fsync_dir(dir);
    if (!rc)
        rc = bb_fsync_dir(self->dir);
    return rc;
}

int node_spool_remove(node_spool_t *self, const char *id)
{
    char path[NODE_SPOOL_PATH_MAX];
    int rc = s_path(self, id, ".hdr", path, sizeof path);
    if (rc)
        return rc;
    unlink(path);
    if (s_path(self, id, ".raw", path, sizeof path) == 0)
        unlink(path);
    return bb_fsync_dir(self->dir);
}
