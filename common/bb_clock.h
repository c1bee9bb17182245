/*
 * bb_clock.h — clocks: monotonic nanoseconds, wall-clock milliseconds, and a scalable
 * "node clock" that lets the simulated instrument run faster than real time.
 *
 * The node clock is CLOCK_MONOTONIC when the speed is 1 (always, with real devices).
 * At speed S it runs S times faster from the moment the speed is set: every component
 * of a node (virtual audio, MIDI scheduling, the recorder) reads and sleeps on it, so
 * the simulated hardware and the code under test share one notion of time.
 */
#ifndef BB_CLOCK_H
#define BB_CLOCK_H

#include <stdint.h>

#define BB_NS_PER_S  1000000000LL
#define BB_NS_PER_MS 1000000LL

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bb_mono_ns(void);
/* CLOCK_REALTIME in milliseconds since the Unix epoch. */
int64_t bb_unix_ms(void);
/* CLOCK_REALTIME in seconds, with fractions. */
double bb_unix_s(void);
/* Sleeps until CLOCK_MONOTONIC reaches `mono_ns` (absolute), restarting on EINTR. */
void bb_sleep_until_mono(int64_t mono_ns);
/* Sleeps for a number of milliseconds of real time. */
void bb_sleep_ms(int64_t ms);

/* Sets the node clock's speed (>= 1). Call once, before any thread reads the clock. */
void bb_node_clock_set_speed(double speed);
double bb_node_clock_speed(void);
/* Node clock now, nanoseconds. */
int64_t bb_node_clock_ns(void);
/* Sleeps until the node clock reaches `node_ns`. */
void bb_node_clock_sleep_until(int64_t node_ns);
/* Converts a node-clock instant to the CLOCK_MONOTONIC instant when it happens. */
int64_t bb_node_clock_to_mono(int64_t node_ns);

#endif
