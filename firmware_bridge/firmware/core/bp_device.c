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
    p[pos++] = (uint8_t)(BP_CAP_HEARTBEAT * (cfg->heartbeat_ms != 0) | BP_CAP_FAILSAFE * (cfg->failsafe_ms != 0) |
                         BP_CAP_ONCE);
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

uint8_t bp_device_was_applied(const bp_device_t *dev, uint8_t seq)
{
    if (!dev->host_seq_known || (uint8_t)(dev->host_seq - seq) > BP_ONCE_HORIZON) {
        return 0;
    }
    return (uint8_t)((dev->applied[seq >> 3] >> (seq & 7u)) & 1u);
}

void bp_device_send_heartbeat(bp_device_t *dev, uint32_t now_ms)
{
    uint8_t *p = payload_area(dev);
    uint8_t n = 5, i;
    bp_put_u32(p, now_ms);
    p[4] = dev->failsafe_active ? BP_HB_FLAG_FAILSAFE : 0;
    if (dev->host_once) {
        /* Which of the last 64 host seqs were applied commands: bit i is seq host_seq - i. */
        p[5] = dev->host_seq;
        for (i = 0; i < 8; i++) {
            p[6 + i] = 0;
        }
        for (i = 0; i < 64; i++) {
            if (bp_device_was_applied(dev, (uint8_t)(dev->host_seq - i))) {
                p[6 + (i >> 3)] = (uint8_t)(p[6 + (i >> 3)] | (1u << (i & 7u)));
            }
        }
        n = 14;
    }
    send_reply(dev, BP_HEARTBEAT, n);
    dev->last_hb_ms = now_ms;
}

void bp_device_send_ack(bp_device_t *dev, uint8_t acked_seq, uint8_t status)
{
    uint8_t *p = payload_area(dev);
    p[0] = acked_seq;
    p[1] = status;
    /* 3 bytes, not 2: a frame that loses its last stuffed byte can still pass the CRC (when the
       byte before the CRC equals the CRC's high byte), and 2 would then read as a valid 1-byte ACK. */
    p[2] = (uint8_t)(status ^ 0xFFu);
    /* A host without BP_CAP_ONCE only knows the 1-byte ACK; the duplicate is still not applied. */
    send_reply(dev, BP_ACK, dev->host_once ? 3 : 1);
}

void bp_device_send_answer(bp_device_t *dev, uint8_t acked_seq, uint8_t reason)
{
    uint8_t *p = payload_area(dev);
    if (reason == 0) {
        bp_device_send_ack(dev, acked_seq, BP_ACK_APPLIED);
        return;
    }
    p[0] = acked_seq;
    p[1] = reason;
    dev->nacks++;
    send_reply(dev, BP_NACK, 2);
}

/* Track the newest host seq. A frame up to 191 ahead moves it on (frames may have been lost) and
   clears the applied bits of the seqs it passes, which start a new lap; a frame at most 64 behind
   is a retry and leaves it. */
static void track_host_seq(bp_device_t *dev, uint8_t seq)
{
    uint8_t ahead = (uint8_t)(seq - dev->host_seq);
    if (!dev->host_seq_known) {
        uint8_t i;
        for (i = 0; i < sizeof dev->applied; i++) {
            dev->applied[i] = 0;
        }
        dev->host_seq = seq;
        dev->host_seq_known = 1;
        return;
    }
    if (ahead == 0 || ahead >= 192u) {
        return;
    }
    while (dev->host_seq != seq) {
        dev->host_seq++;
        dev->applied[dev->host_seq >> 3] = (uint8_t)(dev->applied[dev->host_seq >> 3] & ~(1u << (dev->host_seq & 7u)));
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
    /* The host resends the same frame (same seq) when it missed the ACK: apply it once only, so
       that a command with an effect ("move 10 cm") is not carried out twice. */
    if (bp_device_was_applied(dev, seq)) {
        dev->duplicates++;
        bp_device_send_ack(dev, seq, BP_ACK_DUPLICATE);
        return;
    }
    dev->applied[seq >> 3] = (uint8_t)(dev->applied[seq >> 3] | (1u << (seq & 7u)));
    dev->applying_seq = seq;
    dev->cfg->apply(dev->cfg->ctx, id, value);
    dev->applying_seq = -1;
    dev->commands++;
    bp_device_send_ack(dev, seq, BP_ACK_APPLIED);
}

void bp_device_init(bp_device_t *dev, const bp_device_config_t *cfg, uint32_t now_ms)
{
    uint8_t i;
    dev->cfg = cfg;
    for (i = 0; i < sizeof dev->applied; i++) {
        dev->applied[i] = 0;
    }
    bp_decoder_init(&dev->rx);
    dev->tx_seq = 0;
    dev->host_seen = 0;
    dev->failsafe_active = 0;
    dev->last_rx_ms = now_ms;
    dev->last_hb_ms = now_ms;
    dev->commands = 0;
    dev->nacks = 0;
    dev->failsafes = 0;
    dev->duplicates = 0;
    dev->host_seq = 0;
    dev->host_seq_known = 0;
    dev->host_once = 0;
    dev->applying_seq = -1;
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
    if (f.type == BP_HELLO) {
        /* A host HELLO starts a new session: its seq counter may have restarted. */
        dev->host_once = (uint8_t)(f.len > 4 && (f.payload[4] & BP_CAP_ONCE) != 0);
        dev->host_seq_known = 0;
    }
    track_host_seq(dev, f.seq);
    switch (f.type) {
    case BP_HELLO:
        bp_device_send_hello(dev);
        break;
    case BP_COMMAND:
        handle_command(dev, &f);
        break;
    case BP_HEARTBEAT:
        /* Its arrival refreshed last_rx_ms; a status request is answered at once. */
        if (f.payload[4] & BP_HB_FLAG_STATUS_REQUEST) {
            bp_device_send_heartbeat(dev, now_ms);
        }
        break;
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
