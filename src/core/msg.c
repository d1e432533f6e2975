/* msg.c — the message iterator (see msg.h). */
#include "msg.h"

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

enum msg_status msg_next(const uint8_t *p, size_t avail, uint32_t max_len, struct msg *m)
{
    if (avail < MSG_HEADER)
        return MSG_NEED_MORE;
    uint32_t len = get_u32(p + 1);
    m->type = p[0];
    if (len < 4)
        return MSG_BAD_LEN;
    if (len > max_len)
        return MSG_TOO_LONG;
    m->total = len + 1;
    m->body = p + MSG_HEADER;
    m->whole = avail >= m->total;
    m->have = (uint32_t)((m->whole ? m->total : avail) - MSG_HEADER);
    return MSG_OK;
}

enum msg_status msg_next_startup(const uint8_t *p, size_t avail, uint32_t max_len, uint32_t *total)
{
    if (avail < 4)
        return MSG_NEED_MORE;
    uint32_t len = get_u32(p);
    if (len < 8)
        return MSG_BAD_LEN;
    if (len > max_len)
        return MSG_TOO_LONG;
    *total = len;
    return MSG_OK;
}

bool msg_frontend_type_ok(uint8_t type)
{
    switch (type) {
    case 'Q': /* Query */
    case 'P': /* Parse */
    case 'B': /* Bind */
    case 'E': /* Execute */
    case 'D': /* Describe */
    case 'C': /* Close */
    case 'S': /* Sync */
    case 'H': /* Flush */
    case 'F': /* FunctionCall */
    case 'X': /* Terminate */
    case 'd': /* CopyData */
    case 'c': /* CopyDone */
    case 'f': /* CopyFail */
        return true;
    default:
        return false;
    }
}
