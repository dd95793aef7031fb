/* slab.c — pages of same-sized small objects; see slab.h. */
#include "broker/queue/slab.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "util/xalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLAB_ASAN 1
#endif
#endif

#ifdef SLAB_ASAN
#include <sanitizer/asan_interface.h>
bool slab_bypass = true;
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
bool slab_bypass = false;
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define PAGE ((size_t)64 * 1024)
#define ARENA (64 * PAGE) /* one mapping: 4 MiB */
#define FIRST 64           /* objects start past the page header */

/* At the start of every page. */
struct page {
	struct page *next, *prev; /* in its class's list of pages with room */
	void *free;               /* freed objects, linked through their first 8 bytes */
	uint32_t size;            /* of its objects */
	uint32_t used;            /* objects handed out */
	uint32_t bump;            /* offset of the first object never handed out */
	bool listed;              /* in the list of pages with room */
};
_Static_assert(sizeof(struct page) <= FIRST, "page header too big");

/* Per size class (8, 16, ... SLAB_MAX): the pages with room. */
static struct page *avail[SLAB_MAX / 8];

size_t slab_pages;

/* Pages not in use: the rest of the newest mapping, and released pages
 * (their memory already given back), reused first. */
static char *arena_next, *arena_end;
static void **spare;
static size_t nspare, spare_cap;

static size_t rounded(size_t n)
{
	return n ? (n + 7) & ~(size_t)7 : 8;
}

static void map_arena(void)
{
	/* One page more than needed, then trimmed to a page boundary. */
	size_t len = ARENA + PAGE;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "out of memory (slab: %zu bytes)\n", len);
		abort();
	}
	char *a = (char *)(((uintptr_t)p + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (p + len > a + ARENA)
		munmap(a + ARENA, (size_t)(p + len - (a + ARENA)));
	arena_next = a;
	arena_end = a + ARENA;
}

static struct page *page_new(uint32_t size)
{
	char *mem;
	if (nspare) {
		mem = spare[--nspare];
	} else {
		if (arena_next == arena_end)
			map_arena();
		mem = arena_next;
		arena_next += PAGE;
	}
	struct page *pg = (struct page *)mem;
	*pg = (struct page){.size = size, .bump = FIRST};
	POISON(mem + FIRST, PAGE - FIRST);
	slab_pages++;
	return pg;
}

static void page_release(struct page *pg)
{
	madvise(pg, PAGE, MADV_DONTNEED); /* its memory goes back now */
	UNPOISON(pg, PAGE);
	if (nspare == spare_cap) {
		spare_cap = spare_cap ? spare_cap * 2 : 64;
		spare = xrealloc(spare, spare_cap * sizeof *spare);
	}
	spare[nspare++] = pg;
	slab_pages--;
}

static void link_page(struct page **head, struct page *pg)
{
	pg->prev = NULL;
	pg->next = *head;
	if (*head)
		(*head)->prev = pg;
	*head = pg;
	pg->listed = true;
}

static void unlink_page(struct page **head, struct page *pg)
{
	if (pg->prev)
		pg->prev->next = pg->next;
	else
		*head = pg->next;
	if (pg->next)
		pg->next->prev = pg->prev;
	pg->listed = false;
}

void *slab_alloc(size_t n)
{
	if (slab_bypass || n > SLAB_MAX)
		return xmalloc(n);
	uint32_t size = (uint32_t)rounded(n);
	struct page **head = &avail[size / 8 - 1];
	struct page *pg = *head;
	if (!pg) {
		pg = page_new(size);
		link_page(head, pg);
	}
	char *p;
	if (pg->free) {
		p = pg->free;
		UNPOISON(p, size);
		pg->free = *(void **)p;
	} else {
		p = (char *)pg + pg->bump;
		UNPOISON(p, size);
		pg->bump += size;
	}
	pg->used++;
	if (!pg->free && pg->bump + size > PAGE)
		unlink_page(head, pg); /* full */
	return p;
}

void slab_free(void *p, size_t n)
{
	if (slab_bypass || n > SLAB_MAX) {
		free(p);
		return;
	}
	uint32_t size = (uint32_t)rounded(n);
	struct page **head = &avail[size / 8 - 1];
	struct page *pg = (struct page *)((uintptr_t)p & ~(uintptr_t)(PAGE - 1));
	*(void **)p = pg->free;
	pg->free = p;
	POISON(p, size);
	pg->used--;
	if (!pg->listed)
		link_page(head, pg);
	/* An empty page goes back, unless it is the only one with room. */
	if (pg->used == 0 && (*head != pg || pg->next)) {
		unlink_page(head, pg);
		page_release(pg);
	}
}
