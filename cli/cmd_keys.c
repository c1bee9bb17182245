/*
 * cmd_keys.c — `batcherbird keys`: the CurveZMQ certificates a studio needs (bb_auth.h).
 *
 *   keys init --state DIR                 the coordinator's key pair, in DIR/keys/
 *   keys new --role R --name N --out F [--state DIR] [--replace]
 *                                         a node's or an operator's certificate; with
 *                                         --state it names the coordinator's key and is
 *                                         trusted at once (DIR/certs/R-N.cert)
 *   keys list --state DIR                 the certificates the coordinator trusts
 *   keys revoke --role R --name N --state DIR
 *
 * Certificates are CZMQ's (zcert): key files are written with umask 077, so a secret key is
 * never readable by others, not even for a moment. The coordinator reloads its trusted
 * folder by itself (zcertstore), so new and revoked certificates count without a restart.
 */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_auth.h"
#include "bb_fs.h"
#include "cli.h"

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: batcherbird keys init --state DIR\n"
            "       batcherbird keys new --role node|operator --name NAME --out FILE\n"
            "                            [--state DIR] [--replace]\n"
            "       batcherbird keys list --state DIR\n"
            "       batcherbird keys revoke --role node|operator --name NAME --state DIR\n"
            "\n"
            "CurveZMQ certificates: who may talk to the coordinator, and as what.\n"
            "\n"
            "  init     makes the coordinator's key pair in DIR/keys/ (DIR is its --state);\n"
            "           a coordinator started on DIR then requires certificates\n"
            "  new      makes a certificate for a capture node (it registers under NAME and\n"
            "           makes node calls only) or for an operator (the batcherbird command);\n"
            "           with --state it names the coordinator's key and the coordinator\n"
            "           trusts it at once; without, FILE.public is what the coordinator's\n"
            "           DIR/certs/ folder needs\n"
            "  list     the certificates the coordinator trusts\n"
            "  revoke   stops trusting one, also on connections already open: a running\n"
            "           coordinator refuses its next request and cuts its event feed\n"
            "\n"
            "  --replace  make a new certificate for a NAME that has one (the old is revoked)\n"
            "\n"
            "Give a certificate with --cert FILE or %s, to batcherbird and to\n"
            "batcherbird-node.\n",
            BB_AUTH_CERT_ENV);
}

typedef struct {
    const char *state, *role, *name, *out;
    bool replace, help;
} s_args_t;

