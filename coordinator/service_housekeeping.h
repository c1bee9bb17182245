/*
 * service_housekeeping.h — bb.Operator's RetakeSlots, ExportAgain and DeleteBatch
 * (service_housekeeping.c tells how).
 */
#ifndef COORD_SERVICE_HOUSEKEEPING_H
#define COORD_SERVICE_HOUSEKEEPING_H

#include "coord.h"

void coord_retake(coord_t *self, const Bb__RetakeRequest *req, Bb__RetakeReply_Closure closure,
                  void *call);
void coord_export_again(coord_t *self, const Bb__ExportAgainRequest *req,
                        Bb__ExportAgainReply_Closure closure, void *call);
void coord_delete_batch(coord_t *self, const Bb__DeleteBatchRequest *req,
                        Bb__DeleteBatchReply_Closure closure, void *call);

#endif
