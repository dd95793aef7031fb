/* xalloc.h — allocation that aborts on failure (after Redis's zmalloc).
 *
 * Safe only because every allocation a client can drive is bounded first
 * (frame_max, max_message_size, queue limits); see docs/architecture.md. */
#ifndef TERN_UTIL_XALLOC_H
#define TERN_UTIL_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copies n bytes and adds a NUL, so names taken off the wire become C strings. */
char *xstrndup(const void *s, size_t n);
void *xmemdup(const void *s, size_t n);

#endif
