/*
 * service_export.h — bb.Operator's library fetch: ListLibrary and FetchLibraryChunk.
 *
 * service_operator.c forwards the two methods here. The coord_library_serve_* variants
 * take the library root directly, for tests and for any other server of a library.
 */
#ifndef COORD_SERVICE_EXPORT_H
#define COORD_SERVICE_EXPORT_H

#include "coord.h"

void coord_export_rpc_list(coord_t *self, const Bb__LibraryListRequest *req,
                           Bb__LibraryList_Closure closure, void *call);
void coord_export_rpc_chunk(coord_t *self, const Bb__LibraryChunkRequest *req,
                            Bb__LibraryChunk_Closure closure, void *call);

/* Answers a ListLibrary for the library at `root` (the batch is in `state`). */
void coord_library_serve_list(const char *root, int state, Bb__LibraryList_Closure closure,
                              void *call);
/* Answers a FetchLibraryChunk from the library at `root`. */
void coord_library_serve_chunk(const char *root, const Bb__LibraryChunkRequest *req,
                               Bb__LibraryChunk_Closure closure, void *call);

#endif
