/*
 * coord.c — the coordinator object and its main loop.
 *
 * Start-up order matters for crash safety: open the database, put every job that was out
 * on a node back to pending (its take, if it was recorded, will still be accepted when
 * the node resends it), reload known nodes as offline, restart exports that were under
 * way, and only then bind the sockets.
 */
#include "coord.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_auth.h"
#include "bb_clock.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_log.h"

#define COORD_TICK_MS   100
#define COORD_LOCK_FILE "coordinator.lock"

/* One coordinator per state folder: an exclusive flock on <state>/coordinator.lock, held
 * for the process's life (the kernel drops it when the process dies, even by SIGKILL), with
 * the holder's pid written in it so a second one can say who has it. */
static int s_lock_state(coord_t *self, char *err, size_t errlen)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", self->state_dir, COORD_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, bb_strerror(bb_err_from_errno(errno)));
        return bb_err_from_errno(errno);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK) {
            snprintf(err, errlen,
                     "another coordinator (pid %s) is using the state folder %s: stop it first, "
                     "or give this one another --state",
                     *pid ? pid : "unknown", self->state_dir);
            return BB_EBUSY;
        }
        snprintf(err, errlen, "cannot lock %s: %s", path, bb_strerror(bb_err_from_errno(e)));
        return bb_err_from_errno(e);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        bb_warn("cannot write the pid into %s: %s", path, strerror(errno));
    self->lock_fd = fd;
    return 0;
}

const Bb__BatchSpec *coord_spec(coord_t *self, uint64_t batch_id)
{
    for (coord_spec_cache_t *c = self->specs; c; c = c->next)
        if (c->batch_id == batch_id)
            return c->spec;
    coord_batch_row_t row;
    if (coord_store_batch_get(self->store, batch_id, &row))
        return NULL;
    Bb__BatchSpec *spec = bb__batch_spec__unpack(NULL, row.spec_len, row.spec);
    coord_batch_row_free(&row);
    if (!spec)
        return NULL;
    coord_spec_cache_t *c = calloc(1, sizeof *c);
    if (!c) {
        bb__batch_spec__free_unpacked(spec, NULL);
        return NULL;
    }
    c->batch_id = batch_id;
    c->spec = spec;
    c->next = self->specs;
    self->specs = c;
    return spec;
}

void coord_spec_forget(coord_t *self, uint64_t batch_id)
{
    for (coord_spec_cache_t **p = &self->specs; *p; p = &(*p)->next) {
        if ((*p)->batch_id == batch_id) {
            coord_spec_cache_t *c = *p;
            *p = c->next;
            bb__batch_spec__free_unpacked(c->spec, NULL);
            free(c);
            return;
        }
    }
}

void coord_event(coord_t *self, uint64_t batch, Bb__EventKind kind, const char *instrument,
                 const char *take_id, const char *node, const char *fmt, ...)
{
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    bool noisy = kind == BB__EVENT_KIND__EV_TAKE_STARTED || kind == BB__EVENT_KIND__EV_TAKE_STORED;
    if (noisy)
        bb_debug("%s", text);
    else
        bb_info("%s", text);
    if (kind != BB__EVENT_KIND__EV_TAKE_STARTED)
        coord_store_event(self->store, batch, kind, instrument, take_id, text);
    Bb__Event ev = BB__EVENT__INIT;
    ev.time_unix = bb_unix_s();
    ev.kind = kind;
    ev.batch_id = batch;
    ev.instrument = (char *)(instrument ? instrument : "");
    ev.take_id = (char *)(take_id ? take_id : "");
    ev.node = (char *)(node ? node : "");
    ev.message = text;
    size_t len = bb__event__get_packed_size(&ev);
    zframe_t *body = zframe_new(NULL, len);
    if (!body)
        return;
    bb__event__pack(&ev, zframe_data(body));
    char topic[64];
    if (batch)
        snprintf(topic, sizeof topic, "batch.%llu", (unsigned long long)batch);
    else
        snprintf(topic, sizeof topic, "node.%s", node ? node : "");
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, topic);
    zmsg_append(msg, &body);
    zmsg_send(&msg, self->pub); /* PUB never blocks; slow subscribers drop */
}

/* Decides between CURVE and plaintext, and loads the keys for CURVE. Plaintext is for
 * endpoints no other machine reaches, unless the operator insists (--insecure). */
