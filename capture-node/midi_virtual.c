/*
 * midi_virtual.c — the virtual MIDI backend: writes go straight into the simulated
 * instrument's lock-free input queue, stamped with the node-clock time of the write, as
 * the bytes would arrive at a hardware synth's MIDI input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "midi.h"
#include "sim_instrument.h"

struct node_midi_port_t {
    node_sim_t *sim;
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
    node_midi_port_t *p = calloc(1, sizeof *p);
    if (!p)
        return BB_ENOMEM;
    p->sim = ctx;
    *port = p;
    return 0;
}

static int s_send(node_midi_port_t *port, const uint8_t *msg, size_t len, int64_t now_ns)
{
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
