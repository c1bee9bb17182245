/*
 * cmd_export.h — fetching a finished library from the coordinator (`batcherbird export`).
 *
 * The client half of bb.Operator's ListLibrary / FetchLibraryChunk: every listed file is
 * fetched in chunks into DIR/<path>.part, each chunk checked against its CRC, the whole
 * file against the listed size and CRC, then renamed into place. Interrupted fetches
 * resume: a complete file with the right size and CRC is skipped, a .part continues from
 * its size (and starts over once if the finished file does not match).
 */
#ifndef CLI_CMD_EXPORT_H
#define CLI_CMD_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bb_rpc.h"

typedef struct {
    bool partial;   /* accept a batch still running (what is exported so far) */
    int timeout_ms; /* per call */
    /* called after every chunk and skipped file; NULL for none */
    void (*progress)(void *arg, const char *path, uint64_t done, uint64_t total);
    void *progress_arg;
} cli_fetch_opts_t;

typedef struct {
    size_t files;   /* listed */
    size_t fetched; /* transferred (fully or resumed) */
    size_t skipped; /* already complete in DIR */
    size_t resumed; /* continued from a .part */
    uint64_t bytes_total, bytes_fetched;
} cli_fetch_stats_t;

/* Fetches the library of `batch` into out_dir over `rpc` (a DEALER connected to the
 * coordinator's operator endpoint). Returns 0, or:
 *   BB_EUNAVAIL  no answer from the coordinator;
 *   BB_ERPC      the coordinator refused (err starts with the status name);
 *   BB_EPROTO    it sent something unsafe or damaged (bad path, CRC mismatch);
 *   BB_EIO       a local file could not be written;
 * with one line in err naming the file. */
int cli_fetch_library(bb_rpc_t *rpc, uint64_t batch, const char *out_dir,
                      const cli_fetch_opts_t *opts, cli_fetch_stats_t *stats, char *err,
                      size_t errlen);

#endif