static int s_setup_auth(coord_t *self, char *err, size_t errlen)
{
    const coord_config_t *cfg = &self->cfg;
    bool has_keys = bb_auth_has_server_cert(self->state_dir);
    self->curve = cfg->auth == COORD_AUTH_CURVE || (cfg->auth == COORD_AUTH_AUTO && has_keys);
    const char *eps[] = {cfg->node_endpoint, cfg->operator_endpoint, cfg->event_endpoint};
    if (!self->curve) {
        for (size_t i = 0; i < 3; i++) {
            if (bb_endpoint_is_local(eps[i]))
                continue;
            if (!cfg->insecure) {
                snprintf(err, errlen,
                         "%s is reachable from other machines and the endpoints have no "
                         "authentication: make keys with `batcherbird keys init --state %s` "
                         "(CURVE, then certificates for nodes and operators), or give --auth none "
                         "--insecure to run open to anyone on the network",
                         eps[i], self->state_dir);
                return BB_EINVAL;
            }
            bb_warn("INSECURE: %s is reachable from other machines without authentication: "
                    "anyone who reaches it can submit, cancel, fetch libraries and pose as a "
                    "node",
                    eps[i]);
        }
        return 0;
    }
    char path[1200], trusted[1100];
    bb_auth_server_cert_path(self->state_dir, path, sizeof path);
    bb_auth_trusted_dir(self->state_dir, trusted, sizeof trusted);
    if (!has_keys) {
        snprintf(err, errlen,
                 "--auth curve needs the coordinator's keys: make them with `batcherbird keys "
                 "init --state %s`",
                 self->state_dir);
        return BB_ENOTFOUND;
    }
    self->cert = bb_cert_load(path, false, err, errlen);
    if (!self->cert)
        return BB_EINVAL;
    int rc = bb_mkdir_p(trusted);
    if (rc) {
        snprintf(err, errlen, "cannot create %s: %s", trusted, bb_strerror(rc));
        return rc;
    }
    self->auth = bb_auth_new(trusted, false);
    if (!self->auth) {
        snprintf(err, errlen, "cannot start the ZeroMQ authenticator (zauth)");
        return BB_EIO;
    }
    return 0;
}

/* A list being read (s_trusted_reload). */
typedef struct {
    coord_trusted_t *list;
    size_t n, cap;
    bool failed;
} s_trusted_read_t;

static void s_trusted_add(void *arg, zcert_t *c, const char *file)
{
    (void)file;
    s_trusted_read_t *r = arg;
    if (r->failed)
        return;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        coord_trusted_t *more = realloc(r->list, cap * sizeof *more);
        if (!more) {
            r->failed = true;
            return;
        }
        r->list = more;
        r->cap = cap;
    }
    coord_trusted_t *t = &r->list[r->n++];
    snprintf(t->name, sizeof t->name, "%s", bb_cert_meta(c, BB_CERT_NAME));
    snprintf(t->role, sizeof t->role, "%s", bb_cert_meta(c, BB_CERT_ROLE));
    snprintf(t->key, sizeof t->key, "%s", zcert_public_txt(c));
}

/* The certificates in the trusted folder, read when it has changed since the last time
 * (keys new and keys revoke add and remove files: the folder's mtime moves). */
static void s_trusted_reload(coord_t *self)
{
    char dir[1100];
    bb_auth_trusted_dir(self->state_dir, dir, sizeof dir);
    struct stat st;
    if (stat(dir, &st) != 0)
        return;
    if (self->trusted && st.st_mtim.tv_sec == self->trusted_mtime.tv_sec &&
        st.st_mtim.tv_nsec == self->trusted_mtime.tv_nsec)
        return;
    s_trusted_read_t r = {0};
    if (bb_auth_trusted_each(self->state_dir, s_trusted_add, &r) < 0 || r.failed) {
        free(r.list); /* unreadable or out of memory: the last list stands */
        return;
    }
    for (size_t i = 0; self->trusted && i < self->n_trusted && !self->feed_recheck; i++) {
        bool kept = false;
        for (size_t j = 0; j < r.n && !kept; j++)
            kept = !strcmp(self->trusted[i].key, r.list[j].key);
        self->feed_recheck = !kept; /* revoked: s_feed_reauthenticate at the next turn */
    }
    free(self->trusted);
    self->trusted = r.list ? r.list : calloc(1, sizeof *self->trusted);
    self->n_trusted = r.n;
    self->trusted_mtime = st.st_mtim;
}

