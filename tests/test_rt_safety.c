/*
 * test_rt_safety.c — fails if the audio callback path allocates, frees, takes a lock,
 * sleeps or writes while streaming.
 *
 * The program is linked with -Wl,--wrap for malloc, calloc, realloc, free,
 * pthread_mutex_lock/trylock, pthread_cond_wait/timedwait, nanosleep, clock_nanosleep,
 * usleep and write (tests/CMakeLists.txt), so every call our own code makes to them goes
 * through a __wrap_ function here first. Each counts the call when the calling thread is
 * inside the audio callback, which a thread-local flag says:
 * - for the PortAudio backend, Pa_OpenStream is wrapped too and the callback it is given
 *   is put inside a trampoline that raises the flag around it, so the whole callback is
 *   watched: the backend's channel copy and stamp, node_capture_rt_process, the monitor
 *   copy. It streams from the JACK instrument client with monitoring on (a duplex stream
 *   to the JACK "system" playback ports), and skips when jackd cannot start.
 * - for the virtual backend, the callback the stream is given raises the flag around
 *   node_capture_rt_process (the simulated hardware around it is not node code).
 * Both runs play notes, read meters, and stop draining the ring for a while so that the
 * ring-full path runs too. Calls made inside shared libraries (PortAudio's, JACK's own
 * code) are not seen: --wrap only reaches objects linked into this program, which is our
 * code, the code under test.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "audio.h"
#include "bb_clock.h"
#include "capture_rt.h"
#include "midi.h"
#include "midi_sched.h"
#include "sim_instrument.h"
#include "test_util.h"
#ifdef BB_TEST_HAVE_JACK
#include "test_jack_util.h"
#endif
#ifdef BB_HAVE_PORTAUDIO
#include <portaudio.h>
#endif

#define RATE        48000
#define RING_FRAMES 4096 /* 85 ms: fills during the pause below */
#define BLOCK_SLOTS 1024

/* ---- the interposers ---- */

enum {
    W_MALLOC,
    W_CALLOC,
    W_REALLOC,
    W_FREE,
    W_LOCK,
    W_TRYLOCK,
    W_WAIT,
    W_TWAIT,
    W_NANOSLEEP,
    W_CLOCK_NANOSLEEP,
    W_USLEEP,
    W_WRITE,
    W_COUNT
};
static const char *s_names[W_COUNT] = {"malloc",
                                       "calloc",
                                       "realloc",
                                       "free",
                                       "pthread_mutex_lock",
                                       "pthread_mutex_trylock",
                                       "pthread_cond_wait",
                                       "pthread_cond_timedwait",
                                       "nanosleep",
                                       "clock_nanosleep",
                                       "usleep",
                                       "write"};
static _Atomic uint64_t s_calls[W_COUNT];
static _Thread_local bool s_in_callback;
static _Atomic uint64_t s_callbacks;

#define COUNT(f)                                                                                   \
    do {                                                                                           \
        if (s_in_callback)                                                                         \
            atomic_fetch_add(&s_calls[f], 1);                                                      \
    } while (0)

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
int __real_pthread_mutex_lock(pthread_mutex_t *m);
int __real_pthread_mutex_trylock(pthread_mutex_t *m);
int __real_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int __real_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t);
int __real_nanosleep(const struct timespec *req, struct timespec *rem);
int __real_clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                           struct timespec *rem);
int __real_usleep(useconds_t us);
ssize_t __real_write(int fd, const void *buf, size_t n);

void *__wrap_malloc(size_t n)
{
    COUNT(W_MALLOC);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size)
{
    COUNT(W_CALLOC);
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n)
{
    COUNT(W_REALLOC);
    return __real_realloc(p, n);
}
void __wrap_free(void *p)
{
    COUNT(W_FREE);
    __real_free(p);
}
int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
    COUNT(W_LOCK);
    return __real_pthread_mutex_lock(m);
}
int __wrap_pthread_mutex_trylock(pthread_mutex_t *m)
{
    COUNT(W_TRYLOCK);
    return __real_pthread_mutex_trylock(m);
}
int __wrap_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    COUNT(W_WAIT);
    return __real_pthread_cond_wait(c, m);
}
int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
    COUNT(W_TWAIT);
    return __real_pthread_cond_timedwait(c, m, t);
}
int __wrap_nanosleep(const struct timespec *req, struct timespec *rem)
{
    COUNT(W_NANOSLEEP);
    return __real_nanosleep(req, rem);
}
int __wrap_clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                           struct timespec *rem)
{
    COUNT(W_CLOCK_NANOSLEEP);
    return __real_clock_nanosleep(clk, flags, req, rem);
}
int __wrap_usleep(useconds_t us)
{
    COUNT(W_USLEEP);
    return __real_usleep(us);
}
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    COUNT(W_WRITE);
    return __real_write(fd, buf, n);
}

