/*
 * bb_rpc.h — gRPC-style calls over ZeroMQ, generic over protobuf-c service descriptors.
 *
 * An endpoint wraps one CZMQ socket: a ROUTER that binds (the coordinator) or a DEALER
 * that connects (nodes, the CLI). Either side may serve services and make calls over the
 * same socket: a node serves `bb.Capture` on the very connection it uses to call the
 * coordinator's `bb.NodeLink`.
 *
 * Wire: one ZeroMQ frame per message holding a packed bb.RpcFrame (a ROUTER sees the
 * peer's routing id in front). A request names "/package.Service/Method", carries a call
 * id and the caller's absolute deadline; the reply echoes the id with a status code (the
 * gRPC set), a message for a person, and the packed reply.
 *
 * Serving: register a ProtobufCService (a generated `Foo__Service` initialised with its
 * handlers, usually embedded as the first member of a struct holding your state). A
 * handler answers by calling its closure with the reply, or bb_rpc_fail() with a status.
 * The layer decodes the payload with the method's input descriptor first: an undecodable
 * payload gets INVALID_ARGUMENT, an unknown method UNIMPLEMENTED, a request whose
 * deadline already passed DEADLINE_EXCEEDED without running the handler. Handlers run
 * synchronously inside bb_rpc_pump(); they must not make synchronous calls on the same
 * endpoint.
 *
 * Calling: bb_rpc_call() blocks until the reply or the deadline (serving incoming
 * requests meanwhile); bb_rpc_call_async() returns at once and runs a callback later from
 * bb_rpc_pump() or bb_rpc_expire(). A call never hangs past its deadline: when no reply
 * comes, the caller gets DEADLINE_EXCEEDED.
 *
 * Deadlines on the wire are wall-clock (Unix ms): across machines this assumes clocks
 * kept in step by NTP; locally, expiry uses the monotonic clock.
 */
#ifndef BB_RPC_H
#define BB_RPC_H

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "rpc.pb-c.h"

/* Status codes: the gRPC numbers, as generated from rpc.proto. */
#define BB_STATUS_OK                  BB__STATUS_CODE__OK
#define BB_STATUS_CANCELLED           BB__STATUS_CODE__CANCELLED
#define BB_STATUS_INVALID_ARGUMENT    BB__STATUS_CODE__INVALID_ARGUMENT
#define BB_STATUS_DEADLINE_EXCEEDED   BB__STATUS_CODE__DEADLINE_EXCEEDED
#define BB_STATUS_NOT_FOUND           BB__STATUS_CODE__NOT_FOUND
#define BB_STATUS_ALREADY_EXISTS      BB__STATUS_CODE__ALREADY_EXISTS
#define BB_STATUS_PERMISSION_DENIED   BB__STATUS_CODE__PERMISSION_DENIED
#define BB_STATUS_RESOURCE_EXHAUSTED  BB__STATUS_CODE__RESOURCE_EXHAUSTED
#define BB_STATUS_FAILED_PRECONDITION BB__STATUS_CODE__FAILED_PRECONDITION
#define BB_STATUS_ABORTED             BB__STATUS_CODE__ABORTED
#define BB_STATUS_UNIMPLEMENTED       BB__STATUS_CODE__UNIMPLEMENTED
#define BB_STATUS_INTERNAL            BB__STATUS_CODE__INTERNAL
#define BB_STATUS_UNAVAILABLE         BB__STATUS_CODE__UNAVAILABLE
#define BB_STATUS_DATA_LOSS           BB__STATUS_CODE__DATA_LOSS
#define BB_STATUS_UNAUTHENTICATED     BB__STATUS_CODE__UNAUTHENTICATED

#define BB_RPC_MESSAGE_MAX     512                /* bytes of a status message */
#define BB_RPC_DEFAULT_MAX_MSG (16 * 1024 * 1024) /* inbound messages over this are refused */

/* Default endpoints: loopback only, so one machine needs no flags. */
#define BB_ENDPOINT_NODES     "tcp://127.0.0.1:5555"
#define BB_ENDPOINT_OPERATORS "tcp://127.0.0.1:5556"
#define BB_ENDPOINT_EVENTS    "tcp://127.0.0.1:5557"

