/* bp_device: handshake, commands with ACK/NACK, heartbeat and failsafe. See bp_device.h. */
#include "bp_device.h"

static uint8_t name_len(const char *s)
{
    uint8_t n = 0;
    while (s[n] != '\0' && n < 32) {
        n++;
    }
    return n;
}

void bp_device_write_frame(bp_device_t *dev, const uint8_t *frame, uint16_t len)
{
    /* COBS on the fly: find each block's end, write its code byte, then its bytes. */
    uint16_t start = 0;
    const uint8_t zero = 0;
    for (;;) {
        uint16_t end = start;
        uint8_t code;
        while (end < len && frame[end] != 0 && (uint16_t)(end - start) < 254u) {
            end++;
        }
        code = (uint8_t)(end - start + 1u);
        dev->cfg->write(dev->cfg->ctx, &code, 1);
        if (end > start) {
            dev->cfg->write(dev->cfg->ctx, frame + start, (uint16_t)(end - start));
        }
        if (end >= len) {
            break;
        }
        if (frame[end] == 0) {
            start = (uint16_t)(end + 1u);
        } else {
            start = end; /* a full 254-byte run: no zero consumed */
        }
    }
    dev->cfg->write(dev->cfg->ctx, &zero, 1);
}

static void send(bp_device_t *dev, uint8_t type, uint8_t seq, const uint8_t *payload, uint8_t n)
{
    /* The payload is assembled in tx itself after the header, so no second buffer is needed. */
    uint16_t len = bp_build_frame(type, seq, payload, n, dev->tx, sizeof dev->tx);
    if (len != 0) {
        bp_device_write_frame(dev, dev->tx, len);
    }
}

static uint8_t *payload_area(bp_device_t *dev)
{
    return dev->tx + BP_HEADER_BYTES;
}

static void send_reply(bp_device_t *dev, uint8_t type, uint8_t n)
{
    /* bp_build_frame copies the payload onto itself (same address): harmless. */
    send(dev, type, dev->tx_seq++, payload_area(dev), n);
}

void bp_device_send_hello(bp_device_t *dev)
{
    const bp_device_config_t *cfg = dev->cfg;
    uint8_t *p = payload_area(dev);
    uint8_t pos = 0, i, j, n;
    p[pos++] = BP_PROTOCOL_VERSION;
    p[pos++] = cfg->version[0];
    p[pos++] = cfg->version[1];
    p[pos++] = cfg->version[2];
    p[pos++] = (uint8_t)(BP_CAP_HEARTBEAT * (cfg->heartbeat_ms != 0) | BP_CAP_FAILSAFE * (cfg->failsafe_ms != 0));
    n = name_len(cfg->name);
    p[pos++] = n;
    for (j = 0; j < n; j++) {
        p[pos++] = (uint8_t)cfg->name[j];
    }
    p[pos++] = cfg->n_channels;
    for (i = 0; i < cfg->n_channels; i++) {
        n = name_len(cfg->channels[i].name);
        if ((uint16_t)pos + 2u + n > BP_MAX_PAYLOAD) {
            return; /* config too large for one HELLO: a build-time mistake, caught by the host tests */
        }
        p[pos++] = (uint8_t)cfg->channels[i].exponent;
        p[pos++] = n;
        for (j = 0; j < n; j++) {
            p[pos++] = (uint8_t)cfg->channels[i].name[j];
        }
    }
    p[pos++] = cfg->n_actuators;
    for (i = 0; i < cfg->n_actuators; i++) {
        n = name_len(cfg->actuators[i].name);
        if ((uint16_t)pos + 9u + n > BP_MAX_PAYLOAD) {
            return;
        }
        bp_put_i32(p + pos, cfg->actuators[i].min_value);
        bp_put_i32(p + pos + 4, cfg->actuators[i].max_value);
        pos = (uint8_t)(pos + 8u);
        p[pos++] = n;
        for (j = 0; j < n; j++) {
            p[pos++] = (uint8_t)cfg->actuators[i].name[j];
        }
    }
    send_reply(dev, BP_HELLO, pos);
}

