/*
 * midi_portmidi.c — the PortMidi MIDI backend: a real MIDI output (a USB MIDI interface or
 * a synth's own USB port, through ALSA).
 *
 * Timing belongs to the node's MIDI thread (midi_sched.c), which calls send() at each
 * event's deadline. So the output is opened with latency 0: PortMidi then ignores
 * timestamps and writes every message to the driver at once, and the time the scheduler
 * reads just before send() is the time the message left. The time procedure handed to
 * PortMidi is the monotonic clock in milliseconds (only used to stamp, never to delay),
 * so no PortTime thread is started.
 *
 * Devices are chosen by PortMidi device id or by a case-insensitive substring of the
 * name; only outputs count. PortMidi finds devices once, at Pm_Initialize, so each
 * list/open initialises it afresh and each close terminates it: a device plugged in
 * later is found by the next open.
 */
#include <ctype.h>
#include <portmidi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bb_clock.h"
#include "bb_err.h"
#include "bb_log.h"
#include "midi.h"

#define NODE_PM_BUFFER 256 /* events PortMidi may hold (none with latency 0) */

struct node_midi_port_t {
    PortMidiStream *pm;
    char name[NODE_DEVICE_NAME_MAX];
};

static PmTimestamp s_time_ms(void *info)
{
    return (PmTimestamp)(bb_mono_ns() / BB_NS_PER_MS);
}

static int s_pm_init(char *err, size_t errlen)
{
    node_backends_quiet();
    PmError pe = Pm_Initialize();
    if (pe != pmNoError) {
        snprintf(err, errlen, "cannot initialise PortMidi: %s", Pm_GetErrorText(pe));
        return BB_EDEVICE;
    }
    return 0;
}

static int s_list(node_device_t *devices, int max, char *err, size_t errlen)
{
    int rc = s_pm_init(err, errlen);
    if (rc)
        return rc;
    int n = Pm_CountDevices(), outputs = 0;
    for (int i = 0; i < n; i++) {
        const PmDeviceInfo *info = Pm_GetDeviceInfo(i);
        if (!info || !info->output)
            continue;
        if (outputs < max) {
            node_device_t *d = &devices[outputs];
            memset(d, 0, sizeof *d);
            d->index = (uint32_t)i;
            snprintf(d->name, sizeof d->name, "%s", info->name ? info->name : "?");
            snprintf(d->host_api, sizeof d->host_api, "%s", info->interf ? info->interf : "?");
            d->output_channels = 16; /* MIDI channels */
        }
        outputs++;
    }
    Pm_Terminate();
    return outputs;
}

static bool s_icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return n == 0;
}