bool coord_node_trusted(coord_t *self, const char *name)
{
    if (!self->curve)
        return true;
    s_trusted_reload(self);
    if (!self->trusted)
        return true; /* the folder cannot be read: zauth decides at the next connection */
    for (size_t i = 0; i < self->n_trusted; i++)
        if (!strcmp(self->trusted[i].role, BB_ROLE_NODE) && !strcmp(self->trusted[i].name, name))
            return true;
    return false;
}

/* bb_rpc_trust_fn: a request is served while its certificate's public key is still in the
 * trusted folder (by name and role when the connection carries no key). */
static bool s_still_trusted(void *arg, const char *key, const char *name, const char *role)
{
    coord_t *self = arg;
    s_trusted_reload(self);
    if (!self->trusted)
        return true; /* the folder cannot be read: zauth decides at the next connection */
    for (size_t i = 0; i < self->n_trusted; i++) {
        const coord_trusted_t *t = &self->trusted[i];
        if (*key ? !strcmp(t->key, key) : !strcmp(t->name, name) && !strcmp(t->role, role))
            return true;
    }
    return false;
}

/* The event feed after a certificate left the trusted folder (keys revoke).
 *
 * The feed is a PUB socket: zauth judges a subscriber once, at its CURVE handshake, and
 * PUB cannot tell its subscribers apart afterwards, so a subscriber whose certificate is
 * revoked would go on receiving until it reconnects. So every connection on the feed is
 * closed (bb_guard_close_all: the guard knows each accepted descriptor): each subscriber
 * goes through the handshake and ZAP again; the revoked one is refused, a trusted one's
 * SUB reconnects by itself (ZMQ_RECONNECT_IVL, 100 ms) and subscribes again. Events
 * published between the cut and a subscriber's return are lost to it: the feed is for
 * watching, the state is in the database (watch also polls GetBatch).
 *
 * Why not something else: closing the socket and binding it again would do the same but
 * libzmq closes the old listener asynchronously, so the new bind can fail (EADDRINUSE:
 * about half of 200 binds right after zmq_close or zmq_unbind did, libzmq 4.3.4) and needs
 * retries, with no listener meanwhile; here the listener never goes away. An XPUB sees each
 * subscription with its sender's User-Id, but libzmq has no way to drop one peer of a
 * socket, and a socket monitor names descriptors, not keys. ZMQ_ZAP_ENFORCE_DOMAIN only
 * concerns the handshake. Revocations are rare: cutting every subscriber briefly is the
 * price of a rule that cannot miss one. */
static void s_feed_reauthenticate(coord_t *self)
{
    self->feed_recheck = false;
    size_t n = bb_guard_close_all(self->pub_guard);
    bb_info("a certificate was revoked: %zu event-feed connection(s) closed so that each "
            "subscriber authenticates again (trusted ones reconnect by themselves)",
            n);
}

/* The library root: made if missing, kept as its real path so that a batch's out_dir can
 * be checked to lie under it. */
static int s_setup_library(coord_t *self, char *err, size_t errlen)
{
    char want[1100];
    if (self->cfg.library_dir && *self->cfg.library_dir)
        snprintf(want, sizeof want, "%s", self->cfg.library_dir);
    else
        snprintf(want, sizeof want, "%s/library", self->state_dir);
    int rc = bb_mkdir_p(want);
    if (rc) {
        snprintf(err, errlen, "cannot create the library folder %s: %s", want, bb_strerror(rc));
        return rc;
    }
    char real[PATH_MAX];
    if (!realpath(want, real)) {
        snprintf(err, errlen, "the library folder %s: %s", want,
                 bb_strerror(bb_err_from_errno(errno)));
        return bb_err_from_errno(errno);
    }
    snprintf(self->library_dir, sizeof self->library_dir, "%s", real);
    return 0;
}

