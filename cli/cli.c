/*
 * cli.c — connection, calls and small parsers shared by the CLI's commands.
 */
#include "cli.h"

#include "bb_auth.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fflush(stdout); /* what was printed before it comes before it in a log of both */
    fprintf(stderr, "batcherbird: %s\n", text);
}

/* Loads the certificate and the coordinator's key once, if a certificate was given. */
static int s_load_cert(cli_t *cli)
{
    if (cli->cert || !cli->cert_path || !*cli->cert_path)
        return CLI_EXIT_OK;
    char err[512];
    cli->cert = bb_cert_load(cli->cert_path, true, err, sizeof err);
    if (!cli->cert) {
        cli_error("%s", err);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(bb_cert_meta(cli->cert, BB_CERT_ROLE), BB_ROLE_OPERATOR) != 0) {
        cli_error(
            "%s is a %s certificate: the batcherbird command needs an operator's (batcherbird "
            "keys new --role operator ...)",
            cli->cert_path, bb_cert_meta(cli->cert, BB_CERT_ROLE));
        zcert_destroy(&cli->cert);
        return CLI_EXIT_USAGE;
    }
    if (bb_auth_server_key(cli->server_key, cli->cert, cli->server_key_z85,
                           sizeof cli->server_key_z85, err, sizeof err) != 0) {
        cli_error("%s", err);
        zcert_destroy(&cli->cert);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int cli_connect(cli_t *cli)
{
    if (cli->rpc)
        return CLI_EXIT_OK;
    int rc = s_load_cert(cli);
    if (rc)
        return rc;
    char err[512];
    bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
    opts.linger_ms = 0;
    opts.curve_cert = cli->cert;
    opts.curve_server_key = cli->cert ? cli->server_key_z85 : NULL;
    cli->rpc = bb_rpc_new_dealer(cli->coordinator, &opts, err, sizeof err);
    if (!cli->rpc) {
        cli_error("UNAVAILABLE: %s", err);
        return CLI_EXIT_UNAVAILABLE;
    }
    return CLI_EXIT_OK;
}

int cli_secure(cli_t *cli, zsock_t *sock)
{
    int rc = s_load_cert(cli);
    if (rc || !cli->cert)
        return rc;
    zcert_apply(cli->cert, sock);
    zsock_set_curve_serverkey(sock, cli->server_key_z85);
    return CLI_EXIT_OK;
}

int cli_call(cli_t *cli, const char *method, const ProtobufCMessage *req, ProtobufCMessage **reply)
{
    char err[512];
    int rc = cli_connect(cli);
    if (rc)
        return rc;
    int status = bb_rpc_call(cli->rpc, &bb__operator__descriptor, method, req, cli->timeout_ms,
                             reply, err, sizeof err);
    if (status == BB_STATUS_OK)
        return CLI_EXIT_OK;
    if (status == BB_STATUS_DEADLINE_EXCEEDED) {
        cli_error("UNAVAILABLE: no answer from the coordinator at %s within %.1f s "
                  "(is batcherbird-coordinator running? see --coordinator%s)",
                  cli->coordinator, cli->timeout_ms / 1000.0,
                  cli->cert ? "" : "; a coordinator with keys needs --cert or " BB_AUTH_CERT_ENV);
        return CLI_EXIT_UNAVAILABLE;
    }
    cli_error("%s: %s", bb_status_name(status), err);
    return status == BB_STATUS_UNAVAILABLE ? CLI_EXIT_UNAVAILABLE : CLI_EXIT_FAILED;
}

int cli_call_quiet(cli_t *cli, const char *method, const ProtobufCMessage *req, int timeout_ms,
                   ProtobufCMessage **reply, char *err, size_t len)
{
    if (!cli->rpc) {
        if (s_load_cert(cli)) {
            snprintf(err, len, "the certificate cannot be used");
            return BB_STATUS_UNAUTHENTICATED;
        }
        bb_rpc_opts_t opts = BB_RPC_OPTS_INIT;
        opts.linger_ms = 0;
        opts.curve_cert = cli->cert;
        opts.curve_server_key = cli->cert ? cli->server_key_z85 : NULL;
        cli->rpc = bb_rpc_new_dealer(cli->coordinator, &opts, err, len);
        if (!cli->rpc)
            return BB_STATUS_UNAVAILABLE;
    }
    return bb_rpc_call(cli->rpc, &bb__operator__descriptor, method, req, timeout_ms, reply, err,
                       len);
}

uint64_t cli_parse_batch(const char *cmd, const char *text)
{
    char *end = NULL;
    unsigned long long id = text && *text ? strtoull(text, &end, 10) : 0;
    if (!text || !*text || *end || id == 0 || text[0] == '-') {
        cli_error("%s: '%s' is not a batch number (see batcherbird status)", cmd, text ? text : "");
        return 0;
    }
    return id;
}

int cli_print_json(json_t *j)
{
    if (!j)
        return -1;
    int rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    json_decref(j);
    return rc;
}

void cli_getopt_reset(void)
{
    optind = 0; /* glibc: start over, argv[0] being the command */
    opterr = 0; /* the commands say what is wrong in their own words */
}

void cli_close(cli_t *cli)
{
    bb_rpc_destroy(&cli->rpc);
    zcert_destroy(&cli->cert);
}

int cli_parse_duration_ms(const char *text, uint32_t *ms)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || v < 0)
        return -1;
    double scale = 1000.0;
    if (strcmp(end, "ms") == 0)
        scale = 1.0;
    else if (strcmp(end, "s") != 0 && *end)
        return -1;
    double r = v * scale;
    if (r > 3600.0 * 1000)
        return -1;
    *ms = (uint32_t)(r + 0.5);
    return 0;
}

void cli_events_from(const char *operator_ep, char *out, size_t len)
{
    const char *colon = strrchr(operator_ep, ':');
    if (strncmp(operator_ep, "tcp://", 6) == 0 && colon && colon > operator_ep + 5) {
        long port = strtol(colon + 1, NULL, 10);
        if (port > 0 && port < 65535) {
            snprintf(out, len, "%.*s:%ld", (int)(colon - operator_ep), operator_ep, port + 1);
            return;
        }
    }
    snprintf(out, len, "%s", BB_ENDPOINT_EVENTS);
}

void cli_format_duration(double s, char *out, size_t len)
{
    if (s < 0) {
        snprintf(out, len, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(out, len, "%ld:%02ld", t / 60, t % 60);
}

int cli_parse_number(const char *cmd, const char *opt, const char *text, double lo, double hi,
                     double *out)
{
    char *end = NULL;
    double v = text ? strtod(text, &end) : NAN;
    if (!text || end == text || *end || !isfinite(v) || v < lo || v > hi) {
        cli_error("%s: %s %s: expected a number from %g to %g", cmd, opt, text ? text : "", lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}
