/*
 * bp_simavr: run an AVR image (the Uno sketch, or the bare core build) in simavr, with UART0 on a
 * pseudo-terminal and an emulated HC-SR04 on the sketch's pins, so the host tests drive the very
 * binary that would be flashed.
 *
 *   bp_simavr [--mcu atmega328p] [--freq-hz 16000000] [--link PATH] [--distance-cm CM] image.elf
 *
 * stdout, one event a line (other lines come from simavr's uart_pty and are to be ignored):
 *   READY pty=/dev/pts/N link=PATH      the port is open for the host
 *   OUTPUT name=motor_left duty=-127    what the pins drive: PWM duty -255..255 (sign = direction
 *                                       pin), led 0/1; printed when it changes
 *   EXIT reason=R sim_ms=N lag_ms=M     the simulation ended (R: quit, done, crashed) after N
 *                                       simulated ms; M ms of wall time it could not keep up with
 * stdin: "distance CM" (negative = no echo), "quit". EOF on stdin also quits.
 *
 * The simulated clock is held to wall time (never ahead of it): the firmware's millis() drives
 * its heartbeat and failsafe, and the host measures those against its own clock.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "avr_ioport.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_io.h"
#include "sim_time.h"
#include "uart_pty.h"

/* The sketch's pins on an Uno (edge_bridge.ino): trig D9 = PB1, echo D10 = PB2, LED D13 = PB5,
 * left PWM D5 = PD5 (OC0B), left dir D4 = PD4, right PWM D6 = PD6 (OC0A), right dir D7 = PD7. */
#define SONAR_PORT 'B'
#define TRIG_BIT 1
#define ECHO_BIT 2
/* ATmega328P data-space addresses of the registers the outputs are read from. */
#define ADDR_PORTB 0x25
#define ADDR_PORTD 0x2B
#define ADDR_TCCR0A 0x44
#define ADDR_OCR0A 0x47
#define ADDR_OCR0B 0x48
#define COM0A1_BIT 7
#define COM0B1_BIT 5

/* The HC-SR04 raises echo about 0.5 ms after the trigger (its 8-cycle 40 kHz burst), then holds
 * it for the round trip: 58 us per cm. Beyond ~4 m it gives no echo and pulseIn() times out. */
#define SONAR_BURST_US 460
#define SONAR_US_PER_CM 58.0
#define SONAR_MAX_CM 400.0

#define SAMPLE_PERIOD_US 1000   /* outputs sampled and the clock paced every simulated ms */
#define AHEAD_SLACK_NS 2000000LL  /* sleep once the simulation is 2 ms ahead of wall time */
#define BEHIND_REBASE_NS 50000000LL /* further behind than 50 ms: report it, don't race to catch up */

static atomic_int g_quit;
static atomic_int g_echo_us; /* 0 = no echo */

typedef struct sonar_t {
    avr_t *avr;
    avr_irq_t *echo;
    uint32_t trig_level;
} sonar_t;

typedef struct outputs_t {
    int left, right, led;
    int valid;
} outputs_t;

typedef struct pacer_t {
    int64_t wall_start_ns;
    int64_t sim_offset_ns; /* grows when the host was too slow: simulated time is never replayed fast */
    int64_t lag_ns;        /* total wall time the simulation could not keep up with */
    outputs_t last;
} pacer_t;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void set_distance_cm(double cm)
{
    int echo_us = 0;
    if (cm > 0.0 && cm <= SONAR_MAX_CM) {
        echo_us = (int)(cm * SONAR_US_PER_CM + 0.5);
    }
    atomic_store(&g_echo_us, echo_us);
}

static avr_cycle_count_t echo_fall(avr_t *avr, avr_cycle_count_t when, void *param)
{
    sonar_t *s = param;
    (void)avr;
    (void)when;
    avr_raise_irq(s->echo, 0);
    return 0;
}

static avr_cycle_count_t echo_rise(avr_t *avr, avr_cycle_count_t when, void *param)
{
    sonar_t *s = param;
    int echo_us = atomic_load(&g_echo_us);
    (void)when;
    if (echo_us > 0) {
        avr_raise_irq(s->echo, 1);
        avr_cycle_timer_register_usec(avr, (uint32_t)echo_us, echo_fall, s);
    }
    return 0;
}

/* The trigger's falling edge (after its 10 us high pulse) starts a measurement. */
static void trig_changed(avr_irq_t *irq, uint32_t value, void *param)
{
    sonar_t *s = param;
    (void)irq;
    if (s->trig_level && !value) {
        avr_cycle_timer_register_usec(s->avr, SONAR_BURST_US, echo_rise, s);
    }
    s->trig_level = value;
}

static int duty(avr_t *avr, uint8_t com_bit, avr_io_addr_t ocr, uint8_t pwm_bit, uint8_t dir_bit)
{
    uint8_t portd = avr->data[ADDR_PORTD];
    /* analogWrite() drives the pin from the timer when 0 < duty < 255, else as a plain level. */
    int level = (avr->data[ADDR_TCCR0A] & (1u << com_bit)) ? avr->data[ocr]
                                                            : ((portd >> pwm_bit) & 1u) * 255;
    return ((portd >> dir_bit) & 1u) ? -level : level;
}

static void report_outputs(avr_t *avr, pacer_t *p)
{
    outputs_t now;
    now.left = duty(avr, COM0B1_BIT, ADDR_OCR0B, 5, 4);
    now.right = duty(avr, COM0A1_BIT, ADDR_OCR0A, 6, 7);
    now.led = (avr->data[ADDR_PORTB] >> 5) & 1u;
    now.valid = 1;
    if (!p->last.valid || now.left != p->last.left) {
        printf("OUTPUT name=motor_left duty=%d\n", now.left);
    }
    if (!p->last.valid || now.right != p->last.right) {
        printf("OUTPUT name=motor_right duty=%d\n", now.right);
    }
    if (!p->last.valid || now.led != p->last.led) {
        printf("OUTPUT name=led duty=%d\n", now.led);
    }
    p->last = now;
}

