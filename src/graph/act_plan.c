/* Slot assignment for inference activations (act_plan.h): greedy by size,
 * best fit. Largest first means a slot's first value fixes its size and
 * every later value fits any slot it is free to use. */
#include "act_plan.h"

#include <stdlib.h>

static int before(const act_value *v, int a, int b)
{
    if (v[a].numel != v[b].numel) return v[a].numel > v[b].numel;
    if (v[a].def != v[b].def) return v[a].def < v[b].def;
    return a < b;
}

int act_plan_assign(const act_value *v, int nv, int *slot, size_t *slot_numel)
{
    int *order = malloc(((size_t)nv + 1) * sizeof *order);
    unsigned char *busy = malloc((size_t)nv + 1);
    if (!order || !busy) {
        free(order);
        free(busy);
        return -1;
    }
    int n = 0;
    for (int i = 0; i < nv; i++) {
        slot[i] = -1;
        if (v[i].def < 0) continue;
        /* Insertion sort: a few hundred values at most, planned once. */
        int k = n++;
        while (k > 0 && before(v, i, order[k - 1])) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
    int nslots = 0;
    for (int a = 0; a < n; a++) {
        int i = order[a];
        for (int s = 0; s < nslots; s++) busy[s] = 0;
        for (int b = 0; b < a; b++) {
            int j = order[b];
            if (v[j].def <= v[i].last && v[i].def <= v[j].last) busy[slot[j]] = 1;
        }
        int best = -1;
        for (int s = 0; s < nslots; s++)
            if (!busy[s] && (best < 0 || slot_numel[s] < slot_numel[best])) best = s;
        if (best < 0) {
            best = nslots++;
            slot_numel[best] = v[i].numel;
        }
        slot[i] = best;
    }
    free(order);
    free(busy);
    return nslots;
}
