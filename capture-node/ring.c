/*
 * ring.c — the SPSC ring of ring.h.
 *
 * Writes copy in at most two pieces (before and after the wrap), then publish the new
 * head with a release store, so the consumer's acquire load of head makes the copied
 * bytes visible before it reads them. Reads mirror that with tail. Each side reads the
 * other side's counter once per call, which keeps the cache line ping-pong low.
 */
#include "ring.h"

#include <string.h>

#include "bb_err.h"

size_t node_ring_storage_size(size_t elem_size, size_t capacity)
{
    return elem_size * capacity;
}

int node_ring_init(node_ring_t *ring, void *storage, size_t elem_size, size_t capacity)
{
    if (!ring || !storage || elem_size == 0 || capacity == 0 || (capacity & (capacity - 1)))
        return BB_EINVAL;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    ring->buf = storage;
    ring->elem_size = elem_size;
    ring->capacity = capacity;
    ring->mask = capacity - 1;
    return 0;
}

static void s_copy_in(node_ring_t *ring, uint64_t pos, const uint8_t *src, size_t n)
{
    uint64_t at = pos & ring->mask;
    size_t first = (size_t)(ring->capacity - at);
    if (first > n)
        first = n;
    memcpy(ring->buf + at * ring->elem_size, src, first * ring->elem_size);
    if (n > first)
        memcpy(ring->buf, src + first * ring->elem_size, (n - first) * ring->elem_size);
}

static void s_copy_out(const node_ring_t *ring, uint64_t pos, uint8_t *dst, size_t n)
{
    uint64_t at = pos & ring->mask;
    size_t first = (size_t)(ring->capacity - at);
    if (first > n)
        first = n;
    memcpy(dst, ring->buf + at * ring->elem_size, first * ring->elem_size);
    if (n > first)
        memcpy(dst + first * ring->elem_size, ring->buf, (n - first) * ring->elem_size);
}

size_t node_ring_write(node_ring_t *ring, const void *src, size_t n)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    uint64_t room = ring->capacity - (head - tail);
    if (n > room)
        n = (size_t)room;
    if (n == 0)
        return 0;
    s_copy_in(ring, head, src, n);
    atomic_store_explicit(&ring->head, head + n, memory_order_release);
    return n;
}

size_t node_ring_read(node_ring_t *ring, void *dst, size_t n)
{
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t avail = head - tail;
    if (n > avail)
        n = (size_t)avail;
    if (n == 0)
        return 0;
    s_copy_out(ring, tail, dst, n);
    atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
    return n;
}

size_t node_ring_skip(node_ring_t *ring, size_t n)
{
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t avail = head - tail;
    if (n > avail)
        n = (size_t)avail;
    atomic_store_explicit(&ring->tail, tail + n, memory_order_release);
    return n;
}

size_t node_ring_readable(const node_ring_t *ring)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    return (size_t)(head - tail);
}

size_t node_ring_writable(const node_ring_t *ring)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    return (size_t)(ring->capacity - (head - tail));
}

void node_ring_reset(node_ring_t *ring)
{
    uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    atomic_store_explicit(&ring->tail, head, memory_order_release);
}