static avr_cycle_count_t pace(avr_t *avr, avr_cycle_count_t when, void *param)
{
    pacer_t *p = param;
    int64_t sim_ns = (int64_t)((double)avr->cycle * 1e9 / (double)avr->frequency) + p->sim_offset_ns;
    int64_t wall_ns = mono_ns() - p->wall_start_ns;
    report_outputs(avr, p);
    if (sim_ns - wall_ns > AHEAD_SLACK_NS) {
        int64_t ahead_ns = sim_ns - wall_ns;
        struct timespec ts = {(time_t)(ahead_ns / 1000000000LL), (long)(ahead_ns % 1000000000LL)};
        nanosleep(&ts, NULL);
    } else if (wall_ns - sim_ns > BEHIND_REBASE_NS) {
        p->lag_ns += wall_ns - sim_ns;
        p->sim_offset_ns += wall_ns - sim_ns;
    }
    return when + avr_usec_to_cycles(avr, SAMPLE_PERIOD_US);
}

static void *read_stdin(void *arg)
{
    char line[128];
    (void)arg;
    while (fgets(line, sizeof line, stdin)) {
        double cm;
        if (line[0] == '\n') {
            continue;
        }
        if (strncmp(line, "quit", 4) == 0) {
            break;
        }
        if (sscanf(line, "distance %lf", &cm) == 1) {
            set_distance_cm(cm);
        } else {
            fprintf(stderr, "bp_simavr: unknown command: %s", line);
        }
    }
    atomic_store(&g_quit, 1);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bp_simavr [--mcu NAME] [--freq-hz HZ] [--link PATH] [--distance-cm CM] image.elf\n");
}

int main(int argc, char **argv)
{
    const char *mcu = "atmega328p", *link = NULL, *image = NULL;
    unsigned long freq_hz = 16000000UL;
    static elf_firmware_t fw;
    static uart_pty_t pty;
    static sonar_t sonar;
    static pacer_t pacer;
    pthread_t input;
    avr_t *avr;
    int state, i;
    char simavr_link[PATH_MAX] = {0};

    set_distance_cm(100.0);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mcu") && i + 1 < argc) {
            mcu = argv[++i];
        } else if (!strcmp(argv[i], "--freq-hz") && i + 1 < argc) {
            freq_hz = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--link") && i + 1 < argc) {
            link = argv[++i];
        } else if (!strcmp(argv[i], "--distance-cm") && i + 1 < argc) {
            set_distance_cm(strtod(argv[++i], NULL));
        } else if (argv[i][0] != '-' && image == NULL) {
            image = argv[i];
        } else {
            usage();
            return 2;
        }
    }
    if (image == NULL) {
        usage();
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (elf_read_firmware(image, &fw) != 0) {
        fprintf(stderr, "bp_simavr: cannot read AVR image %s\n", image);
        return 2;
    }
    /* An Arduino ELF carries no .mmcu section: the board is named on the command line. */
    snprintf(fw.mmcu, sizeof fw.mmcu, "%s", mcu);
    fw.frequency = (uint32_t)freq_hz;
    avr = avr_make_mcu_by_name(fw.mmcu);
    if (avr == NULL) {
        fprintf(stderr, "bp_simavr: simavr does not know mcu %s\n", fw.mmcu);
        return 2;
    }
    avr_init(avr);
    avr_load_firmware(avr, &fw);

    uart_pty_init(avr, &pty);
    uart_pty_connect(&pty, '0');
    /* uart_pty_connect() also points the shared /tmp/simavr-uart0 at our pty: remove it, so two
     * harnesses never hand a host each other's board. */
    if (readlink("/tmp/simavr-uart0", simavr_link, sizeof simavr_link - 1) > 0 &&
        strcmp(simavr_link, pty.pty.slavename) == 0) {
        unlink("/tmp/simavr-uart0");
    }
    if (link != NULL) {
        unlink(link);
        if (symlink(pty.pty.slavename, link) != 0) {
            fprintf(stderr, "bp_simavr: cannot create %s: %s\n", link, strerror(errno));
            return 1;
        }
    }

    sonar.avr = avr;
    sonar.echo = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(SONAR_PORT), ECHO_BIT);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(SONAR_PORT), TRIG_BIT),
                            trig_changed, &sonar);
    pacer.wall_start_ns = mono_ns();
    avr_cycle_timer_register_usec(avr, SAMPLE_PERIOD_US, pace, &pacer);
    pthread_create(&input, NULL, read_stdin, NULL);

    printf("READY pty=%s link=%s\n", pty.pty.slavename, link ? link : "");
    do {
        state = avr_run(avr);
    } while (state != cpu_Done && state != cpu_Crashed && !atomic_load(&g_quit));

    printf("EXIT reason=%s sim_ms=%llu lag_ms=%lld\n",
           state == cpu_Done ? "done" : state == cpu_Crashed ? "crashed" : "quit",
           (unsigned long long)(avr->cycle / (avr->frequency / 1000u)),
           (long long)(pacer.lag_ns / 1000000LL));
    if (link != NULL) {
        unlink(link);
    }
    /* uart_pty_stop() would join a thread blocked in select(): exiting closes the pty anyway. */
    return state == cpu_Crashed ? 1 : 0;
}
