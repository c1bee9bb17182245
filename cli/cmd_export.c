/*
 * cmd_export.c — `batcherbird export BATCH --out DIR`: fetch a finished library from the
 * coordinator over the operator connection (cmd_export.h tells how).
 *
 * Nothing the coordinator sends is trusted: every path must pass the same check the
 * server applies (relative, no "..", no hidden or empty components), every chunk must
 * match its CRC and the size the list gave, and every finished file the listed CRC,
 * before it gets its final name.
 *
 * Nothing in DIR is overwritten that this command did not fetch there: DIR keeps a record
 * (S_FETCH_RECORD: path, size, CRC-32 of each file fetched). A listed file already in DIR
 * is skipped when it is the same, replaced when the record has it as fetched and it is
 * still so, and otherwise (the user's own, or ours and changed since) stops the export
 * before anything is written, naming the files.
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
#include "bb_json.h"
#include "cli.h"
#include "plan_fields.h"
#include "export_library.h"
#include "operator.pb-c.h"

#define S_PATH_MAX     4096
#define S_CHUNK_TRIES  3                     /* a chunk call that gets no answer is asked again */
#define S_PROGRESS_NS  (100 * 1000 * 1000ll) /* redraw the progress line at most 10/s */
#define S_FETCH_RECORD ".batcherbird-fetched.json" /* in DIR: what this command fetched */
#define S_FETCH_FORMAT "batcherbird-fetched"
#define S_LIST_SHOWN   5 /* files named in an error, the rest counted */

/* ---- the fetch record ---- */

typedef struct {
    dsp_library_file_t *v;
    size_t n, cap;
} s_record_t;

static void s_record_free(s_record_t *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}

static dsp_library_file_t *s_record_find(s_record_t *r, const char *path)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].path, path) == 0)
            return &r->v[i];
    return NULL;
}

/* Reads out_dir's record; none (a first fetch) or an unreadable one is empty. */
static void s_record_read(const char *out_dir, s_record_t *r)
{
    memset(r, 0, sizeof *r);
    char path[S_PATH_MAX];
    if (bb_path_fmt(path, sizeof path, "%s/%s", out_dir, S_FETCH_RECORD))
        return;
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    const char *format = NULL;
    if (bb_read_file(path, &text, &len) == 0 && bb_json_load(&doc, text, len, NULL, 0) == 0 &&
        bb_json_get_string(doc, "format", &format) == 0 && !strcmp(format, S_FETCH_FORMAT)) {
        const json_t *list = json_object_get(doc, "files");
        size_t n = json_array_size(list);
        r->v = calloc(n ? n : 1, sizeof *r->v);
        for (size_t i = 0; r->v && i < n; i++) {
            const json_t *e = json_array_get(list, i);
            const char *p = NULL;
            int64_t bytes = -1, crc = -1;
            if (bb_json_get_string(e, "path", &p) || !dsp_library_path_ok(p) ||
                bb_json_get_int(e, "bytes", &bytes) || bb_json_get_int(e, "crc32", &crc) ||
                bytes < 0 || crc < 0 || crc > UINT32_MAX)
                continue;
            dsp_library_file_t *f = &r->v[r->n++];
            snprintf(f->path, sizeof f->path, "%s", p);
            f->size = (uint64_t)bytes;
            f->crc32 = (uint32_t)crc;
        }
        r->cap = r->v ? (n ? n : 1) : 0;
    }
    json_decref(doc);
    free(text);
}

/* Notes that path was fetched as size/crc. */
static int s_record_set(s_record_t *r, const char *path, uint64_t size, uint32_t crc)
{
    dsp_library_file_t *f = s_record_find(r, path);
    if (!f) {
        if (r->n == r->cap) {
            size_t c = r->cap ? r->cap * 2 : 64;
            dsp_library_file_t *g = realloc(r->v, c * sizeof *g);
            if (!g)
                return BB_ENOMEM;
            r->v = g;
            r->cap = c;
        }
        f = &r->v[r->n++];
        memset(f, 0, sizeof *f);
        snprintf(f->path, sizeof f->path, "%s", path);
    }
    f->size = size;
    f->crc32 = crc;
    return 0;
}

static int s_record_write(const char *out_dir, const s_record_t *r, char *err, size_t errlen)
{
    char path[S_PATH_MAX];
    json_t *files = json_array(), *doc = NULL;
    int rc = files ? 0 : BB_ENOMEM;
    for (size_t i = 0; !rc && i < r->n; i++)
        if (json_array_append_new(files, json_pack("{s:s, s:I, s:I}", "path", r->v[i].path, "bytes",
                                                   (json_int_t)r->v[i].size, "crc32",
                                                   (json_int_t)r->v[i].crc32)) != 0)
            rc = BB_ENOMEM;
    if (!rc && bb_path_fmt(path, sizeof path, "%s/%s", out_dir, S_FETCH_RECORD))
        rc = BB_ETOOLONG;
    if (!rc && !(doc = json_pack("{s:s, s:O}", "format", S_FETCH_FORMAT, "files", files)))
        rc = BB_ENOMEM;
    if (!rc)
        rc = bb_json_write_file(path, doc, BB_JSON_COMPACT_READ);
    if (rc)
        snprintf(err, errlen, "cannot write the fetch record in %s: %s", out_dir, bb_strerror(rc));
    json_decref(doc);
    json_decref(files);
    return rc;
}

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

