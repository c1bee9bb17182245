/*
 * test_jack_util.c — see test_jack_util.h.
 */
#include "test_jack_util.h"
#include "test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <jack/jack.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_JACKD_SLOTS          4
#define SIM_PORTS                 3
#define SIM_MAX_FRAMES            8192
#define SIM_CYCLES                4096  /* cycle records kept (~22 s at 256 frames) */
#define TIMED_SLOTS               65536 /* node callbacks kept (~22 s at 16 frames) */
#define TEST_JACK_SETTLE_MS       2000  /* undisturbed graph before a watch begins */
#define TEST_JACK_SETTLE_WAIT_MS  8000  /* longest wait for it */
#define TEST_JACK_CLOCK_WANDER_US 500   /* JACK's clock estimate against the real cycles */

static int64_t s_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void s_quiet(const char *msg)
{
}

/* ---- the server ---- */

static int s_run_wait(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execlp("jack_wait", "jack_wait", "-w", "-t", "5", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void s_tail(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f))
        fprintf(stderr, "  jackd: %s", line);
    fclose(f);
}

/* Starts jackd under j->name; 0 when it is up and it is ours. */
static int s_start(test_jackd_t *j, bool quiet)
{
    char rate[16], period[16];
    snprintf(rate, sizeof rate, "%u", j->rate);
    snprintf(period, sizeof period, "%u", j->period);
    setenv("JACK_DEFAULT_SERVER", j->name, 1);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "cannot fork jackd: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a crashed test */
        int fd = open(j->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        if (j->sync)
            execlp("jackd", "jackd", "-n", j->name, "-R", "-S", "-d", "dummy", "-r", rate, "-p",
                   period, "-C", "2", "-P", "2", (char *)NULL);
        else
            execlp("jackd", "jackd", "-n", j->name, "-R", "-d", "dummy", "-r", rate, "-p", period,
                   "-C", "2", "-P", "2", (char *)NULL);
        fprintf(stderr, "cannot run jackd: %s\n", strerror(errno));
        _exit(127);
    }
    j->pid = pid;
    int rc = s_run_wait();
    /* jack_wait also succeeds on somebody else's server of that name: ours must be alive */
    struct timespec settle = {0, 100 * 1000000L};
    nanosleep(&settle, NULL);
    int status;
    if (rc != 0 || waitpid(pid, &status, WNOHANG) == pid) {
        j->pid = 0;
        if (!quiet) {
            fprintf(stderr, "the dummy JACK server '%s' did not start (jack_wait: %d); log:\n",
                    j->name, rc);
            s_tail(j->log);
        }
        if (rc == 0 || waitpid(pid, &status, WNOHANG) == 0) { /* still starting: stop it */
            kill(pid, SIGTERM);
            waitpid(pid, &status, 0);
        }
        return -1;
    }
    return 0;
}

int test_jackd_restart(test_jackd_t *j)
{
    return s_start(j, false);
}

static bool s_want_sync;

int test_jackd_start_sync(test_jackd_t *j, uint32_t rate, uint32_t period)
{
    s_want_sync = true;
    int rc = test_jackd_start(j, rate, period);
    s_want_sync = false;
    return rc;
}

int test_jackd_start(test_jackd_t *j, uint32_t rate, uint32_t period)
{
    memset(j, 0, sizeof *j);
    j->sync = s_want_sync;
    j->rate = rate;
    j->period = period;
    setenv("JACK_NO_START_SERVER", "1", 1);
    jack_set_error_function(s_quiet);
    jack_set_info_function(s_quiet);
    /* Names from a small pool, not one per process: JACK keeps at most 8 servers in its
     * registry and reclaims the entry of one that died without unregistering (SIGKILL,
     * a crashed test) only when a server of the same name registers again. A name in use
     * by a live server (a test running beside this one) is skipped. */
    for (int slot = 0; slot < TEST_JACKD_SLOTS; slot++) {
        snprintf(j->name, sizeof j->name, "bbtest-%u-%d", (unsigned)getuid(), slot);
        snprintf(j->log, sizeof j->log, "/tmp/%s-jackd.log", j->name);
        unlink(j->log);
        test_remove_at_exit(j->log);
        if (s_start(j, slot + 1 < TEST_JACKD_SLOTS) == 0)
            return 0;
    }
    return -1;
}

