/*
 * midi.h — the MIDI output backend contract of a capture node.
 *
 * As with audio.h, the front end (midi.c) picks a backend from the registry and each
 * backend is one file exporting one function returning this table.
 *
 * What a backend must do:
 * - open(): open the output named by `device` (name substring or index; NULL = default),
 *   or fail with a message a person can act on, leaving nothing open.
 * - send(): write one complete MIDI message (1-3 bytes, running status not used) now,
 *   without buffering it for later; `now_ns` is the node-clock time the caller read just
 *   before the call (the virtual backend stamps the event with it). Called only from the
 *   node's MIDI thread.
 * - send_sysex(): write one whole System Exclusive message (F0 ... F7) now; may be NULL
 *   when the backend cannot (the node then refuses plans with SysEx). Called only from the
 *   node's MIDI thread.
 * - close(): release the port.
 */
#ifndef NODE_MIDI_H
#define NODE_MIDI_H

#include <stddef.h>
#include <stdint.h>

#include "audio.h"

typedef struct node_midi_port_t node_midi_port_t;

typedef struct {
    const char *name;
    int (*list_devices)(node_device_t *devices, int max, char *err, size_t errlen);
    int (*open)(node_midi_port_t **port, const char *device, void *backend_ctx, char *err,
                size_t errlen);
    int (*send)(node_midi_port_t *port, const uint8_t *msg, size_t len, int64_t now_ns);
    int (*send_sysex)(node_midi_port_t *port, const uint8_t *msg, size_t len, int64_t now_ns);
    void (*close)(node_midi_port_t *port);
} node_midi_backend_t;

const node_midi_backend_t *const *node_midi_backends(void);
const node_midi_backend_t *node_midi_backend(const char *name);

const node_midi_backend_t *node_midi_virtual_backend(void);
#ifdef BB_HAVE_PORTMIDI
const node_midi_backend_t *node_midi_portmidi_backend(void);
#endif

#endif
