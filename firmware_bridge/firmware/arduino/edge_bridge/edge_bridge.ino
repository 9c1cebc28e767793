/*
 * edge_bridge: the "seek" robot's firmware for an Arduino Uno (ATmega328P) or an ESP32.
 *
 * Reads an HC-SR04 ultrasonic sensor, drives two DC motors through an H-bridge (one PWM and one
 * direction pin each, e.g. L298N or TB6612) and an LED, and speaks the edge_sdk serial protocol
 * (docs/serial-protocol.md) at 115200 baud through the portable core in bp_codec.c/bp_device.c
 * (symlinks to ../../core so the Arduino IDE and arduino-mk both build them).
 *
 * Channel 0, distance_cm, is sent in tenths of a cm (exponent -1); -1 means "no echo in range".
 * Actuators: 0 motor_left and 1 motor_right in permille of full speed (-1000..1000, negative is
 * reverse), 2 led (0/1). The firmware stops the motors by itself when the host is silent for 1 s.
 */
#include "bp_device.h"

#if defined(ARDUINO_ARCH_ESP32)
static const uint8_t TRIG_PIN = 5, ECHO_PIN = 18;
static const uint8_t LEFT_PWM = 25, LEFT_DIR = 26, RIGHT_PWM = 32, RIGHT_DIR = 33, LED = 2;
#else
static const uint8_t TRIG_PIN = 9, ECHO_PIN = 10;
static const uint8_t LEFT_PWM = 5, LEFT_DIR = 4, RIGHT_PWM = 6, RIGHT_DIR = 7, LED = 13;
#endif

static const uint16_t SENSOR_PERIOD_MS = 50;
static const unsigned long ECHO_TIMEOUT_US = 25000UL; /* ~4.3 m, the HC-SR04's range */

static const bp_channel_t CHANNELS[] = {{"distance_cm", -1}};
static const bp_actuator_t ACTUATORS[] = {
    {"motor_left", -1000, 1000, 0},
    {"motor_right", -1000, 1000, 0},
    {"led", 0, 1, 0},
};

static void write_serial(void *ctx, const uint8_t *data, uint16_t len)
{
    (void)ctx;
    Serial.write(data, len);
}

static void drive(uint8_t pwm_pin, uint8_t dir_pin, int32_t permille)
{
    int32_t magnitude = permille < 0 ? -permille : permille;
    digitalWrite(dir_pin, permille < 0 ? HIGH : LOW);
    analogWrite(pwm_pin, (int)((magnitude * 255L) / 1000L));
}

static void apply(void *ctx, uint8_t actuator, int32_t value)
{
    (void)ctx;
    switch (actuator) {
    case 0:
        drive(LEFT_PWM, LEFT_DIR, value);
        break;
    case 1:
        drive(RIGHT_PWM, RIGHT_DIR, value);
        break;
    case 2:
        digitalWrite(LED, value ? HIGH : LOW);
        break;
    default:
        break;
    }
}

static const bp_device_config_t CONFIG = {
    "edge-seek", {1, 0, 0}, CHANNELS, 1, ACTUATORS, 3,
    250,  /* heartbeat_ms */
    1000, /* failsafe_ms */
    write_serial, apply, NULL,
};
static bp_device_t device;
static uint32_t last_sensor_ms;

static int32_t read_distance_tenths_cm(void)
{
    unsigned long echo_us;
    digitalWrite(TRIG_PIN, LOW);
    delayMicroseconds(2);
    digitalWrite(TRIG_PIN, HIGH);
    delayMicroseconds(10);
    digitalWrite(TRIG_PIN, LOW);
    /* pulseInLong() times the echo with micros(); pulseIn() counts loop turns, and every
     * interrupt (millis, the serial TX/RX) taken meanwhile goes uncounted: run in simavr it read
     * 1-2 % short while a frame was being sent. */
    echo_us = pulseInLong(ECHO_PIN, HIGH, ECHO_TIMEOUT_US);
    if (echo_us == 0) {
        return -1;
    }
    /* Sound travels 1 cm and back in ~58 us: tenths of a cm = us * 10 / 58, rounded. */
    return (int32_t)((echo_us * 10UL + 29UL) / 58UL);
}

void setup()
{
    pinMode(TRIG_PIN, OUTPUT);
    pinMode(ECHO_PIN, INPUT);
    pinMode(LEFT_PWM, OUTPUT);
    pinMode(LEFT_DIR, OUTPUT);
    pinMode(RIGHT_PWM, OUTPUT);
    pinMode(RIGHT_DIR, OUTPUT);
    pinMode(LED, OUTPUT);
    for (uint8_t i = 0; i < 3; i++) {
        apply(NULL, i, ACTUATORS[i].safe_value);
    }
    Serial.begin(115200);
    bp_device_init(&device, &CONFIG, millis());
    bp_device_send_hello(&device);
    last_sensor_ms = millis();
}

void loop()
{
    uint32_t now = millis();
    while (Serial.available() > 0) {
        bp_device_rx(&device, (uint8_t)Serial.read(), now);
    }
    bp_device_tick(&device, now);
    if ((uint32_t)(now - last_sensor_ms) >= SENSOR_PERIOD_MS) {
        int32_t distance = read_distance_tenths_cm();
        last_sensor_ms = now;
        bp_device_send_sensor(&device, now, &distance, 1);
    }
}
