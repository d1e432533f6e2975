/* log.c — leveled logging to stderr or a logfile, with timestamps. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static FILE *log_file;
static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"DEBUG", "LOG", "WARNING", "ERROR", "FATAL"};

bool log_open(const char *path)
{
    if (path == NULL || path[0] == '\0') {
        if (log_file != NULL && log_file != stderr)
            fclose(log_file);
        log_file = stderr;
        return true;
    }
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return false;
    setvbuf(f, NULL, _IOLBF, 0);
    if (log_file != NULL && log_file != stderr)
        fclose(log_file);
    log_file = f;
    return true;
}

void log_set_level(enum log_level level)
{
    min_level = level;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    FILE *out = log_file != NULL ? log_file : stderr;
    struct timeval tv;
    struct tm tm;
    char stamp[32];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    char line[2048];
    int n = snprintf(line, sizeof(line), "%s.%03ld UTC [%d] %s ", stamp, (long)(tv.tv_usec / 1000),
                     (int)getpid(), level_names[level]);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(line))
        vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    fprintf(out, "%s\n", line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_FATAL, fmt, ap);
    va_end(ap);
    abort();
}
