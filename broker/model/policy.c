/* policy.c — policies and operator policies; see policy.h. Semantics of
 * RabbitMQ 3.10 (rabbit_policy.erl, rabbit_policies.erl, and
 * process_args_policy in rabbit_amqqueue_process.erl); the apply-to values
 * for queue types, the consumer-timeout key and x-consumer-timeout come
 * from RabbitMQ 3.12.
 *
 * The table is one array of every policy, kept sorted by (vhost, kind,
 * name). A vhost's policies of one kind are then a contiguous run found by
 * binary search, matching is a scan of that run in name order (which also
 * settles priority ties), and policy_next lists in a stable order. Policies
 * change rarely and are matched only on declare and on policy changes, so
 * inserting by memmove and scanning linearly are both fine. */
#include "broker/model/policy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/table.h"
#include "util/regex.h"
#include "util/xalloc.h"

/* The keys Tern implements. `off` locates the field in struct policy_def;
 * `op_ok` marks the numeric limits an operator policy may set. */
enum kind { K_INT, K_STR, K_OVERFLOW };
static const struct key_rule {
	const char *key;
	enum kind kind;
	int64_t min; /* K_INT */
	bool op_ok;
	size_t off;
} rules[] = {
	{"message-ttl", K_INT, 0, true, offsetof(struct policy_def, message_ttl)},
	{"expires", K_INT, 1, true, offsetof(struct policy_def, expires)},
	{"max-length", K_INT, 0, true, offsetof(struct policy_def, max_length)},
	{"max-length-bytes", K_INT, 0, true, offsetof(struct policy_def, max_length_bytes)},
	{"delivery-limit", K_INT, 0, true, offsetof(struct policy_def, delivery_limit)},
	{"consumer-timeout", K_INT, 1, false, offsetof(struct policy_def, consumer_timeout)},
	{"overflow", K_OVERFLOW, 0, false, offsetof(struct policy_def, overflow)},
	{"dead-letter-exchange", K_STR, 0, false, offsetof(struct policy_def, dlx)},
	{"dead-letter-routing-key", K_STR, 0, false, offsetof(struct policy_def, dl_rkey)},
	{"alternate-exchange", K_STR, 0, false, offsetof(struct policy_def, alternate_exchange)},
};

/* Keys RabbitMQ 3.10 accepts (with its federation plugin) that Tern does
 * not implement: accepted with a warning, values unchecked, so definitions
 * exported from RabbitMQ load. Sources: rabbit_policies:register/0,
 * rabbit_mirror_queue_misc (ha-*), rabbit_queue_location_validator
 * (queue-master-locator), rabbit_federation_parameters (federation-*). */
