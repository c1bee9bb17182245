/*
 * bb_clock.c — monotonic and wall clocks, and the scaled node clock.
 *
 * node = origin + (mono - origin) * speed. With speed 1 the two are identical, so real
 * hardware paths pay nothing for the simulation feature.
 */
#include "bb_clock.h"

#include <errno.h>
#include <time.h>

static double s_speed = 1.0;
static int64_t s_origin = 0;

int64_t bb_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * BB_NS_PER_S + ts.tv_nsec;
}

int64_t bb_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double bb_unix_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void bb_sleep_until_mono(int64_t mono_ns)
{
    struct timespec ts = {.tv_sec = mono_ns / BB_NS_PER_S, .tv_nsec = mono_ns % BB_NS_PER_S};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

void bb_sleep_ms(int64_t ms)
{
    bb_sleep_until_mono(bb_mono_ns() + ms * BB_NS_PER_MS);
}

void bb_node_clock_set_speed(double speed)
{
    s_speed = speed < 1.0 ? 1.0 : speed;
    s_origin = bb_mono_ns();
}

double bb_node_clock_speed(void)
{
    return s_speed;
}

int64_t bb_node_clock_ns(void)
{
    int64_t mono = bb_mono_ns();
    if (s_speed == 1.0)
        return mono;
    return s_origin + (int64_t)((double)(mono - s_origin) * s_speed);
}

int64_t bb_node_clock_to_mono(int64_t node_ns)
{
    if (s_speed == 1.0)
        return node_ns;
    return s_origin + (int64_t)((double)(node_ns - s_origin) / s_speed);
}

void bb_node_clock_sleep_until(int64_t node_ns)
{
    bb_sleep_until_mono(bb_node_clock_to_mono(node_ns));
}
