/*
 * service_admin.h — bb.Operator's ForgetNode and MoveInstrument (service_admin.c): the
 * studio changes under a running coordinator.
 */
#ifndef COORD_SERVICE_ADMIN_H
#define COORD_SERVICE_ADMIN_H

#include "coord.h"

void coord_forget_node(coord_t *self, const Bb__ForgetNodeRequest *req,
                       Bb__ForgetNodeReply_Closure closure, void *call);
void coord_move_instrument(coord_t *self, const Bb__MoveInstrumentRequest *req,
                           Bb__MoveInstrumentReply_Closure closure, void *call);

#endif
