/*
 * test_midi_sched.c — the MIDI thread (midi_sched.h) with a recording backend: messages
 * go out at their deadlines, in deadline order, with their sent time reported; and a
 * panic (abort, cancel, shutdown) turns off every note still sounding, then sends All
 * Notes Off (CC123) and All Sound Off (CC120) on the channels used, ahead of queued
 * events, even when asked for just before the scheduler is destroyed. SysEx goes out
 * whole, in its place in the order, through the backend's send_sysex, and is refused
 * (reported, not sent) by a backend without one; queued SysEx dropped by a cancel is freed
 * (the ASan build checks).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bb_clock.h"
#include "midi.h"
#include "midi_sched.h"

#define MAX_SENT 256

struct node_midi_port_t {
    pthread_mutex_t lock;
    uint8_t msg[MAX_SENT][3];
    int64_t at[MAX_SENT];
    int n;
};

static int s_send(node_midi_port_t *p, const uint8_t *msg, size_t len, int64_t now_ns)
{
    pthread_mutex_lock(&p->lock);
    if (p->n < MAX_SENT) {
        memcpy(p->msg[p->n], msg, len);
        p->at[p->n++] = bb_node_clock_ns();
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static uint8_t s_sysex[64];
static size_t s_sysex_len;
static int s_sysex_at = -1; /* index among the short messages sent before it */

