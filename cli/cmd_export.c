/*
 * cmd_export.c — `batcherbird export BATCH --out DIR`: fetch a finished library from the
 * coordinator over the operator connection (cmd_export.h tells how).
 *
 * Nothing the coordinator sends is trusted: every path must pass the same check the
 * server applies (relative, no "..", no hidden or empty components), every chunk must
 * match its CRC and the size the list gave, and every finished file the listed CRC,
 * before it gets its final name.
 */
#include "cmd_export.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_clock.h"
#include "bb_crc32.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "cli.h"
#include "export_library.h"
#include "operator.pb-c.h"

#define S_PATH_MAX    4096
#define S_CHUNK_TRIES 3                     /* a chunk call that gets no answer is asked again */
#define S_PROGRESS_NS (100 * 1000 * 1000ll) /* redraw the progress line at most 10/s */

/* Calls and maps the outcome to a bb_err with one line in err. */
static int s_call(bb_rpc_t *rpc, const char *method, const ProtobufCMessage *req, int timeout_ms,
                  ProtobufCMessage **reply, char *err, size_t errlen)
{
    char msg[BB_RPC_MESSAGE_MAX];
    int status = bb_rpc_call(rpc, &bb__operator__descriptor, method, req, timeout_ms, reply, msg,
                             sizeof msg);
    if (status == BB_STATUS_OK)
        return 0;
    if (status == BB_STATUS_DEADLINE_EXCEEDED || status == BB_STATUS_UNAVAILABLE) {
        snprintf(err, errlen, "UNAVAILABLE: no answer from the coordinator within %.1f s (%s)",
                 timeout_ms / 1000.0, msg);
        return BB_EUNAVAIL;
    }
    snprintf(err, errlen, "%s: %s", bb_status_name(status), msg);
    return BB_ERPC;
}

