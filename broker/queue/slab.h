/* slab.h — size classes for small messages: one queued 16-byte message
 * should cost its bytes, not a malloc chunk's rounding and header.
 *
 * Design notes. Objects of up to SLAB_MAX bytes are rounded up to a
 * multiple of 8 and carved from 64 KiB pages of that one size (Bonwick's
 * slab, without constructors): no header per object, so the caller passes
 * the size back to slab_free, which finds the page by aligning the
 * address down. A page keeps its own free list and count; a page that
 * empties is handed back to the system (MADV_DONTNEED), unless it is the
 * last one of its size, which stays for the next burst. Pages come from
 * 4 MiB mappings, so even a large heap of small messages is a few
 * hundred mappings. Larger objects go to malloc. One thread only, as the
 * broker's loop.
 *
 * Under AddressSanitizer every object comes from malloc instead
 * (slab_bypass), so ASan and LeakSanitizer keep seeing each message's
 * lifetime; tests/unit/check_slab.c turns the bypass off to run the
 * pages themselves under ASan, which then sees freed objects poisoned. */
#ifndef TERN_BROKER_SLAB_H
#define TERN_BROKER_SLAB_H

#include <stdbool.h>
#include <stddef.h>

#define SLAB_MAX 512

/* n bytes, 8-aligned; aborts when out of memory, as xmalloc. */
void *slab_alloc(size_t n);
/* Frees p, allocated by slab_alloc(n) with the same n. */
void slab_free(void *p, size_t n);

/* true: everything from malloc (the default under ASan). Set it only
 * while nothing is allocated. */
extern bool slab_bypass;

/* Pages in use (holding objects or kept for the next burst), for tests
 * and the memory figures. */
extern size_t slab_pages;

#endif