coord_t *coord_new(const coord_config_t *cfg, char *err, size_t errlen)
{
    coord_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    if (self->cfg.heartbeat_ms <= 0)
        self->cfg.heartbeat_ms = 1000;
    if (self->cfg.offline_after_ms <= 0)
        self->cfg.offline_after_ms = self->cfg.heartbeat_ms * 7 / 2;
    snprintf(self->state_dir, sizeof self->state_dir, "%s", cfg->state_dir);
    snprintf(self->takes_dir, sizeof self->takes_dir, "%s/takes", cfg->state_dir);
    snprintf(self->db_path, sizeof self->db_path, "%s/batcherbird.db", cfg->state_dir);
    self->lock_fd = -1;
    int rc = bb_mkdir_p(self->takes_dir);
    if (rc) {
        snprintf(err, errlen, "cannot create the state folder %s: %s", self->takes_dir,
                 bb_strerror(rc));
        goto fail;
    }
    if (access(self->state_dir, W_OK) != 0) {
        snprintf(err, errlen, "the state folder %s is not writable: %s", self->state_dir,
                 bb_strerror(bb_err_from_errno(errno)));
        goto fail;
    }
    if (s_lock_state(self, err, errlen))
        goto fail;
    if (s_setup_library(self, err, errlen) || s_setup_auth(self, err, errlen))
        goto fail;
    self->store = coord_store_open(self->db_path, err, errlen);
    if (!self->store)
        goto fail;
    int requeued = 0;
    coord_store_jobs_requeue_all(self->store, &requeued);
    if (requeued)
        bb_info("%d take(s) that were out on nodes will run again (or arrive from a spool)",
                requeued);
    if (coord_plan_load(self))
        bb_warn("cannot read which batches are still being planned: %s",
                coord_store_errmsg(self->store));
    self->registry = coord_registry_new();
    self->ingest = coord_ingest_new(self->takes_dir);
    if (!self->registry || !self->ingest) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    char **names;
    size_t n;
    if (coord_store_node_names(self->store, &names, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            coord_registry_get(self->registry, names[i]);
            free(names[i]);
        }
        free(names);
    }
    zuuid_t *uuid = zuuid_new();
    snprintf(self->session, sizeof self->session, "%s", zuuid_str_canonical(uuid));
    zuuid_destroy(&uuid);

    coord_nodelink_init(self);
    coord_operator_init(self);
    /* Every endpoint: frames of at most COORD_MAX_MSG_BYTES, COORD_HWM messages queued per
     * peer, at most max_peers connections, CURVE with the role each serves. */
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    opts.max_msg_size = COORD_MAX_MSG_BYTES;
    opts.hwm = COORD_HWM;
    opts.max_peers = cfg->max_peers > 0 ? cfg->max_peers : COORD_MAX_PEERS;
    opts.curve_cert = self->curve ? self->cert : NULL;
    opts.role = BB_ROLE_NODE;
    self->nodes_rpc = bb_rpc_new_router(cfg->node_endpoint, &opts, err, errlen);
    if (!self->nodes_rpc)
        goto fail;
    opts.role = BB_ROLE_OPERATOR;
    self->ops_rpc = bb_rpc_new_router(cfg->operator_endpoint, &opts, err, errlen);
    if (!self->ops_rpc)
        goto fail;
    bb_rpc_serve(self->nodes_rpc, &self->nodelink.service.base);
    bb_rpc_serve(self->ops_rpc, &self->operator.service.base);
    if (self->curve) {
        bb_rpc_set_trust(self->nodes_rpc, s_still_trusted, self);
        bb_rpc_set_trust(self->ops_rpc, s_still_trusted, self);
    }
    self->pub = zsock_new(ZMQ_PUB);
    if (self->pub) {
        zsock_set_maxmsgsize(self->pub, 1024); /* subscribers only send subscriptions */
        zsock_set_handshake_ivl(self->pub, BB_RPC_HANDSHAKE_MS);
        if (self->curve) {
            zcert_apply(self->cert, self->pub);
            zsock_set_zap_domain(self->pub, BB_AUTH_ZAP_DOMAIN);
            zsock_set_curve_server(self->pub, 1);
        }
        self->pub_guard = bb_guard_new(self->pub, opts.max_peers, cfg->event_endpoint);
    }
    if (!self->pub || !self->pub_guard || zsock_bind(self->pub, "%s", cfg->event_endpoint) < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", cfg->event_endpoint, zmq_strerror(zmq_errno()));
        goto fail;
    }
    bb_guard_bound(self->pub_guard);
    self->worker = coord_worker_new(self->db_path);
    self->qc = coord_qc_new(self->db_path);
    if (!self->worker || !self->qc) {
        snprintf(err, errlen, "cannot start the export worker or the take checker");
        goto fail;
    }
    /* Takes stored but not checked when the coordinator stopped are checked now. */
    char **unchecked;
    size_t nu;
    if (coord_store_takes_unchecked(self->store, &unchecked, &nu) == 0) {
        for (size_t i = 0; i < nu; i++) {
            coord_qc_queue(self->qc, unchecked[i]);
            free(unchecked[i]);
        }
        free(unchecked);
        if (nu)
            bb_info("%zu stored take(s) will be checked", nu);
    }

    /* Exports interrupted by a stop run again. */
    uint64_t *ids;
    size_t nb;
    if (coord_store_batch_ids(self->store, true, &ids, &nb) == 0) {
        for (size_t b = 0; b < nb; b++) {
            int n_inst = 0;
            coord_store_inst_count(self->store, ids[b], &n_inst);
            for (int i = 0; i < n_inst; i++) {
                coord_inst_row_t row;
                if (coord_store_inst_get(self->store, ids[b], i, &row) == 0 &&
                    row.state == BB__INSTRUMENT_STATE__INST_EXPORTING)
                    coord_worker_export(self->worker, ids[b], i);
            }
        }
        free(ids);
    }
    self->schedule_soon = true;
    return self;
fail:
    coord_destroy(&self);
    return NULL;
}

