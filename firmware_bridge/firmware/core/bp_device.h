/*
 * bp_device: the device side of the protocol, independent of any board.
 *
 * The board code supplies a config (names, channels, actuators) and two callbacks: write bytes to
 * the serial port and apply an actuator value. It calls bp_device_rx() for every received byte,
 * bp_device_tick() from its main loop, and bp_device_send_sensor() when it has a reading.
 * Everything is static: sizeof(bp_device_t) is the whole RAM cost of the protocol.
 */
#ifndef BP_DEVICE_H
#define BP_DEVICE_H

#include <stdint.h>
#include "bp_codec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BP_MAX_ACTUATORS 8u
#define BP_CAP_HEARTBEAT 0x01u
#define BP_CAP_FAILSAFE 0x02u
#define BP_CAP_ONCE 0x04u          /* applies a command once per seq, reports duplicates and status */
#define BP_HB_FLAG_FAILSAFE 0x01u
#define BP_HB_FLAG_STATUS_REQUEST 0x02u /* in a host HEARTBEAT: answer with a HEARTBEAT now */
#define BP_ACK_APPLIED 0u
#define BP_ACK_DUPLICATE 1u           /* applied earlier under this seq, not applied again */
/* A retry is recognised while its seq is at most this many frames behind the newest host seq. */
#define BP_ONCE_HORIZON 64u

enum bp_nack_reason {
    BP_NACK_UNKNOWN_ACTUATOR = 1,
    BP_NACK_OUT_OF_RANGE = 2,
    BP_NACK_BAD_PAYLOAD = 3,
    BP_NACK_UNSUPPORTED = 4
};

typedef struct {
    const char *name;  /* unit in the name: "distance_cm" */
    int8_t exponent;   /* value = raw * 10^exponent */
} bp_channel_t;

typedef struct {
    const char *name;
    int32_t min_value;
    int32_t max_value;
    int32_t safe_value; /* applied by the failsafe */
} bp_actuator_t;

typedef struct {
    const char *name;
    uint8_t version[3];
    const bp_channel_t *channels;
    uint8_t n_channels;
    const bp_actuator_t *actuators;
    uint8_t n_actuators;
    uint16_t heartbeat_ms;   /* 0: never send heartbeats */
    uint16_t failsafe_ms;    /* 0: no failsafe; else stop when the host is silent this long */
    void (*write)(void *ctx, const uint8_t *data, uint16_t len);
    void (*apply)(void *ctx, uint8_t actuator, int32_t value);
    void *ctx;
} bp_device_config_t;

typedef struct {
    const bp_device_config_t *cfg;
    bp_decoder_t rx;
    uint8_t tx[BP_MAX_FRAME];  /* unstuffed frame being sent */
    uint8_t tx_seq;
    uint8_t host_seen;         /* the failsafe arms only once a host has spoken */
    uint8_t failsafe_active;
    uint32_t last_rx_ms;
    uint32_t last_hb_ms;
    uint16_t commands;
    uint16_t nacks;
    uint16_t failsafes;
    uint16_t duplicates;       /* commands answered as duplicates, not applied again */
    /* Exactly-once: applied[s / 8] bit s % 8 is set when the command with seq s was applied.
       A bit is cleared as the host's seq counter passes it again, so it describes this lap only. */
    uint8_t applied[32];
    uint8_t host_seq;          /* newest seq seen from the host */
    uint8_t host_seq_known;
    uint8_t host_once;         /* the host's HELLO had BP_CAP_ONCE: send the long ACK and HEARTBEAT */
    int16_t applying_seq;      /* seq of the command cfg->apply is running for; -1 for the failsafe */
} bp_device_t;

void bp_device_init(bp_device_t *dev, const bp_device_config_t *cfg, uint32_t now_ms);
void bp_device_rx(bp_device_t *dev, uint8_t byte, uint32_t now_ms);
void bp_device_tick(bp_device_t *dev, uint32_t now_ms);
void bp_device_send_hello(bp_device_t *dev);
void bp_device_send_sensor(bp_device_t *dev, uint32_t now_ms, const int32_t *values, uint8_t n);
void bp_device_send_heartbeat(bp_device_t *dev, uint32_t now_ms);
/* ACK (reason 0) or NACK (enum bp_nack_reason) for the command with sequence number acked_seq. */
void bp_device_send_answer(bp_device_t *dev, uint8_t acked_seq, uint8_t reason);
/* ACK with status BP_ACK_APPLIED or BP_ACK_DUPLICATE (the 3-byte form only to a host with BP_CAP_ONCE). */
void bp_device_send_ack(bp_device_t *dev, uint8_t acked_seq, uint8_t status);
/* Whether the command with this seq was applied (within BP_ONCE_HORIZON of the newest host seq). */
uint8_t bp_device_was_applied(const bp_device_t *dev, uint8_t seq);
/* Stream an unstuffed frame through COBS to cfg->write, then the delimiter; no extra buffer. */
void bp_device_write_frame(bp_device_t *dev, const uint8_t *frame, uint16_t len);

#ifdef __cplusplus
}
#endif
#endif