static const struct ignored_key {
	const char *key;
	bool prefix; /* matches every key starting with `key` */
	bool op_ok;  /* RabbitMQ allows it in operator policies too */
} ignored[] = {
	{"ha-", true, false},         /* classic mirroring: Tern has one node */
	{"federation-", true, false}, /* -upstream, -upstream-set, -upstream-pattern */
	{"queue-mode", false, false}, /* lazy: Tern pages past its memory budget anyway */
	{"queue-version", false, false},
	{"queue-master-locator", false, false},
	{"queue-leader-locator", false, false},
	{"max-in-memory-length", false, true}, /* quorum queues */
	{"max-in-memory-bytes", false, true},
	{"dead-letter-strategy", false, false},
	{"initial-cluster-size", false, false},
	{"max-age", false, false}, /* streams */
	{"stream-max-segment-size-bytes", false, false},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const apply_names[] = {
	[APPLY_ALL] = "all",
	[APPLY_QUEUES] = "queues",
	[APPLY_CLASSIC_QUEUES] = "classic_queues",
	[APPLY_QUORUM_QUEUES] = "quorum_queues",
	[APPLY_STREAMS] = "streams",
	[APPLY_EXCHANGES] = "exchanges",
};

/* Every policy, sorted by key_cmp; owned here. */
static struct policy **tab;
static size_t ntab, captab;

void policy_def_init(struct policy_def *d)
{
	d->message_ttl = d->expires = d->max_length = d->max_length_bytes = -1;
	d->delivery_limit = d->consumer_timeout = -1;
	d->overflow = POLICY_OVERFLOW_UNSET;
	d->dlx = d->dl_rkey = d->alternate_exchange = NULL;
}

void policy_def_free(struct policy_def *d)
{
	free(d->dlx);
	free(d->dl_rkey);
	free(d->alternate_exchange);
	policy_def_init(d);
}

static int overflow_parse(const char *s, size_t n)
{
	static const char *const names[] = {
		[POLICY_DROP_HEAD] = "drop-head",
		[POLICY_REJECT] = "reject-publish",
		[POLICY_REJECT_DLX] = "reject-publish-dlx",
	};
	for (size_t i = 0; i < NELEM(names); i++)
		if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
			return (int)i;
	return POLICY_OVERFLOW_UNSET;
}

static const struct ignored_key *ignored_find(const char *key)
{
	for (size_t i = 0; i < NELEM(ignored); i++) {
		const struct ignored_key *k = &ignored[i];
		if (k->prefix ? strncmp(key, k->key, strlen(k->key)) == 0
			      : strcmp(key, k->key) == 0)
			return k;
	}
	return NULL;
}

/* Checks one implemented key's value and stores it in d. */
static int rule_apply(const struct key_rule *r, const char *key, json_t *v, struct policy_def *d,
		      char *err, size_t errlen)
{
	void *field = (char *)d + r->off;
	switch (r->kind) {
	case K_INT:
		/* JSON integers only, as RabbitMQ's is_integer: 1.0 and "1" are refused. */
		if (!json_is_integer(v) || json_integer_value(v) < r->min) {
			snprintf(err, errlen, "%s: expected a %s integer", key,
				 r->min > 0 ? "positive" : "non-negative");
			return -1;
		}
		*(int64_t *)field = json_integer_value(v);
		return 0;
	case K_STR:
		if (!json_is_string(v)) {
			snprintf(err, errlen, "%s: expected a string", key);
			return -1;
		}
		*(char **)field = xstrndup(json_string_value(v), json_string_length(v));
		return 0;
	case K_OVERFLOW: {
		int o = json_is_string(v)
				? overflow_parse(json_string_value(v), json_string_length(v))
				: POLICY_OVERFLOW_UNSET;
		if (o == POLICY_OVERFLOW_UNSET) {
			snprintf(err, errlen,
				 "%s: expected drop-head, reject-publish or reject-publish-dlx",
				 key);
			return -1;
		}
		*(int *)field = o;
		return 0;
	}
	}
	return -1;
}

int policy_def_parse(const struct json_t *definition, bool op, struct policy_def *out,
		     void (*warn)(void *ctx, const char *key), void *ctx, char *err, size_t errlen)
{
	/* jansson's iteration API takes a non-const object but does not change it. */
	json_t *obj = (json_t *)definition;

	policy_def_init(out);
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "definition: expected a JSON object");
		return -1;
	}
	if (json_object_size(obj) == 0) {
		snprintf(err, errlen, "definition: no policy provided"); /* RabbitMQ's words */
		return -1;
	}
	for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
		const char *key = json_object_iter_key(it);
		json_t *v = json_object_iter_value(it);
		const struct key_rule *r = NULL;
		for (size_t i = 0; i < NELEM(rules) && !r; i++)
			if (strcmp(rules[i].key, key) == 0)
				r = &rules[i];
		const struct ignored_key *ig = r ? NULL : ignored_find(key);
		if (!r && !ig) {
			snprintf(err, errlen, "%s: not a recognised policy key", key);
			goto fail;
		}
		if (op && !(r ? r->op_ok : ig->op_ok)) {
			snprintf(err, errlen, "%s: not allowed in an operator policy", key);
			goto fail;
		}
		if (r && rule_apply(r, key, v, out, err, errlen) < 0)
			goto fail;
	}
	/* Warn only once the whole definition is accepted, so a refused one
	 * leaves no trace in the log. */
	for (void *it = json_object_iter(obj); warn && it; it = json_object_iter_next(obj, it))
		if (ignored_find(json_object_iter_key(it)))
			warn(ctx, json_object_iter_key(it));
	return 0;
fail:
	policy_def_free(out);
	return -1;
}

/* Copies a string argument, or leaves *dst NULL when key is absent or no string. */
static void arg_str(struct bytes args, const char *key, char **dst)
{
	struct fvalue v;
	struct bytes s;
	if (table_get(args, key, &v) && fvalue_str(&v, &s))
		*dst = xstrndup(s.p, s.len);
}

