/* strmap.h — a hash map from byte-string keys to pointers.
 *
 * Open addressing with linear probing and tombstone-free backward-shift
 * deletion, so lookups stay short however many deletes happen. Keys are
 * borrowed: the caller keeps each key alive (usually inside the value)
 * until it is removed. Used for names of queues, exchanges, consumer tags
 * and direct-exchange routing keys. */
#ifndef TERN_UTIL_STRMAP_H
#define TERN_UTIL_STRMAP_H

#include <stddef.h>
#include <stdint.h>

/* 24 bytes: a map of 100k names costs 6 MB of slots at most, not 8.
 * The low 32 bits of the hash are kept (the probe starts from them). */
struct strmap_slot {
	const char *key;
	void *val;
	uint32_t len;
	uint32_t hash;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

uint64_t strmap_hash(const void *key, size_t len);

/* Returns the value stored under key, or NULL. */
void *strmap_get(const struct strmap *m, const void *key, size_t len);

/* Stores val under key (borrowed), replacing any previous value, which is
 * returned (NULL if none). */
void *strmap_put(struct strmap *m, const void *key, size_t len, void *val);

/* Removes key; returns its value or NULL. */
void *strmap_del(struct strmap *m, const void *key, size_t len);

/* Frees the slot array (not keys or values). */
void strmap_free(struct strmap *m);

/* Iteration: for (size_t i = 0; strmap_next(m, &i, &val);) ... ; do not
 * insert while iterating (deleting the current entry is not safe either:
 * collect first). */
int strmap_next(const struct strmap *m, size_t *i, void **val);

#endif