static void s_output_names(char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < Pm_CountDevices() && used + 1 < len; i++) {
        const PmDeviceInfo *info = Pm_GetDeviceInfo(i);
        if (!info || !info->output)
            continue;
        int w = snprintf(out + used, len - used, "%s[%d] %s", used ? ", " : "", i, info->name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static int s_find_output(const char *spec, PmDeviceID *out, char *err, size_t errlen)
{
    int n = Pm_CountDevices(), outputs = 0;
    for (int i = 0; i < n; i++) {
        const PmDeviceInfo *info = Pm_GetDeviceInfo(i);
        outputs += info && info->output;
    }
    if (outputs == 0) {
        snprintf(err, errlen,
                 "no MIDI output devices found (PortMidi sees %d device%s, no output); connect "
                 "the MIDI interface or the synth's USB port, check it appears in "
                 "'aconnect -o', or use --midi virtual",
                 n, n == 1 ? "" : "s");
        return BB_ENOTFOUND;
    }
    char names[320];
    if (!spec || !*spec || strcmp(spec, "default") == 0) {
        PmDeviceID d = Pm_GetDefaultOutputDeviceID();
        if (d == pmNoDevice) {
            s_output_names(names, sizeof names);
            snprintf(err, errlen, "no default MIDI output; choose one with --midi-device: %s",
                     names);
            return BB_ENOTFOUND;
        }
        *out = d;
        return 0;
    }
    bool digits = true;
    for (const char *p = spec; *p; p++)
        digits &= isdigit((unsigned char)*p) != 0;
    if (digits) {
        long i = strtol(spec, NULL, 10);
        const PmDeviceInfo *info = i < n ? Pm_GetDeviceInfo((PmDeviceID)i) : NULL;
        if (!info || !info->output) {
            s_output_names(names, sizeof names);
            snprintf(err, errlen, "MIDI device %s is not an output; outputs: %s", spec, names);
            return BB_ENOTFOUND;
        }
        *out = (PmDeviceID)i;
        return 0;
    }
    PmDeviceID found = pmNoDevice;
    for (int i = 0; i < n; i++) {
        const PmDeviceInfo *info = Pm_GetDeviceInfo(i);
        if (!info || !info->output)
            continue;
        if (strcasecmp(info->name, spec) == 0) {
            found = i;
            break;
        }
        if (found == pmNoDevice && s_icontains(info->name, spec))
            found = i;
    }
    if (found == pmNoDevice) {
        s_output_names(names, sizeof names);
        snprintf(err, errlen, "no MIDI output matches '%s'; outputs: %s", spec, names);
        return BB_ENOTFOUND;
    }
    *out = found;
    return 0;
}

static int s_open(node_midi_port_t **port, const char *device, void *ctx, char *err, size_t errlen)
{
    int rc = s_pm_init(err, errlen);
    if (rc)
        return rc;
    PmDeviceID id;
    if ((rc = s_find_output(device, &id, err, errlen))) {
        Pm_Terminate();
        return rc;
    }
    node_midi_port_t *p = calloc(1, sizeof *p);
    if (!p) {
        Pm_Terminate();
        snprintf(err, errlen, "out of memory");
        return BB_ENOMEM;
    }
    const PmDeviceInfo *info = Pm_GetDeviceInfo(id);
    snprintf(p->name, sizeof p->name, "%s", info->name);
    PmError pe = Pm_OpenOutput(&p->pm, id, NULL, NODE_PM_BUFFER, s_time_ms, NULL, 0);
    if (pe != pmNoError) {
        char host[256] = "";
        if (pe == pmHostError)
            Pm_GetHostErrorText(host, sizeof host);
        snprintf(err, errlen, "cannot open MIDI output '%s': %s%s%s", p->name, Pm_GetErrorText(pe),
                 *host ? ": " : "", host);
        free(p);
        Pm_Terminate();
        return BB_EDEVICE;
    }
    bb_info("MIDI: output '%s' (%s)", p->name, info->interf);
    *port = p;
    return 0;
}

static int s_send(node_midi_port_t *port, const uint8_t *msg, size_t len, int64_t now_ns)
{
    if (len < 1 || len > 3)
        return BB_EINVAL;
    PmMessage m = Pm_Message(msg[0], len > 1 ? msg[1] : 0, len > 2 ? msg[2] : 0);
    PmError pe = Pm_WriteShort(port->pm, 0, m); /* timestamp 0 + latency 0: now */
    return pe == pmNoError ? 0 : BB_EDEVICE;
}

/* Pm_WriteSysEx sends the whole message, F0 to F7, as one write. */
static int s_send_sysex(node_midi_port_t *port, const uint8_t *msg, size_t len, int64_t now_ns)
{
    if (len < 2 || msg[0] != 0xF0 || msg[len - 1] != 0xF7)
        return BB_EINVAL;
    PmError pe = Pm_WriteSysEx(port->pm, 0, (unsigned char *)msg);
    return pe == pmNoError ? 0 : BB_EDEVICE;
}

static void s_close(node_midi_port_t *port)
{
    if (!port)
        return;
    if (port->pm)
        Pm_Close(port->pm);
    free(port);
    Pm_Terminate();
}

const node_midi_backend_t *node_midi_portmidi_backend(void)
{
    static const node_midi_backend_t backend = {
        .name = "portmidi",
        .list_devices = s_list,
        .open = s_open,
        .send = s_send,
        .send_sysex = s_send_sysex,
        .close = s_close,
    };
    return &backend;
}