void policy_def_from_args(struct bytes args, struct policy_def *out)
{
	static const struct {
		const char *key;
		size_t off;
	} ints[] = {
		{"x-message-ttl", offsetof(struct policy_def, message_ttl)},
		{"x-expires", offsetof(struct policy_def, expires)},
		{"x-max-length", offsetof(struct policy_def, max_length)},
		{"x-max-length-bytes", offsetof(struct policy_def, max_length_bytes)},
		{"x-delivery-limit", offsetof(struct policy_def, delivery_limit)},
		{"x-consumer-timeout", offsetof(struct policy_def, consumer_timeout)},
	};
	struct fvalue v;
	struct bytes s;
	int64_t n;

	policy_def_init(out);
	/* queue_args.c has already refused bad values at declare time; what does
	 * not fit here (a negative number, an unknown overflow) stays unset. */
	for (size_t i = 0; i < NELEM(ints); i++)
		if (table_get(args, ints[i].key, &v) && fvalue_int(&v, &n) && n >= 0)
			*(int64_t *)((char *)out + ints[i].off) = n;
	if (table_get(args, "x-overflow", &v) && fvalue_str(&v, &s))
		out->overflow = overflow_parse((const char *)s.p, s.len);
	arg_str(args, "x-dead-letter-exchange", &out->dlx);
	arg_str(args, "x-dead-letter-routing-key", &out->dl_rkey);
	arg_str(args, "alternate-exchange", &out->alternate_exchange); /* an exchange's */
}

int policy_apply_parse(const char *s, enum policy_apply *out)
{
	if (!s || !*s) {
		*out = APPLY_ALL;
		return 0;
	}
	for (size_t i = 0; i < NELEM(apply_names); i++)
		if (strcmp(s, apply_names[i]) == 0) {
			*out = (enum policy_apply)i;
			return 0;
		}
	return -1;
}

const char *policy_apply_name(enum policy_apply a)
{
	return (size_t)a < NELEM(apply_names) ? apply_names[a] : "all";
}

/* The table's order: vhost, then policies before operator policies, then name. */
static int key_cmp(const struct policy *p, const char *vhost, bool op, const char *name)
{
	int c = strcmp(p->vhost, vhost);
	if (c)
		return c;
	if (p->op != op)
		return p->op ? 1 : -1;
	return strcmp(p->name, name);
}

