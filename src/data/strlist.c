#include <stdlib.h>
#include <string.h>

#include "internal.h"

int strlist_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        char **p = realloc(l->v, (size_t)cap * sizeof *p);
        if (!p) return -1;
        l->v = p;
        l->cap = cap;
    }
    if (!(l->v[l->n] = data_strdup(s))) return -1;
    l->n++;
    return 0;
}

void strlist_free(strlist *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}
