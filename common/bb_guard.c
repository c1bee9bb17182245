/*
 * bb_guard.c — the connection limit of bb_guard.h.
 */
#include "bb_guard.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "bb_clock.h"
#include "bb_log.h"
#include "bb_rpc.h"

#define BB_GUARD_HANDSHAKE_LOG_MS 60000 /* at most one line a minute about refused clients */

/* A connection the socket accepted, as its monitor reported it. */
typedef struct {
    int fd;
    bool tcp;            /* ipc connections are local and never chosen to make room */
    int64_t accepted_ms; /* monotonic */
    uint64_t seq;        /* arrival order */
} s_conn_t;

struct bb_guard_t {
    zsock_t *sock; /* watched, not owned */
    zsock_t *mon;
    char name[256];
    int max_peers;
    s_conn_t *conns;
    size_t n_conns, cap_conns;
    uint64_t conn_seq;
    uint64_t refused;
    uint64_t handshakes_failed; /* refused certificates and failed handshakes, all told */
    uint64_t handshakes_said;   /* how many of them the log has told of */
    int64_t next_handshake_log; /* monotonic ms: no earlier line about them */
    int bound_family;           /* what an accepted fd's local address must be to be ours */
    uint16_t bound_port;
    char bound_path[108];
};

/* Remembers the address an accepted connection's fd must have locally. */
static void s_note_bound(bb_guard_t *self)
{
    char *last = zsock_last_endpoint(self->sock);
    const char *ep = last ? last : "";
    if (strncmp(ep, "tcp://", 6) == 0) {
        const char *colon = strrchr(ep, ':');
        self->bound_family = AF_INET; /* or AF_INET6: only the port is compared */
        self->bound_port = colon ? (uint16_t)atoi(colon + 1) : 0;
    } else if (strncmp(ep, "ipc://", 6) == 0) {
        self->bound_family = AF_UNIX;
        snprintf(self->bound_path, sizeof self->bound_path, "%s", ep + 6);
    }
    zstr_free(&last);
}

/* True when fd is a connected stream socket on this endpoint (not a file or another
 * socket that took over a closed fd's number). */
static bool s_fd_is_ours(bb_guard_t *self, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return false;
    if (ss.ss_family == AF_UNIX)
        return self->bound_family == AF_UNIX &&
               strcmp(((struct sockaddr_un *)&ss)->sun_path, self->bound_path) == 0;
    uint16_t port = 0;
    if (ss.ss_family == AF_INET)
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        return false;
    return self->bound_family == AF_INET && port == self->bound_port;
}

/* Linux's struct tcp_info goes on past glibc's copy (the kernel only ever appends fields);
 * tcpi_bytes_received (Linux 4.1, RFC 4898 tcpEStatsAppHCThruOctetsReceived) is the 4th
 * 64-bit field after it. */
typedef struct {
    struct tcp_info base;
    uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
} s_tcp_info_t;

/* Bytes the peer has sent on a TCP connection so far (the kernel's count), or -1. */
static int64_t s_bytes_received(int fd)
{
    s_tcp_info_t ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 || len < sizeof ti)
        return -1;
    return (int64_t)ti.bytes_received;
}

static void s_conn_remove(bb_guard_t *self, size_t i)
{
    self->conns[i] = self->conns[--self->n_conns];
}

static ssize_t s_conn_find(bb_guard_t *self, int fd)
{
    for (size_t i = 0; i < self->n_conns; i++)
        if (self->conns[i].fd == fd)
            return (ssize_t)i;
    return -1;
}

/* Closes a connection libzmq owns: it sees the end of the stream and cleans up. */
static void s_refuse(bb_guard_t *self, int fd, const char *why)
{
    if (!s_fd_is_ours(self, fd))
        return;
    shutdown(fd, SHUT_RDWR);
    self->refused++;
    if (self->refused == 1 || self->refused % 1000 == 0)
        bb_warn("%s: %s (%llu connection(s) closed so far)", self->name, why,
                (unsigned long long)self->refused);
}

static void s_on_accepted(bb_guard_t *self, int fd)
{
    ssize_t old = s_conn_find(self, fd); /* a stale entry of a reused fd number */
    if (old >= 0)
        s_conn_remove(self, (size_t)old);
    if (self->n_conns == self->cap_conns) {
        size_t cap = self->cap_conns ? self->cap_conns * 2 : 64;
        s_conn_t *nc = realloc(self->conns, cap * sizeof *nc);
        if (!nc) {
            s_refuse(self, fd, "out of memory tracking connections");
            return;
        }
        self->conns = nc;
        self->cap_conns = cap;
    }
    s_conn_t *c = &self->conns[self->n_conns++];
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->seq = ++self->conn_seq;
    c->accepted_ms = bb_mono_ns() / BB_NS_PER_MS;
    c->tcp = self->bound_family == AF_INET;
    if (self->max_peers <= 0 || self->n_conns <= (size_t)self->max_peers)
        return;
    /* Over the limit. libzmq drops a connection that has not finished its handshake within
     * BB_RPC_HANDSHAKE_MS, so one older than that is a peer that got in: it stays. Among the
     * younger ones, the oldest that has not sent a byte goes first (a silent socket), then
     * the oldest young one; when every connection is settled, the new one is refused. */
    int64_t now = c->accepted_ms;
    ssize_t silent = -1, young = -1;
    for (size_t i = 0; i < self->n_conns; i++) {
        s_conn_t *k = &self->conns[i];
        if (!k->tcp || now - k->accepted_ms > BB_RPC_HANDSHAKE_MS + 1000)
            continue;
        if (young < 0 || k->seq < self->conns[young].seq)
            young = (ssize_t)i;
        if ((silent < 0 || k->seq < self->conns[silent].seq) && s_bytes_received(k->fd) == 0)
            silent = (ssize_t)i;
    }
    ssize_t victim = silent >= 0 ? silent : young >= 0 ? young : (ssize_t)self->n_conns - 1;
    char why[128];
    snprintf(why, sizeof why, "more than %d connections at once; closing %s", self->max_peers,
             silent >= 0  ? "a silent one"
             : young >= 0 ? "the oldest new one"
                          : "the newest");
    int vfd = self->conns[victim].fd;
    s_conn_remove(self, (size_t)victim); /* its DISCONNECTED event finds nothing */
    s_refuse(self, vfd, why);
}

