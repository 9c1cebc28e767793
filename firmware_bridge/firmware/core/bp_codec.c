/* bp_codec: CRC-16/CCITT-FALSE, COBS and frame checks. See bp_codec.h. */
#include "bp_codec.h"

uint16_t bp_crc16_update(uint16_t crc, uint8_t byte)
{
    /* Bitwise rather than table-driven: 512 bytes of table would be a quarter of an Uno's RAM. */
    uint8_t i;
    crc ^= (uint16_t)((uint16_t)byte << 8);
    for (i = 0; i < 8; i++) {
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t bp_crc16(const uint8_t *data, uint16_t len)
{
    uint16_t crc = 0xFFFFu;
    uint16_t i;
    for (i = 0; i < len; i++) {
        crc = bp_crc16_update(crc, data[i]);
    }
    return crc;
}

uint16_t bp_cobs_encode(const uint8_t *src, uint16_t len, uint8_t *dst, uint16_t cap)
{
    /* The reference algorithm (Cheshire & Baker); every write is bounds-checked against cap. */
    uint16_t out = 1;     /* next write position */
    uint16_t code_at = 0; /* where the current block's code byte goes */
    uint8_t code = 1;
    uint16_t i;
    if (cap == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (src[i] != 0) {
            if (out >= cap) {
                return 0;
            }
            dst[out++] = src[i];
            code++;
        }
        if (src[i] == 0 || code == 0xFF) {
            dst[code_at] = code;
            code = 1;
            code_at = out;
            /* After a full run that ends the input, no further block is needed. */
            if (src[i] == 0 || i + 1u < len) {
                if (out >= cap) {
                    return 0;
                }
                out++;
            }
        }
    }
    if (code_at < out) {
        dst[code_at] = code;
    }
    return out;
}

void bp_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

uint32_t bp_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void bp_put_i32(uint8_t *p, int32_t v)
{
    bp_put_u32(p, (uint32_t)v);
}

int32_t bp_get_i32(const uint8_t *p)
{
    uint32_t u = bp_get_u32(p);
    /* Two's complement conversion without implementation-defined casts. */
    if (u & 0x80000000u) {
        return -(int32_t)(~u) - 1;
    }
    return (int32_t)u;
}

static int check_name(const uint8_t *p, uint8_t len, uint8_t *pos)
{
    uint8_t n;
    if (*pos >= len) {
        return 0;
    }
    n = p[*pos];
    if (n < 1 || n > 32 || (uint16_t)*pos + 1u + n > len) {
        return 0;
    }
    *pos = (uint8_t)(*pos + 1u + n);
    return 1;
}

int bp_check_payload(uint8_t type, const uint8_t *p, uint8_t len)
{
    uint8_t pos, i, n;
    switch (type) {
    case BP_SENSOR:
        if (len < 5) {
            return BP_ERR_PAYLOAD;
        }
        n = p[4];
        return (n <= 16 && len == 5u + 4u * n) ? BP_OK : BP_ERR_PAYLOAD;
    case BP_COMMAND:
        return len == 5 ? BP_OK : BP_ERR_PAYLOAD;
    case BP_ACK: /* acked_seq, then (to a host with the "once" capability) status and its complement */
        if (len == 3) {
            return (uint8_t)(p[1] + p[2]) == 0xFFu ? BP_OK : BP_ERR_PAYLOAD; /* p[2] == ~p[1] */
        }
        return len == 1 ? BP_OK : BP_ERR_PAYLOAD;
    case BP_NACK:
        return len == 2 ? BP_OK : BP_ERR_PAYLOAD;
    case BP_HEARTBEAT: /* uptime, flags, then (the "once" form) host_seq and a 64-bit applied map */
        return (len == 5 || len == 14) ? BP_OK : BP_ERR_PAYLOAD;
    case BP_HELLO:
        pos = 5;
        if (len < 5 || !check_name(p, len, &pos) || pos >= len) {
            return BP_ERR_PAYLOAD;
        }
        n = p[pos++];
        for (i = 0; i < n; i++) {
            pos++; /* exponent */
            if (!check_name(p, len, &pos)) {
                return BP_ERR_PAYLOAD;
            }
        }
        if (pos >= len) {
            return BP_ERR_PAYLOAD;
        }
        n = p[pos++];
        for (i = 0; i < n; i++) {
            if ((uint16_t)pos + 8u > len) {
                return BP_ERR_PAYLOAD;
            }
            pos = (uint8_t)(pos + 8u);
            if (!check_name(p, len, &pos)) {
                return BP_ERR_PAYLOAD;
            }
        }
        return pos == len ? BP_OK : BP_ERR_PAYLOAD;
    default:
        return BP_ERR_TYPE;
    }
}

int bp_check_frame(const uint8_t *frame, uint16_t len, bp_frame_t *out)
{
    uint16_t crc;
    int rc;
    if (len < BP_HEADER_BYTES + BP_CRC_BYTES) {
        return BP_ERR_SHORT;
    }
    crc = (uint16_t)(((uint16_t)frame[len - 2] << 8) | frame[len - 1]);
    if (bp_crc16(frame, (uint16_t)(len - 2)) != crc) {
        return BP_ERR_CRC;
    }
    if (frame[0] != BP_PROTOCOL_VERSION) {
        return BP_ERR_VERSION;
    }
    if (frame[1] < BP_HELLO || frame[1] > BP_HEARTBEAT) {
        return BP_ERR_TYPE;
    }
    out->type = frame[1];
    out->seq = frame[2];
    out->len = (uint8_t)(len - BP_HEADER_BYTES - BP_CRC_BYTES);
    out->payload = frame + BP_HEADER_BYTES;
    rc = bp_check_payload(out->type, out->payload, out->len);
    return rc;
}

uint16_t bp_build_frame(uint8_t type, uint8_t seq, const uint8_t *payload, uint8_t len,
                        uint8_t *frame, uint16_t cap)
{
    uint16_t crc, i;
    if (len > BP_MAX_PAYLOAD || cap < (uint16_t)(len + BP_HEADER_BYTES + BP_CRC_BYTES)) {
        return 0;
    }
    frame[0] = BP_PROTOCOL_VERSION;
    frame[1] = type;
    frame[2] = seq;
    for (i = 0; i < len; i++) {
        frame[BP_HEADER_BYTES + i] = payload[i];
    }
    crc = bp_crc16(frame, (uint16_t)(len + BP_HEADER_BYTES));
    frame[BP_HEADER_BYTES + len] = (uint8_t)(crc >> 8);
    frame[BP_HEADER_BYTES + len + 1] = (uint8_t)crc;
    return (uint16_t)(len + BP_HEADER_BYTES + BP_CRC_BYTES);
}

static void decoder_restart(bp_decoder_t *d)
{
    /* code 0xFF means: no implied zero before the first block */
    d->len = 0;
    d->stuffed = 0;
    d->remaining = 0;
    d->code = 0xFF;
    d->error = BP_OK;
}

void bp_decoder_init(bp_decoder_t *d)
{
    uint8_t i;
    decoder_restart(d);
    d->frames_ok = 0;
    for (i = 0; i <= BP_ERR_PAYLOAD; i++) {
        d->errors[i] = 0;
    }
}

int bp_decoder_feed(bp_decoder_t *d, uint8_t byte, bp_frame_t *out)
{
    int rc;
    if (byte == 0) {
        if (d->stuffed == 0 && d->error == BP_OK) {
            return -1; /* idle delimiter between frames */
        }
        rc = d->error;
        if (rc == BP_OK && d->remaining != 0) {
            rc = BP_ERR_COBS; /* the last block claimed more bytes than came */
        }
        if (rc == BP_OK) {
            rc = bp_check_frame(d->buf, d->len, out);
        }
        if (rc == BP_OK) {
            d->frames_ok++;
        } else {
            d->errors[rc]++;
        }
        /* The decoded frame stays in buf until the next byte is fed; only the state restarts. */
        decoder_restart(d);
        return rc;
    }
    if (d->error != BP_OK) {
        return -1; /* skipping to the next delimiter */
    }
    if (d->stuffed >= BP_MAX_WIRE - 1u) {
        d->error = BP_ERR_OVERSIZE;
        return -1;
    }
    d->stuffed++;
    if (d->remaining == 0) {
        /* A code byte: the previous block ended with an implied zero unless it was a full run. */
        if (d->code != 0xFF) {
            d->buf[d->len++] = 0;
        }
        d->code = byte;
        d->remaining = (uint8_t)(byte - 1u);
    } else {
        d->buf[d->len++] = byte;
        d->remaining--;
    }
    return -1;
}