/* The index of the first policy not ordered before (vhost, op, name). */
static size_t lower_bound(const char *vhost, bool op, const char *name)
{
	size_t lo = 0, hi = ntab;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(tab[mid], vhost, op, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void policy_destroy(struct policy *p)
{
	free(p->vhost);
	free(p->name);
	free(p->pattern);
	regex_free(p->re);
	policy_def_free(&p->def);
	free(p->definition);
	free(p);
}

/* Removes tab[i..j) and frees them. */
static void remove_range(size_t i, size_t j)
{
	if (i == j)
		return; /* tab may be NULL: no pointer arithmetic on it */
	for (size_t k = i; k < j; k++)
		policy_destroy(tab[k]);
	memmove(tab + i, tab + j, (ntab - j) * sizeof *tab);
	ntab -= j - i;
}

int policy_set(const char *vhost, const char *name, const char *pattern, enum policy_apply apply_to,
	       int64_t priority, const struct json_t *definition, bool op,
	       void (*warn)(void *ctx, const char *key), void *ctx, char *err, size_t errlen)
{
	struct regex *re = regex_compile(pattern, "pattern", err, errlen);
	if (!re)
		return -1;
	struct policy_def def;
	if (policy_def_parse(definition, op, &def, warn, ctx, err, errlen) < 0) {
		regex_free(re);
		return -1;
	}
	/* jansson allocates with the default malloc (Tern never changes it), so
	 * the text is freed with free() like the other fields. */
	char *text = json_dumps(definition, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		abort(); /* only on allocation failure, as xmalloc */

	struct policy *p = xmalloc(sizeof *p);
	*p = (struct policy){.vhost = xstrdup(vhost),
			     .name = xstrdup(name),
			     .pattern = xstrdup(pattern),
			     .re = re,
			     .apply_to = apply_to,
			     .priority = priority,
			     .op = op,
			     .def = def,
			     .definition = text};

	size_t i = lower_bound(vhost, op, name);
	if (i < ntab && key_cmp(tab[i], vhost, op, name) == 0) {
		/* Replace in place, so the old policy's address stays valid. */
		struct policy old = *tab[i];
		*tab[i] = *p;
		*p = old;
		policy_destroy(p);
		return 0;
	}
	if (ntab == captab) {
		captab = captab ? captab * 2 : 16;
		tab = xrealloc(tab, captab * sizeof *tab);
	}
	memmove(tab + i + 1, tab + i, (ntab - i) * sizeof *tab);
	tab[i] = p;
	ntab++;
	return 0;
}

int policy_delete(const char *vhost, const char *name, bool op)
{
	size_t i = lower_bound(vhost, op, name);
	if (i == ntab || key_cmp(tab[i], vhost, op, name) != 0)
		return -1;
	remove_range(i, i + 1);
	return 0;
}

void policy_vhost_deleted(const char *vhost)
{
	size_t i = lower_bound(vhost, false, ""), j = i;
	while (j < ntab && strcmp(tab[j]->vhost, vhost) == 0)
		j++;
	remove_range(i, j);
}

const struct policy *policy_find(const char *vhost, const char *name, bool op)
{
	size_t i = lower_bound(vhost, op, name);
	return i < ntab && key_cmp(tab[i], vhost, op, name) == 0 ? tab[i] : NULL;
}

const struct policy *policy_next(size_t *i)
{
	return *i < ntab ? tab[(*i)++] : NULL;
}

/* Tern's queues are all classic ones, so quorum and stream policies never apply. */
static bool applies(enum policy_apply a, bool is_queue)
{
	switch (a) {
	case APPLY_ALL: return true;
	case APPLY_QUEUES:
	case APPLY_CLASSIC_QUEUES: return is_queue;
	case APPLY_EXCHANGES: return !is_queue;
	default: return false;
	}
}

const struct policy *policy_match(const char *vhost, struct bytes name, bool is_queue, bool op)
{
	const struct policy *best = NULL;
	/* The run is in name order, so on equal priority the first found stays. */
	for (size_t i = lower_bound(vhost, op, ""); i < ntab; i++) {
		const struct policy *p = tab[i];
		if (p->op != op || strcmp(p->vhost, vhost) != 0)
			break;
		if (!applies(p->apply_to, is_queue) || (best && p->priority <= best->priority))
			continue;
		if (regex_match(p->re, name.p, name.len))
			best = p;
	}
	return best;
}

/* The lowest of the set values (-1 is unset). */
static int64_t min_set(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* args may be NULL too (an exchange declared without arguments). out only
 * borrows: it must not be passed to policy_def_free, and it lives no longer
 * than args, p and op. */
void policy_effective(const struct policy_def *args, const struct policy *p,
		      const struct policy *op, struct policy_def *out)
{
	struct policy_def none;
	policy_def_init(&none);
	const struct policy_def *a = args ? args : &none, *pd = p ? &p->def : &none,
				*od = op ? &op->def : &none;

	out->message_ttl = min_set(min_set(a->message_ttl, pd->message_ttl), od->message_ttl);
	out->expires = min_set(min_set(a->expires, pd->expires), od->expires);
	out->max_length = min_set(min_set(a->max_length, pd->max_length), od->max_length);
	out->max_length_bytes =
		min_set(min_set(a->max_length_bytes, pd->max_length_bytes), od->max_length_bytes);
	out->delivery_limit =
		min_set(min_set(a->delivery_limit, pd->delivery_limit), od->delivery_limit);
	/* x-consumer-timeout and the policy's consumer-timeout: the lower one,
	 * as RabbitMQ 3.12+ (operator policies cannot set it). */
	out->consumer_timeout =
		min_set(min_set(a->consumer_timeout, pd->consumer_timeout), od->consumer_timeout);
	/* The queue's own argument wins; operator policies cannot set these. */
	out->overflow = a->overflow != POLICY_OVERFLOW_UNSET ? a->overflow : pd->overflow;
	out->dlx = a->dlx ? a->dlx : pd->dlx;
	out->dl_rkey = a->dl_rkey ? a->dl_rkey : pd->dl_rkey;
	out->alternate_exchange =
		a->alternate_exchange ? a->alternate_exchange : pd->alternate_exchange;
}

void policy_free_all(void)
{
	remove_range(0, ntab);
	free(tab);
	tab = NULL;
	ntab = captab = 0;
}