/* Refuses, before anything is written, when a listed file would land on one in out_dir that
 * this command did not fetch there (or fetched and that was changed since), or a folder on
 * its way is a file. */
static int s_check_in_way(const char *out_dir, const Bb__LibraryList *list, s_record_t *rec,
                          char *err, size_t errlen)
{
    char names[1024] = "";
    size_t used = 0, count = 0;
    for (size_t i = 0; i < list->n_files; i++) {
        const Bb__LibraryFile *f = list->files[i];
        char dest[S_PATH_MAX];
        struct stat st;
        if (bb_path_fmt(dest, sizeof dest, "%s/%s", out_dir, f->path))
            continue; /* s_file names a path too long */
        bool in_way = false;
        if (lstat(dest, &st) == 0) {
            const dsp_library_file_t *mine = s_record_find(rec, f->path);
            in_way = !s_complete(dest, f->size, f->crc32) &&
                     !(mine && dsp_library_file_unchanged(out_dir, mine));
        } else {
            /* the folders on its way must be folders (a file named like one is the user's) */
            char dir[S_PATH_MAX];
            snprintf(dir, sizeof dir, "%s", dest);
            for (char *slash = strrchr(dir, '/'); slash && slash > dir + strlen(out_dir);
                 slash = strrchr(dir, '/')) {
                *slash = '\0';
                if (lstat(dir, &st) == 0) {
                    in_way = !S_ISDIR(st.st_mode);
                    if (in_way)
                        snprintf(dest, sizeof dest, "%s", dir);
                    break;
                }
            }
        }
        if (!in_way)
            continue;
        if (count < S_LIST_SHOWN && used < sizeof names) {
            int w = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", dest);
            used = w < 0 ? sizeof names : used + (size_t)w;
        }
        count++;
    }
    if (count == 0)
        return 0;
    char more[48] = "";
    if (count > S_LIST_SHOWN)
        snprintf(more, sizeof more, " and %zu more", count - S_LIST_SHOWN);
    snprintf(err, errlen,
             "%s%s %s in the way: batcherbird export did not fetch %s there (or %s changed "
             "since), and the library has files of %s name%s. Nothing was written: move %s "
             "away or export into another folder",
             names, more, count > 1 ? "are" : "is", count > 1 ? "them" : "it",
             count > 1 ? "they were" : "it was", count > 1 ? "those" : "that", count > 1 ? "s" : "",
             count > 1 ? "them" : "it");
    return BB_EEXIST;
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
    s_record_t rec;
    s_record_read(out_dir, &rec);
    if (!rc)
        rc = s_check_in_way(out_dir, list, &rec, err, errlen);
    if (!rc && (rc = bb_mkdir_p(out_dir)) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", out_dir, bb_strerror(rc));
        rc = BB_EIO;
    }
    uint64_t done = 0;
    for (size_t i = 0; !rc && i < list->n_files; i++) {
        const Bb__LibraryFile *f = list->files[i];
        rc = s_file(rpc, batch, out_dir, f, opts, st, &done, err, errlen);
        /* noted as fetched right away: an interrupted export knows its files next time */
        if (!rc && (rc = s_record_set(&rec, f->path, f->size, f->crc32)) != 0)
            snprintf(err, errlen, "out of memory");
        if (!rc)
            rc = s_record_write(out_dir, &rec, err, errlen);
    }
    if (!rc)
        bb_fsync_dir(out_dir);
    s_record_free(&rec);
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

void cli_export_options_usage(FILE *out)
{
    for (size_t i = 0; i < dsp_plan_n_fields; i++) {
        const dsp_plan_field_t *f = &dsp_plan_fields[i];
        if (f->scope != DSP_PLAN_EXPORT || strcmp(f->name, "out") == 0)
            continue;
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        fprintf(out, "  %-24s%s\n", left, f->help);
    }
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: batcherbird export BATCH --out DIR [--partial]\n"
                 "       batcherbird export BATCH --again|--retry [export options] [--out DIR]\n\n"
                 "Fetches the finished library of BATCH from the coordinator into DIR (samples,\n"
                 "SFZ, DecentSampler, manifest.json, report.html), checking every file. Run it\n"
                 "again after an interruption: complete files are kept, partial ones resume.\n"
                 "Files in DIR that export did not fetch there (or that changed since) are\n"
                 "never overwritten: the export stops first and names them.\n\n"
                 "  --out DIR   where the library goes (created if needed)\n"
                 "  --partial   fetch what is exported so far while the batch still runs\n"
                 "  --again     export the batch again on the coordinator, with its own settings\n"
                 "              and the export options below on top, then fetch it with --out\n"
                 "  --retry     the same, after an export that failed (disk full, a folder in\n"
                 "              the way)\n\n"
                 "Export options (with --again or --retry):\n");
    cli_export_options_usage(out);
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