static int s_send_sysex(node_midi_port_t *p, const uint8_t *msg, size_t len, int64_t now_ns)
{
    pthread_mutex_lock(&p->lock);
    memcpy(s_sysex, msg, len < sizeof s_sysex ? len : sizeof s_sysex);
    s_sysex_len = len;
    s_sysex_at = p->n;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static const node_midi_backend_t s_backend = {.name = "recording", .send = s_send};
static const node_midi_backend_t s_backend_sysex = {
    .name = "recording", .send = s_send, .send_sysex = s_send_sysex};

/* Messages sent so far (the MIDI thread writes the count under the port's lock). */
static int s_sent(node_midi_port_t *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->n;
    pthread_mutex_unlock(&p->lock);
    return n;
}

static bool s_has(node_midi_port_t *p, int from, uint8_t a, uint8_t b, int *at)
{
    for (int i = from; i < p->n; i++)
        if (p->msg[i][0] == a && p->msg[i][1] == b) {
            if (at)
                *at = i;
            return true;
        }
    return false;
}

static void test_deadlines_and_reports(void **state)
{
    node_midi_port_t port = {.lock = PTHREAD_MUTEX_INITIALIZER};
    node_midi_sched_t *s = node_midi_sched_new(&s_backend, &port);
    int64_t t0 = bb_node_clock_ns() + 20 * BB_NS_PER_MS;
    for (int k = 4; k >= 0; k--) { /* posted out of order */
        node_midi_event_t ev = {.tag = (uint64_t)k,
                                .deadline_ns = t0 + k * 5 * BB_NS_PER_MS,
                                .len = 3,
                                .msg = {0x90, (uint8_t)(60 + k), 100}};
        assert_int_equal(node_midi_sched_post(s, &ev), 0);
    }
    bb_sleep_ms(60);
    node_midi_event_t r;
    for (int k = 0; k < 5; k++) {
        assert_int_equal(node_midi_sched_report(s, &r), 1);
        assert_int_equal(r.tag, k);
        assert_int_equal(r.status, 0);
        assert_true(r.sent_ns >= r.deadline_ns);
        assert_true(r.sent_ns - r.deadline_ns < 5 * BB_NS_PER_MS);
        assert_int_equal(port.msg[k][1], 60 + k);
    }
    assert_int_equal(node_midi_sched_report(s, &r), 0);
    node_midi_sched_destroy(&s);
    assert_null(s);
}

static void test_panic(void **state)
{
    node_midi_port_t port = {.lock = PTHREAD_MUTEX_INITIALIZER};
    node_midi_sched_t *s = node_midi_sched_new(&s_backend, &port);
    node_midi_event_t ev = {.deadline_ns = 0, .len = 3, .msg = {0x92, 64, 100}}; /* ch 3 */
    node_midi_sched_post(s, &ev);
    ev.msg[1] = 67;
    node_midi_sched_post(s, &ev);
    ev.msg[0] = 0x82; /* 64 is released again, 67 keeps sounding */
    ev.msg[1] = 64;
    node_midi_sched_post(s, &ev);
    ev.msg[0] = 0x92; /* a note far in the future: a panic goes before it */
    ev.msg[1] = 72;
    ev.deadline_ns = bb_node_clock_ns() + 10 * BB_NS_PER_S;
    node_midi_sched_post(s, &ev);
    for (int i = 0; i < 400 && s_sent(&port) < 3; i++) /* the three due now (a busy host waits) */
        bb_sleep_ms(5);
    bb_sleep_ms(5);
    int before = s_sent(&port);
    assert_int_equal(before, 3);
    node_midi_sched_panic(s);
    node_midi_sched_destroy(&s); /* right away: the panic still goes out */
    int off = -1, anf = -1, asf = -1;
    assert_true(s_has(&port, before, 0x82, 67, &off));
    assert_false(s_has(&port, before, 0x82, 64, NULL)); /* not sounding: no note-off */
    assert_true(s_has(&port, before, 0xB2, 123, &anf));
    assert_true(s_has(&port, before, 0xB2, 120, &asf));
    assert_true(off < anf && anf < asf);
    assert_false(s_has(&port, before, 0xB0, 123, NULL)); /* channel 1 was never used */
    assert_false(s_has(&port, before, 0x92, 72, NULL));
    assert_int_equal(s_sent(&port) - before, 3);
}

static node_midi_event_t s_sysex_event(uint64_t tag)
{
    static const uint8_t gm_on[] = {0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7};
    node_midi_event_t ev = {.tag = tag, .deadline_ns = 0};
    ev.sysex = malloc(sizeof gm_on);
    memcpy(ev.sysex, gm_on, sizeof gm_on);
    ev.sysex_len = sizeof gm_on;
    return ev;
}

static void test_sysex(void **state)
{
    node_midi_port_t port = {.lock = PTHREAD_MUTEX_INITIALIZER};
    node_midi_sched_t *s = node_midi_sched_new(&s_backend_sysex, &port);
    node_midi_event_t sx = s_sysex_event(1);
    node_midi_event_t pc = {.tag = 2, .deadline_ns = 0, .len = 2, .msg = {0xC0, 5}};
    assert_int_equal(node_midi_sched_post(s, &sx), 0);
    assert_int_equal(node_midi_sched_post(s, &pc), 0);
    node_midi_event_t r;
    int reports = 0;
    for (int i = 0; i < 200 && reports < 2; i++) {
        while (node_midi_sched_report(s, &r)) {
            assert_int_equal(r.status, 0);
            assert_null(r.sysex);
            reports++;
        }
        bb_sleep_ms(5);
    }
    assert_int_equal(reports, 2);
    assert_int_equal(s_sysex_len, 6);
    assert_int_equal(s_sysex[0], 0xF0);
    assert_int_equal(s_sysex[5], 0xF7);
    assert_int_equal(s_sysex_at, 0); /* before the program change, as posted */
    assert_true(s_has(&port, 0, 0xC0, 5, NULL));
    /* queued far ahead, then cancelled: dropped and freed */
    node_midi_event_t later = s_sysex_event(3);
    later.deadline_ns = bb_node_clock_ns() + 10 * BB_NS_PER_S;
    assert_int_equal(node_midi_sched_post(s, &later), 0);
    assert_int_equal(node_midi_sched_cancel(s, ~(uint64_t)0, 3), 1);
    node_midi_event_t pending = s_sysex_event(4); /* still queued at destroy: freed there */
    pending.deadline_ns = bb_node_clock_ns() + 10 * BB_NS_PER_S;
    assert_int_equal(node_midi_sched_post(s, &pending), 0);
    node_midi_sched_destroy(&s);

    /* a backend that cannot send SysEx says so in the report */
    s = node_midi_sched_new(&s_backend, &port);
    node_midi_event_t no = s_sysex_event(5);
    assert_int_equal(node_midi_sched_post(s, &no), 0);
    bool got = false;
    for (int i = 0; i < 200 && !got; i++) {
        got = node_midi_sched_report(s, &r);
        if (!got)
            bb_sleep_ms(5);
    }
    assert_true(got);
    assert_int_not_equal(r.status, 0);
    node_midi_sched_destroy(&s);
}

/* The awaited event is cancelled while the thread sleeps its last stretch to it: the
 * thread must not send the next event (30 ms later) in its place, early. The cancel has
 * to land inside that short sleep, so the case is tried many times; without the check
 * after waking, most tries send the next event about 29 ms early. */
static void test_cancel_in_last_sleep_sends_nothing_early(void **state)
{
    node_midi_port_t port = {.lock = PTHREAD_MUTEX_INITIALIZER};
    node_midi_sched_t *s = node_midi_sched_new(&s_backend, &port);
    const int64_t first_ns = 700 * 1000;       /* inside the final sleep (< 1 ms) */
    const int64_t cancel_ns = 400 * 1000;      /* while the thread sleeps toward it */
    const int64_t next_ns = 30 * BB_NS_PER_MS; /* the event that must wait its turn */
    for (int attempt = 0; attempt < 30; attempt++) {
        int64_t t0 = bb_node_clock_ns();
        uint8_t note = (uint8_t)(40 + attempt);
        node_midi_event_t later = {.tag = 2, .deadline_ns = t0 + next_ns, .len = 3};
        node_midi_event_t first = {.tag = 1, .deadline_ns = t0 + first_ns, .len = 3};
        memcpy(later.msg, (uint8_t[]){0x90, note, 100}, 3);
        memcpy(first.msg, (uint8_t[]){0x90, 10, 100}, 3);
        assert_int_equal(node_midi_sched_post(s, &later), 0);
        assert_int_equal(node_midi_sched_post(s, &first), 0);
        while (bb_node_clock_ns() < t0 + cancel_ns)
            ; /* spin: a sleep could overshoot past the first deadline */
        node_midi_sched_cancel(s, ~(uint64_t)0, 1);
        int at = -1;
        for (int waited = 0; waited < 2000; waited++) {
            pthread_mutex_lock(&port.lock);
            bool sent = s_has(&port, 0, 0x90, note, &at);
            pthread_mutex_unlock(&port.lock);
            if (sent)
                break;
            bb_sleep_ms(1);
        }
        assert_true(at >= 0);
        if (port.at[at] < later.deadline_ns)
            fail_msg("attempt %d: the next event went out %.3f ms before its deadline", attempt,
                     (later.deadline_ns - port.at[at]) / 1e6);
        node_midi_event_t r;
        while (node_midi_sched_report(s, &r) == 1)
            ;
    }
    node_midi_sched_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadlines_and_reports),
        cmocka_unit_test(test_panic),
        cmocka_unit_test(test_sysex),
        cmocka_unit_test(test_cancel_in_last_sleep_sends_nothing_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
