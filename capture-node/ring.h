/*
 * ring.h — lock-free single-producer / single-consumer ring of fixed-size elements.
 *
 * The audio callback writes captured frames into one; the recorder thread reads them.
 * The same ring carries block timestamps and MIDI events. One thread may write and one
 * thread may read at the same time, with no locks: the producer owns `head`, the consumer
 * owns `tail`, both are 64-bit element counts that never wrap in practice, published with
 * release stores and observed with acquire loads. Capacity is a power of two so the
 * position in the buffer is a mask away. Storage is caller-owned and set up before use;
 * nothing here allocates, so every call is safe from a realtime thread.
 */
#ifndef NODE_RING_H
#define NODE_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_RING_CACHELINE 64

typedef struct {
    _Alignas(NODE_RING_CACHELINE) _Atomic uint64_t head; /* elements written, producer-owned */
    _Alignas(NODE_RING_CACHELINE) _Atomic uint64_t tail; /* elements read, consumer-owned */
    _Alignas(NODE_RING_CACHELINE) uint8_t *buf;
    size_t elem_size;
    uint64_t capacity; /* elements, power of two */
    uint64_t mask;
} node_ring_t;

/* Bytes of storage a ring of `capacity` elements of `elem_size` bytes needs. */
size_t node_ring_storage_size(size_t elem_size, size_t capacity);

/* Sets up `ring` over caller-owned `storage` (node_ring_storage_size bytes).
 * Returns 0, or BB_EINVAL when capacity is not a power of two or a size is zero. */
int node_ring_init(node_ring_t *ring, void *storage, size_t elem_size, size_t capacity);

/* Producer: copies up to n elements in; returns how many fit (0..n). Realtime-safe. */
size_t node_ring_write(node_ring_t *ring, const void *src, size_t n);

/* Consumer: copies up to n elements out; returns how many there were (0..n). */
size_t node_ring_read(node_ring_t *ring, void *dst, size_t n);

/* Consumer: drops up to n elements without copying; returns how many. */
size_t node_ring_skip(node_ring_t *ring, size_t n);

/* Elements available to read (consumer side) / room to write (producer side). */
size_t node_ring_readable(const node_ring_t *ring);
size_t node_ring_writable(const node_ring_t *ring);

/* Consumer: resets to empty. Only when the producer is known to be idle. */
void node_ring_reset(node_ring_t *ring);

#endif
