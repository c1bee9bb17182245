/*
 * midi_virtual.c — the virtual MIDI backend: writes go straight into the simulated
 * instrument's lock-free input queue, stamped with the node-clock time of the write, as
 * the bytes would arrive at a hardware synth's MIDI input.
 *
 * The default port reaches the whole simulation (with several parts, each part hears its
 * own MIDI channel). Ports "sim1", "sim2", ... (or "1", "2", ...) reach one part each, as
 * a synth on a MIDI port of its own: its channel messages arrive on whatever channel
 * the part listens to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "midi.h"
#include "sim_instrument.h"

struct node_midi_port_t {
    node_sim_t *sim;
    bool one_part; /* a part's own port: channel messages go to its channel */
};

static int s_list(node_device_t *devices, int max, char *err, size_t errlen)
{
    if (max > 0) {
        memset(&devices[0], 0, sizeof devices[0]);
        snprintf(devices[0].name, sizeof devices[0].name, "Batcherbird simulated instrument");
        snprintf(devices[0].host_api, sizeof devices[0].host_api, "virtual");
    }
    return 1;
}

static int s_open(node_midi_port_t **port, const char *device, void *ctx, char *err, size_t errlen)
{
    if (!ctx) {
        snprintf(err, errlen, "the virtual MIDI backend needs a simulated instrument");
        return BB_EINVAL;
    }
    node_sim_t *sim = ctx;
    bool one_part = false;
    if (device && *device && strcmp(device, "sim") != 0) {
        const char *num = strncmp(device, "sim", 3) == 0 ? device + 3 : device;
        char *end = NULL;
        long k = strtol(num, &end, 10);
        sim = *num && !*end && k >= 1 ? node_sim_part(ctx, (size_t)(k - 1)) : NULL;
        if (!sim) {
            snprintf(err, errlen,
                     "no simulated MIDI port '%s' (ports: sim, or sim1 to sim%zu, one per "
                     "simulated instrument)",
                     device, node_sim_parts(ctx));
            return BB_ENOTFOUND;
        }
        one_part = true;
    }
    node_midi_port_t *p = calloc(1, sizeof *p);
    if (!p)
        return BB_ENOMEM;
    p->sim = sim;
    p->one_part = one_part;
    *port = p;
    return 0;
}

static int s_send(node_midi_port_t *port, const uint8_t *msg, size_t len, int64_t now_ns)
{
    uint32_t ch = node_sim_midi_channel(port->sim);
    if (port->one_part && len >= 1 && len <= 3 && msg[0] >= 0x80 && msg[0] < 0xF0 && ch < 16) {
        uint8_t m[3] = {(uint8_t)((msg[0] & 0xF0) | ch), len > 1 ? msg[1] : 0,
                        len > 2 ? msg[2] : 0};
        return node_sim_midi_in(port->sim, m, len, now_ns);
    }
    return node_sim_midi_in(port->sim, msg, len, now_ns);
}

static int s_send_sysex(node_midi_port_t *port, const uint8_t *msg, size_t len, int64_t now_ns)
{
    return node_sim_midi_in(port->sim, msg, len, now_ns); /* heard, and ignored */
}

static void s_close(node_midi_port_t *port)
{
    free(port);
}

const node_midi_backend_t *node_midi_virtual_backend(void)
{
    static const node_midi_backend_t backend = {
        .name = "virtual",
        .list_devices = s_list,
        .open = s_open,
        .send = s_send,
        .send_sysex = s_send_sysex,
        .close = s_close,
    };
    return &backend;
}
