/*
 * service_export.c — serving a finished library to `batcherbird export` on another
 * machine: the file list (path, size, CRC-32) and chunks of at most 256 KiB, each with
 * its own CRC. Only files this coordinator wrote into the library folder are served, from
 * its database (the worker records them after each export); paths are checked here again
 * whatever the client sent, and a file must still lie inside the folder. A batch still
 * running answers FAILED_PRECONDITION unless the client asks for what is there so far.
 */
#include "service_export.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bb_crc32.h"
#include "bb_err.h"
#include "export_library.h"

static int s_status(int rc)
{
    switch (rc) {
    case BB_ENOTFOUND:
        return BB_STATUS_NOT_FOUND;
    case BB_EINVAL:
        return BB_STATUS_INVALID_ARGUMENT;
    case BB_ENOMEM:
        return BB_STATUS_RESOURCE_EXHAUSTED;
    default:
        return BB_STATUS_INTERNAL;
    }
}

void coord_library_serve_list(const char *root, const coord_lib_file_t *files, size_t n, int state,
                              Bb__LibraryList_Closure closure, void *call)
{
    Bb__LibraryFile *items = calloc(n ? n : 1, sizeof *items);
    Bb__LibraryFile **ptrs = calloc(n ? n : 1, sizeof *ptrs);
    if (!items || !ptrs) {
        free(items);
        free(ptrs);
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    Bb__LibraryList reply = BB__LIBRARY_LIST__INIT;
    for (size_t i = 0; i < n; i++) {
        char path[1600];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", root, files[i].path);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != files[i].size) {
            bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION,
                        "%s %s since it was exported: export the batch again", path,
                        errno == ENOENT ? "is gone" : "changed");
            free(ptrs);
            free(items);
            return;
        }
        items[i] = (Bb__LibraryFile)BB__LIBRARY_FILE__INIT;
        items[i].path = (char *)files[i].path;
        items[i].size = files[i].size;
        items[i].crc32 = files[i].crc32;
        ptrs[i] = &items[i];
        reply.total_bytes += files[i].size;
    }
    const char *slash = strrchr(root, '/');
    char name[256];
    snprintf(name, sizeof name, "%s", slash && slash[1] ? slash + 1 : root);
    reply.files = ptrs;
    reply.n_files = n;
    reply.state = (Bb__BatchState)state;
    reply.name = name;
    closure(&reply, call);
    free(ptrs);
    free(items);
}

void coord_library_serve_chunk(const char *root, const coord_lib_file_t *files, size_t n,
                               const Bb__LibraryChunkRequest *req, Bb__LibraryChunk_Closure closure,
                               void *call)
{
    size_t len = req->length ? req->length : DSP_LIBRARY_CHUNK_MAX;
    if (len > DSP_LIBRARY_CHUNK_MAX) {
        bb_rpc_fail(call, BB_STATUS_INVALID_ARGUMENT, "chunks are at most %d bytes, not %u",
                    DSP_LIBRARY_CHUNK_MAX, req->length);
        return;
    }
    if (!dsp_library_path_ok(req->path)) {
        bb_rpc_fail(call, BB_STATUS_INVALID_ARGUMENT, "'%.200s' is not a library path",
                    req->path ? req->path : "");
        return;
    }
    bool listed = false;
    for (size_t i = 0; i < n && !listed; i++)
        listed = strcmp(files[i].path, req->path) == 0;
    if (!listed) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "%.200s is not a file of this library", req->path);
        return;
    }
    unsigned char *buf = malloc(len);
    if (!buf) {
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    size_t got = 0;
    uint64_t size = 0;
    char err[512];
    int rc = dsp_library_read(root, req->path, req->offset, buf, len, &got, &size, err, sizeof err);
    if (rc) {
        bb_rpc_fail(call, s_status(rc), "%s", err);
    } else if (req->offset > size) {
        bb_rpc_fail(call, BB_STATUS_INVALID_ARGUMENT,
                    "%s has %llu bytes: offset %llu is past its end", req->path,
                    (unsigned long long)size, (unsigned long long)req->offset);
    } else {
        Bb__LibraryChunk reply = BB__LIBRARY_CHUNK__INIT;
        reply.data.data = buf;
        reply.data.len = got;
        reply.crc32 = bb_crc32(0, buf, got);
        reply.file_size = size;
        closure(&reply, call);
    }
    free(buf);
}

/* The library root of a batch; FAILED_PRECONDITION-worthy states are left to the caller. */
static int s_batch_root(coord_t *self, uint64_t id, char *root, size_t len, int *state, void *call)
{
    coord_batch_row_t b;
    int rc = coord_store_batch_get(self->store, id, &b);
    if (rc == BB_ENOTFOUND) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "no batch %llu", (unsigned long long)id);
        return rc;
    }
    if (rc) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot read batch %llu: %s", (unsigned long long)id,
                    coord_store_errmsg(self->store));
        return rc;
    }
    snprintf(root, len, "%s", b.out_dir);
    *state = b.state;
    coord_batch_row_free(&b);
    if (!*root) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "batch %llu has no library folder",
                    (unsigned long long)id);
        return BB_ENOTFOUND;
    }
    return 0;
}

/* The files this coordinator wrote under a batch's library root. */
static int s_files(coord_t *self, const char *root, coord_lib_file_t **files, size_t *n, void *call)
{
    if (coord_store_library_files(self->store, root, files, n) != 0) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot read the library's files: %s",
                    coord_store_errmsg(self->store));
        return BB_EDB;
    }
    return 0;
}

void coord_export_rpc_list(coord_t *self, const Bb__LibraryListRequest *req,
                           Bb__LibraryList_Closure closure, void *call)
{
    char root[1100];
    int state;
    if (s_batch_root(self, req->batch_id, root, sizeof root, &state, call))
        return;
    bool active = state == BB__BATCH_STATE__BATCH_RUNNING || state == BB__BATCH_STATE__BATCH_PAUSED;
    if (active && !req->partial) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION,
                    "batch %llu is still %s: its library is not finished (wait for it, or "
                    "fetch what is exported so far with --partial)",
                    (unsigned long long)req->batch_id,
                    state == BB__BATCH_STATE__BATCH_RUNNING ? "running" : "paused");
        return;
    }
    coord_lib_file_t *files = NULL;
    size_t n = 0;
    if (s_files(self, root, &files, &n, call))
        return;
    if (n == 0)
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "nothing has been exported into %s yet", root);
    else
        coord_library_serve_list(root, files, n, state, closure, call);
    free(files);
}

void coord_export_rpc_chunk(coord_t *self, const Bb__LibraryChunkRequest *req,
                            Bb__LibraryChunk_Closure closure, void *call)
{
    char root[1100];
    int state;
    if (s_batch_root(self, req->batch_id, root, sizeof root, &state, call))
        return;
    coord_lib_file_t *files = NULL;
    size_t n = 0;
    if (s_files(self, root, &files, &n, call))
        return;
    coord_library_serve_chunk(root, files, n, req, closure, call);
    free(files);
}