static void s_reap(test_jackd_t *j, int sig, double timeout_s)
{
    if (j->pid <= 0)
        return;
    kill(j->pid, sig);
    int64_t until = s_mono_ns() + (int64_t)(timeout_s * 1e9);
    int status;
    while (waitpid(j->pid, &status, WNOHANG) == 0) {
        if (s_mono_ns() > until) {
            kill(j->pid, SIGKILL);
            waitpid(j->pid, &status, 0);
            break;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    j->pid = 0;
}

void test_jackd_stop(test_jackd_t *j)
{
    s_reap(j, SIGTERM, 5.0);
}

void test_jackd_kill(test_jackd_t *j)
{
    s_reap(j, SIGKILL, 5.0);
}

/* ---- the instrument client ---- */

struct test_jack_sim_t {
    jack_client_t *client;
    jack_port_t *ports[SIM_PORTS];
    node_sim_t *sim;
    double sine_hz;
    uint32_t rate;
    uint64_t frame;
    int64_t jack_to_mono_ns; /* CLOCK_MONOTONIC - jack_get_time() */
    float buf[SIM_MAX_FRAMES];
    uint64_t cycle_frame[SIM_CYCLES]; /* first frame of each cycle, and its time */
    int64_t cycle_ns[SIM_CYCLES];
    _Atomic uint64_t cycles;
    atomic_bool zombie;
    int64_t cycle_entry_ns[SIM_CYCLES]; /* CLOCK_MONOTONIC when each callback began */
    _Atomic uint64_t xruns;             /* the server's xrun callbacks */
    _Atomic int64_t last_xrun_ns;       /* CLOCK_MONOTONIC of the latest one */
    uint64_t watch_from;                /* first cycle of the current disturbance watch */
    int64_t watch_from_ns;              /* and its time */
    bool watch_stamps;                  /* the watched measurement judges time stamps */
};

/* Like a capture port of an audio interface: the audio delivered in a cycle is the audio
 * of the period before it, and the port says so (its capture latency is one period), so
 * a client can tell when the first frame of a buffer was "captured". */
static void s_set_latency(test_jack_sim_t *self)
{
    jack_nframes_t period = jack_get_buffer_size(self->client);
    jack_latency_range_t range = {period, period};
    for (int p = 0; p < SIM_PORTS; p++)
        if (self->ports[p])
            jack_port_set_latency_range(self->ports[p], JackCaptureLatency, &range);
}

static void s_latency(jack_latency_callback_mode_t mode, void *arg)
{
    if (mode == JackCaptureLatency)
        s_set_latency(arg);
}

/* The JACK thread. Realtime: renders and copies, nothing else. The instrument renders the
 * period that has just ended (it is a sound captured during that period), so a MIDI
 * message sent at any time up to now is already in its queue. */
static int s_process(jack_nframes_t n, void *arg)
{
    test_jack_sim_t *self = arg;
    const int64_t entry_ns = s_mono_ns();
    float *out[SIM_PORTS];
    for (int p = 0; p < SIM_PORTS; p++)
        out[p] = jack_port_get_buffer(self->ports[p], n);
    jack_nframes_t cur_frames;
    jack_time_t cur_usecs, next_usecs;
    float period_usecs;
    jack_get_cycle_times(self->client, &cur_frames, &cur_usecs, &next_usecs, &period_usecs);
    int64_t t_first = (int64_t)cur_usecs * 1000 + self->jack_to_mono_ns -
                      (int64_t)llround((double)n * 1e9 / self->rate);
    uint32_t done = 0;
    while (done < n) {
        uint32_t k = n - done < SIM_MAX_FRAMES ? n - done : SIM_MAX_FRAMES;
        node_sim_render(self->sim, self->buf, k, self->frame + done,
                        t_first + (int64_t)((double)done * 1e9 / self->rate));
        memcpy(out[1] + done, self->buf, k * sizeof(float));
        done += k;
    }
    for (jack_nframes_t i = 0; i < n; i++) {
        out[0][i] =
            0.1f * (float)sin(2.0 * M_PI * self->sine_hz * (double)(self->frame + i) / self->rate);
        out[2][i] = 0.0f;
    }
    uint64_t k = atomic_load_explicit(&self->cycles, memory_order_relaxed);
    self->cycle_frame[k % SIM_CYCLES] = self->frame;
    self->cycle_ns[k % SIM_CYCLES] = t_first;
    self->cycle_entry_ns[k % SIM_CYCLES] = entry_ns;
    self->frame += n;
    atomic_store_explicit(&self->cycles, k + 1, memory_order_release);
    return 0;
}

static int s_xrun(void *arg)
{
    test_jack_sim_t *self = arg;
    atomic_fetch_add_explicit(&self->xruns, 1, memory_order_relaxed);
    atomic_store_explicit(&self->last_xrun_ns, s_mono_ns(), memory_order_relaxed);
    return 0;
}

static void s_shutdown(void *arg)
{
    test_jack_sim_t *self = arg;
    atomic_store(&self->zombie, true);
}

test_jack_sim_t *test_jack_sim_new(const char *name, node_sim_t *sim, double sine_hz)
{
    test_jack_sim_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sim = sim;
    self->sine_hz = sine_hz;
    jack_status_t status;
    self->client = jack_client_open(name, JackNoStartServer | JackUseExactName, &status);
    if (!self->client) {
        fprintf(stderr, "cannot open JACK client '%s' (status 0x%x)\n", name, status);
        free(self);
        return NULL;
    }
    self->rate = jack_get_sample_rate(self->client);
    /* JACK's clock against CLOCK_MONOTONIC: the tightest of several paired reads. */
    int64_t best = INT64_MAX;
    for (int i = 0; i < 50; i++) {
        int64_t a = s_mono_ns();
        int64_t j = (int64_t)jack_get_time() * 1000;
        int64_t b = s_mono_ns();
        if (b - a < best) {
            best = b - a;
            self->jack_to_mono_ns = a + (b - a) / 2 - j;
        }
    }
    for (int p = 0; p < SIM_PORTS; p++) {
        char pname[16];
        snprintf(pname, sizeof pname, "out_%d", p);
        /* Physical, as an interface's capture port: JACK then also publishes the capture
         * latency through the old jack_port_get_latency(), which PortAudio 19.6 reads. */
        self->ports[p] =
            jack_port_register(self->client, pname, JACK_DEFAULT_AUDIO_TYPE,
                               JackPortIsOutput | JackPortIsPhysical | JackPortIsTerminal, 0);
        if (!self->ports[p]) {
            fprintf(stderr, "cannot register JACK port %s\n", pname);
            test_jack_sim_destroy(&self);
            return NULL;
        }
    }
    s_set_latency(self);
    jack_set_latency_callback(self->client, s_latency, self);
    jack_set_process_callback(self->client, s_process, self);
    jack_set_xrun_callback(self->client, s_xrun, self);
    jack_on_shutdown(self->client, s_shutdown, self);
    if (jack_activate(self->client) != 0) {
        fprintf(stderr, "cannot activate JACK client '%s'\n", name);
        test_jack_sim_destroy(&self);
        return NULL;
    }
    jack_recompute_total_latencies(self->client);
    return self;
}

void test_jack_sim_destroy(test_jack_sim_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    test_jack_sim_t *self = *self_p;
    if (self->client) {
        if (!atomic_load(&self->zombie))
            jack_deactivate(self->client);
        jack_client_close(self->client);
    }
    free(self);
    *self_p = NULL;
}

uint64_t test_jack_sim_cycles(test_jack_sim_t *self)
{
    return atomic_load(&self->cycles);
}

bool test_jack_sim_zombie(test_jack_sim_t *self)
{
    return atomic_load(&self->zombie);
}

bool test_jack_sim_time_of(test_jack_sim_t *self, uint64_t frame, int64_t *t_ns)
{
    uint64_t n = atomic_load_explicit(&self->cycles, memory_order_acquire);
    uint64_t lo = n > SIM_CYCLES - 16 ? n - (SIM_CYCLES - 16) : 0; /* not being rewritten */
    for (uint64_t k = n; k-- > lo;) {
        uint64_t f = self->cycle_frame[k % SIM_CYCLES];
        if (f <= frame) {
            *t_ns = self->cycle_ns[k % SIM_CYCLES] +
                    (int64_t)llround((double)(frame - f) * 1e9 / self->rate);
            return true;
        }
    }
    return false;
}

/* ---- host interference ---- */

/* The worst lateness in a series of (first frame, start time) records: each record's start
 * against a steady schedule of one frame per 1/rate, relative to the earliest-running
 * record of the whole series (the schedule's phase, learnt, not assumed). Frames are
 * rounded down to whole host periods, so the pieces of one split host buffer, which run
 * back to back in one cycle, share their cycle's place in the schedule. */
static int64_t s_worst_late_ns(const uint64_t *frame, const int64_t *start_ns, uint64_t from,
                               uint64_t n, uint64_t slots, uint32_t rate, uint32_t period)
{
    int64_t earliest = INT64_MAX, latest = INT64_MIN;
    for (uint64_t k = from; k < n; k++) {
        uint64_t f = frame[k % slots] / period * period;
        int64_t dev = start_ns[k % slots] - (int64_t)llround((double)f * 1e9 / rate);
        earliest = dev < earliest ? dev : earliest;
        latest = dev > latest ? dev : latest;
    }
    return n > from ? latest - earliest : 0;
}

struct test_jack_timed_t {
    node_audio_cb *inner;
    void *inner_user;
    uint32_t rate, period;
    uint64_t frames; /* callback-private: frames delivered so far */
    uint64_t frame[TIMED_SLOTS];
    int64_t entry_ns[TIMED_SLOTS];
    _Atomic uint64_t n;
    uint64_t watch_from;
};

test_jack_timed_t *test_jack_timed_new(uint32_t rate, uint32_t host_period)
{
    test_jack_timed_t *self = calloc(1, sizeof *self);
    if (self) {
        self->rate = rate;
        self->period = host_period;
    }
    return self;
}

void test_jack_timed_destroy(test_jack_timed_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

void test_jack_timed_wrap(test_jack_timed_t *self, node_audio_cb *cb, void *user)
{
    self->inner = cb;
    self->inner_user = user;
    self->frames = 0;
    atomic_store(&self->n, 0);
    self->watch_from = 0;
}

/* Realtime: notes the time and frame, then calls the node's callback. */
void test_jack_timed_cb(void *user, const float *in, float *out, uint32_t frames, int64_t adc_ns,
                        uint32_t flags)
{
    test_jack_timed_t *self = user;
    uint64_t k = atomic_load_explicit(&self->n, memory_order_relaxed);
    self->frame[k % TIMED_SLOTS] = self->frames;
    self->entry_ns[k % TIMED_SLOTS] = s_mono_ns();
    self->frames += frames;
    atomic_store_explicit(&self->n, k + 1, memory_order_release);
    self->inner(self->inner_user, in, out, frames, adc_ns, flags);
}

/* A backend that is another with every stream's callback timed (one stream at a time). */
static const node_audio_backend_t *s_timed_real;
static test_jack_timed_t *s_timed;
static node_audio_backend_t s_timed_backend;

static int s_timed_open(node_audio_stream_t **stream, const node_audio_config_t *cfg,
                        node_audio_cb *cb, void *user, char *err, size_t errlen)
{
    test_jack_timed_wrap(s_timed, cb, user);
    return s_timed_real->open(stream, cfg, test_jack_timed_cb, s_timed, err, errlen);
}

const node_audio_backend_t *test_jack_timed_backend(const node_audio_backend_t *real,
                                                    test_jack_timed_t *timed)
{
    s_timed_real = real;
    s_timed = timed;
    s_timed_backend = *real;
    s_timed_backend.open = s_timed_open;
    return &s_timed_backend;
}

/* The first cycle record that began at or after time t (n when none did). */
static uint64_t s_cycle_since(const test_jack_sim_t *self, int64_t t, uint64_t n)
{
    uint64_t lo = n > SIM_CYCLES - 16 ? n - (SIM_CYCLES - 16) : 0, k = n;
    while (k > lo && self->cycle_entry_ns[(k - 1) % SIM_CYCLES] >= t)
        k--;
    return k;
}

/* How far JACK's own estimate of each cycle's start (its clock filter's cur_usecs, which
 * the instrument's reference times and PortAudio's stamps both follow) wandered from when
 * the cycles really ran, over the cycles since `from`: the spread of (callback start -
 * estimated cycle start). On a steady host it is tens of microseconds; after a stall the
 * filter lags the real cycles by up to milliseconds for a few seconds. */
static int64_t s_clock_wander_ns(const test_jack_sim_t *self, uint64_t from, uint64_t n)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (uint64_t k = from; k < n; k++) {
        uint64_t next = k + 1 < n ? self->cycle_frame[(k + 1) % SIM_CYCLES] : 0;
        if (k + 1 >= n || next <= self->cycle_frame[k % SIM_CYCLES])
            continue;
        /* cycle_ns is the estimated start minus the period's length */
        int64_t est =
            self->cycle_ns[k % SIM_CYCLES] +
            (int64_t)llround((double)(next - self->cycle_frame[k % SIM_CYCLES]) * 1e9 / self->rate);
        int64_t e = self->cycle_entry_ns[k % SIM_CYCLES] - est;
        lo = e < lo ? e : lo;
        hi = e > hi ? e : hi;
    }
    return hi >= lo ? hi - lo : 0;
}

/* The instrument's cycles since `from` ran within a period of a steady schedule, and JACK's
 * clock estimate followed them within TEST_JACK_CLOCK_WANDER_US. */
static bool s_cycles_steady(test_jack_sim_t *self, uint64_t from, uint64_t n, int64_t *late_ns,
                            int64_t *wander_ns)
{
    bool judge_clock = self->watch_stamps;
    uint32_t period = jack_get_buffer_size(self->client);
    *late_ns = s_worst_late_ns(self->cycle_frame, self->cycle_entry_ns, from, n, SIM_CYCLES,
                               self->rate, period);
    *wander_ns = s_clock_wander_ns(self, from, n);
    return n > from + 1 && *late_ns <= (int64_t)llround(period * 1e9 / self->rate) &&
           (!judge_clock || *wander_ns <= (int64_t)TEST_JACK_CLOCK_WANDER_US * 1000);
}

void test_jack_watch_start(test_jack_sim_t *self, test_jack_timed_t *timed, bool stamps)
{
    self->watch_stamps = stamps;
    /* JACK's estimate of its own clock takes a second or two to settle after an xrun or a
     * stall, and the stamps under test follow it: so the watch begins only after the
     * graph has run undisturbed for TEST_JACK_SETTLE_MS (waiting at most
     * TEST_JACK_SETTLE_WAIT_MS; a host that never settles shows up as disturbed), and that
     * quiet stretch counts as part of the watch. */
    int64_t settle_ns = (int64_t)TEST_JACK_SETTLE_MS * 1000000;
    int64_t give_up = s_mono_ns() + (int64_t)TEST_JACK_SETTLE_WAIT_MS * 1000000;
    int64_t now, late_ns, wander_ns;
    uint64_t n, from;
    for (;;) {
        now = s_mono_ns();
        n = atomic_load_explicit(&self->cycles, memory_order_acquire);
        from = s_cycle_since(self, now - settle_ns, n);
        bool quiet = atomic_load(&self->last_xrun_ns) < now - settle_ns &&
                     s_cycles_steady(self, from, n, &late_ns, &wander_ns) &&
                     self->cycle_entry_ns[from % SIM_CYCLES] < now - settle_ns + settle_ns / 4;
        if (quiet || now > give_up)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    self->watch_from = from;
    self->watch_from_ns = now - settle_ns;
    atomic_store(&self->xruns, atomic_load(&self->last_xrun_ns) >= now - settle_ns ? 1 : 0);
    if (timed)
        timed->watch_from = atomic_load_explicit(&timed->n, memory_order_acquire);
}

bool test_jack_watch_disturbed(test_jack_sim_t *self, test_jack_timed_t *timed,
                               uint64_t node_overflows, char *why, size_t len)
{
    uint64_t xruns = atomic_load(&self->xruns);
    uint64_t n = atomic_load_explicit(&self->cycles, memory_order_acquire);
    uint64_t from = self->watch_from;
    if (n - from > SIM_CYCLES - 16) /* older records are being rewritten */
        from = n - (SIM_CYCLES - 16);
    uint32_t period = jack_get_buffer_size(self->client);
    int64_t period_ns = (int64_t)llround(period * 1e9 / self->rate);
    int64_t late_ns, wander_ns;
    bool steady = s_cycles_steady(self, from, n, &late_ns, &wander_ns);
    int64_t node_late_ns = 0;
    uint64_t calls = 0;
    if (timed) {
        uint64_t tn = atomic_load_explicit(&timed->n, memory_order_acquire);
        uint64_t tfrom = timed->watch_from;
        if (tn - tfrom > TIMED_SLOTS - 64)
            tfrom = tn - (TIMED_SLOTS - 64);
        calls = tn - tfrom;
        node_late_ns = s_worst_late_ns(timed->frame, timed->entry_ns, tfrom, tn, TIMED_SLOTS,
                                       timed->rate, timed->period);
    }
    bool disturbed = xruns > 0 || node_overflows > 0 || !steady || node_late_ns > period_ns ||
                     (timed && calls == 0);
    snprintf(why, len,
             "%llu server xrun(s), %llu node overflow(s); over %llu cycles the instrument ran "
             "at most %.2f ms and the node's callback %.2f ms off a steady schedule (one "
             "period is %.2f ms), JACK's clock estimate wandered %.3f ms (at most %.3f)",
             (unsigned long long)xruns, (unsigned long long)node_overflows,
             (unsigned long long)(n - from), late_ns / 1e6, node_late_ns / 1e6, period_ns / 1e6,
             wander_ns / 1e6, TEST_JACK_CLOCK_WANDER_US / 1e3);
    return disturbed;
}
