/*
 * bp_sim: the reference firmware core running on the host, speaking the protocol on a pty.
 *
 * It plays the "seek" robot: one ultrasonic channel (distance_cm, from a scripted trace) and three
 * actuators (motor_left, motor_right in permille, led on/off). Everything it does that a test may
 * want to observe is printed on stdout, one event per line:
 *
 *   READY pty=/dev/pts/7 link=/tmp/x/ttySIM
 *   APPLY actuator=0 name=motor_left value=500 seq=17     (seq -1: the failsafe or a reset, no command)
 *   DUPLICATE total=1        (a resent command was ACKed as a duplicate and not applied again)
 *   FAILSAFE
 *   REPLUG pty=/dev/pts/8
 *
 * stdin takes control lines: "distance 42.5" (override the trace), "trace" (back to the trace),
 * "replug" (close the pty, remove the link, recreate both after --replug-gap-ms, reboot the core),
 * "quit". SIGTERM and SIGINT exit cleanly and remove the link.
 */
#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "bp_device.h"

#define TRACE_MAX 4096

static volatile sig_atomic_t stop_requested = 0;
static int master_fd = -1, slave_fd = -1;
static const char *link_path = NULL;
static double trace_t_ms[TRACE_MAX], trace_cm[TRACE_MAX];
static int trace_len = 0;
static int trace_loop = 0;
static double override_cm = NAN;
static unsigned long dropped_bytes = 0;
static uint32_t clock_start_ms = 0;
static struct timespec t0;

static const bp_channel_t CHANNELS[] = {{"distance_cm", -1}};
static const bp_actuator_t ACTUATORS[] = {
    {"motor_left", -1000, 1000, 0},
    {"motor_right", -1000, 1000, 0},
    {"led", 0, 1, 0},
};

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static uint32_t mcu_now_ms(void)
{
    struct timespec t;
    unsigned long long ms;
    clock_gettime(CLOCK_MONOTONIC, &t);
    ms = (unsigned long long)(t.tv_sec - t0.tv_sec) * 1000ull + (unsigned long long)((t.tv_nsec - t0.tv_nsec) / 1000000L);
    return (uint32_t)(clock_start_ms + (uint32_t)ms); /* wraps like millis() */
}

static unsigned long elapsed_ms(void)
{
    return (unsigned long)(uint32_t)(mcu_now_ms() - clock_start_ms);
}

static void write_pty(const uint8_t *data, size_t len)
{
    while (len > 0 && master_fd >= 0) {
        ssize_t n = write(master_fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            /* Nobody is draining the line: wait a little, like a UART's TX buffer, then drop. */
            struct pollfd p = {master_fd, POLLOUT, 0};
            if (poll(&p, 1, 5) <= 0) {
                dropped_bytes += len;
                return;
            }
            continue;
        }
        dropped_bytes += len;
        return;
    }
}

/* The core writes a frame piecewise (COBS on the fly: code byte, block, ..., delimiter). Gather it
   and give the pty one write() per frame, as a USB-serial bridge delivers a short frame in one
   packet. Otherwise a host that opens the port (and flushes stale input) while this process is
   preempted in the middle of a frame starts on the frame's tail, a CRC error no line caused. */
static uint8_t tx_frame[BP_MAX_WIRE];
static size_t tx_len = 0;

static void write_serial(void *ctx, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    while (len-- > 0) {
        tx_frame[tx_len++] = *data;
        if (*data++ == 0 || tx_len == sizeof tx_frame) {
            write_pty(tx_frame, tx_len);
            tx_len = 0;
        }
    }
}

static bp_device_t *the_device = NULL;

static void apply_actuator(void *ctx, uint8_t actuator, int32_t value)
{
    (void)ctx;
    printf("APPLY actuator=%u name=%s value=%ld seq=%d\n", actuator, ACTUATORS[actuator].name, (long)value,
           the_device ? (int)the_device->applying_seq : -1);
}

