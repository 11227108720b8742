/*
 * log.h - levelled logging to stderr or syslog.
 *
 * Never pass a secret, PIN, key or plaintext to these functions.  Messages
 * longer than 1 KiB are truncated.  Thread-safe.
 */
#ifndef CAP_LOG_H
#define CAP_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/*
 * log_init sets the program name, the sink (use_syslog: 0 = stderr,
 * 1 = syslog(3) with LOG_DAEMON) and the most verbose level written.
 * Before it is called, messages go to stderr at level INFO.
 */
void log_init(const char *ident, int use_syslog, enum log_level level);

/* log_level_parse maps "error", "warn", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *s);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
