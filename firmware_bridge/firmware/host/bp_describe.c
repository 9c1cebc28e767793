/* Canonical rendering of frames (host only: uses snprintf). */
#include <stdio.h>
#include <string.h>
#include "bp_describe.h"

const char *bp_error_name(int rc)
{
    static const char *const names[] = {"ok", "cobs", "short", "oversize", "crc", "version", "type", "payload"};
    if (rc < 0 || rc > BP_ERR_PAYLOAD) {
        return "unknown";
    }
    return names[rc];
}

static size_t put_name(const unsigned char *p, size_t *pos, char *out, size_t at, size_t cap)
{
    size_t n = p[(*pos)++];
    if (at + n + 1 < cap) {
        memcpy(out + at, p + *pos, n);
        at += n;
        out[at] = '\0';
    }
    *pos += n;
    return at;
}

#define APPEND(...) (at += (size_t)snprintf(out + at, at < cap ? cap - at : 0, __VA_ARGS__))

void bp_describe(const bp_frame_t *f, char *out, size_t cap)
{
    static const char *const types[] = {"?", "HELLO", "SENSOR", "COMMAND", "ACK", "NACK", "HEARTBEAT"};
    const unsigned char *p = f->payload;
    size_t at = 0, pos, i, n;
    APPEND("%s seq=%u", types[f->type <= 6 ? f->type : 0], (unsigned)f->seq);
    switch (f->type) {
    case BP_HELLO:
        APPEND(" proto=%u fw=", (unsigned)p[0]);
        pos = 5;
        at = put_name(p, &pos, out, at, cap);
        APPEND("/%u.%u.%u caps=0x%02x channels=[", p[1], p[2], p[3], p[4]);
        n = p[pos++];
        for (i = 0; i < n; i++) {
            int exponent = (int)(signed char)p[pos++];
            if (i) {
                APPEND(",");
            }
            at = put_name(p, &pos, out, at, cap);
            APPEND("@%d", exponent);
        }
        APPEND("] actuators=[");
        n = p[pos++];
        for (i = 0; i < n; i++) {
            long lo = (long)bp_get_i32(p + pos), hi = (long)bp_get_i32(p + pos + 4);
            pos += 8;
            if (i) {
                APPEND(",");
            }
            at = put_name(p, &pos, out, at, cap);
            APPEND(":%ld..%ld", lo, hi);
        }
        APPEND("]");
        break;
    case BP_SENSOR:
        APPEND(" t_ms=%lu values=[", (unsigned long)bp_get_u32(p));
        for (i = 0; i < p[4]; i++) {
            APPEND(i ? ",%ld" : "%ld", (long)bp_get_i32(p + 5 + 4 * i));
        }
        APPEND("]");
        break;
    case BP_COMMAND:
        APPEND(" actuator=%u value=%ld", p[0], (long)bp_get_i32(p + 1));
        break;
    case BP_ACK:
        APPEND(" ack=%u", p[0]);
        if (f->len == 3) {
            APPEND(" status=%u", p[1]);
        }
        break;
    case BP_NACK:
        APPEND(" ack=%u reason=%u", p[0], p[1]);
        break;
    case BP_HEARTBEAT:
        APPEND(" uptime_ms=%lu flags=0x%02x", (unsigned long)bp_get_u32(p), p[4]);
        if (f->len == 14) {
            APPEND(" host_seq=%u applied=0x", p[5]);
            for (i = 0; i < 8; i++) {
                APPEND("%02x", p[13 - i]); /* little-endian on the wire, most significant first here */
            }
        }
        break;
    default:
        break;
    }
}

int bp_from_hex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = 0;
    unsigned int byte;
    while (hex[0] && hex[1] && hex[0] != '"' && hex[0] != '\n') {
        if (n >= cap || sscanf(hex, "%2x", &byte) != 1) {
            return -1;
        }
        out[n++] = (unsigned char)byte;
        hex += 2;
    }
    return (int)n;
}

void bp_to_hex(const unsigned char *data, size_t len, char *out)
{
    size_t i;
    for (i = 0; i < len; i++) {
        sprintf(out + 2 * i, "%02x", data[i]);
    }
    out[2 * len] = '\0';
}
