/*
 * service_admin.c — forgetting a node and moving an instrument to another node.
 *
 * ForgetNode removes a node's name from the registry and the database: for names of
 * machines that are gone (a renamed or retired node, names left by a misconfigured one).
 * Only an offline node that no running or paused batch uses can be forgotten; its
 * certificate, if any, is revoked separately (batcherbird keys revoke).
 *
 * MoveInstrument puts an instrument of an active batch on another node: the jobs out on
 * the old node go back to pending (the old node is told to drop them when it is online),
 * the instrument row and the stored plan name the new node, the MIDI setup goes out again
 * with the first take there. A take the old node still delivers for a job that has since
 * been dispatched to the new node is refused (service_node.c); one for a job not yet
 * dispatched again is still accepted, since it is a recording of that job.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_log.h"
#include "bb_pb.h"
#include "service_admin.h"

void coord_forget_node(coord_t *self, const Bb__ForgetNodeRequest *req,
                       Bb__ForgetNodeReply_Closure closure, void *call)
{
    coord_node_t *node = coord_registry_find(self->registry, req->node);
    if (!node) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "no node named '%.64s'", req->node);
        return;
    }
    if (node->online) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION,
                    "node %s is online: stop it first (a running node registers again)",
                    node->name);
        return;
    }
    uint64_t batch = 0;
    if (coord_store_node_active_batch(self->store, node->name, &batch) == 0) {
        bb_rpc_fail(call, BB_STATUS_FAILED_PRECONDITION,
                    "batch %llu still has an instrument on node %s: move it (batcherbird move "
                    "%llu INSTRUMENT --node OTHER) or cancel the batch first",
                    (unsigned long long)batch, node->name, (unsigned long long)batch);
        return;
    }
    char name[sizeof node->name];
    snprintf(name, sizeof name, "%s", node->name);
    if (coord_store_node_forget(self->store, name) != 0) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot forget node %s: %s", name,
                    coord_store_errmsg(self->store));
        return;
    }
    coord_registry_remove(self->registry, name);
    Bb__ForgetNodeReply reply = BB__FORGET_NODE_REPLY__INIT;
    closure(&reply, call);
    coord_event(self, 0, BB__EVENT_KIND__EV_NODE_STATE, NULL, NULL, name,
                "node %s forgotten by the operator", name);
}

static void s_abort_done(void *arg, int status, const char *message, const ProtobufCMessage *reply)
{
    if (status != BB_STATUS_OK)
        bb_debug("abort after a move: %s: %s", bb_status_name(status), message);
}

void coord_move_instrument(coord_t *self, const Bb__MoveInstrumentRequest *req,
                           Bb__MoveInstrumentReply_Closure closure, void *call)
{
    coord_batch_row_t b;
    if (coord_store_batch_get(self->store, req->batch_id, &b)) {
        bb_rpc_fail(call, BB_STATUS_NOT_FOUND, "no batch %llu", (unsigned long long)req->batch_id);
        return;
    }
    int state = b.state;
    Bb__BatchSpec *spec = bb__batch_spec__unpack(NULL, b.spec_len, b.spec);
    coord_batch_row_free(&b);
    if (!spec) {
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "the stored plan of batch %llu cannot be read",
                    (unsigned long long)req->batch_id);
        return;
    }
    int idx = -1;
    for (size_t i = 0; i < spec->n_instruments && idx < 0; i++)
        if (strcmp(spec->instruments[i]->name, req->instrument) == 0)
            idx = (int)i;
    const char *why = NULL;
    char msg[BB_RPC_MESSAGE_MAX];
    coord_node_t *to = coord_registry_find(self->registry, req->node);
    if (state != BB__BATCH_STATE__BATCH_RUNNING && state != BB__BATCH_STATE__BATCH_PAUSED)
        why = "the batch has finished";
    else if (idx < 0)
        why = "the batch has no instrument by that name";
    else if (!to)
        why = "no node by that name has registered";
    else if (strcmp(spec->instruments[idx]->node, to->name) == 0)
        why = "the instrument is on that node already";
    if (why) {
        snprintf(msg, sizeof msg, "cannot move '%.100s' of batch %llu to %.64s: %s",
                 req->instrument, (unsigned long long)req->batch_id, req->node, why);
        bb__batch_spec__free_unpacked(spec, NULL);
        bb_rpc_fail(call, !to || idx < 0 ? BB_STATUS_NOT_FOUND : BB_STATUS_FAILED_PRECONDITION,
                    "%s", msg);
        return;
    }
    char from[64];
    snprintf(from, sizeof from, "%s", spec->instruments[idx]->node);
    char *dup = strdup(to->name);
    if (!dup) {
        bb__batch_spec__free_unpacked(spec, NULL);
        bb_rpc_fail(call, BB_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (spec->instruments[idx]->node != protobuf_c_empty_string)
        free(spec->instruments[idx]->node);
    spec->instruments[idx]->node = dup;
    size_t len = bb__batch_spec__get_packed_size(spec);
    uint8_t *packed = malloc(len ? len : 1);
    int n_requeued = 0, rc = packed ? coord_store_begin(self->store) : BB_ENOMEM;
    if (!rc) {
        bb__batch_spec__pack(spec, packed);
        rc = coord_store_batch_set_spec(self->store, req->batch_id, packed, len);
    }
    if (!rc)
        rc = coord_store_inst_set_node(self->store, req->batch_id, idx, to->name);
    if (!rc)
        rc = coord_store_jobs_requeue_inst(self->store, req->batch_id, idx, &n_requeued);
    if (!rc)
        rc = coord_store_commit(self->store);
    free(packed);
    if (rc) {
        coord_store_rollback(self->store);
        bb__batch_spec__free_unpacked(spec, NULL);
        bb_rpc_fail(call, BB_STATUS_INTERNAL, "cannot move the instrument: %s",
                    coord_store_errmsg(self->store));
        return;
    }
    coord_spec_forget(self, req->batch_id);
    for (coord_setup_sent_t *s = self->setups; s; s = s->next)
        if (s->batch_id == req->batch_id && (s->idx == idx || s->idx == -1 - idx))
            s->session[0] = '\0'; /* the new node gets the MIDI setup with its first take */
    /* the old node, if it is there, drops what it still has queued of this batch */
    coord_node_t *old = coord_registry_find(self->registry, from);
    bool shared = false;
    for (size_t i = 0; i < spec->n_instruments; i++)
        shared |= (int)i != idx && strcmp(spec->instruments[i]->node, from) == 0;
    if (old && old->online && old->peer && !shared) {
        Bb__AbortRequest abort_req = BB__ABORT_REQUEST__INIT;
        abort_req.batch_id = req->batch_id;
        abort_req.reason = "the instrument moved to another node";
        bb_rpc_call_async(self->nodes_rpc, old->peer, &bb__capture__descriptor, "Abort",
                          &abort_req.base, COORD_CALL_TIMEOUT_MS, s_abort_done, NULL);
    }
    int pending = 0;
    coord_store_job_count(self->store, req->batch_id, idx, JOB_PENDING, &pending);
    Bb__MoveInstrumentReply reply = BB__MOVE_INSTRUMENT_REPLY__INIT;
    reply.previous_node = from;
    reply.takes_moved = (uint32_t)pending;
    closure(&reply, call);
    coord_event(self, req->batch_id, BB__EVENT_KIND__EV_INSTRUMENT_STATE, req->instrument, NULL,
                to->name, "%s moved from node %s to node %s: %d take(s) to record there",
                req->instrument, from, to->name, pending);
    bb__batch_spec__free_unpacked(spec, NULL);
    self->schedule_soon = true;
}
