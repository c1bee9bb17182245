/*
 * service_export.h — bb.Operator's library fetch: ListLibrary and FetchLibraryChunk.
 *
 * service_operator.c forwards the two methods here. What is served is what this
 * coordinator wrote into the batch's library folder, as its database records it (the
 * files of each instrument it exported there, the manifest and the report), never what a
 * file on disk claims. The coord_library_serve_* variants take the root and that list
 * directly, for tests and for any other server of a library.
 */
#ifndef COORD_SERVICE_EXPORT_H
#define COORD_SERVICE_EXPORT_H

#include "coord.h"

void coord_export_rpc_list(coord_t *self, const Bb__LibraryListRequest *req,
                           Bb__LibraryList_Closure closure, void *call);
void coord_export_rpc_chunk(coord_t *self, const Bb__LibraryChunkRequest *req,
                            Bb__LibraryChunk_Closure closure, void *call);

/* Answers a ListLibrary for the library at `root` whose files are `files` (the batch is in
 * `state`). A file that is gone or has another size than recorded is an error naming it. */
void coord_library_serve_list(const char *root, const coord_lib_file_t *files, size_t n, int state,
                              Bb__LibraryList_Closure closure, void *call);
/* Answers a FetchLibraryChunk from the library at `root`, for a path among `files` only
 * (NOT_FOUND otherwise). */
void coord_library_serve_chunk(const char *root, const coord_lib_file_t *files, size_t n,
                               const Bb__LibraryChunkRequest *req, Bb__LibraryChunk_Closure closure,
                               void *call);

#endif
