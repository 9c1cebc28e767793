/*
 * bp_vectors: the C side of the shared test vectors and of the Python<->C interop checks.
 *
 *   bp_vectors check FILE   run every vector in FILE (protocol_v1.json: one vector per line)
 *   bp_vectors decode       stdin: wire hex per line  -> stdout: canonical text or "reject <kind>"
 *   bp_vectors encode       stdin: canonical per line -> stdout: wire hex built by the C core
 *   bp_vectors stream       stdin: raw bytes          -> stdout: canonical per frame, then counters
 *
 * A "device" vector is a session: the host's frames are fed to a bp_device configured as the seek
 * robot, and its answers and the actuator values it applied must be exactly the expected ones
 * (this is where a retried command must be answered as a duplicate and not applied again).
 *
 * Encoding goes through bp_device (the code that runs on the MCU), not a test-only encoder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bp_codec.h"
#include "bp_device.h"
#include "bp_describe.h"

#define LINE_MAX_BYTES 4096

typedef struct {
    unsigned char data[1024];
    size_t len;
} capture_t;

static void capture_write(void *ctx, const uint8_t *data, uint16_t len)
{
    capture_t *c = (capture_t *)ctx;
    if (c->len + len <= sizeof c->data) {
        memcpy(c->data + c->len, data, len);
        c->len += len;
    }
}

static void ignore_apply(void *ctx, uint8_t actuator, int32_t value)
{
    (void)ctx;
    (void)actuator;
    (void)value;
}

static char applied_log[256];

static void log_apply(void *ctx, uint8_t actuator, int32_t value)
{
    size_t at = strlen(applied_log);
    (void)ctx;
    snprintf(applied_log + at, sizeof applied_log - at, "%s%u=%ld", at ? ";" : "", actuator, (long)value);
}

/* Feed a host byte stream to the seek robot's core; its output goes to cap, applies to applied_log. */
static void run_device(const unsigned char *host, size_t len, capture_t *cap)
{
    static const bp_channel_t seek_channels[] = {{"distance_cm", -1}};
    static const bp_actuator_t seek_actuators[] = {
        {"motor_left", -1000, 1000, 0}, {"motor_right", -1000, 1000, 0}, {"led", 0, 1, 0}};
    static bp_device_t dev;
    static bp_device_config_t cfg;
    size_t i;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "edge-seek";
    cfg.version[0] = 1;
    cfg.channels = seek_channels;
    cfg.n_channels = 1;
    cfg.actuators = seek_actuators;
    cfg.n_actuators = 3;
    cfg.heartbeat_ms = 250; /* never due: the clock stays at 0 and tick() is not called */
    cfg.failsafe_ms = 1000;
    cfg.write = capture_write;
    cfg.apply = log_apply;
    cfg.ctx = cap;
    cap->len = 0;
    applied_log[0] = '\0';
    bp_device_init(&dev, &cfg, 0);
    for (i = 0; i < len; i++) {
        bp_device_rx(&dev, host[i], 0);
    }
}

/* Decode one wire frame (with delimiter); returns enum bp_error, fills canonical text on success. */
static int decode_wire(const unsigned char *wire, size_t len, char *text, size_t cap)
{
    static bp_decoder_t dec;
    bp_frame_t f;
    size_t i;
    int rc = -1;
    bp_decoder_init(&dec);
    for (i = 0; i < len; i++) {
        int r = bp_decoder_feed(&dec, wire[i], &f);
        if (r >= 0) {
            rc = r;
            if (r == BP_OK) {
                bp_describe(&f, text, cap);
            }
        }
    }
    return rc;
}

/* Extract the string value of "key" from a one-line JSON object; returns 0 if absent. */
static int json_str(const char *line, const char *key, char *out, size_t cap)
{
    char pattern[64];
    const char *start, *end;
    snprintf(pattern, sizeof pattern, "\"%s\": \"", key);
    start = strstr(line, pattern);
    if (!start) {
        return 0;
    }
    start += strlen(pattern);
    end = strchr(start, '"');
    if (!end || (size_t)(end - start) >= cap) {
        return 0;
    }
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 1;
}