static int s_parse(int argc, char **argv, s_args_t *a)
{
    enum { O_STATE = 256, O_ROLE, O_NAME, O_OUT, O_REPLACE, O_HELP };
    static const struct option longopts[] = {{"state", 1, 0, O_STATE},
                                             {"role", 1, 0, O_ROLE},
                                             {"name", 1, 0, O_NAME},
                                             {"out", 1, 0, O_OUT},
                                             {"replace", 0, 0, O_REPLACE},
                                             {"help", 0, 0, O_HELP},
                                             {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_STATE:
            a->state = optarg;
            break;
        case O_ROLE:
            a->role = optarg;
            break;
        case O_NAME:
            a->name = optarg;
            break;
        case O_OUT:
            a->out = optarg;
            break;
        case O_REPLACE:
            a->replace = true;
            break;
        case 'h':
        case O_HELP:
            a->help = true;
            break;
        default:
            cli_error("keys: unknown or incomplete option '%s' (see batcherbird keys --help)",
                      argv[optind - 1]);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_error("keys: unexpected argument '%s' (see batcherbird keys --help)", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* Makes dir with `mode` if missing. */
static int s_mkdir(const char *dir, mode_t mode)
{
    int rc = bb_mkdir_p(dir);
    if (rc) {
        cli_error("keys: cannot create %s: %s", dir, bb_strerror(rc));
        return CLI_EXIT_FAILED;
    }
    chmod(dir, mode);
    return CLI_EXIT_OK;
}

static int s_init(const s_args_t *a, bool quiet)
{
    if (!a->state) {
        cli_error("keys init: which state folder? (--state DIR, the coordinator's --state)");
        return CLI_EXIT_USAGE;
    }
    char path[1200], dir[1100];
    bb_auth_server_cert_path(a->state, path, sizeof path);
    snprintf(dir, sizeof dir, "%s/%s", a->state, BB_AUTH_KEYS_DIR);
    if (bb_auth_has_server_cert(a->state)) {
        zcert_t *old = zcert_load(path);
        cli_error("keys init: %s already holds the coordinator's key pair (public key %s); "
                  "nothing changed",
                  dir, old ? zcert_public_txt(old) : "unreadable");
        zcert_destroy(&old);
        return CLI_EXIT_FAILED;
    }
    int rc = s_mkdir(dir, 0700);
    char trusted[1100];
    bb_auth_trusted_dir(a->state, trusted, sizeof trusted);
    if (!rc)
        rc = s_mkdir(trusted, 0755);
    if (rc)
        return rc;
    zcert_t *cert = zcert_new();
    zcert_set_meta(cert, BB_CERT_ROLE, "coordinator");
    mode_t old_mask = umask(077);
    int saved = cert ? zcert_save(cert, path) : -1;
    umask(old_mask);
    if (saved != 0) {
        cli_error("keys init: cannot write %s: %s", path, strerror(errno));
        zcert_destroy(&cert);
        return CLI_EXIT_FAILED;
    }
    if (!quiet)
        printf("The coordinator's key pair is in %s (public key %s).\n"
               "A coordinator started with --state %s now requires certificates. Make them with\n"
               "  batcherbird keys new --role node --name NAME --out NAME.cert --state %s\n"
               "  batcherbird keys new --role operator --name YOU --out YOU.cert --state %s\n",
               dir, zcert_public_txt(cert), a->state, a->state, a->state);
    zcert_destroy(&cert);
    return CLI_EXIT_OK;
}

static void s_trusted_path(const char *state, const char *role, const char *name, char *out,
                           size_t len)
{
    char dir[1100];
    bb_auth_trusted_dir(state, dir, sizeof dir);
    snprintf(out, len, "%s/%s-%s.cert", dir, role, name);
}

static int s_new(const s_args_t *a, bool quiet)
{
    if (!bb_role_ok(a->role)) {
        cli_error("keys new: --role node or --role operator");
        return CLI_EXIT_USAGE;
    }
    if (!bb_auth_name_ok(a->name)) {
        cli_error("keys new: --name '%s': 1 to %d characters of letters, digits, '.', '_' and "
                  "'-', not starting with '.' or '-'",
                  a->name ? a->name : "", BB_AUTH_NAME_MAX);
        return CLI_EXIT_USAGE;
    }
    if (!a->out) {
        cli_error("keys new: where to write the certificate? (--out FILE)");
        return CLI_EXIT_USAGE;
    }
    if (bb_exists(a->out)) {
        cli_error("keys new: %s exists; not overwritten (remove it, or choose another --out)",
                  a->out);
        return CLI_EXIT_FAILED;
    }
    zcert_t *server = NULL;
    char trusted[1200] = "";
    if (a->state) {
        char path[1200], err[512];
        bb_auth_server_cert_path(a->state, path, sizeof path);
        server = bb_cert_load(path, false, err, sizeof err);
        if (!server) {
            cli_error("keys new: %s", err);
            return CLI_EXIT_FAILED;
        }
        s_trusted_path(a->state, a->role, a->name, trusted, sizeof trusted);
        if (bb_exists(trusted) && !a->replace) {
            cli_error("keys new: the coordinator already trusts a %s certificate named '%s' "
                      "(%s): give --replace to make a new one and revoke it",
                      a->role, a->name, trusted);
            zcert_destroy(&server);
            return CLI_EXIT_FAILED;
        }
    }
    zcert_t *cert = zcert_new();
    zcert_set_meta(cert, BB_CERT_ROLE, "%s", a->role);
    zcert_set_meta(cert, BB_CERT_NAME, "%s", a->name);
    if (server)
        zcert_set_meta(cert, BB_CERT_COORD_KEY, "%s", zcert_public_txt(server));
    mode_t old_mask = umask(077);
    int rc = zcert_save_secret(cert, a->out);
    umask(old_mask);
    if (rc != 0) {
        cli_error("keys new: cannot write %s: %s", a->out, strerror(errno));
        goto done;
    }
    char pub[1200];
    if (a->state) {
        snprintf(pub, sizeof pub, "%s", trusted);
    } else {
        snprintf(pub, sizeof pub, "%s.public", a->out);
    }
    /* The coordinator's copy: the public key and the metadata, written beside and renamed
     * in whole (zcertstore reads the trusted folder whenever it changes). */
    char tmp[1300];
    if (a->state)
        snprintf(tmp, sizeof tmp, "%s/%s/.%s-%s.cert.tmp", a->state, BB_AUTH_KEYS_DIR, a->role,
                 a->name);
    else
        snprintf(tmp, sizeof tmp, "%s.tmp", pub);
    rc = zcert_save_public(cert, tmp);
    if (rc == 0 && rename(tmp, pub) != 0)
        rc = -1;
    if (rc != 0) {
        cli_error("keys new: cannot write %s: %s", pub, strerror(errno));
        unlink(tmp);
        unlink(a->out);
        goto done;
    }
    chmod(pub, 0644);
    if (quiet)
        goto done;
    printf("%s certificate '%s' written to %s (keep it secret: it holds the key pair).\n",
           strcmp(a->role, BB_ROLE_NODE) == 0 ? "Node" : "Operator", a->name, a->out);
    if (a->state)
        printf("The coordinator on %s trusts it now.\n", a->state);
    else
        printf("To trust it, copy %s into the coordinator's STATE/%s/ folder; give the\n"
               "coordinator's key with --coordinator-key KEY (or %s).\n",
               pub, BB_AUTH_CERTS_DIR, BB_AUTH_SERVERKEY_ENV);
    if (strcmp(a->role, BB_ROLE_NODE) == 0)
        printf("Use it with: batcherbird-node --cert %s ...\n", a->out);
    else
        printf("Use it with: batcherbird --cert %s ... (or export %s=%s)\n", a->out,
               BB_AUTH_CERT_ENV, a->out);
done:
    zcert_destroy(&cert);
    zcert_destroy(&server);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

static void s_list_header(void)
{
    printf("%-9s %-24s %-41s %s\n", "ROLE", "NAME", "PUBLIC KEY", "FILE");
}

static void s_list_one(void *arg, zcert_t *c, const char *file)
{
    int *n = arg;
    if (!(*n)++)
        s_list_header();
    printf("%-9s %-24s %-41s %s\n", bb_cert_meta(c, BB_CERT_ROLE), bb_cert_meta(c, BB_CERT_NAME),
           zcert_public_txt(c), file);
}

static int s_list(const s_args_t *a)
{
    if (!a->state) {
        cli_error("keys list: which state folder? (--state DIR)");
        return CLI_EXIT_USAGE;
    }
    int n = 0;
    if (bb_auth_trusted_each(a->state, s_list_one, &n) < 0) {
        char dir[1100];
        bb_auth_trusted_dir(a->state, dir, sizeof dir);
        printf("No certificates are trusted in %s (make them with batcherbird keys new).\n", dir);
        return CLI_EXIT_OK;
    }
    if (!n) {
        s_list_header();
        printf("(none)\n");
    }
    return CLI_EXIT_OK;
}

static int s_revoke(const s_args_t *a)
{
    if (!a->state || !bb_role_ok(a->role) || !bb_auth_name_ok(a->name)) {
        cli_error("keys revoke: --role node|operator --name NAME --state DIR");
        return CLI_EXIT_USAGE;
    }
    char path[1200];
    s_trusted_path(a->state, a->role, a->name, path, sizeof path);
    if (unlink(path) != 0) {
        cli_error("keys revoke: %s: %s", path,
                  errno == ENOENT ? "no such certificate is trusted" : strerror(errno));
        return CLI_EXIT_FAILED;
    }
    printf("The coordinator on %s no longer trusts the %s certificate '%s'.\n", a->state, a->role,
           a->name);
    return CLI_EXIT_OK;
}

int cli_keys_init(const char *state)
{
    s_args_t a = {.state = state};
    return s_init(&a, true);
}

int cli_keys_new(const char *state, const char *role, const char *name, const char *out)
{
    s_args_t a = {.state = state, .role = role, .name = name, .out = out};
    return s_new(&a, true);
}

int cli_cmd_keys(cli_t *cli, int argc, char **argv)
{
    (void)cli;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    s_args_t a = {0};
    int rc = s_parse(argc - 1, argv + 1, &a);
    if (rc)
        return rc;
    if (a.help) {
        s_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "init"))
        return s_init(&a, false);
    if (!strcmp(argv[1], "new"))
        return s_new(&a, false);
    if (!strcmp(argv[1], "list"))
        return s_list(&a);
    if (!strcmp(argv[1], "revoke"))
        return s_revoke(&a);
    cli_error("keys: unknown subcommand '%s' (init, new, list, revoke)", argv[1]);
    return CLI_EXIT_USAGE;
}
