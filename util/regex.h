/* regex.h — the PCRE2 patterns of permissions and policies, compiled once
 * and matched unanchored, as Erlang's re:run that RabbitMQ uses: no
 * options, so bytes are matched, not UTF-8 characters. */
#ifndef TERN_UTIL_REGEX_H
#define TERN_UTIL_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct regex;

/* Compiles pattern. On failure returns NULL and writes "<what>: <PCRE2's
 * message> at offset N" to err. */
struct regex *regex_compile(const char *pattern, const char *what, char *err, size_t errlen);
/* True when re matches anywhere in s[0..n); a NULL re matches nothing. */
bool regex_match(const struct regex *re, const uint8_t *s, size_t n);
void regex_free(struct regex *re);
/* Releases the shared match data (at exit, for leak checkers). */
void regex_cleanup(void);

#endif
