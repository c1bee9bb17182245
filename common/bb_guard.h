/*
 * bb_guard.h — at most N connections on a socket that binds (the coordinator's ROUTERs and
 * its event PUB), so that one client cannot use up the process's file descriptors.
 *
 * libzmq has no such limit of its own. A guard watches the socket's events through a libzmq
 * socket monitor (a PAIR over inproc): each accepted connection is reported with its file
 * descriptor, each closed one too. Over the limit, the guard shuts one down (libzmq sees the
 * end of the stream and cleans up as for any peer that left): among the connections younger
 * than the handshake limit (BB_RPC_HANDSHAKE_MS: libzmq itself drops one that has not
 * finished its handshake by then, so an older one is a peer that got in), the oldest that
 * has not sent a byte (the kernel's TCP counters say), else the oldest young one, else the
 * new one. ipc:// connections are local and never chosen to make room.
 *
 * bb_guard_close_all() closes every connection the same way: the coordinator uses it on its
 * event PUB when a certificate is revoked, so that each subscriber goes through the CURVE
 * handshake (and ZAP) again.
 *
 * The same monitor reports clients refused at the handshake (a certificate the server does
 * not trust, or no CURVE): the guard logs the first and then at most one line a minute with
 * the count, so a refused node shows on the server's side too.
 */
#ifndef BB_GUARD_H
#define BB_GUARD_H

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bb_guard_t bb_guard_t;

/* Starts watching `sock` before it binds (so no connection is missed); `max_peers` > 0.
 * `name` is for log lines. NULL on failure. */
bb_guard_t *bb_guard_new(zsock_t *sock, int max_peers, const char *name);
/* After the bind: the endpoint as bound, whose local address a connection must have for the
 * guard to touch it (a reused descriptor number never closes something else). */
void bb_guard_bound(bb_guard_t *self);
/* Stops the monitor. Call before the socket is destroyed. NULLs *self_p; safe twice. */
void bb_guard_destroy(bb_guard_t **self_p);

/* The monitor socket, for a poller: readable when events wait. */
zsock_t *bb_guard_sock(bb_guard_t *self);
/* Handles every waiting event without blocking. */
void bb_guard_pump(bb_guard_t *self);

/* Closes every connection accepted on the socket so far (shutdown(2) of its descriptor:
 * libzmq sees the end of the stream and drops the peer, whose queued messages are lost; the
 * listener stays bound, so a peer that reconnects finds it). Handles waiting events first,
 * so every connection the socket has accepted is known. Returns how many were closed. */
size_t bb_guard_close_all(bb_guard_t *self);

/* Connections now, and how many were closed for being over the limit. */
size_t bb_guard_peers(bb_guard_t *self);
uint64_t bb_guard_refused(bb_guard_t *self);

#endif