void coord_destroy(coord_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_t *self = *self_p;
    zpoller_destroy(&self->poller);
    zactor_destroy(&self->worker);
    coord_qc_destroy(&self->qc);
    bb_rpc_destroy(&self->nodes_rpc);
    bb_rpc_destroy(&self->ops_rpc);
    bb_guard_destroy(&self->pub_guard);
    zsock_destroy(&self->pub);
    zactor_destroy(&self->auth);
    free(self->trusted);
    zcert_destroy(&self->cert);
    coord_ingest_destroy(&self->ingest);
    coord_registry_destroy(&self->registry);
    while (self->specs)
        coord_spec_forget(self, self->specs->batch_id);
    while (self->setups) {
        coord_setup_sent_t *s = self->setups;
        self->setups = s->next;
        free(s);
    }
    coord_store_close(&self->store);
    free(self->plans);
    if (self->lock_fd >= 0)
        close(self->lock_fd); /* releases the state folder */
    free(self);
    *self_p = NULL;
}

static zpoller_t *s_poller(coord_t *self)
{
    if (self->poller)
        return self->poller;
    self->poller = zpoller_new(bb_rpc_sock(self->nodes_rpc), bb_rpc_sock(self->ops_rpc),
                               zactor_sock(self->worker), coord_qc_sock(self->qc), NULL);
    /* connection events too, so that a flood is answered as it comes */
    zsock_t *mons[] = {bb_rpc_monitor_sock(self->nodes_rpc), bb_rpc_monitor_sock(self->ops_rpc),
                       bb_guard_sock(self->pub_guard)};
    for (size_t i = 0; self->poller && i < sizeof mons / sizeof mons[0]; i++)
        if (mons[i])
            zpoller_add(self->poller, mons[i]);
    return self->poller;
}

int coord_step(coord_t *self, int max_wait_ms)
{
    zpoller_t *poller = s_poller(self);
    if (!poller)
        return -1;
    int64_t now = bb_mono_ns() / BB_NS_PER_MS;
    int timeout = self->next_tick > now ? (int)(self->next_tick - now) : 0;
    int t = bb_rpc_next_timeout_ms(self->nodes_rpc);
    if (t >= 0 && t < timeout)
        timeout = t;
    if (max_wait_ms >= 0 && max_wait_ms < timeout)
        timeout = max_wait_ms;
    if (self->schedule_soon || self->n_plans)
        timeout = 0; /* more to do now: scheduling, or a plan's takes to write */
    void *which = zpoller_wait(poller, timeout);
    if (zpoller_terminated(poller))
        return -1;
    if (which == zactor_sock(self->worker))
        coord_worker_answer(self);
    else if (which == coord_qc_sock(self->qc))
        coord_qc_answer(self);
    bb_rpc_pump(self->nodes_rpc);
    bb_rpc_pump(self->ops_rpc);
    bb_guard_pump(self->pub_guard);
    now = bb_mono_ns() / BB_NS_PER_MS;
    if (now >= self->next_tick) {
        if (self->curve)
            s_trusted_reload(self); /* a stat() of the folder; read again when it changed */
        if (self->feed_recheck)
            s_feed_reauthenticate(self);
        coord_check_liveness(self);
        self->next_tick = now + COORD_TICK_MS;
        self->schedule_soon = true;
    }
    if (self->n_plans)
        coord_plan_step(self, COORD_PLAN_STEP_JOBS);
    if (self->schedule_soon)
        coord_schedule(self);
    return 0;
}

int coord_run(coord_t *self)
{
    while (!zsys_interrupted && coord_step(self, -1) == 0) {
    }
    return 0;
}
