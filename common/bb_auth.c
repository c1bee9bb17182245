/*
 * bb_auth.c — certificates, roles and local endpoints of bb_auth.h.
 *
 * Certificates are CZMQ's (ZPL text files with a "curve" section and a "metadata"
 * section); zauth does the ZAP side. What is written here is only what CZMQ leaves to the
 * application: which endpoints count as local, and the checks that turn a wrong file into
 * a message a person can act on.
 */
#include "bb_auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bb_log.h"

bool bb_endpoint_is_local(const char *ep)
{
    if (!ep)
        return false;
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return true;
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    const char *host = ep + 6;
    /* a connect endpoint may name a source: "tcp://src;dst" — judge the destination */
    const char *semi = strchr(host, ';');
    if (semi)
        host = semi + 1;
    char h[256];
    size_t n;
    if (host[0] == '[') { /* [::1]:port */
        const char *close = strchr(host, ']');
        if (!close)
            return false;
        n = (size_t)(close - host - 1);
        host++;
    } else {
        const char *colon = strrchr(host, ':');
        n = colon ? (size_t)(colon - host) : strlen(host);
    }
    if (n == 0 || n >= sizeof h)
        return false;
    memcpy(h, host, n);
    h[n] = '\0';
    if (strcmp(h, "localhost") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, h, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

bool bb_role_ok(const char *role)
{
    return role && (strcmp(role, BB_ROLE_NODE) == 0 || strcmp(role, BB_ROLE_OPERATOR) == 0);
}

bool bb_auth_name_ok(const char *name)
{
    if (!name || !*name || name[0] == '.' || name[0] == '-' || strlen(name) > BB_AUTH_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return false;
    return true;
}

void bb_auth_server_cert_path(const char *state_dir, char *out, size_t len)
{
    snprintf(out, len, "%s/%s/%s", state_dir, BB_AUTH_KEYS_DIR, BB_AUTH_SERVER_CERT);
}

void bb_auth_trusted_dir(const char *state_dir, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", state_dir, BB_AUTH_CERTS_DIR);
}

int bb_auth_trusted_each(const char *state_dir, bb_auth_cert_fn *fn, void *arg)
{
    char dir[1100];
    bb_auth_trusted_dir(state_dir, dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        zcert_t *c = zcert_load(path);
        if (!c)
            continue;
        fn(arg, c, e->d_name);
        zcert_destroy(&c);
        n++;
    }
    int err = errno;
    closedir(d);
    errno = err;
    return n;
}

bool bb_auth_has_server_cert(const char *state_dir)
{
    char path[1200];
    bb_auth_server_cert_path(state_dir, path, sizeof path);
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "_secret");
    struct stat st;
    return stat(path, &st) == 0;
}

const char *bb_cert_meta(zcert_t *cert, const char *key)
{
    const char *v = cert ? zcert_meta(cert, key) : NULL;
    return v ? v : "";
}

/* A certificate loaded from a public file only has a secret key of zeros. */
static bool s_has_secret(zcert_t *cert)
{
    const char *s = zcert_secret_txt(cert);
    return s && strcmp(s, "0000000000000000000000000000000000000000") != 0;
}

zcert_t *bb_cert_load(const char *path, bool client, char *err, size_t errlen)
{
    struct stat st;
    if (!path || !*path) {
        snprintf(err, errlen, "no certificate file given");
        return NULL;
    }
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "certificate %s: no such file%s", path,
                 client ? " (make one with: batcherbird keys new --role ROLE --name NAME --out "
                          "FILE --state STATE)"
                        : " (make the coordinator's keys with: batcherbird keys init --state "
                          "STATE)");
        return NULL;
    }
    zcert_t *cert = zcert_load(path);
    if (!cert) {
        snprintf(err, errlen, "certificate %s cannot be read: not a CZMQ certificate", path);
        return NULL;
    }
    if (!s_has_secret(cert)) {
        snprintf(err, errlen,
                 "certificate %s holds only a public key: give the file `batcherbird keys %s` "
                 "wrote (it holds the key pair)",
                 path, client ? "new --out" : "init");
        zcert_destroy(&cert);
        return NULL;
    }
    if (client) {
        const char *role = bb_cert_meta(cert, BB_CERT_ROLE);
        const char *name = bb_cert_meta(cert, BB_CERT_NAME);
        if (!bb_role_ok(role) || !bb_auth_name_ok(name)) {
            snprintf(err, errlen,
                     "certificate %s has no usable role and name (role '%s', name '%s'): make it "
                     "with batcherbird keys new",
                     path, role, name);
            zcert_destroy(&cert);
            return NULL;
        }
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        bb_warn("%s holds a secret key but others may read it (chmod 600 %s)", path, path);
    return cert;
}

static bool s_key_ok(const char *key)
{
    if (!key || strlen(key) != BB_AUTH_KEY_LEN)
        return false;
    uint8_t raw[32];
    return zmq_z85_decode(raw, key) != NULL;
}

int bb_auth_server_key(const char *given, zcert_t *client, char *out, size_t len, char *err,
                       size_t errlen)
{
    const char *key = NULL;
    zcert_t *file = NULL;
    if (given && *given) {
        if (s_key_ok(given)) {
            key = given;
        } else {
            struct stat st;
            if (stat(given, &st) == 0)
                file = zcert_load(given);
            if (!file) {
                snprintf(err, errlen,
                         "coordinator key '%.60s' is neither a 40-character Z85 key nor a "
                         "certificate file",
                         given);
                return -1;
            }
            key = zcert_public_txt(file);
        }
    } else {
        key = bb_cert_meta(client, BB_CERT_COORD_KEY);
        if (!*key) {
            snprintf(err, errlen,
                     "the certificate does not name the coordinator's key (it was made without "
                     "--state): give it with --coordinator-key KEY or %s",
                     BB_AUTH_SERVERKEY_ENV);
            return -1;
        }
        if (!s_key_ok(key)) {
            snprintf(err, errlen, "the certificate's coordinator-key is not a Z85 key");
            return -1;
        }
    }
    snprintf(out, len, "%s", key);
    zcert_destroy(&file);
    return 0;
}

zactor_t *bb_auth_new(const char *trusted_dir, bool verbose)
{
    zactor_t *auth = zactor_new(zauth, NULL);
    if (!auth)
        return NULL;
    if (verbose) {
        zstr_sendx(auth, "VERBOSE", NULL);
        zsock_wait(auth);
    }
    zstr_sendx(auth, "CURVE", trusted_dir, NULL);
    zsock_wait(auth);
    return auth;
}