/* A client the socket refused at the handshake: an untrusted or revoked certificate (ZAP
 * said no), or no CURVE at all. Said on the first, then at most once a minute with the count,
 * so that a refused node is visible on this side too and a scanner cannot fill the log. */
static void s_on_handshake_failed(bb_guard_t *self, uint16_t event, uint32_t value)
{
    self->handshakes_failed++;
    int64_t now = bb_mono_ns() / BB_NS_PER_MS;
    if (now < self->next_handshake_log)
        return;
    self->next_handshake_log = now + BB_GUARD_HANDSHAKE_LOG_MS;
    uint64_t since = self->handshakes_failed - self->handshakes_said;
    self->handshakes_said = self->handshakes_failed;
    char count[96] = "";
    if (since > 1)
        snprintf(count, sizeof count, "; %llu such handshakes since the last line",
                 (unsigned long long)since);
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        bb_warn("%s: refused a client whose certificate is not trusted (not in the trusted "
                "folder, or revoked; ZAP status %u)%s",
                self->name, value, count);
    else
        bb_warn("%s: a client's handshake failed (no CURVE certificate, or another "
                "coordinator's key)%s",
                self->name, count);
}

/* Handles one monitor event; returns false when none is waiting. */
static bool s_event(bb_guard_t *self)
{
    zmsg_t *msg = zmsg_recv_nowait(self->mon);
    if (!msg)
        return false;
    zframe_t *head = zmsg_first(msg);
    if (head && zframe_size(head) >= 6) {
        uint16_t event;
        uint32_t value;
        memcpy(&event, zframe_data(head), 2);
        memcpy(&value, zframe_data(head) + 2, 4);
        if (event == ZMQ_EVENT_ACCEPTED) {
            s_on_accepted(self, (int)value);
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            ssize_t i = s_conn_find(self, (int)value);
            if (i >= 0)
                s_conn_remove(self, (size_t)i);
        } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            s_on_handshake_failed(self, event, value);
        }
    }
    zmsg_destroy(&msg);
    return true;
}

void bb_guard_pump(bb_guard_t *self)
{
    if (!self)
        return;
    while (s_event(self)) {
    }
}

bb_guard_t *bb_guard_new(zsock_t *sock, int max_peers, const char *name)
{
    bb_guard_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = sock;
    self->max_peers = max_peers;
    snprintf(self->name, sizeof self->name, "%s", name ? name : "socket");
    static uint64_t counter;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://bb-guard-%p-%llu", (void *)self,
             (unsigned long long)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (zmq_socket_monitor(zsock_resolve(sock), ep, events) != 0) {
        free(self);
        return NULL;
    }
    self->mon = zsock_new_pair(NULL);
    if (!self->mon || zsock_connect(self->mon, "%s", ep) != 0) {
        zmq_socket_monitor(zsock_resolve(sock), NULL, 0);
        zsock_destroy(&self->mon);
        free(self);
        return NULL;
    }
    return self;
}

void bb_guard_bound(bb_guard_t *self)
{
    if (self)
        s_note_bound(self);
}

void bb_guard_destroy(bb_guard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bb_guard_t *self = *self_p;
    zmq_socket_monitor(zsock_resolve(self->sock), NULL, 0);
    zsock_destroy(&self->mon);
    free(self->conns);
    free(self);
    *self_p = NULL;
}

size_t bb_guard_close_all(bb_guard_t *self)
{
    if (!self)
        return 0;
    bb_guard_pump(self);
    size_t n = 0;
    for (size_t i = 0; i < self->n_conns; i++) {
        /* the entry stays until its DISCONNECTED event, as for any peer that leaves */
        if (s_fd_is_ours(self, self->conns[i].fd) && shutdown(self->conns[i].fd, SHUT_RDWR) == 0)
            n++;
    }
    return n;
}

zsock_t *bb_guard_sock(bb_guard_t *self)
{
    return self ? self->mon : NULL;
}

size_t bb_guard_peers(bb_guard_t *self)
{
    bb_guard_pump(self);
    return self ? self->n_conns : 0;
}

uint64_t bb_guard_refused(bb_guard_t *self)
{
    bb_guard_pump(self);
    return self ? self->refused : 0;
}
