/* log.h — leveled logging to stderr or a logfile, with timestamps. */
#ifndef WEDPOOL_LOG_H
#define WEDPOOL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_FATAL };

/* Opens path for appending (NULL or "" = stderr). Returns false if it cannot be opened. */
bool log_open(const char *path);
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
/* Makes src[0..len) safe to write as part of one log line: \n, \r, \t and \\ become those two-character
 * escapes; other C0 controls, DEL, C1 controls and bytes that are not valid UTF-8 become \xNN
 * (C1 as \u00NN); valid UTF-8 is copied as is. Every log message goes through it, so a user name,
 * database, option or server error text from a peer can never forge a line. Writes at most cap-1
 * bytes and a NUL (cap > 0), never cutting an escape or a character in two; returns the bytes
 * written before the NUL. Pure: unit-tested. */
size_t log_escape(char *dst, size_t cap, const char *src, size_t len);

/* Logs and aborts: for broken invariants only, never for a peer's fault. */
_Noreturn void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
