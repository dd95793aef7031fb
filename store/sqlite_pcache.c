/* sqlite_pcache.c — SQLite's own page cache, with a truncate that skips
 * the scan when no cached page can be past the limit.
 *
 * Why: every commit ends with a truncate of the page cache to the file's
 * size (pager_end_transaction). The default cache skips it when its
 * highest key is within the file, but that key only ever grows between
 * truncates, and a b-tree balance that puts new pages back in order swaps
 * two of them through a page number past 1 GiB (PENDING_BYTE's page + 1).
 * From then on each commit that split a page out of order scans the
 * whole hash table: 0.17 ms a commit with 1,700 cached pages, a third of
 * the writer thread's CPU in S3k on a file with free pages (every file a
 * consumer has emptied: entries' index pages come from the freelist, in
 * any order), and 16,000 pages once the 64 MiB cache is full.
 *
 * So each cache keeps an upper bound of the keys it may hold: the highest
 * key created (top) plus the few keys parked beyond it by a rekey (far),
 * which the balance's next rekey takes away again. A truncate below every
 * key that may be there is left out; any other is passed on. The bound is
 * never below a key present: keys come in by xFetch with create and by
 * xRekey only, and both raise it; a key leaves it only by a rekey away or
 * by a truncate that was passed on. */
#include <stdlib.h>

#include <sqlite3.h>

#include "store/sqlite.h"

#define FAR_MAX 4

struct cache {
	sqlite3_pcache *inner;
	unsigned top;           /* no key above it but those in far */
	unsigned far[FAR_MAX];  /* keys above top, parked by a rekey */
	int nfar;
};

static sqlite3_pcache_methods2 inner; /* the default cache */
unsigned long sql_pcache_passed;

static int pc_init(void *arg)
{
	(void)arg;
	return inner.xInit(inner.pArg);
}

static void pc_shutdown(void *arg)
{
	(void)arg;
	if (inner.xShutdown)
		inner.xShutdown(inner.pArg);
}

static sqlite3_pcache *pc_create(int page_size, int extra, int purgeable)
{
	struct cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->inner = inner.xCreate(page_size, extra, purgeable);
	if (!c->inner) {
		free(c);
		return NULL;
	}
	return (sqlite3_pcache *)c;
}

static struct cache *of(sqlite3_pcache *p)
{
	return (struct cache *)p;
}

static void pc_cachesize(sqlite3_pcache *p, int n)
{
	inner.xCachesize(of(p)->inner, n);
}

static int pc_pagecount(sqlite3_pcache *p)
{
	return inner.xPagecount(of(p)->inner);
}

static bool is_far(const struct cache *c, unsigned key)
{
	for (int i = 0; i < c->nfar; i++)
		if (c->far[i] == key)
			return true;
	return false;
}

static sqlite3_pcache_page *pc_fetch(sqlite3_pcache *p, unsigned key, int create)
{
	struct cache *c = of(p);
	if (create && key > c->top && !is_far(c, key))
		c->top = key;
	return inner.xFetch(c->inner, key, create);
}

static void pc_unpin(sqlite3_pcache *p, sqlite3_pcache_page *page, int discard)
{
	inner.xUnpin(of(p)->inner, page, discard);
}

static void pc_rekey(sqlite3_pcache *p, sqlite3_pcache_page *page, unsigned old, unsigned key)
{
	struct cache *c = of(p);
	for (int i = 0; i < c->nfar; i++)
		if (c->far[i] == old) { /* keys are unique: none is left there */
			c->far[i] = c->far[--c->nfar];
			break;
		}
	if (key > c->top && !is_far(c, key)) {
		if (c->nfar < FAR_MAX)
			c->far[c->nfar++] = key;
		else
			c->top = key;
	}
	inner.xRekey(c->inner, page, old, key);
}

static void pc_truncate(sqlite3_pcache *p, unsigned limit)
{
	struct cache *c = of(p);
	bool any = c->top >= limit;
	for (int i = 0; i < c->nfar && !any; i++)
		any = c->far[i] >= limit;
	if (!any)
		return;
	sql_pcache_passed++;
	inner.xTruncate(c->inner, limit);
	if (c->top >= limit)
		c->top = limit - 1;
	for (int i = 0; i < c->nfar;)
		if (c->far[i] >= limit)
			c->far[i] = c->far[--c->nfar];
		else
			i++;
}

static void pc_destroy(sqlite3_pcache *p)
{
	inner.xDestroy(of(p)->inner);
	free(p);
}

static void pc_shrink(sqlite3_pcache *p)
{
	inner.xShrink(of(p)->inner);
}

void sql_pcache_install(void)
{
	static bool installed;
	if (installed)
		return;
	static const sqlite3_pcache_methods2 ours = {
		1, NULL, pc_init, pc_shutdown, pc_create, pc_cachesize, pc_pagecount,
		pc_fetch, pc_unpin, pc_rekey, pc_truncate, pc_destroy, pc_shrink,
	};
	/* Both fail once SQLite is initialized (SQLITE_MISUSE): the default
	 * cache stays, slower but the same. */
	if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &inner) != SQLITE_OK || !inner.xCreate)
		return;
	installed = sqlite3_config(SQLITE_CONFIG_PCACHE2, &ours) == SQLITE_OK;
}