/* "NOT_FOUND" etc. */
const char *bb_status_name(int status);

typedef struct {
    int64_t max_msg_size; /* ZMQ_MAXMSGSIZE for inbound messages */
    int hwm;              /* send and receive high-water marks, messages */
    int linger_ms;        /* how long unsent messages are kept at close */
    const char *identity; /* DEALER routing id; NULL = let ZeroMQ choose */
} bb_rpc_opts_t;
#define BB_RPC_OPTS_INIT                                                                           \
    {                                                                                              \
        BB_RPC_DEFAULT_MAX_MSG, 1000, 200, NULL                                                    \
    }

typedef struct bb_rpc_t bb_rpc_t;

/* A ROUTER bound to `endpoint`, or a DEALER connected to it. NULL on failure, with the
 * reason in err (e.g. "cannot bind tcp://127.0.0.1:5555: Address already in use"). */
bb_rpc_t *bb_rpc_new_router(const char *endpoint, const bb_rpc_opts_t *opts, char *err,
                            size_t errlen);
bb_rpc_t *bb_rpc_new_dealer(const char *endpoint, const bb_rpc_opts_t *opts, char *err,
                            size_t errlen);
/* Fails calls still pending (CANCELLED), closes the socket, NULLs *self_p. Safe twice. */
void bb_rpc_destroy(bb_rpc_t **self_p);

/* The socket, for zpoller / zloop. Read it only through bb_rpc_pump(). */
zsock_t *bb_rpc_sock(bb_rpc_t *self);
const char *bb_rpc_endpoint(bb_rpc_t *self);

/* Serve `service` on this endpoint. The service must outlive the endpoint. */
int bb_rpc_serve(bb_rpc_t *self, ProtobufCService *service);

/* Handles every message waiting on the socket without blocking, then expires overdue
 * calls. Returns how many messages were handled. */
int bb_rpc_pump(bb_rpc_t *self);
/* Completes pending calls whose deadline passed with DEADLINE_EXCEEDED. */
void bb_rpc_expire(bb_rpc_t *self);
/* Milliseconds until the earliest pending call's deadline, or -1 when none. */
int bb_rpc_next_timeout_ms(bb_rpc_t *self);
/* Number of calls waiting for a reply. */
size_t bb_rpc_pending(bb_rpc_t *self);

/* Completion of an async call. `reply` is NULL unless status is OK; it is freed after
 * the callback returns. */
typedef void(bb_rpc_done_fn)(void *arg, int status, const char *message,
                             const ProtobufCMessage *reply);

/* Sends a request. On a ROUTER, `peer` is the routing id to send to; on a DEALER, NULL.
 * Returns 0 (done runs later, exactly once), BB_EINVAL for an unknown method or a request
 * of the wrong type, BB_EUNAVAIL when the peer is unknown or the socket would block. */
int bb_rpc_call_async(bb_rpc_t *self, zframe_t *peer, const ProtobufCServiceDescriptor *svc,
                      const char *method, const ProtobufCMessage *request, int timeout_ms,
                      bb_rpc_done_fn *done, void *arg);

/* Calls and waits. Returns the status (BB_STATUS_OK = 0); on OK *reply holds the reply,
 * to free with protobuf_c_message_free_unpacked(). On failure the message (if msg is not
 * NULL) says what went wrong. */
int bb_rpc_call(bb_rpc_t *self, const ProtobufCServiceDescriptor *svc, const char *method,
                const ProtobufCMessage *request, int timeout_ms, ProtobufCMessage **reply,
                char *msg, size_t msglen);

/* ---- inside a handler: closure_data is the call ---- */

/* Answers the call with a non-OK status and a message for a person. */
void bb_rpc_fail(void *call, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The routing id of the caller (ROUTER endpoints), else NULL. Valid during the handler. */
zframe_t *bb_rpc_peer(void *call);
/* The caller's deadline, Unix ms (0 = none). */
int64_t bb_rpc_deadline_ms(void *call);
/* The endpoint the call arrived on. */
bb_rpc_t *bb_rpc_call_endpoint(void *call);

#endif
