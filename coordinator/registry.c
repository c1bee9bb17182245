/*
 * registry.c — a small array of nodes, kept sorted by name for stable listings.
 */
#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "bb_err.h"
#include "bb_pb.h"

struct coord_registry_t {
    coord_node_t **nodes;
    size_t n, cap;
};

coord_registry_t *coord_registry_new(void)
{
    return calloc(1, sizeof(coord_registry_t));
}

void coord_registry_destroy(coord_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_registry_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        zframe_destroy(&self->nodes[i]->peer);
        if (self->nodes[i]->caps)
            bb__capabilities__free_unpacked(self->nodes[i]->caps, NULL);
        free(self->nodes[i]);
    }
    free(self->nodes);
    free(self);
    *self_p = NULL;
}

coord_node_t *coord_registry_find(coord_registry_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->nodes[i]->name, name) == 0)
            return self->nodes[i];
    return NULL;
}

coord_node_t *coord_registry_get(coord_registry_t *self, const char *name)
{
    coord_node_t *node = coord_registry_find(self, name);
    if (node)
        return node;
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 8;
        coord_node_t **nn = realloc(self->nodes, cap * sizeof *nn);
        if (!nn)
            return NULL;
        self->nodes = nn;
        self->cap = cap;
    }
    node = calloc(1, sizeof *node);
    if (!node)
        return NULL;
    snprintf(node->name, sizeof node->name, "%s", name);
    size_t at = 0;
    while (at < self->n && strcmp(self->nodes[at]->name, name) < 0)
        at++;
    memmove(&self->nodes[at + 1], &self->nodes[at], (self->n - at) * sizeof node);
    self->nodes[at] = node;
    self->n++;
    return node;
}

int coord_registry_remove(coord_registry_t *self, const char *name)
{
    for (size_t i = 0; i < self->n; i++) {
        if (strcmp(self->nodes[i]->name, name) != 0)
            continue;
        coord_node_t *node = self->nodes[i];
        zframe_destroy(&node->peer);
        if (node->caps)
            bb__capabilities__free_unpacked(node->caps, NULL);
        free(node);
        memmove(&self->nodes[i], &self->nodes[i + 1], (self->n - i - 1) * sizeof self->nodes[0]);
        self->n--;
        return 0;
    }
    return BB_ENOTFOUND;
}

size_t coord_registry_size(coord_registry_t *self)
{
    return self->n;
}

coord_node_t *coord_registry_at(coord_registry_t *self, size_t i)
{
    return i < self->n ? self->nodes[i] : NULL;
}

void coord_registry_set_peer(coord_node_t *node, zframe_t *peer)
{
    if (node->peer && peer && zframe_eq(node->peer, peer))
        return;
    zframe_destroy(&node->peer);
    node->peer = peer ? zframe_dup(peer) : NULL;
}

void coord_registry_set_caps(coord_node_t *node, const Bb__Capabilities *caps)
{
    if (node->caps)
        bb__capabilities__free_unpacked(node->caps, NULL);
    node->caps = NULL;
    if (!caps)
        return;
    node->caps = BB_PB_COPY(Bb__Capabilities, caps);
}
