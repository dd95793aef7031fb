/* regex.c — PCRE2 behind regex.h. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "util/regex.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

static pcre2_match_data *md; /* one is enough: one thread, no captures read */

struct regex *regex_compile(const char *pattern, const char *what, char *err, size_t errlen)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re =
		pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof msg);
		snprintf(err, errlen, "%s: %s at offset %zu", what, (const char *)msg, (size_t)off);
	}
	return (struct regex *)re;
}

bool regex_match(const struct regex *re, const uint8_t *s, size_t n)
{
	if (!re)
		return false;
	if (!md && !(md = pcre2_match_data_create(1, NULL)))
		abort(); /* out of memory, as xmalloc would */
	/* 0 means matched with the ovector too small, which still matched;
	 * any error (a match limit, say) refuses. */
	return pcre2_match((const pcre2_code *)re, n ? s : (const uint8_t *)"", n, 0, 0, md,
			   NULL) >= 0;
}

void regex_free(struct regex *re)
{
	pcre2_code_free((pcre2_code *)re);
}

void regex_cleanup(void)
{
	pcre2_match_data_free(md);
	md = NULL;
}
