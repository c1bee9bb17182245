/*
 * bb_log.h — logging for the control plane (never from a realtime thread).
 *
 * One line per message on stderr: time, level, component, text. The level comes from
 * bb_log_set_level() or the BB_LOG environment variable (error, warn, info, debug).
 */
#ifndef BB_LOG_H
#define BB_LOG_H

typedef enum { BB_LOG_ERROR = 0, BB_LOG_WARN, BB_LOG_INFO, BB_LOG_DEBUG } bb_log_level_t;

void bb_log_set_level(bb_log_level_t level);
bb_log_level_t bb_log_get_level(void);
/* Parses "error|warn|info|debug"; returns 0 or BB_EINVAL. */
int bb_log_parse_level(const char *text, bb_log_level_t *level);
/* Sets the component shown on each line (e.g. the node's name). */
void bb_log_set_ident(const char *ident);

void bb_log(bb_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define bb_error(...) bb_log(BB_LOG_ERROR, __VA_ARGS__)
#define bb_warn(...)  bb_log(BB_LOG_WARN, __VA_ARGS__)
#define bb_info(...)  bb_log(BB_LOG_INFO, __VA_ARGS__)
#define bb_debug(...) bb_log(BB_LOG_DEBUG, __VA_ARGS__)

#endif
