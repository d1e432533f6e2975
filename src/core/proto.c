/* proto.c — PostgreSQL v3 wire protocol: bounds-checked readers and message builders. */
#include "proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pbuf_init(struct pbuf *b)
{
    memset(b, 0, sizeof(*b));
}

void pbuf_free(struct pbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void pbuf_reset(struct pbuf *b)
{
    b->len = 0;
    b->failed = false;
}

static bool pbuf_reserve(struct pbuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (b->len + n <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (d == NULL) {
        b->failed = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void pbuf_put(struct pbuf *b, const void *p, size_t n)
{
    if (n == 0 || !pbuf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void pbuf_put_u8(struct pbuf *b, uint8_t v)
{
    pbuf_put(b, &v, 1);
}

void pbuf_put_u16(struct pbuf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    pbuf_put(b, x, 2);
}

void pbuf_put_u32(struct pbuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    pbuf_put(b, x, 4);
}

void pbuf_printf(struct pbuf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(small)) {
        pbuf_put(b, small, (size_t)n);
    } else if (n >= 0) {
        char *big = malloc((size_t)n + 1);
        if (big == NULL)
            b->failed = true;
        else {
            vsnprintf(big, (size_t)n + 1, fmt, again);
            pbuf_put(b, big, (size_t)n);
            free(big);
        }
    }
    va_end(again);
}

void pbuf_put_str(struct pbuf *b, const char *s)
{
    pbuf_put(b, s, strlen(s) + 1);
}

size_t pbuf_begin_msg(struct pbuf *b, char type)
{
    if (type != '\0')
        pbuf_put_u8(b, (uint8_t)type);
    size_t mark = b->len;
    pbuf_put_u32(b, 0);
    return mark;
}

void pbuf_end_msg(struct pbuf *b, size_t mark)
{
    if (b->failed || mark + 4 > b->len)
        return;
    uint32_t len = (uint32_t)(b->len - mark);
    b->data[mark] = (uint8_t)(len >> 24);
    b->data[mark + 1] = (uint8_t)(len >> 16);
    b->data[mark + 2] = (uint8_t)(len >> 8);
    b->data[mark + 3] = (uint8_t)len;
}

static void proto_vreport(struct pbuf *b, char type, const char *severity, const char *sqlstate,
                          const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t m = pbuf_begin_msg(b, type);
    pbuf_put_u8(b, 'S');
    pbuf_put_str(b, severity);
    pbuf_put_u8(b, 'V');
    pbuf_put_str(b, severity);
    pbuf_put_u8(b, 'C');
    pbuf_put_str(b, sqlstate);
    pbuf_put_u8(b, 'M');
    pbuf_put_str(b, msg);
    pbuf_put_u8(b, 0);
    pbuf_end_msg(b, m);
}

void proto_error(struct pbuf *b, const char *severity, const char *sqlstate, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    proto_vreport(b, 'E', severity, sqlstate, fmt, ap);
    va_end(ap);
}

void proto_notice(struct pbuf *b, const char *sqlstate, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    proto_vreport(b, 'N', "NOTICE", sqlstate, fmt, ap);
    va_end(ap);
}

void proto_auth(struct pbuf *b, uint32_t code, const void *extra, size_t extra_len)
{
    size_t m = pbuf_begin_msg(b, 'R');
    pbuf_put_u32(b, code);
    pbuf_put(b, extra, extra_len);
    pbuf_end_msg(b, m);
}

void proto_param_status(struct pbuf *b, const char *name, const char *value)
{
    size_t m = pbuf_begin_msg(b, 'S');
    pbuf_put_str(b, name);
    pbuf_put_str(b, value);
    pbuf_end_msg(b, m);
}

void proto_backend_key(struct pbuf *b, uint32_t pid, uint32_t key)
{
    size_t m = pbuf_begin_msg(b, 'K');
    pbuf_put_u32(b, pid);
    pbuf_put_u32(b, key);
    pbuf_end_msg(b, m);
}

void proto_ready(struct pbuf *b, char status)
{
    size_t m = pbuf_begin_msg(b, 'Z');
    pbuf_put_u8(b, (uint8_t)status);
    pbuf_end_msg(b, m);
}

void proto_command_complete(struct pbuf *b, const char *tag)
{
    size_t m = pbuf_begin_msg(b, 'C');
    pbuf_put_str(b, tag);
    pbuf_end_msg(b, m);
}

void proto_row_description(struct pbuf *b, const char *const *names, int ncols)
{
    size_t m = pbuf_begin_msg(b, 'T');
    pbuf_put_u16(b, (uint16_t)ncols);
    for (int i = 0; i < ncols; i++) {
        pbuf_put_str(b, names[i]);
        pbuf_put_u32(b, 0);    /* table oid */
        pbuf_put_u16(b, 0);    /* column number */
        pbuf_put_u32(b, 25);   /* text */
        pbuf_put_u16(b, 0xffff); /* typlen -1 */
        pbuf_put_u32(b, 0xffffffffu); /* typmod -1 */
        pbuf_put_u16(b, 0);    /* text format */
    }
    pbuf_end_msg(b, m);
}

void proto_data_row(struct pbuf *b, const char *const *values, int ncols)
{
    size_t m = pbuf_begin_msg(b, 'D');
    pbuf_put_u16(b, (uint16_t)ncols);
    for (int i = 0; i < ncols; i++) {
        if (values[i] == NULL) {
            pbuf_put_u32(b, 0xffffffffu);
        } else {
            size_t n = strlen(values[i]);
            pbuf_put_u32(b, (uint32_t)n);
            pbuf_put(b, values[i], n);
        }
    }
    pbuf_end_msg(b, m);
}

bool preader_u8(struct preader *r, uint8_t *v)
{
    if (r->pos + 1 > r->len)
        return false;
    *v = r->p[r->pos++];
    return true;
}

bool preader_u32(struct preader *r, uint32_t *v)
{
    if (r->len - r->pos < 4 || r->pos > r->len)
        return false;
    *v = proto_get_u32(r->p + r->pos);
    r->pos += 4;
    return true;
}

bool preader_str(struct preader *r, const char **s)
{
    if (r->pos >= r->len)
        return false;
    const uint8_t *nul = memchr(r->p + r->pos, 0, r->len - r->pos);
    if (nul == NULL)
        return false;
    *s = (const char *)(r->p + r->pos);
    r->pos = (size_t)(nul - r->p) + 1;
    return true;
}

bool preader_bytes(struct preader *r, size_t n, const uint8_t **p)
{
    if (r->pos > r->len || r->len - r->pos < n)
        return false;
    *p = r->p + r->pos;
    r->pos += n;
    return true;
}

bool proto_parse_startup(const uint8_t *body, size_t len, struct startup_packet *out, const char **err)
{
    struct preader r;
    preader_init(&r, body, len);
    memset(out, 0, sizeof(*out));
    if (!preader_u32(&r, &out->code)) {
        *err = "startup packet too short";
        return false;
    }
    switch (out->code) {
    case PROTO_SSL_REQUEST:
    case PROTO_GSSENC_REQUEST:
        if (len != 4) {
            *err = "invalid length of encryption request packet";
            return false;
        }
        return true;
    case PROTO_CANCEL_REQUEST:
        if (len != 12 || !preader_u32(&r, &out->cancel_pid) || !preader_u32(&r, &out->cancel_key)) {
            *err = "invalid length of cancel request packet";
            return false;
        }
        return true;
    case PROTO_V3:
        break;
    default:
        if ((out->code >> 16) < 3)
            *err = "unsupported frontend protocol: wedpool speaks protocol 3.0 only";
        else if ((out->code >> 16) == 3)
            *err = "unsupported frontend protocol minor version: wedpool speaks protocol 3.0";
        else
            *err = "invalid startup packet: unknown protocol code";
        return false;
    }
    /* name\0value\0 ... \0 */
    for (;;) {
        const char *name, *value;
        if (!preader_str(&r, &name)) {
            *err = "invalid startup packet layout: expected terminator as last byte";
            return false;
        }
        if (name[0] == '\0')
            break;
        if (!preader_str(&r, &value)) {
            *err = "invalid startup packet layout: parameter without a value";
            return false;
        }
        if (out->nparams >= PROTO_MAX_PARAMS) {
            *err = "too many parameters in startup packet";
            return false;
        }
        out->params[out->nparams].name = name;
        out->params[out->nparams].value = value;
        out->nparams++;
    }
    if (r.pos != len) {
        *err = "invalid startup packet layout: data after terminator";
        return false;
    }
    return true;
}

const char *startup_get(const struct startup_packet *sp, const char *name)
{
    for (int i = 0; i < sp->nparams; i++)
        if (strcmp(sp->params[i].name, name) == 0)
            return sp->params[i].value;
    return NULL;
}

bool proto_parse_error(const uint8_t *body, size_t len, struct error_fields *out)
{
    struct preader r;
    preader_init(&r, body, len);
    out->severity = "ERROR";
    out->sqlstate = "XX000";
    out->message = "";
    for (;;) {
        uint8_t code;
        const char *val;
        if (!preader_u8(&r, &code))
            return false;
        if (code == 0)
            return true;
        if (!preader_str(&r, &val))
            return false;
        if (code == 'S')
            out->severity = val;
        else if (code == 'C')
            out->sqlstate = val;
        else if (code == 'M')
            out->message = val;
    }
}
