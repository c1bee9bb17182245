/*
 * test_jack_util.h — a private dummy JACK server and a simulated instrument playing into
 * it as a JACK client, for the tests of the real PortAudio callback path
 * (docs/testing.md: "a dummy JACK server paces PortAudio in real time").
 *
 * The server gets a name of its own (from a small pool, see test_jackd_start), set in
 * JACK_DEFAULT_SERVER so that every client in the process (ours, PortAudio's, and the
 * programs it starts) talks to it and nothing else; JACK_NO_START_SERVER keeps libjack
 * from starting a default server when ours is gone.
 *
 * The instrument client has three output ports: out_0 plays a sine (so a test can tell
 * it apart), out_1 the simulated instrument, out_2 silence. Each cycle it renders the
 * instrument with the cycle's start time from jack_get_cycle_times() converted to
 * CLOCK_MONOTONIC, so a MIDI message stamped t sounds at the frame of that cycle that
 * corresponds to t: the instrument's own, independent idea of where a note starts.
 */
#ifndef BB_TEST_JACK_UTIL_H
#define BB_TEST_JACK_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "audio.h"
#include "sim_instrument.h"

typedef struct {
    pid_t pid;
    char name[64];
    char log[256];
    uint32_t rate, period;
    bool sync; /* -S: clients run in one graph cycle, no extra period between them */
} test_jackd_t;

/* Starts `jackd -n NAME -R -d dummy -r RATE -p PERIOD -C 2 -P 2` and waits for it with
 * `jack_wait -w -t 5`. Returns 0, or -1 with the reason printed (the caller skips).
 * -R asks for realtime scheduling, as a node's audio runs in production: where it is
 * granted (root, or an rtprio limit) the graph keeps its timing on a busy machine; where
 * it is not, jackd runs without it and the disturbance watch below says so. */
int test_jackd_start(test_jackd_t *j, uint32_t rate, uint32_t period);
/* The same in synchronous mode (jackd -S), as for a low-latency monitoring setup. */
int test_jackd_start_sync(test_jackd_t *j, uint32_t rate, uint32_t period);
/* Starts the same server again (after test_jackd_kill). */
int test_jackd_restart(test_jackd_t *j);
/* SIGTERM, wait for it to exit (SIGKILL after 5 s). Safe when not running. */
void test_jackd_stop(test_jackd_t *j);
/* SIGKILL, at once: a device that vanishes. */
void test_jackd_kill(test_jackd_t *j);

typedef struct test_jack_sim_t test_jack_sim_t;

/* Connects a client named `name` playing `sim` (mono) on out_1 and a sine of sine_hz
 * (amplitude 0.1) on out_0. The client is active when this returns. NULL on failure. */
test_jack_sim_t *test_jack_sim_new(const char *name, node_sim_t *sim, double sine_hz);
void test_jack_sim_destroy(test_jack_sim_t **self_p);
/* Cycles run so far. */
uint64_t test_jack_sim_cycles(test_jack_sim_t *self);
/* The time the instrument gave its frame `frame` (CLOCK_MONOTONIC), from the cycles of
 * the last ~20 s; false when out of range. */
bool test_jack_sim_time_of(test_jack_sim_t *self, uint64_t frame, int64_t *t_ns);
/* Host interference. A realtime measurement is only meaningful when the host left the
 * audio graph alone while it ran: on a busy machine the dummy driver's "sound card" is
 * itself a thread that can stall and then catch up, so both the stamps under test and
 * the reference they are checked against move.
 *
 * test_jack_timed_t sees the node's side: wrap the node's callback with it (directly, or
 * through test_jack_timed_backend() where the stream is opened elsewhere) and it notes
 * when each callback ran and which frames it carried. Start a watch before a measurement;
 * afterwards test_jack_watch_disturbed() says whether anything disturbed it: a server
 * xrun, an overflow the node counted (pass its counter), or a JACK cycle of the
 * instrument or a callback of the node that ran more than one period off a steady
 * schedule (measured against the earliest-running one of the watch), or JACK's own
 * estimate of when each cycle began (its clock filter, which both the instrument's
 * reference times and PortAudio's stamps follow) wandering more than 0.5 ms (the stamp
 * tolerance the tests assert) from when the cycles really ran, for a measurement that
 * judges stamps. That filter takes seconds
 * to settle after a stall, so test_jack_watch_start() first waits (up to 8 s) until the
 * graph has run undisturbed for 2 s, and that stretch is part of the watch. `why` gets the
 * figures either way, for the log. A disturbed measurement is repeated or the test is
 * skipped; it neither passes nor fails. `timed` may be NULL (the instrument's side only). */
typedef struct test_jack_timed_t test_jack_timed_t;
/* `host_period`: the JACK period in frames (pieces of one split period share its slot). */
test_jack_timed_t *test_jack_timed_new(uint32_t rate, uint32_t host_period);
void test_jack_timed_destroy(test_jack_timed_t **self_p);
/* Makes test_jack_timed_cb (user = the timed object) call `cb(user, ...)`; resets it. */
void test_jack_timed_wrap(test_jack_timed_t *self, node_audio_cb *cb, void *user);
void test_jack_timed_cb(void *user, const float *in, float *out, uint32_t frames, int64_t adc_ns,
                        uint32_t flags);
/* `real` with the callback of the stream it opens timed by `timed` (one stream at a time;
 * the returned table is static). */
const node_audio_backend_t *test_jack_timed_backend(const node_audio_backend_t *real,
                                                    test_jack_timed_t *timed);
/* `stamps`: the measurement judges time stamps (then JACK's clock estimate must hold
 * still too); a measurement in frames only (the monitoring round trip) does not need it. */
void test_jack_watch_start(test_jack_sim_t *self, test_jack_timed_t *timed, bool stamps);
bool test_jack_watch_disturbed(test_jack_sim_t *self, test_jack_timed_t *timed,
                               uint64_t node_overflows, char *why, size_t len);
/* The client was told the server shut down. */
bool test_jack_sim_zombie(test_jack_sim_t *self);

#endif