static double trace_distance(unsigned long t_ms)
{
    double t = (double)t_ms;
    int i;
    if (!isnan(override_cm)) {
        return override_cm;
    }
    if (trace_len == 0) {
        return 100.0;
    }
    if (trace_loop && trace_t_ms[trace_len - 1] > 0) {
        t = fmod(t, trace_t_ms[trace_len - 1]);
    }
    if (t <= trace_t_ms[0]) {
        return trace_cm[0];
    }
    for (i = 1; i < trace_len; i++) {
        if (t <= trace_t_ms[i]) {
            double span = trace_t_ms[i] - trace_t_ms[i - 1];
            double w = span > 0 ? (t - trace_t_ms[i - 1]) / span : 1.0;
            return trace_cm[i - 1] + w * (trace_cm[i] - trace_cm[i - 1]);
        }
    }
    return trace_cm[trace_len - 1];
}

static int load_trace(const char *path)
{
    char line[256];
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "bp_sim: cannot open trace %s: %s\n", path, strerror(errno));
        return 0;
    }
    while (fgets(line, sizeof line, fp) && trace_len < TRACE_MAX) {
        double t, cm;
        if (line[0] == '#' || sscanf(line, "%lf %lf", &t, &cm) != 2) {
            continue;
        }
        trace_t_ms[trace_len] = t;
        trace_cm[trace_len] = cm;
        trace_len++;
    }
    fclose(fp);
    return 1;
}

static int open_pty(void)
{
    struct termios tio;
    const char *name;
    master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) {
        fprintf(stderr, "bp_sim: cannot create a pty: %s\n", strerror(errno));
        return 0;
    }
    name = ptsname(master_fd);
    /* Hold the slave open: the master then never reports hangup while no host is attached, and
       the line is raw (no echo, no CR/LF translation) before any host opens it. */
    slave_fd = open(name, O_RDWR | O_NOCTTY);
    if (slave_fd < 0 || tcgetattr(slave_fd, &tio) != 0) {
        fprintf(stderr, "bp_sim: cannot open %s: %s\n", name, strerror(errno));
        return 0;
    }
    cfmakeraw(&tio);
    cfsetispeed(&tio, B115200);
    cfsetospeed(&tio, B115200);
    tcsetattr(slave_fd, TCSANOW, &tio);
    if (link_path) {
        unlink(link_path);
        if (symlink(name, link_path) != 0) {
            fprintf(stderr, "bp_sim: cannot link %s -> %s: %s\n", link_path, name, strerror(errno));
            return 0;
        }
    }
    return 1;
}

static void close_pty(void)
{
    if (link_path) {
        unlink(link_path);
    }
    if (slave_fd >= 0) {
        close(slave_fd);
    }
    if (master_fd >= 0) {
        close(master_fd);
    }
    slave_fd = master_fd = -1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bp_sim [--trace FILE] [--loop] [--distance CM] [--link PATH] [--sensor-period-ms N]\n"
            "              [--heartbeat-ms N] [--failsafe-ms N] [--clock-start-ms N] [--replug-gap-ms N]\n");
}