static int json_int(const char *line, const char *key, long *out)
{
    char pattern[64];
    const char *start;
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    start = strstr(line, pattern);
    if (!start) {
        return 0;
    }
    *out = strtol(start + strlen(pattern), NULL, 10);
    return 1;
}

/* Parse "name:lo..hi,..." or "name@exp,..." lists of a canonical HELLO. */
static char names[16][40];
static bp_channel_t channels[16];
static bp_actuator_t actuators[BP_MAX_ACTUATORS];

static int encode_canonical(const char *text, capture_t *cap)
{
    static bp_device_t dev;
    static bp_device_config_t cfg;
    static char fw_name[40];
    unsigned seq, a, b, c, d, e;
    unsigned long ul;
    long l;
    memset(&cfg, 0, sizeof cfg);
    cfg.write = capture_write;
    cfg.apply = ignore_apply;
    cfg.ctx = cap;
    cap->len = 0;
    bp_device_init(&dev, &cfg, 0);
    if (sscanf(text, "HELLO seq=%u proto=%u fw=%39[^/]/%u.%u.%u caps=0x%x", &seq, &a, fw_name, &b, &c, &d, &e) == 7) {
        const char *p = strstr(text, "channels=[") + 10;
        int n = 0, consumed;
        char name[40];
        int exponent;
        long lo, hi;
        cfg.name = fw_name;
        cfg.version[0] = (uint8_t)b;
        cfg.version[1] = (uint8_t)c;
        cfg.version[2] = (uint8_t)d;
        cfg.heartbeat_ms = (e & BP_CAP_HEARTBEAT) ? 1 : 0;
        cfg.failsafe_ms = (e & BP_CAP_FAILSAFE) ? 1 : 0;
        while (*p != ']' && sscanf(p, "%39[^@]@%d%n", name, &exponent, &consumed) == 2) {
            strcpy(names[n], name);
            channels[n].name = names[n];
            channels[n].exponent = (int8_t)exponent;
            n++;
            p += consumed + (p[consumed] == ',');
        }
        cfg.channels = channels;
        cfg.n_channels = (uint8_t)n;
        p = strstr(text, "actuators=[") + 11;
        n = 0;
        while (*p != ']' && sscanf(p, "%39[^:]:%ld..%ld%n", name, &lo, &hi, &consumed) == 3) {
            strcpy(names[8 + n], name);
            actuators[n].name = names[8 + n];
            actuators[n].min_value = (int32_t)lo;
            actuators[n].max_value = (int32_t)hi;
            n++;
            p += consumed + (p[consumed] == ',');
        }
        cfg.actuators = actuators;
        cfg.n_actuators = (uint8_t)n;
        dev.tx_seq = (uint8_t)seq;
        bp_device_send_hello(&dev);
    } else if (sscanf(text, "SENSOR seq=%u t_ms=%lu values=[", &seq, &ul) == 2) {
        int32_t values[16];
        int n = 0, consumed;
        const char *p = strchr(text, '[') + 1;
        while (n < 16 && sscanf(p, "%ld%n", &l, &consumed) == 1) {
            values[n++] = (int32_t)l;
            p += consumed + (p[consumed] == ',');
        }
        dev.tx_seq = (uint8_t)seq;
        bp_device_send_sensor(&dev, (uint32_t)ul, values, (uint8_t)n);
    } else if (sscanf(text, "COMMAND seq=%u actuator=%u value=%ld", &seq, &a, &l) == 3) {
        /* The MCU never sends commands: build this one from the codec primitives. */
        uint8_t payload[5], frame[BP_MAX_FRAME];
        uint16_t n;
        payload[0] = (uint8_t)a;
        bp_put_i32(payload + 1, (int32_t)l);
        n = bp_build_frame(BP_COMMAND, (uint8_t)seq, payload, 5, frame, sizeof frame);
        cap->len = bp_cobs_encode(frame, n, cap->data, sizeof cap->data);
        cap->data[cap->len++] = 0;
    } else if (sscanf(text, "NACK seq=%u ack=%u reason=%u", &seq, &a, &b) == 3) {
        dev.tx_seq = (uint8_t)seq;
        bp_device_send_answer(&dev, (uint8_t)a, (uint8_t)b);
    } else if (sscanf(text, "ACK seq=%u ack=%u status=%u", &seq, &a, &b) == 3) {
        dev.tx_seq = (uint8_t)seq;
        dev.host_once = 1;
        bp_device_send_ack(&dev, (uint8_t)a, (uint8_t)b);
    } else if (sscanf(text, "ACK seq=%u ack=%u", &seq, &a) == 2) {
        dev.tx_seq = (uint8_t)seq;
        bp_device_send_answer(&dev, (uint8_t)a, 0);
    } else if (sscanf(text, "HEARTBEAT seq=%u uptime_ms=%lu flags=0x%x", &seq, &ul, &a) == 3) {
        const char *ext = strstr(text, " host_seq=");
        unsigned long long map;
        dev.tx_seq = (uint8_t)seq;
        dev.failsafe_active = (uint8_t)(a & BP_HB_FLAG_FAILSAFE);
        if ((a & ~BP_HB_FLAG_FAILSAFE) != 0 && !ext) {
            /* Only a host sets the other flags (status request): build it from the codec primitives. */
            uint8_t payload[5], frame[BP_MAX_FRAME];
            uint16_t n;
            bp_put_u32(payload, (uint32_t)ul);
            payload[4] = (uint8_t)a;
            n = bp_build_frame(BP_HEARTBEAT, (uint8_t)seq, payload, 5, frame, sizeof frame);
            cap->len = bp_cobs_encode(frame, n, cap->data, sizeof cap->data);
            cap->data[cap->len++] = 0;
            return cap->len > 0;
        }
        if (ext && sscanf(ext, " host_seq=%u applied=0x%llx", &b, &map) == 2) {
            /* Rebuild the device state the heartbeat reports, then let the core render it. */
            unsigned i;
            dev.host_once = 1;
            dev.host_seq_known = 1;
            dev.host_seq = (uint8_t)b;
            for (i = 0; i < 64; i++) {
                if ((map >> i) & 1ull) {
                    uint8_t s = (uint8_t)(b - i);
                    dev.applied[s >> 3] = (uint8_t)(dev.applied[s >> 3] | (1u << (s & 7u)));
                }
            }
        }
        bp_device_send_heartbeat(&dev, (uint32_t)ul);
    } else {
        return 0;
    }
    return cap->len > 0;
}

