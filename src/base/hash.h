/* FNV-1a 64-bit: a tiny stable hash for cache keys (not for security). */
#ifndef GRAFT_HASH_H
#define GRAFT_HASH_H
#include <stddef.h>
#include <stdint.h>

#define FNV64_INIT 0xcbf29ce484222325ULL

static inline uint64_t fnv64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#endif
