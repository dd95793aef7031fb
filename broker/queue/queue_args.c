/* queue_args.c — queue.declare x-arguments; see queue_args.h. The rules
 * follow RabbitMQ's documentation of each argument (ttl, dlx, maxlength,
 * priority, consumers pages). */
#include "broker/queue/queue_args.h"

#include <stdio.h>
#include <string.h>

#include "protocol/table.h"

enum kind { K_INT, K_STR, K_BOOL };

static const struct arg_rule {
	const char *name;
	enum kind kind;
	int64_t min, max;
	const char *choices; /* for strings: '|'-separated allowed values */
} rules[] = {
	{"x-message-ttl", K_INT, 0, 0xFFFFFFFFll, NULL},
	{"x-expires", K_INT, 1, 0xFFFFFFFFll, NULL},
	{"x-max-length", K_INT, 0, INT64_MAX, NULL},
	{"x-max-length-bytes", K_INT, 0, INT64_MAX, NULL},
	{"x-max-priority", K_INT, 0, 255, NULL},
	{"x-delivery-limit", K_INT, 0, INT64_MAX, NULL},
	{"x-consumer-timeout", K_INT, 0, 0xFFFFFFFFll, NULL},
	{"x-overflow", K_STR, 0, 0, "drop-head|reject-publish|reject-publish-dlx"},
	{"x-dead-letter-exchange", K_STR, 0, 0, NULL},
	{"x-dead-letter-routing-key", K_STR, 0, 0, NULL},
	{"x-queue-mode", K_STR, 0, 0, "default|lazy"},
	{"x-queue-type", K_STR, 0, 0, "classic"},
	{"x-single-active-consumer", K_BOOL, 0, 0, NULL},
};
#define NRULES (sizeof rules / sizeof rules[0])

static bool in_choices(struct bytes s, const char *choices)
{
	const char *p = choices;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (s.len == n && memcmp(s.p, p, n) == 0)
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

static int check(const struct arg_rule *r, const struct fvalue *v, char *why, size_t len)
{
	int64_t n;
	struct bytes s;
	switch (r->kind) {
	case K_INT:
		if (!fvalue_int(v, &n)) {
			snprintf(why, len, "'%s': expected an integer", r->name);
			return -1;
		}
		if (n < r->min || n > r->max) {
			snprintf(why, len, "'%s': %lld is out of range (%lld to %lld)", r->name,
				 (long long)n, (long long)r->min, (long long)r->max);
			return -1;
		}
		return 0;
	case K_STR:
		if (!fvalue_str(v, &s)) {
			snprintf(why, len, "'%s': expected a string", r->name);
			return -1;
		}
		if (r->choices && !in_choices(s, r->choices)) {
			snprintf(why, len, "'%s': '%.*s' is not one of %s", r->name, (int)s.len,
				 (const char *)s.p, r->choices);
			return -1;
		}
		return 0;
	case K_BOOL:
		if (v->type != 't') {
			snprintf(why, len, "'%s': expected a boolean", r->name);
			return -1;
		}
		return 0;
	}
	return -1;
}

int queue_args_validate(struct bytes args, char *why, size_t len)
{
	struct table_iter it = table_iter(args);
	struct bytes key;
	struct fvalue v;
	while (table_next(&it, &key, &v)) {
		for (size_t i = 0; i < NRULES; i++)
			if (bytes_eq(key, rules[i].name) && check(&rules[i], &v, why, len) < 0)
				return -1;
	}
	return 0;
}

const char *queue_args_equivalent(struct bytes have, struct bytes got)
{
	for (size_t i = 0; i < NRULES; i++) {
		struct fvalue a, b;
		int ha = table_get(have, rules[i].name, &a);
		int hb = table_get(got, rules[i].name, &b);
		if (ha != hb || (ha && !fvalue_equal(&a, &b)))
			return rules[i].name;
	}
	return NULL;
}

/* RabbitMQ's names of the field types (rabbit_binary_parser). */
static const char *type_name(char t)
{
	switch (t) {
	case 'S': return "longstr";
	case 'I': return "signedint";
	case 'l': return "long";
	case 't': return "bool";
	case 'b': return "byte";
	case 's': return "short";
	case 'd': return "double";
	case 'f': return "float";
	case 'T': return "timestamp";
	case 'F': return "table";
	case 'A': return "array";
	default: return "value";
	}
}

static void value_text(const struct fvalue *v, char *out, size_t n)
{
	int64_t i;
	struct bytes s;
	if (fvalue_int(v, &i))
		snprintf(out, n, "%lld", (long long)i);
	else if (fvalue_str(v, &s))
		snprintf(out, n, "%.*s", (int)s.len, (const char *)s.p);
	else if (v->type == 't')
		snprintf(out, n, "%s", v->v.b ? "true" : "false");
	else
		snprintf(out, n, "?");
}

/* One side: 'V' when both sides have the key, otherwise none or the
 * value with its type. */
static void side(const struct fvalue *v, bool has, bool both, char *out, size_t n)
{
	char text[200];
	if (!has) {
		snprintf(out, n, "none");
		return;
	}
	value_text(v, text, sizeof text);
	if (both)
		snprintf(out, n, "'%s'", text);
	else
		snprintf(out, n, "the value '%s' of type '%s'", text, type_name(v->type));
}

void queue_args_mismatch(struct bytes have, struct bytes got, const char *key, char *out, size_t n)
{
	struct fvalue a, b;
	bool ha = table_get(have, key, &a), hb = table_get(got, key, &b);
	char recv[256], cur[256];
	side(&b, hb, ha && hb, recv, sizeof recv);
	side(&a, ha, ha && hb, cur, sizeof cur);
	snprintf(out, n, "received %s but current is %s", recv, cur);
}
