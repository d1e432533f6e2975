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

/* Length of the valid UTF-8 sequence that starts at s with a byte >= 0x80 (n bytes available), or 0
 * when it is not valid: a stray continuation byte, an overlong form, a surrogate, a code point above
 * U+10FFFF or a sequence cut short. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF; /* lo/hi: allowed range of the second byte */
    size_t want;
    if (c >= 0xC2 && c <= 0xDF) {
        want = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        want = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        want = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < want || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < want; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return want;
}

size_t log_escape(char *dst, size_t cap, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t out = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        char esc[6];
        const char *piece = esc;
        size_t n, take = 1;
        size_t utf8 = c >= 0x80 ? utf8_seq_len(s + i, len - i) : 0;
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            esc[0] = (char)c;
            n = 1;
        } else if (c == '\n' || c == '\r' || c == '\t' || c == '\\') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\';
            n = 2;
        } else if (utf8 == 2 && c == 0xC2 && s[i + 1] < 0xA0) {
            /* U+0080..U+009F: C1 controls (NEL among them), which some viewers treat as line breaks */
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[s[i + 1] >> 4];
            esc[5] = hex[s[i + 1] & 0xF];
            n = 6;
            take = 2;
        } else if (utf8 > 0) {
            piece = (const char *)s + i;
            n = take = utf8;
        } else {
            /* other C0 controls, DEL, bytes that are not valid UTF-8 */
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 0xF];
            n = 4;
        }
        if (n >= cap - out)
            break;
        memcpy(dst + out, piece, n);
        out += n;
        i += take;
    }
    dst[out] = '\0';
    return out;
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
    char msg[2048];
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        return;
    /* A log line is one line: the message (whose values may come from a peer) is escaped, each byte
     * growing to at most 4, so the line buffer holds any message whole. */
    char line[96 + 4 * sizeof(msg)];
    int n = snprintf(line, 96, "%s.%03ld UTC [%d] %s ", stamp, (long)(tv.tv_usec / 1000), (int)getpid(),
                     level_names[level]);
    if (n < 0 || n >= 96)
        return;
    log_escape(line + n, sizeof(line) - (size_t)n, msg, strlen(msg));
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
