/*
 * export_map.c — the mapping of export_map.h, computed separately for normal and release
 * samples. Sorting a small index array keeps the caller's order intact.
 */
#include "export_map.h"

#include <stdlib.h>

#include "bb_err.h"

static void s_map_set(dsp_map_entry_t *e, size_t n, bool release, dsp_map_mode_t mode, int edge_low,
                      int edge_high)
{
    int notes[128], n_notes = 0;
    bool has[128] = {false};
    for (size_t i = 0; i < n; i++)
        if (e[i].release == release && e[i].note >= 0 && e[i].note <= 127)
            has[e[i].note] = true;
    for (int k = 0; k < 128; k++)
        if (has[k])
            notes[n_notes++] = k;
    if (n_notes == 0)
        return;

    int lo[128], hi[128];
    int auto_edge = 0;
    if (n_notes > 1)
        auto_edge = ((notes[n_notes - 1] - notes[0]) / (n_notes - 1) + 1) / 2;
    int el = edge_low >= 0 ? edge_low : auto_edge;
    int eh = edge_high >= 0 ? edge_high : auto_edge;
    for (int i = 0; i < n_notes; i++) {
        int k = notes[i];
        if (i == 0)
            lo[k] = k - el < 0 ? 0 : k - el;
        else if (mode == DSP_MAP_UPWARD)
            lo[k] = k;
        else
            lo[k] = (notes[i - 1] + k) / 2 + 1;
        if (i == n_notes - 1)
            hi[k] = k + eh > 127 ? 127 : k + eh;
        else if (mode == DSP_MAP_UPWARD)
            hi[k] = notes[i + 1] - 1;
        else
            hi[k] = (k + notes[i + 1]) / 2;
    }
    /* In upward mode the lowest sample also reaches down to its edge only. */

    for (int i = 0; i < n_notes; i++) {
        int k = notes[i];
        /* velocities present for this note */
        bool vhas[128] = {false};
        for (size_t j = 0; j < n; j++)
            if (e[j].release == release && e[j].note == k && e[j].velocity >= 1 &&
                e[j].velocity <= 127)
                vhas[e[j].velocity] = true;
        int vels[128], nv = 0;
        for (int v = 1; v < 128; v++)
            if (vhas[v])
                vels[nv++] = v;
        for (int vi = 0; vi < nv; vi++) {
            int vlo = vi == 0 ? 1 : vels[vi - 1] + 1;
            int vhi = vi == nv - 1 ? 127 : vels[vi];
            /* round robins of this cell, in rr order */
            int count = 0;
            for (size_t j = 0; j < n; j++)
                if (e[j].release == release && e[j].note == k && e[j].velocity == vels[vi])
                    count++;
            for (size_t j = 0; j < n; j++) {
                if (!(e[j].release == release && e[j].note == k && e[j].velocity == vels[vi]))
                    continue;
                int pos = 1;
                for (size_t m = 0; m < n; m++)
                    if (m != j && e[m].release == release && e[m].note == k &&
                        e[m].velocity == vels[vi] &&
                        (e[m].rr < e[j].rr || (e[m].rr == e[j].rr && m < j)))
                        pos++;
                e[j].lokey = lo[k];
                e[j].hikey = hi[k];
                e[j].lovel = vlo;
                e[j].hivel = vhi;
                e[j].seq_position = pos;
                e[j].seq_length = count;
            }
        }
    }
}

int dsp_map_build(dsp_map_entry_t *e, size_t n, dsp_map_mode_t mode, int edge_low, int edge_high)
{
    if (!e && n)
        return BB_EINVAL;
    s_map_set(e, n, false, mode, edge_low, edge_high);
    s_map_set(e, n, true, mode, edge_low, edge_high);
    return 0;
}
