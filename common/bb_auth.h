/*
 * bb_auth.h — who may talk to the coordinator: CurveZMQ certificates with roles (CZMQ
 * zcert, zcertstore, zauth), and which endpoints may go without them.
 *
 * The coordinator's state folder holds
 *   keys/coordinator.cert          its public key (Z85, ZPL format)
 *   keys/coordinator.cert_secret   its key pair (mode 0600)
 *   certs/<role>-<name>.cert       the public certificates it trusts, one per node or operator
 * A client certificate (what `batcherbird keys new --out FILE` writes, mode 0600) is a CZMQ
 * secret certificate: the client's key pair plus metadata
 *   role            = node | operator
 *   name            = the node's name (a node registers under this name and no other)
 *   coordinator-key = the coordinator's public key, when it was made with --state
 * The coordinator runs zauth with certs/ as its CURVE store: only keys found there finish
 * the handshake, and the trusted certificate's metadata (role, name) arrives with every
 * message of that connection as ZeroMQ message properties, which bb_rpc checks and hands
 * to the handlers. What a client's own file says about its role is never believed; only the
 * coordinator's copy counts.
 *
 * Plaintext (ZMTP NULL) is for endpoints no other machine can reach: loopback TCP and
 * ipc:// (and inproc:// inside a process); bb_endpoint_is_local() says which.
 */
#ifndef BB_AUTH_H
#define BB_AUTH_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#define BB_AUTH_KEYS_DIR      "keys"
#define BB_AUTH_CERTS_DIR     "certs"
#define BB_AUTH_SERVER_CERT   "coordinator.cert" /* in keys/; the pair is "..._secret" */
#define BB_AUTH_ZAP_DOMAIN    "batcherbird"
#define BB_CERT_ROLE          "role"
#define BB_CERT_NAME          "name"
#define BB_CERT_COORD_KEY     "coordinator-key"
#define BB_ROLE_NODE          "node"
#define BB_ROLE_OPERATOR      "operator"
#define BB_AUTH_NAME_MAX      63 /* characters of a certificate (and node) name */
#define BB_AUTH_KEY_LEN       40 /* Z85 characters of a CURVE public key */
#define BB_AUTH_CERT_ENV      "BATCHERBIRD_CERT"
#define BB_AUTH_SERVERKEY_ENV "BATCHERBIRD_COORDINATOR_KEY"

/* True for endpoints only this machine can reach: ipc://, inproc://, and tcp:// bound to
 * or aimed at 127.0.0.0/8, ::1 or localhost. A wildcard (0.0.0.0, *, ::) or an interface
 * name is not local. */
bool bb_endpoint_is_local(const char *endpoint);

/* True for "node" and "operator". */
bool bb_role_ok(const char *role);
/* True for a usable certificate or node name: 1..BB_AUTH_NAME_MAX characters of
 * [A-Za-z0-9._-], not starting with '.' or '-'. */
bool bb_auth_name_ok(const char *name);

/* <state>/keys/coordinator.cert (the public file; the pair is that name + "_secret"). */
void bb_auth_server_cert_path(const char *state_dir, char *out, size_t len);
/* <state>/certs */
void bb_auth_trusted_dir(const char *state_dir, char *out, size_t len);
/* Calls fn once per certificate in the trusted folder (files whose names do not start
 * with '.' and that zcert_load() reads; others are skipped), in directory order. The
 * certificate is the callee's to read only: it is destroyed when fn returns. file: its
 * name in the folder. Returns how many were visited, or -1 (errno set) when the folder
 * cannot be opened. */
typedef void bb_auth_cert_fn(void *arg, zcert_t *cert, const char *file);
int bb_auth_trusted_each(const char *state_dir, bb_auth_cert_fn *fn, void *arg);
/* True when the state folder holds the coordinator's key pair (batcherbird keys init). */
bool bb_auth_has_server_cert(const char *state_dir);

/* Loads a certificate that must hold a secret key: a client's FILE (role and name checked)
 * when `client` is true, else the coordinator's pair. NULL with a message saying what is
 * wrong and what to do. The caller destroys it with zcert_destroy(). */
zcert_t *bb_cert_load(const char *path, bool client, char *err, size_t errlen);

/* A metadata value of a certificate, or "" when it has none. */
const char *bb_cert_meta(zcert_t *cert, const char *key);

/* The coordinator's public key for a client: `given` (40 Z85 characters, or the path of a
 * public certificate file such as keys/coordinator.cert), else the client certificate's
 * coordinator-key. 0 with the key in out (41 bytes), or -1 with a message. */
int bb_auth_server_key(const char *given, zcert_t *client, char *out, size_t len, char *err,
                       size_t errlen);

/* Starts zauth (one per process; it serves every CURVE server socket of the CZMQ context)
 * with `trusted_dir` as the CURVE store, reloaded when files there change. NULL on failure. */
zactor_t *bb_auth_new(const char *trusted_dir, bool verbose);

#endif
