/* xalloc.c — aborting allocators; see xalloc.h. */
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *check(void *p, size_t n)
{
	if (!p && n) {
		fprintf(stderr, "tern: out of memory allocating %zu bytes\n", n);
		abort();
	}
	return p;
}

void *xmalloc(size_t n)
{
	return check(malloc(n ? n : 1), n);
}

void *xcalloc(size_t n, size_t size)
{
	return check(calloc(n ? n : 1, size ? size : 1), n * size);
}

void *xrealloc(void *p, size_t n)
{
	return check(realloc(p, n ? n : 1), n);
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const void *s, size_t n)
{
	char *d = xmalloc(n + 1);
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

void *xmemdup(const void *s, size_t n)
{
	void *d = xmalloc(n);
	if (n)
		memcpy(d, s, n);
	return d;
}
