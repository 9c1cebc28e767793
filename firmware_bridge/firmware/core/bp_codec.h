/*
 * bp_codec: frame layer of the edge_sdk serial protocol (docs/serial-protocol.md).
 *
 * Portable C99, no malloc, no stdio: the same file builds for an ATmega328P and for the host.
 * A frame before stuffing is  version | type | seq | payload | crc16 (big-endian),
 * COBS-encoded and terminated by one 0x00.
 */
#ifndef BP_CODEC_H
#define BP_CODEC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BP_PROTOCOL_VERSION 1u
#define BP_MAX_PAYLOAD 96u
#define BP_HEADER_BYTES 3u
#define BP_CRC_BYTES 2u
#define BP_MAX_FRAME (BP_HEADER_BYTES + BP_MAX_PAYLOAD + BP_CRC_BYTES)
/* COBS adds one code byte per 254 data bytes (plus one); the delimiter is one more. */
#define BP_MAX_WIRE (BP_MAX_FRAME + BP_MAX_FRAME / 254u + 2u)

enum bp_type {
    BP_HELLO = 1,
    BP_SENSOR = 2,
    BP_COMMAND = 3,
    BP_ACK = 4,
    BP_NACK = 5,
    BP_HEARTBEAT = 6
};

/* Why a frame was rejected; the names match firmware_bridge.errors.ProtocolError.kind. */
enum bp_error {
    BP_OK = 0,
    BP_ERR_COBS,
    BP_ERR_SHORT,
    BP_ERR_OVERSIZE,
    BP_ERR_CRC,
    BP_ERR_VERSION,
    BP_ERR_TYPE,
    BP_ERR_PAYLOAD
};

typedef struct {
    uint8_t type;
    uint8_t seq;
    uint8_t len; /* payload length */
    const uint8_t *payload;
} bp_frame_t;

/* Streaming decoder: feed bytes one at a time; frames are decoded in place (no second buffer). */
typedef struct {
    uint8_t buf[BP_MAX_FRAME];
    uint8_t len;        /* decoded bytes in buf */
    uint8_t stuffed;    /* stuffed bytes seen in this frame (for the oversize rule) */
    uint8_t remaining;  /* data bytes left in the current COBS block */
    uint8_t code;       /* code byte of the current block */
    uint8_t error;      /* enum bp_error latched until the next delimiter */
    uint16_t frames_ok;
    uint16_t errors[BP_ERR_PAYLOAD + 1];
} bp_decoder_t;

uint16_t bp_crc16(const uint8_t *data, uint16_t len);
uint16_t bp_crc16_update(uint16_t crc, uint8_t byte);

/* COBS-encode len bytes of src into dst (capacity cap); returns encoded length or 0 if it does not fit. */
uint16_t bp_cobs_encode(const uint8_t *src, uint16_t len, uint8_t *dst, uint16_t cap);

void bp_decoder_init(bp_decoder_t *d);
/*
 * Feed one byte. Returns BP_OK with *out filled when a valid frame just ended, another enum
 * bp_error when a corrupt frame just ended (already counted), or -1 when no frame ended.
 * out->payload points into the decoder and stays valid until the next call.
 */
int bp_decoder_feed(bp_decoder_t *d, uint8_t byte, bp_frame_t *out);

/* Check an unstuffed frame (header, CRC, type, payload layout). */
int bp_check_frame(const uint8_t *frame, uint16_t len, bp_frame_t *out);
/* Check that a payload length fits the layout of its type. */
int bp_check_payload(uint8_t type, const uint8_t *payload, uint8_t len);

/* Build an unstuffed frame (header, payload, CRC) into frame; returns its length or 0. */
uint16_t bp_build_frame(uint8_t type, uint8_t seq, const uint8_t *payload, uint8_t len,
                        uint8_t *frame, uint16_t cap);

/* Little-endian field helpers, independent of the CPU's byte order. */
void bp_put_u32(uint8_t *p, uint32_t v);
uint32_t bp_get_u32(const uint8_t *p);
void bp_put_i32(uint8_t *p, int32_t v);
int32_t bp_get_i32(const uint8_t *p);

#ifdef __cplusplus
}
#endif
#endif
