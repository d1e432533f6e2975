/* proto.h — PostgreSQL v3 wire protocol: bounds-checked readers and message builders. */
#ifndef WEDPOOL_PROTO_H
#define WEDPOOL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_V3 196608u               /* 3.0 */
#define PROTO_SSL_REQUEST 80877103u
#define PROTO_GSSENC_REQUEST 80877104u
#define PROTO_CANCEL_REQUEST 80877102u
#define PROTO_MAX_STARTUP 10000u       /* PostgreSQL's own cap on a startup packet */
#define PROTO_MAX_PASSWORD 8192u       /* a PasswordMessage/SASL response (length word), as PostgreSQL */

/* A growable output buffer for messages wedpool builds itself (never for forwarded data). */
struct pbuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool failed;  /* an allocation failed: the whole buffer is unusable */
};

void pbuf_init(struct pbuf *b);
void pbuf_free(struct pbuf *b);
void pbuf_reset(struct pbuf *b);
void pbuf_put(struct pbuf *b, const void *p, size_t n);
void pbuf_put_u8(struct pbuf *b, uint8_t v);
void pbuf_put_u16(struct pbuf *b, uint16_t v);
void pbuf_put_u32(struct pbuf *b, uint32_t v);
void pbuf_put_str(struct pbuf *b, const char *s); /* with the terminating NUL */
/* Formatted text, any length (no NUL): Prometheus lines, JSON written by hand. */
void pbuf_printf(struct pbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts a message of the given type ('\0' = untyped, as in a startup packet); returns a mark
 * for pbuf_end_msg, which fills in the length. */
size_t pbuf_begin_msg(struct pbuf *b, char type);
void pbuf_end_msg(struct pbuf *b, size_t mark);

/* Whole-message builders. */
void proto_error(struct pbuf *b, const char *severity, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void proto_notice(struct pbuf *b, const char *sqlstate, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void proto_auth(struct pbuf *b, uint32_t code, const void *extra, size_t extra_len);
void proto_param_status(struct pbuf *b, const char *name, const char *value);
void proto_backend_key(struct pbuf *b, uint32_t pid, uint32_t key);
void proto_ready(struct pbuf *b, char status);
void proto_command_complete(struct pbuf *b, const char *tag);
/* A RowDescription of ncols text columns. */
void proto_row_description(struct pbuf *b, const char *const *names, int ncols);
/* A DataRow; values[i] == NULL is SQL NULL. */
void proto_data_row(struct pbuf *b, const char *const *values, int ncols);

/* ---- Reading a message body: a cursor that never reads past its end. ---- */
struct preader {
    const uint8_t *p;
    size_t len;
    size_t pos;
};

static inline void preader_init(struct preader *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->pos = 0;
}
bool preader_u8(struct preader *r, uint8_t *v) __attribute__((warn_unused_result));
bool preader_u32(struct preader *r, uint32_t *v) __attribute__((warn_unused_result));
/* A NUL-terminated string inside the message; *s points into the message. */
bool preader_str(struct preader *r, const char **s) __attribute__((warn_unused_result));
bool preader_bytes(struct preader *r, size_t n, const uint8_t **p) __attribute__((warn_unused_result));

static inline uint32_t proto_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* A parsed startup packet (the body after the 4-byte length). */
#define PROTO_MAX_PARAMS 32
struct startup_param {
    const char *name;
    const char *value;
};
struct startup_packet {
    uint32_t code;                 /* PROTO_V3, PROTO_SSL_REQUEST, ... */
    uint32_t cancel_pid;           /* for PROTO_CANCEL_REQUEST */
    uint32_t cancel_key;
    int nparams;
    struct startup_param params[PROTO_MAX_PARAMS];
};

/* Parses a startup-phase packet body of len bytes (length word excluded). Returns false with a
 * reason in *err for anything malformed; pointers in *out point into body. */
bool proto_parse_startup(const uint8_t *body, size_t len, struct startup_packet *out, const char **err)
    __attribute__((warn_unused_result));
const char *startup_get(const struct startup_packet *sp, const char *name);

/* Fields of an ErrorResponse/NoticeResponse body. */
struct error_fields {
    const char *severity;
    const char *sqlstate;
    const char *message;
};
bool proto_parse_error(const uint8_t *body, size_t len, struct error_fields *out);

#endif