static int check_file(const char *path)
{
    static char line[LINE_MAX_BYTES], kind[32], name[128], hex[2400], text[1024], got[2400];
    static unsigned char bytes[1200], out[1400];
    static capture_t cap;
    FILE *fp = fopen(path, "r");
    int total = 0, failures = 0;
    if (!fp) {
        fprintf(stderr, "bp_vectors: cannot open %s\n", path);
        return 2;
    }
    while (fgets(line, sizeof line, fp)) {
        int ok = 1, n;
        if (!json_str(line, "kind", kind, sizeof kind) || !json_str(line, "name", name, sizeof name)) {
            continue;
        }
        total++;
        if (strcmp(kind, "crc") == 0) {
            long expected = -1;
            json_str(line, "data_hex", hex, sizeof hex);
            json_int(line, "crc", &expected);
            n = bp_from_hex(hex, bytes, sizeof bytes);
            ok = n >= 0 && bp_crc16(bytes, (uint16_t)n) == (uint16_t)expected;
        } else if (strcmp(kind, "cobs") == 0) {
            json_str(line, "raw_hex", hex, sizeof hex);
            n = bp_from_hex(hex, bytes, sizeof bytes);
            n = (int)bp_cobs_encode(bytes, (uint16_t)n, out, sizeof out);
            bp_to_hex(out, (size_t)n, text);
            json_str(line, "cobs_hex", hex, sizeof hex);
            ok = strcmp(text, hex) == 0;
        } else if (strcmp(kind, "frame") == 0) {
            json_str(line, "wire_hex", hex, sizeof hex);
            json_str(line, "canonical", text, sizeof text);
            n = bp_from_hex(hex, bytes, sizeof bytes);
            ok = decode_wire(bytes, (size_t)n, got, sizeof got) == BP_OK && strcmp(got, text) == 0;
            if (ok) {
                ok = encode_canonical(text, &cap);
                bp_to_hex(cap.data, cap.len, got);
                ok = ok && strcmp(got, hex) == 0;
            }
        } else if (strcmp(kind, "device") == 0) {
            static char expected_applied[256];
            json_str(line, "host_hex", hex, sizeof hex);
            n = bp_from_hex(hex, bytes, sizeof bytes);
            run_device(bytes, (size_t)(n < 0 ? 0 : n), &cap);
            bp_to_hex(cap.data, cap.len, got);
            json_str(line, "device_hex", hex, sizeof hex);
            ok = n >= 0 && strcmp(got, hex) == 0;
            expected_applied[0] = '\0';
            json_str(line, "applied", expected_applied, sizeof expected_applied);
            ok = ok && strcmp(applied_log, expected_applied) == 0;
            if (!ok) {
                fprintf(stderr, "%s: device sent %s applied [%s]\n", name, got, applied_log);
            }
        } else if (strcmp(kind, "reject") == 0) {
            json_str(line, "wire_hex", hex, sizeof hex);
            json_str(line, "reject", text, sizeof text);
            n = bp_from_hex(hex, bytes, sizeof bytes);
            n = decode_wire(bytes, (size_t)n, got, sizeof got);
            ok = n > 0 && strcmp(bp_error_name(n), text) == 0;
        } else {
            ok = 0;
        }
        if (!ok) {
            failures++;
        }
        printf("%s %s\n", ok ? "ok" : "FAIL", name);
    }
    fclose(fp);
    printf("vectors=%d failures=%d\n", total, failures);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    static char line[LINE_MAX_BYTES], text[1024];
    static unsigned char bytes[LINE_MAX_BYTES / 2];
    static capture_t cap;
    if (argc == 3 && strcmp(argv[1], "check") == 0) {
        return check_file(argv[2]);
    }
    if (argc == 2 && strcmp(argv[1], "decode") == 0) {
        while (fgets(line, sizeof line, stdin)) {
            int n = bp_from_hex(line, bytes, sizeof bytes);
            int rc = n < 0 ? -1 : decode_wire(bytes, (size_t)n, text, sizeof text);
            if (rc == BP_OK) {
                printf("%s\n", text);
            } else {
                printf("reject %s\n", rc < 0 ? "incomplete" : bp_error_name(rc));
            }
        }
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "encode") == 0) {
        while (fgets(line, sizeof line, stdin)) {
            line[strcspn(line, "\n")] = '\0';
            if (encode_canonical(line, &cap)) {
                bp_to_hex(cap.data, cap.len, (char *)bytes);
                printf("%s\n", (char *)bytes);
            } else {
                printf("error\n");
            }
        }
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "stream") == 0) {
        static bp_decoder_t dec;
        bp_frame_t f;
        int ch, i;
        bp_decoder_init(&dec);
        while ((ch = getchar()) != EOF) {
            if (bp_decoder_feed(&dec, (uint8_t)ch, &f) == BP_OK) {
                bp_describe(&f, text, sizeof text);
                printf("%s\n", text);
            }
        }
        printf("counters frames_ok=%u", dec.frames_ok);
        for (i = 1; i <= BP_ERR_PAYLOAD; i++) {
            printf(" %s=%u", bp_error_name(i), dec.errors[i]);
        }
        printf("\n");
        return 0;
    }
    fprintf(stderr, "usage: bp_vectors check FILE | decode | encode | stream\n");
    return 2;
}
