/*
 * config.h — the CLI's config file and environment (config.c tells the order).
 */
#ifndef CLI_CONFIG_H
#define CLI_CONFIG_H

typedef struct {
    const char *path;        /* the file read, or NULL when there is none */
    const char *coordinator; /* NULL when the file does not say */
    const char *events;
    double timeout_s; /* 0 when the file does not say */
} cli_config_t;

/* Reads the config file if there is one. 0, or -1 after printing why it is unusable. */
int cli_config_load(cli_config_t *out);

#endif
