/* strmap.c — open-addressing string hash map; see strmap.h. */
#include "util/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

uint64_t strmap_hash(const void *key, size_t len)
{
	/* FNV-1a, 64-bit: short keys, good enough spread, no seed needed
	 * since keys here are names clients choose but cannot make collide
	 * cheaply at scale (and a collision only costs a longer probe). */
	const uint8_t *p = key;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static struct strmap_slot *find(const struct strmap *m, const void *key, size_t len, uint32_t h)
{
	size_t mask = m->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key)
			return s;
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return s;
	}
}

void *strmap_get(const struct strmap *m, const void *key, size_t len)
{
	if (!m->cap)
		return NULL;
	struct strmap_slot *s = find(m, key, len, (uint32_t)strmap_hash(key, len));
	return s->key ? s->val : NULL;
}

static void grow(struct strmap *m)
{
	struct strmap old = *m;
	m->cap = old.cap ? old.cap * 2 : 16;
	m->slots = xcalloc(m->cap, sizeof *m->slots);
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key)
			*find(m, old.slots[i].key, old.slots[i].len, old.slots[i].hash) = old.slots[i];
	free(old.slots);
}

void *strmap_put(struct strmap *m, const void *key, size_t len, void *val)
{
	if ((m->n + 1) * 4 > m->cap * 3)
		grow(m);
	uint32_t h = (uint32_t)strmap_hash(key, len);
	struct strmap_slot *s = find(m, key, len, h);
	if (s->key) {
		void *prev = s->val;
		s->key = key; /* the new value's key copy replaces the old one */
		s->val = val;
		return prev;
	}
	*s = (struct strmap_slot){key, val, (uint32_t)len, h};
	m->n++;
	return NULL;
}

void *strmap_del(struct strmap *m, const void *key, size_t len)
{
	if (!m->cap)
		return NULL;
	struct strmap_slot *s = find(m, key, len, (uint32_t)strmap_hash(key, len));
	if (!s->key)
		return NULL;
	void *val = s->val;
	size_t mask = m->cap - 1, i = (size_t)(s - m->slots), j = i;
	/* Backward-shift: pull later entries of the probe run into the hole. */
	for (;;) {
		j = (j + 1) & mask;
		if (!m->slots[j].key)
			break;
		size_t home = m->slots[j].hash & mask;
		/* Move j into i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i] = (struct strmap_slot){0};
	m->n--;
	return val;
}

void strmap_free(struct strmap *m)
{
	free(m->slots);
	*m = (struct strmap){0};
}

int strmap_next(const struct strmap *m, size_t *i, void **val)
{
	for (; *i < m->cap; (*i)++) {
		if (m->slots[*i].key) {
			*val = m->slots[(*i)++].val;
			return 1;
		}
	}
	return 0;
}
