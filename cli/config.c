/*
 * config.c — where the coordinator is, so it is typed once: the --coordinator option,
 * else the BATCHERBIRD_COORDINATOR environment variable, else the config file
 * $XDG_CONFIG_HOME/batcherbird/config.yaml (~/.config/... when XDG_CONFIG_HOME is unset,
 * XDG Base Directory Specification 0.8), else the loopback default. The file is YAML:
 *
 *     coordinator: tcp://studio-pc:5556
 *     events: tcp://studio-pc:5557     # default: the coordinator's port + 1
 *     timeout: 5                       # seconds to wait for an answer
 *
 * BATCHERBIRD_EVENTS and BATCHERBIRD_CONFIG (another file) work the same way.
 */
#include <libfyaml.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"

static char s_path[PATH_MAX];
static char s_coordinator[512], s_events[512];

/* Reads the file when it is there; 0, or -1 after printing why it cannot be used. */
static int s_read(const char *path, cli_config_t *out)
{
    if (access(path, F_OK) != 0)
        return 0;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = stderr;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_JSON_NONE, .diag = diag};
    struct fy_document *doc = fy_document_build_from_file(&cfg, path);
    fy_diag_destroy(diag);
    if (!doc) {
        cli_error("config %s: not readable YAML (see above)", path);
        return -1;
    }
    struct fy_node *root = fy_document_root(doc);
    int rc = 0;
    if (root && !fy_node_is_mapping(root)) {
        cli_error("config %s: expected settings like 'coordinator: tcp://HOST:5556'", path);
        rc = -1;
    }
    void *it = NULL;
    struct fy_node_pair *p;
    while (!rc && root && (p = fy_node_mapping_iterate(root, &it))) {
        struct fy_node *k = fy_node_pair_key(p), *v = fy_node_pair_value(p);
        const char *key = fy_node_is_scalar(k) ? fy_node_get_scalar0(k) : "?";
        const char *val = v && fy_node_is_scalar(v) ? fy_node_get_scalar0(v) : NULL;
        if (!val) {
            cli_error("config %s: %s: expected one value", path, key);
            rc = -1;
        } else if (strcmp(key, "coordinator") == 0) {
            snprintf(s_coordinator, sizeof s_coordinator, "%s", val);
            out->coordinator = s_coordinator;
        } else if (strcmp(key, "events") == 0) {
            snprintf(s_events, sizeof s_events, "%s", val);
            out->events = s_events;
        } else if (strcmp(key, "timeout") == 0) {
            char *end;
            double t = strtod(val, &end);
            if (*end || !(t > 0 && t <= 3600)) {
                cli_error("config %s: timeout %s: seconds, more than 0", path, val);
                rc = -1;
            }
            out->timeout_s = t;
        } else {
            cli_error("config %s: unknown setting '%s' (coordinator, events, timeout)", path, key);
            rc = -1;
        }
    }
    fy_document_destroy(doc);
    if (!rc)
        out->path = s_path;
    return rc;
}

int cli_config_load(cli_config_t *out)
{
    *out = (cli_config_t){0};
    const char *explicit = getenv("BATCHERBIRD_CONFIG");
    if (explicit && *explicit) {
        snprintf(s_path, sizeof s_path, "%s", explicit);
        if (access(s_path, R_OK) != 0) {
            cli_error("BATCHERBIRD_CONFIG=%s: no such file", explicit);
            return -1;
        }
    } else {
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        if (xdg && xdg[0] == '/')
            snprintf(s_path, sizeof s_path, "%s/batcherbird/config.yaml", xdg);
        else if (home && *home)
            snprintf(s_path, sizeof s_path, "%s/.config/batcherbird/config.yaml", home);
        else
            return 0;
    }
    return s_read(s_path, out);
}
