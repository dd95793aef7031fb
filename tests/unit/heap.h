/* heap.h — shared by the unit tests that show memory given back: the bytes
 * the heap holds now, from ASan's allocator when it is in, else glibc's
 * (its arenas' chunks in use plus its mmapped blocks, where big arrays
 * live). ASan counts exactly; glibc counts chunks parked in its per-thread
 * cache as in use, so without ASan a little slack is allowed (HEAP_SLACK). */
#ifndef TERN_TESTS_HEAP_H
#define TERN_TESTS_HEAP_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
/* From ASan's runtime; gcc ships no header for it. */
size_t __sanitizer_get_current_allocated_bytes(void);
#define HEAP_SLACK 0
#else
#include <malloc.h>
#define HEAP_SLACK (64 * 1024)
#endif

static inline size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
#endif
}

#endif