void bp_device_send_sensor(bp_device_t *dev, uint32_t now_ms, const int32_t *values, uint8_t n)
{
    uint8_t *p = payload_area(dev);
    uint8_t i;
    if (n > 16) {
        n = 16;
    }
    bp_put_u32(p, now_ms);
    p[4] = n;
    for (i = 0; i < n; i++) {
        bp_put_i32(p + 5 + 4 * i, values[i]);
    }
    send_reply(dev, BP_SENSOR, (uint8_t)(5u + 4u * n));
}

void bp_device_send_heartbeat(bp_device_t *dev, uint32_t now_ms)
{
    uint8_t *p = payload_area(dev);
    bp_put_u32(p, now_ms);
    p[4] = dev->failsafe_active ? BP_HB_FLAG_FAILSAFE : 0;
    send_reply(dev, BP_HEARTBEAT, 5);
    dev->last_hb_ms = now_ms;
}

void bp_device_send_answer(bp_device_t *dev, uint8_t acked_seq, uint8_t reason)
{
    uint8_t *p = payload_area(dev);
    p[0] = acked_seq;
    if (reason == 0) {
        send_reply(dev, BP_ACK, 1);
    } else {
        p[1] = reason;
        dev->nacks++;
        send_reply(dev, BP_NACK, 2);
    }
}

static void handle_command(bp_device_t *dev, const bp_frame_t *f)
{
    uint8_t id = f->payload[0];
    int32_t value = bp_get_i32(f->payload + 1);
    const bp_actuator_t *act;
    uint8_t seq = f->seq; /* f points into the rx buffer; keep what we need before replying */
    if (id >= dev->cfg->n_actuators) {
        bp_device_send_answer(dev, seq, BP_NACK_UNKNOWN_ACTUATOR);
        return;
    }
    act = &dev->cfg->actuators[id];
    if (value < act->min_value || value > act->max_value) {
        bp_device_send_answer(dev, seq, BP_NACK_OUT_OF_RANGE);
        return;
    }
    /* Setting a value is idempotent, so a retried command that arrives twice is harmless. */
    dev->cfg->apply(dev->cfg->ctx, id, value);
    dev->commands++;
    bp_device_send_answer(dev, seq, 0);
}

void bp_device_init(bp_device_t *dev, const bp_device_config_t *cfg, uint32_t now_ms)
{
    dev->cfg = cfg;
    bp_decoder_init(&dev->rx);
    dev->tx_seq = 0;
    dev->host_seen = 0;
    dev->failsafe_active = 0;
    dev->last_rx_ms = now_ms;
    dev->last_hb_ms = now_ms;
    dev->commands = 0;
    dev->nacks = 0;
    dev->failsafes = 0;
}

void bp_device_rx(bp_device_t *dev, uint8_t byte, uint32_t now_ms)
{
    bp_frame_t f;
    int rc = bp_decoder_feed(&dev->rx, byte, &f);
    if (rc != BP_OK) {
        return; /* nothing complete yet, or a corrupt frame (counted in dev->rx) */
    }
    dev->host_seen = 1;
    dev->last_rx_ms = now_ms;
    dev->failsafe_active = 0;
    switch (f.type) {
    case BP_HELLO:
        bp_device_send_hello(dev);
        break;
    case BP_COMMAND:
        handle_command(dev, &f);
        break;
    case BP_HEARTBEAT:
        break; /* its arrival refreshed last_rx_ms */
    default:
        break; /* SENSOR/ACK/NACK from a host: ignored */
    }
}

void bp_device_tick(bp_device_t *dev, uint32_t now_ms)
{
    const bp_device_config_t *cfg = dev->cfg;
    uint8_t i;
    /* Unsigned subtraction keeps working across the 49-day wrap of a 32-bit millisecond clock. */
    if (cfg->failsafe_ms != 0 && dev->host_seen && !dev->failsafe_active &&
        (uint32_t)(now_ms - dev->last_rx_ms) >= cfg->failsafe_ms) {
        for (i = 0; i < cfg->n_actuators; i++) {
            cfg->apply(cfg->ctx, i, cfg->actuators[i].safe_value);
        }
        dev->failsafe_active = 1;
        dev->failsafes++;
        bp_device_send_heartbeat(dev, now_ms); /* tell the host at once */
    }
    if (cfg->heartbeat_ms != 0 && (uint32_t)(now_ms - dev->last_hb_ms) >= cfg->heartbeat_ms) {
        bp_device_send_heartbeat(dev, now_ms);
    }
}