/* True when dest exists with exactly this size and CRC. */
static bool s_complete(const char *dest, uint64_t size, uint32_t crc)
{
    struct stat st;
    if (stat(dest, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
        return false;
    uint32_t have;
    uint64_t n;
    char err[256];
    return dsp_file_crc32(dest, &have, &n, err, sizeof err) == 0 && n == size && have == crc;
}

static int s_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return bb_err_from_errno(errno);
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Fetches one file into part from `from`; the caller checks the result. */
static int s_fetch_file(bb_rpc_t *rpc, uint64_t batch, const Bb__LibraryFile *f, const char *part,
                        uint64_t from, const cli_fetch_opts_t *opts, cli_fetch_stats_t *st,
                        uint64_t *done, char *err, size_t errlen)
{
    int fd = open(part, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot write %s: %s", part, strerror(errno));
        return BB_EIO;
    }
    int rc = 0;
    if (ftruncate(fd, (off_t)from) != 0 || lseek(fd, (off_t)from, SEEK_SET) < 0) {
        snprintf(err, errlen, "cannot write %s: %s", part, strerror(errno));
        rc = BB_EIO;
    }
    uint64_t off = from;
    while (!rc && off < f->size) {
        Bb__LibraryChunkRequest req = BB__LIBRARY_CHUNK_REQUEST__INIT;
        req.batch_id = batch;
        req.path = f->path;
        req.offset = off;
        uint64_t want = f->size - off;
        req.length = (uint32_t)(want < DSP_LIBRARY_CHUNK_MAX ? want : DSP_LIBRARY_CHUNK_MAX);
        ProtobufCMessage *out = NULL;
        for (int tries = 0; tries < S_CHUNK_TRIES; tries++) {
            rc = s_call(rpc, "FetchLibraryChunk", &req.base, opts->timeout_ms, &out, err, errlen);
            if (rc != BB_EUNAVAIL)
                break;
        }
        if (rc)
            break;
        Bb__LibraryChunk *c = (Bb__LibraryChunk *)out;
        uint32_t crc = bb_crc32(0, c->data.data, c->data.len);
        if (c->file_size != f->size) {
            snprintf(err, errlen,
                     "%s changed on the coordinator while fetching (%llu bytes, listed %llu): "
                     "run export again",
                     f->path, (unsigned long long)c->file_size, (unsigned long long)f->size);
            rc = BB_EPROTO;
        } else if (crc != c->crc32) {
            snprintf(err, errlen,
                     "%s: the chunk at offset %llu arrived damaged (CRC %08x, sent %08x): run "
                     "export again",
                     f->path, (unsigned long long)off, crc, c->crc32);
            rc = BB_EPROTO;
        } else if (c->data.len == 0 || c->data.len > req.length) {
            snprintf(err, errlen, "%s: the coordinator sent %zu bytes for a %u-byte chunk", f->path,
                     c->data.len, req.length);
            rc = BB_EPROTO;
        } else if ((rc = s_write_all(fd, c->data.data, c->data.len)) != 0) {
            snprintf(err, errlen, "cannot write %s: %s", part, bb_strerror(rc));
            rc = BB_EIO;
        } else {
            off += c->data.len;
            *done += c->data.len;
            st->bytes_fetched += c->data.len;
            if (opts->progress)
                opts->progress(opts->progress_arg, f->path, *done, st->bytes_total);
        }
        protobuf_c_message_free_unpacked(out, NULL);
    }
    if (!rc && fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", part, strerror(errno));
        rc = BB_EIO;
    }
    close(fd);
    return rc;
}

/* One listed file: skip, resume or fetch, verify, rename. */
static int s_file(bb_rpc_t *rpc, uint64_t batch, const char *out_dir, const Bb__LibraryFile *f,
                  const cli_fetch_opts_t *opts, cli_fetch_stats_t *st, uint64_t *done, char *err,
                  size_t errlen)
{
    char dest[S_PATH_MAX], part[S_PATH_MAX + 8], dir[S_PATH_MAX];
    snprintf(dest, sizeof dest, "%s/%s", out_dir, f->path);
    snprintf(part, sizeof part, "%s.part", dest);
    if (s_complete(dest, f->size, f->crc32)) {
        st->skipped++;
        *done += f->size;
        if (opts->progress)
            opts->progress(opts->progress_arg, f->path, *done, st->bytes_total);
        return 0;
    }
    bb_dirname(dest, dir, sizeof dir);
    int rc = bb_mkdir_p(dir);
    if (rc) {
        snprintf(err, errlen, "cannot create %s: %s", dir, bb_strerror(rc));
        return BB_EIO;
    }
    struct stat ps;
    uint64_t from = 0;
    if (stat(part, &ps) == 0 && S_ISREG(ps.st_mode) && (uint64_t)ps.st_size <= f->size) {
        from = (uint64_t)ps.st_size;
        if (from > 0)
            st->resumed++;
    }
    uint64_t start_done = *done;
    for (int attempt = 0;; attempt++) {
        *done = start_done + from;
        rc = s_fetch_file(rpc, batch, f, part, from, opts, st, done, err, errlen);
        if (rc)
            return rc; /* the .part stays for the next run */
        uint32_t crc;
        uint64_t size;
        rc = dsp_file_crc32(part, &crc, &size, err, errlen);
        if (rc)
            return BB_EIO;
        if (size == f->size && crc == f->crc32)
            break;
        unlink(part);
        if (from > 0 && attempt == 0) {
            from = 0; /* the old .part did not belong to this file: once more from zero */
            continue;
        }
        snprintf(err, errlen,
                 "%s: checksum mismatch after download (CRC %08x, %llu bytes; listed %08x, "
                 "%llu bytes): run export again",
                 f->path, crc, (unsigned long long)size, f->crc32, (unsigned long long)f->size);
        return BB_EPROTO;
    }
    if (rename(part, dest) != 0) {
        snprintf(err, errlen, "cannot rename %s into place: %s", part, strerror(errno));
        return BB_EIO;
    }
    st->fetched++;
    return 0;
}

int cli_fetch_library(bb_rpc_t *rpc, uint64_t batch, const char *out_dir,
                      const cli_fetch_opts_t *opts, cli_fetch_stats_t *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    Bb__LibraryListRequest req = BB__LIBRARY_LIST_REQUEST__INIT;
    req.batch_id = batch;
    req.partial = opts->partial;
    ProtobufCMessage *out = NULL;
    int rc = s_call(rpc, "ListLibrary", &req.base, opts->timeout_ms, &out, err, errlen);
    if (rc)
        return rc;
    Bb__LibraryList *list = (Bb__LibraryList *)out;
    /* Check every path before writing anything. */
    for (size_t i = 0; !rc && i < list->n_files; i++) {
        const char *p = list->files[i]->path;
        if (!dsp_library_path_ok(p)) {
            snprintf(err, errlen, "the coordinator listed an unsafe path '%.200s': refused", p);
            rc = BB_EPROTO;
        }
        for (size_t k = 0; !rc && k < i; k++)
            if (strcmp(list->files[k]->path, p) == 0) {
                snprintf(err, errlen, "the coordinator listed %s twice: refused", p);
                rc = BB_EPROTO;
            }
        st->bytes_total += list->files[i]->size;
    }
    st->files = list->n_files;
    if (!rc && (rc = bb_mkdir_p(out_dir)) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", out_dir, bb_strerror(rc));
        rc = BB_EIO;
    }
    uint64_t done = 0;
    for (size_t i = 0; !rc && i < list->n_files; i++)
        rc = s_file(rpc, batch, out_dir, list->files[i], opts, st, &done, err, errlen);
    if (!rc)
        bb_fsync_dir(out_dir);
    protobuf_c_message_free_unpacked(out, NULL);
    return rc;
}

/* ---- the command ---- */

typedef struct {
    bool tty;
    int last_pct;
    int64_t last_ns;
} s_progress_t;

static void s_progress(void *arg, const char *path, uint64_t done, uint64_t total)
{
    s_progress_t *p = arg;
    int64_t now = bb_mono_ns();
    if (!p->tty || (now - p->last_ns < S_PROGRESS_NS && done < total))
        return;
    p->last_ns = now;
    int pct = total ? (int)(done * 100 / total) : 100;
    fprintf(stderr, "\r\033[K%6.1f / %.1f MB %3d%%  %.60s", done / 1e6, total / 1e6, pct, path);
    p->last_pct = pct;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird export BATCH --out DIR [--partial]\n\n"
                 "Fetches the finished library of BATCH from the coordinator into DIR (samples,\n"
                 "SFZ, DecentSampler, manifest.json, report.html), checking every file. Run it\n"
                 "again after an interruption: complete files are kept, partial ones resume.\n\n"
                 "  --out DIR   where the library goes (created if needed)\n"
                 "  --partial   fetch what is exported so far while the batch still runs\n");
}

int cli_cmd_export(cli_t *cli, int argc, char **argv)
{
    const char *batch_arg = NULL, *out_dir = NULL;
    bool partial = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out_dir = argv[++i];
        } else if (!strcmp(argv[i], "--partial")) {
            partial = true;
        } else if (argv[i][0] == '-') {
            cli_error("export: unknown option %s (see batcherbird export --help)", argv[i]);
            return CLI_EXIT_USAGE;
        } else if (!batch_arg) {
            batch_arg = argv[i];
        } else {
            cli_error("export: one batch at a time ('%s' is extra)", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!batch_arg || !out_dir || !*out_dir) {
        cli_error("usage: batcherbird export BATCH --out DIR [--partial]");
        return CLI_EXIT_USAGE;
    }
    char *end;
    unsigned long long id = strtoull(batch_arg, &end, 10);
    if (!*batch_arg || *end || id == 0) {
        cli_error("export: '%s' is not a batch number", batch_arg);
        return CLI_EXIT_USAGE;
    }
    char err[1024];
    int crc = cli_connect(cli);
    if (crc)
        return crc;
    s_progress_t prog = {.tty = isatty(STDERR_FILENO), .last_pct = -1};
    cli_fetch_opts_t opts = {.partial = partial,
                             .timeout_ms = cli->timeout_ms,
                             .progress = s_progress,
                             .progress_arg = &prog};
    cli_fetch_stats_t st;
    int rc = cli_fetch_library(cli->rpc, id, out_dir, &opts, &st, err, sizeof err);
    if (prog.tty && prog.last_pct >= 0)
        fprintf(stderr, "\r\033[K");
    if (rc) {
        cli_error("%s", err);
        return rc == BB_EUNAVAIL ? CLI_EXIT_UNAVAILABLE : CLI_EXIT_FAILED;
    }
    printf("batch %llu: %zu files (%.1f MB) in %s: %zu fetched, %zu already there", id, st.files,
           st.bytes_total / 1e6, out_dir, st.fetched, st.skipped);
    if (st.resumed)
        printf(", %zu resumed", st.resumed);
    printf("\n");
    return CLI_EXIT_OK;
}
