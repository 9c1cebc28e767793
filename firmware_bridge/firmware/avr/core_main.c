/*
 * The portable core on a bare ATmega328P (no Arduino core): UART0 at 115200 baud, a millisecond
 * tick from Timer0, one sensor channel and three actuators. Its purpose is to measure what the
 * protocol itself costs in RAM and flash (`make avr-core`); the sketch in arduino/ is the
 * full firmware.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <util/atomic.h>
#include "bp_device.h"

static volatile uint32_t ticks_ms;

ISR(TIMER0_COMPA_vect)
{
    ticks_ms++;
}

static uint32_t now_ms(void)
{
    uint32_t t;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { t = ticks_ms; }
    return t;
}

static void uart_write(void *ctx, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    while (len--) {
        while (!(UCSR0A & (1 << UDRE0))) {
        }
        UDR0 = *data++;
    }
}

static int32_t outputs[3];

static void apply(void *ctx, uint8_t actuator, int32_t value)
{
    (void)ctx;
    outputs[actuator] = value;
    OCR1A = (uint16_t)(outputs[0] < 0 ? -outputs[0] : outputs[0]); /* keep the write observable */
}

static const bp_channel_t channels[] = {{"distance_cm", -1}};
static const bp_actuator_t actuators[] = {
    {"motor_left", -1000, 1000, 0}, {"motor_right", -1000, 1000, 0}, {"led", 0, 1, 0}};
static const bp_device_config_t config = {
    "edge-seek", {1, 0, 0}, channels, 1, actuators, 3, 250, 1000, uart_write, apply, 0};
static bp_device_t device;

int main(void)
{
    uint32_t last_sensor = 0;
    UBRR0 = 16; /* 115200 baud at 16 MHz with U2X (2.1 % error, as the Arduino core uses) */
    UCSR0A = (1 << U2X0);
    UCSR0B = (1 << RXEN0) | (1 << TXEN0);
    UCSR0C = (1 << UCSZ01) | (1 << UCSZ00);
    TCCR0A = (1 << WGM01); /* CTC, 16 MHz / 64 / 250 = 1 kHz */
    TCCR0B = (1 << CS01) | (1 << CS00);
    OCR0A = 249;
    TIMSK0 = (1 << OCIE0A);
    sei();
    bp_device_init(&device, &config, now_ms());
    bp_device_send_hello(&device);
    for (;;) {
        uint32_t now = now_ms();
        if (UCSR0A & (1 << RXC0)) {
            bp_device_rx(&device, UDR0, now);
        }
        bp_device_tick(&device, now);
        if ((uint32_t)(now - last_sensor) >= 50u) {
            int32_t raw = 423;
            last_sensor = now;
            bp_device_send_sensor(&device, now, &raw, 1);
        }
    }
}
