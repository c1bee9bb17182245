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
 *
 * A reply is taken for a call only when it carries the call's id and, on a ROUTER, comes
 * from the peer that was called: another peer cannot answer for it.
 *
 * Security (bb_auth.h): with a CURVE certificate in the options a ROUTER is a CURVE server
 * (zauth decides who finishes the handshake) and a DEALER a CURVE client. A ROUTER given a
 * role serves requests only from certificates holding that role (PERMISSION_DENIED
 * otherwise); handlers read who called with bb_rpc_caller_name()/bb_rpc_caller_role().
 *
 * Bounds on what a peer can make an endpoint hold: a frame over max_msg_size makes libzmq
 * drop the connection before it allocates the frame; a message is one frame ([routing id]
 * [body] on a ROUTER), and a message with more frames is dropped frame by frame as it is
 * read, then answered INVALID_ARGUMENT. libzmq hands over a multipart message only once all
 * of its frames arrived, so what one message can occupy inside libzmq is its frame count
 * times max_msg_size: the CURVE handshake is what keeps strangers from sending any. A ROUTER
 * given max_peers holds at most that many connections: past it, a connection still in its
 * handshake is closed (the oldest), else the newest; silent connections are dropped after
 * BB_RPC_HANDSHAKE_MS. One bb_rpc_pump() handles at most BB_RPC_PUMP_MAX messages, so one
 * busy endpoint cannot starve the others of a loop.
 */
#ifndef BB_RPC_H
#define BB_RPC_H

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "bb_err.h"
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
#define BB_RPC_DEFAULT_MAX_MSG (16 * 1024 * 1024) /* inbound frames over this are refused */
#define BB_RPC_PUMP_MAX        64                 /* messages handled per bb_rpc_pump() */
#define BB_RPC_HANDSHAKE_MS                                                                        \
    5000 /* a connection that has not finished its handshake by                                    \
            then is dropped (ZMQ_HANDSHAKE_IVL) */

/* Default endpoints: loopback only, so one machine needs no flags. */
#define BB_ENDPOINT_NODES     "tcp://127.0.0.1:5555"
#define BB_ENDPOINT_OPERATORS "tcp://127.0.0.1:5556"
#define BB_ENDPOINT_EVENTS    "tcp://127.0.0.1:5557"

/* "NOT_FOUND" etc. */
const char *bb_status_name(int status);
/* The status for a local failure: BB_ENOSPACE and BB_EMFILE are RESOURCE_EXHAUSTED,
 * BB_EACCES and BB_EROFS FAILED_PRECONDITION, BB_ENOTFOUND NOT_FOUND, BB_EINVAL
 * INVALID_ARGUMENT, the rest INTERNAL. */
int bb_status_from_err(int err);

typedef struct {
    int64_t max_msg_size; /* ZMQ_MAXMSGSIZE: bytes of one inbound frame, at most */
    int hwm;              /* send and receive high-water marks, messages per peer */
    int linger_ms;        /* how long unsent messages are kept at close */
    const char *identity; /* DEALER routing id; NULL = let ZeroMQ choose */
    zcert_t *curve_cert;  /* CURVE key pair (ROUTER: server, DEALER: client); NULL = plaintext.
                             Borrowed: applied when the endpoint is made. */
    const char *curve_server_key; /* DEALER with curve_cert: the server's public key (Z85) */
    const char *role;             /* ROUTER with curve_cert: requests only from this role */
    int max_peers;                /* ROUTER: connections at once; 0 = no limit */
} bb_rpc_opts_t;
#define BB_RPC_OPTS_INIT                                                                           \
    {                                                                                              \
        .max_msg_size = BB_RPC_DEFAULT_MAX_MSG, .hwm = 1000, .linger_ms = 200, .identity = NULL,   \
        .curve_cert = NULL, .curve_server_key = NULL, .role = NULL, .max_peers = 0                 \
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
/* The endpoint's event monitor (connections, handshakes), also read by bb_rpc_pump(); poll
 * it too so that a flood of connections is answered at once. NULL when there is none. */
zsock_t *bb_rpc_monitor_sock(bb_rpc_t *self);
const char *bb_rpc_endpoint(bb_rpc_t *self);

/* DEALER: why the last handshake with the server failed ("" when none failed since the
 * last success), e.g. that the server refused this certificate. */
const char *bb_rpc_handshake_error(bb_rpc_t *self);

/* Counters, for logs and benchmarks. */
typedef struct {
    uint64_t peers;          /* ROUTER: connections now */
    uint64_t peers_refused;  /* ROUTER: connections closed for being over max_peers */
    uint64_t dropped;        /* messages dropped: wrong frame count */
    uint64_t dropped_frames; /* frames in those */
    uint64_t denied;         /* requests refused for their certificate's role */
    uint64_t revoked;        /* requests refused: the certificate is no longer trusted */
} bb_rpc_stats_t;
void bb_rpc_stats(bb_rpc_t *self, bb_rpc_stats_t *out);

/* ROUTER with CURVE: asked before every request is served whether the caller's certificate
 * is still trusted. key: its public key, Z85 text (the connection's ZAP User-Id, which zauth
 * sets to it); name, role: its metadata. A certificate revoked after its connection was
 * made would otherwise go on being served until it reconnects (zauth judges a connection
 * once, at its handshake). false: the request is refused with UNAUTHENTICATED. The
 * function runs on the thread that pumps the endpoint; arg is the caller's. */
typedef bool bb_rpc_trust_fn(void *arg, const char *key, const char *name, const char *role);
void bb_rpc_set_trust(bb_rpc_t *self, bb_rpc_trust_fn *fn, void *arg);

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
/* Who called, from the coordinator's copy of the caller's certificate: its name and role
 * ("node", "operator"); NULL on a plaintext endpoint. Valid during the handler. */
const char *bb_rpc_caller_name(void *call);
const char *bb_rpc_caller_role(void *call);
/* The caller's deadline, Unix ms (0 = none). */
int64_t bb_rpc_deadline_ms(void *call);
/* The endpoint the call arrived on. */
bb_rpc_t *bb_rpc_call_endpoint(void *call);

#endif