int main(int argc, char **argv)
{
    static bp_device_t dev;
    static bp_device_config_t cfg;
    unsigned long sensor_period_ms = 50, replug_gap_ms = 300;
    unsigned long heartbeat_ms = 250, failsafe_ms = 1000;
    uint32_t last_sensor_ms;
    char control[128];
    size_t control_len = 0;
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--loop") == 0) {
            trace_loop = 1;
            continue;
        }
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--trace") == 0) {
            if (!load_trace(v)) {
                return 2;
            }
        } else if (strcmp(a, "--distance") == 0) {
            override_cm = strtod(v, NULL);
        } else if (strcmp(a, "--link") == 0) {
            link_path = v;
        } else if (strcmp(a, "--sensor-period-ms") == 0) {
            sensor_period_ms = strtoul(v, NULL, 10);
        } else if (strcmp(a, "--heartbeat-ms") == 0) {
            heartbeat_ms = strtoul(v, NULL, 10);
        } else if (strcmp(a, "--failsafe-ms") == 0) {
            failsafe_ms = strtoul(v, NULL, 10);
        } else if (strcmp(a, "--clock-start-ms") == 0) {
            clock_start_ms = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--replug-gap-ms") == 0) {
            replug_gap_ms = strtoul(v, NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);

    cfg.name = "edge-seek-sim";
    cfg.version[0] = 1;
    cfg.version[1] = 0;
    cfg.version[2] = 0;
    cfg.channels = CHANNELS;
    cfg.n_channels = 1;
    cfg.actuators = ACTUATORS;
    cfg.n_actuators = 3;
    cfg.heartbeat_ms = (uint16_t)heartbeat_ms;
    cfg.failsafe_ms = (uint16_t)failsafe_ms;
    cfg.write = write_serial;
    cfg.apply = apply_actuator;
    if (!open_pty()) {
        close_pty();
        return 1;
    }
    the_device = &dev;
    bp_device_init(&dev, &cfg, mcu_now_ms());
    printf("READY pty=%s link=%s\n", ptsname(master_fd), link_path ? link_path : "");
    bp_device_send_hello(&dev); /* like a board announcing itself after reset */
    last_sensor_ms = mcu_now_ms();

    while (!stop_requested) {
        struct pollfd fds[2] = {{master_fd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
        uint32_t now = mcu_now_ms();
        uint32_t since = (uint32_t)(now - last_sensor_ms);
        int timeout = sensor_period_ms == 0 ? 0 : (int)(since >= sensor_period_ms ? 0 : sensor_period_ms - since);
        if (timeout > 5) {
            timeout = 5; /* heartbeat and failsafe need a fine tick */
        }
        if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
            break;
        }
        now = mcu_now_ms();
        if (fds[0].revents & POLLIN) {
            uint8_t buf[256];
            ssize_t n = read(master_fd, buf, sizeof buf);
            for (i = 0; i < n; i++) {
                uint16_t duplicates = dev.duplicates;
                bp_device_rx(&dev, buf[i], now);
                if (dev.duplicates != duplicates) {
                    printf("DUPLICATE total=%u\n", dev.duplicates);
                }
            }
        }
        if (fds[1].revents & (POLLIN | POLLHUP)) {
            char ch;
            ssize_t n;
            while ((n = read(STDIN_FILENO, &ch, 1)) == 1) {
                if (ch != '\n') {
                    if (control_len + 1 < sizeof control) {
                        control[control_len++] = ch;
                    }
                    continue;
                }
                control[control_len] = '\0';
                control_len = 0;
                if (strncmp(control, "distance ", 9) == 0) {
                    override_cm = strtod(control + 9, NULL);
                } else if (strcmp(control, "trace") == 0) {
                    override_cm = NAN;
                } else if (strcmp(control, "quit") == 0) {
                    stop_requested = 1;
                } else if (strcmp(control, "replug") == 0) {
                    /* Unplug: the port disappears. A real board also resets, so the core reboots. */
                    close_pty();
                    for (i = 0; i < cfg.n_actuators; i++) {
                        apply_actuator(NULL, (uint8_t)i, ACTUATORS[i].safe_value);
                    }
                    usleep((useconds_t)(replug_gap_ms * 1000ul));
                    if (!open_pty()) {
                        stop_requested = 1;
                        break;
                    }
                    bp_device_init(&dev, &cfg, mcu_now_ms());
                    printf("REPLUG pty=%s\n", ptsname(master_fd));
                    bp_device_send_hello(&dev);
                }
            }
            if (n == 0) {
                stop_requested = 1; /* the controlling process went away */
            }
        }
        if (master_fd < 0) {
            break;
        }
        now = mcu_now_ms();
        {
            uint8_t was_failsafe = dev.failsafe_active;
            bp_device_tick(&dev, now);
            if (dev.failsafe_active && !was_failsafe) {
                printf("FAILSAFE\n");
            }
        }
        if ((uint32_t)(now - last_sensor_ms) >= sensor_period_ms) {
            int32_t raw = (int32_t)lround(trace_distance(elapsed_ms()) * 10.0);
            bp_device_send_sensor(&dev, now, &raw, 1);
            last_sensor_ms = now;
        }
    }
    printf("EXIT commands=%u duplicates=%u nacks=%u failsafes=%u rx_ok=%u rx_crc=%u dropped_bytes=%lu\n", dev.commands,
           dev.duplicates, dev.nacks, dev.failsafes, dev.rx.frames_ok, dev.rx.errors[BP_ERR_CRC], dropped_bytes);
    close_pty();
    return 0;
}