static void s_reset(void)
{
    for (int f = 0; f < W_COUNT; f++)
        atomic_store(&s_calls[f], 0);
    atomic_store(&s_callbacks, 0);
}

static uint64_t s_report(void)
{
    uint64_t total = 0;
    for (int f = 0; f < W_COUNT; f++) {
        uint64_t n = atomic_load(&s_calls[f]);
        if (n)
            printf("  %s called %llu time(s) inside the audio callback\n", s_names[f],
                   (unsigned long long)n);
        total += n;
    }
    return total;
}

#ifdef BB_HAVE_PORTAUDIO
/* The callback PortAudio runs, inside a trampoline that raises the flag. */
static struct {
    PaStreamCallback *cb;
    void *user;
} s_pa;

static int s_trampoline(const void *in, void *out, unsigned long frames,
                        const PaStreamCallbackTimeInfo *ti, PaStreamCallbackFlags status,
                        void *user)
{
    s_in_callback = true;
    int rc = s_pa.cb(in, out, frames, ti, status, s_pa.user);
    s_in_callback = false;
    atomic_fetch_add(&s_callbacks, 1);
    return rc;
}

PaError __real_Pa_OpenStream(PaStream **stream, const PaStreamParameters *in,
                             const PaStreamParameters *out, double rate, unsigned long frames,
                             PaStreamFlags flags, PaStreamCallback *cb, void *user);
PaError __wrap_Pa_OpenStream(PaStream **stream, const PaStreamParameters *in,
                             const PaStreamParameters *out, double rate, unsigned long frames,
                             PaStreamFlags flags, PaStreamCallback *cb, void *user)
{
    s_pa.cb = cb;
    s_pa.user = user;
    return __real_Pa_OpenStream(stream, in, out, rate, frames, flags, s_trampoline, user);
}
#endif

/* For the virtual backend: the node's callback with the flag raised around it. */
static void s_watched(void *user, const float *in, float *out, uint32_t frames, int64_t adc_ns,
                      uint32_t flags)
{
    s_in_callback = true;
    node_capture_rt_process(user, in, out, frames, adc_ns, flags);
    s_in_callback = false;
    atomic_fetch_add(&s_callbacks, 1);
}

/* ---- the runs ---- */

static node_sim_t *s_new_sim(void)
{
    node_sim_config_t sc = NODE_SIM_CONFIG_INIT;
    sc.channels = 1;
    return node_sim_new(&sc);
}

