/*
 * plan.h — batch plans in the CLI: plan files (YAML, plan_file.c), the checks that point
 * at the line and column of a mistake, and printing a plan back as a plan file.
 *
 * A plan is the same Bb__BatchSpec the coordinator stores, built with the field table of
 * dsp/plan_fields.h, so a plan file and the equivalent command line give the same plan.
 * While a plan is read, where each setting came from is kept (cli_plan_src_t), so that a
 * check made later (a duplicate name, an unknown node, a limit of dsp_plan_validate) is
 * reported at the place to edit: "night.yaml:12:15: error: ...".
 */
#ifndef CLI_PLAN_H
#define CLI_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "operator.pb-c.h"
#include "plan_fields.h"

/* A place in a plan file: 1-based line and column; line 0 = not from a file. */
typedef struct {
    int line, col;
} cli_mark_t;

/* One problem found in a plan. */
typedef struct {
    char *file; /* NULL when not from a file */
    cli_mark_t at;
    char *msg;
} cli_diag_t;

/* Problems, in the order found. */
typedef struct {
    cli_diag_t *items;
    size_t n, cap;
} cli_diags_t;

#define CLI_DIAGS_MAX 100 /* a plan with more problems reports the first ones */

void cli_diags_add(cli_diags_t *d, const char *file, cli_mark_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* "FILE:LINE:COL: error: MSG" (GCC's form, which editors jump to) or "error: MSG", one per
 * line. */
void cli_diags_print(const cli_diags_t *d, FILE *out);
void cli_diags_free(cli_diags_t *d);

/* Where each setting of a plan came from (instruments in the plan's order, before banks
 * of patches are expanded). */
typedef struct {
    char *file;
    cli_mark_t *batch; /* [dsp_plan_n_fields] */
    size_t n_inst;
    cli_mark_t *entry; /* [n_inst] where each instrument's entry starts */
    cli_mark_t **inst; /* [n_inst][dsp_plan_n_fields] */
} cli_plan_src_t;

/* Room for the plan's instruments: call after adding instruments. 0 or -1 (memory). */
int cli_plan_src_fit(cli_plan_src_t *src, size_t n_inst);
void cli_plan_src_free(cli_plan_src_t *src);

/* Reads plan file `path` into `plan` (a dsp_plan_new() plan, maybe empty): batch settings
 * at the top, instrument settings at the top as every instrument's defaults, and the
 * "instruments" sequence. Every problem goes to diags with its line and column (syntax,
 * unknown key, wrong type, a value out of range, ...). Returns the number of problems
 * found (0: the plan read cleanly), or -1 when the file cannot be read at all. */
int cli_plan_load(const char *path, Bb__BatchSpec *plan, cli_plan_src_t *src, cli_diags_t *diags);

/* The known nodes, for the unknown-node check. */
typedef struct {
    char **names;
    size_t n;
    bool known; /* false: nobody asked a coordinator; nodes are not checked */
} cli_nodes_t;

/* Checks `plan` as the coordinator will, and more, each problem at its place in src:
 * instrument names given twice, nodes the coordinator does not know (when nodes->known),
 * each instrument through dsp_plan_validate, then the whole plan. Does not change plan.
 * Returns the number of problems added to diags. */
int cli_plan_check(const Bb__BatchSpec *plan, const cli_plan_src_t *src, const cli_nodes_t *nodes,
                   cli_diags_t *diags);

/* A copy of plan, validated (defaults filled, banks expanded), or NULL with msg. */
Bb__BatchSpec *cli_plan_normalised(const Bb__BatchSpec *plan, uint64_t *total_takes, char *msg,
                                   size_t len);

/* Prints a plan as a plan file (YAML) that submits the same batch; `all` writes every
 * setting, not only those that differ from the defaults. 0 or -1. */
int cli_plan_print_yaml(const Bb__BatchSpec *plan, bool all, FILE *out);

#endif