/* Streams for `seconds` with notes, meters and a pause in draining; returns overflows. */
static uint64_t s_stream(const node_audio_backend_t *be, node_audio_config_t *cfg,
                         node_audio_cb *cb, node_sim_t *sim, double seconds)
{
    node_capture_t *cap = calloc(1, sizeof *cap);
    void *ring = calloc(RING_FRAMES, cfg->channels * sizeof(float));
    void *blocks = calloc(BLOCK_SLOTS, sizeof(node_block_t));
    float *scratch = calloc(RING_FRAMES, cfg->channels * sizeof(float));
    assert_int_equal(
        node_capture_init(cap, cfg->channels, RATE, ring, RING_FRAMES, blocks, BLOCK_SLOTS), 0);
    atomic_store(&cap->monitor, cfg->monitor);
    char err[512] = "";
    node_audio_stream_t *st = NULL;
    if (be->open(&st, cfg, cb, cap, err, sizeof err))
        fail_msg("open: %s", err);
    node_midi_port_t *port = NULL;
    const node_midi_backend_t *vm = node_midi_backend("virtual");
    assert_int_equal(vm->open(&port, NULL, sim, err, sizeof err), 0);
    node_midi_sched_t *midi = node_midi_sched_new(vm, port);
    s_reset();
    if (be->start(st, err, sizeof err))
        fail_msg("start: %s", err);
    int64_t t0 = bb_mono_ns(), end = t0 + (int64_t)(seconds * 1e9);
    for (int k = 0; k < 8; k++) {
        node_midi_event_t on = {.deadline_ns = t0 + (int64_t)k * 150 * BB_NS_PER_MS,
                                .len = 3,
                                .msg = {0x90, (uint8_t)(60 + k), 100}};
        node_midi_sched_post(midi, &on);
        on.deadline_ns += 100 * BB_NS_PER_MS;
        on.msg[0] = 0x80;
        node_midi_sched_post(midi, &on);
    }
    node_meters_t m;
    node_block_t b;
    node_midi_event_t r;
    while (bb_mono_ns() < end) {
        bb_sleep_ms(5);
        int64_t at = bb_mono_ns() - t0;
        if (at > 500 * BB_NS_PER_MS && at < 800 * BB_NS_PER_MS)
            continue; /* the recorder "stalls": the ring fills up */
        while (node_ring_read(&cap->blocks, &b, 1))
            ;
        while (node_ring_read(&cap->audio, scratch, RING_FRAMES))
            ;
        node_capture_meters(cap, &m);
        while (node_midi_sched_report(midi, &r))
            ;
    }
    be->stop(st);
    uint64_t overflows = atomic_load(&cap->overflows);
    printf("%llu callbacks, %llu frames, %llu overflow(s) (ring full on purpose)\n",
           (unsigned long long)atomic_load(&s_callbacks),
           (unsigned long long)atomic_load(&cap->frames_total), (unsigned long long)overflows);
    be->close(st);
    node_midi_sched_destroy(&midi);
    vm->close(port);
    free(cap);
    free(ring);
    free(blocks);
    free(scratch);
    return overflows;
}

static void test_interposers_count(void **state)
{
    s_reset();
    s_in_callback = true;
    void *p = malloc(16);
    p = realloc(p, 32);
    free(p);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    pthread_mutex_unlock(&mu);
    s_in_callback = false;
    free(malloc(8)); /* outside: not counted */
    assert_int_equal(atomic_load(&s_calls[W_MALLOC]), 1);
    assert_int_equal(atomic_load(&s_calls[W_REALLOC]), 1);
    assert_int_equal(atomic_load(&s_calls[W_FREE]), 1);
    assert_int_equal(atomic_load(&s_calls[W_LOCK]), 1);
    s_reset();
}

static void test_virtual_callback(void **state)
{
    node_sim_t *sim = s_new_sim();
    node_audio_config_t cfg = NODE_AUDIO_CONFIG_INIT;
    cfg.channels = 1;
    cfg.buffer_frames = 64;
    cfg.monitor = true;
    cfg.backend_ctx = sim;
    uint64_t overflows = s_stream(node_audio_backend("virtual"), &cfg, s_watched, sim, 1.5);
    assert_true(atomic_load(&s_callbacks) > 500);
    assert_true(overflows > 0);
    assert_int_equal(s_report(), 0);
    node_sim_destroy(&sim);
}

static void test_portaudio_callback(void **state)
{
#if defined(BB_HAVE_PORTAUDIO) && defined(BB_TEST_HAVE_JACK)
    test_jackd_t jackd;
    if (test_jackd_start(&jackd, RATE, 128) != 0) {
        test_skip("jackd cannot start here: the PortAudio path is not checked");
    }
    node_sim_t *sim = s_new_sim();
    test_jack_sim_t *client = test_jack_sim_new("bbsim", sim, 1000.0);
    assert_non_null(client);
    node_audio_config_t cfg = NODE_AUDIO_CONFIG_INIT;
    cfg.device = "bbsim";
    cfg.channels = 2;
    cfg.first_channel = 1;
    cfg.buffer_frames = 64; /* PortAudio splits each JACK period: more of our code runs */
    cfg.monitor = true;
    cfg.monitor_device = "system";
    uint64_t overflows =
        s_stream(node_audio_backend("portaudio"), &cfg, node_capture_rt_process, sim, 1.5);
    test_jack_sim_destroy(&client);
    test_jackd_stop(&jackd);
    node_sim_destroy(&sim);
    assert_true(atomic_load(&s_callbacks) > 500);
    assert_true(overflows > 0);
    assert_int_equal(s_report(), 0);
#else
    test_skip("no PortAudio backend or no libjack in this build");
#endif
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interposers_count),
        cmocka_unit_test(test_virtual_callback),
        cmocka_unit_test(test_portaudio_callback),
    };
    return test_main_group(tests, argc, argv);
}
