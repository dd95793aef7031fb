/* deadletter.c — the dead-lettered copy of a message and the cycle rule;
 * see deadletter.h. The behaviour follows RabbitMQ's rabbit_dead_letter.erl
 * (3.10-3.12, x-death kept in the headers as here) and mc.erl (3.13+, which
 * added x-last-death-*). Tables are edited in wire form: pairs that do not
 * change are copied byte for byte, never decoded and re-encoded. */
#include "broker/queue/deadletter.h"

#include <stdlib.h>
#include <string.h>

#include "protocol/props.h"
#include "protocol/table.h"
#include "util/xalloc.h"

/* ---- raw pairs and elements ---- */

/* table_next, also giving the raw bytes (key, type letter, value) read. */
static int next_pair(struct table_iter *it, struct bytes *raw, struct bytes *key, struct fvalue *v)
{
	size_t start = it->r.off;
	if (!table_next(it, key, v))
		return 0;
	*raw = (struct bytes){it->r.p + start, (uint32_t)(it->r.off - start)};
	return 1;
}

/* array_next, also giving the raw bytes (type letter, value) read. */
static int next_elem(struct table_iter *it, struct bytes *raw, struct fvalue *v)
{
	size_t start = it->r.off;
	if (!array_next(it, v))
		return 0;
	*raw = (struct bytes){it->r.p + start, (uint32_t)(it->r.off - start)};
	return 1;
}

static bool bytes_same(struct bytes a, struct bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* ---- the x-death array ---- */

/* This dead-lettering event, as the new x-death entry records it. */
struct event {
	struct bytes queue, reason;
	struct bytes exchange, rkey; /* where m was published */
	struct bytes cc;             /* m's CC array (its elements), if any */
	bool has_cc;
	struct bytes expiration;
	bool has_exp;
	uint64_t time;
};

/* An element of the x-death array m already carries. */
struct death {
	struct bytes raw;   /* type letter and value, as found */
	struct bytes table; /* the pairs, when is_table */
	bool is_table;
	uint8_t has; /* bit 0: a string queue, bit 1: a string reason */
	struct bytes q, r;
	bool has_key_count; /* a "count" key, of whatever type */
	bool has_count;     /* ... of an integer type, in count */
	int64_t count;
	uint32_t idx;
	uint32_t group; /* size of its (queue, reason) group on the group's
			   first (newest) table, 0 on the others */
};

static void death_parse(struct death *d, struct bytes raw, const struct fvalue *v, uint32_t idx)
{
	memset(d, 0, sizeof *d);
	d->raw = raw;
	d->idx = idx;
	if (v->type != 'F')
		return;
	d->is_table = true;
	d->table = v->v.s;
	struct fvalue f;
	if (table_get(d->table, "queue", &f) && fvalue_str(&f, &d->q))
		d->has |= 1;
	if (table_get(d->table, "reason", &f) && fvalue_str(&f, &d->r))
		d->has |= 2;
	if (table_get(d->table, "count", &f)) {
		d->has_key_count = true;
		d->has_count = fvalue_int(&f, &d->count);
	}
}

/* Orders tables by (queue, reason), then by position, so that a group's
 * members are adjacent and its newest comes first. */
static int death_cmp(const void *a, const void *b)
{
	const struct death *x = *(const struct death *const *)a;
	const struct death *y = *(const struct death *const *)b;
	int c = (int)x->has - (int)y->has;
	if (!c && (x->has & 1))
		c = bytes_cmp(x->q, y->q);
	if (!c && (x->has & 2))
		c = bytes_cmp(x->r, y->r);
	if (!c)
		c = (x->idx > y->idx) - (x->idx < y->idx);
	return c;
}

/* The entry of a first death for this (queue, reason), in the field order
 * of RabbitMQ 3.10's first x-death entry and of 3.13's entries. */
static void put_new_entry(struct wbuf *w, const struct event *ev)
{
	tv_table_letter(w);
	size_t t = tw_begin(w);
	tw_key(w, "count");
	tv_i64(w, 1);
	tw_key(w, "reason");
	tv_bytes(w, ev->reason);
	tw_key(w, "queue");
	tv_bytes(w, ev->queue);
	tw_key(w, "time");
	tv_timestamp(w, ev->time);
	tw_key(w, "exchange");
	tv_bytes(w, ev->exchange);
	/* The publish's routing key, then the CC ones (only their longstrs,
	 * as rabbit_basic:header_routes takes them); BCC stays private. */
	tw_key(w, "routing-keys");
	tv_array_letter(w);
	size_t a = tw_begin(w);
	tv_bytes(w, ev->rkey);
	if (ev->has_cc) {
		struct table_iter it = table_iter(ev->cc);
		struct fvalue v;
		while (array_next(&it, &v))
			if (v.type == 'S')
				tv_bytes(w, v.v.s);
	}
	tw_end(w, a);
	if (ev->has_exp) {
		tw_key(w, "original-expiration");
		tv_bytes(w, ev->expiration);
	}
	tw_end(w, t);
}

/* Writes table d with "count" set to count: in place of its first "count"
 * pair when `replace`, or first when it has none; every other pair as it
 * was. RabbitMQ keeps the rest of an entry from its first death. */
static void put_entry(struct wbuf *w, const struct death *d, int64_t count, bool replace)
{
	if (d->has_key_count && !replace) {
		wb_add(w, d->raw.p, d->raw.len);
		return;
	}
	tv_table_letter(w);
	size_t t = tw_begin(w);
	bool done = false;
	if (!d->has_key_count) {
		tw_key(w, "count");
		tv_i64(w, count);
		done = true;
	}
	struct table_iter it = table_iter(d->table);
	struct bytes raw, key;
	struct fvalue v;
	while (next_pair(&it, &raw, &key, &v)) {
		if (!done && bytes_eq(key, "count")) {
			tw_key(w, "count");
			tv_i64(w, count);
			done = true;
		} else {
			wb_add(w, raw.p, raw.len);
		}
	}
	tw_end(w, t);
}

/* Writes the x-death value ('A', length, entries) after this event. old is
 * the body of m's x-death array when have_old. The entry for the event's
 * (queue, reason) comes first, new or moved; the others follow in their
 * order. Entries repeating a (queue, reason) (x-death before RabbitMQ
 * 3.5.x held one per death) fold into the newest, which gets the group's
 * size as count if it has none, as rabbit_dead_letter's
 * group_by_queue_and_reason does (but keeping the order, which that
 * function reversed by accident). */
static void put_x_death(struct wbuf *w, const struct event *ev, struct bytes old, bool have_old)
{
	tv_array_letter(w);
	size_t a = tw_begin(w);
	if (!have_old) {
		put_new_entry(w, ev);
		tw_end(w, a);
		return;
	}
	uint32_t n = 0;
	struct table_iter it = table_iter(old);
	struct bytes raw;
	struct fvalue v;
	while (next_elem(&it, &raw, &v))
		n++;
	struct death *ds = xmalloc((n ? n : 1) * sizeof *ds);
	struct death **order = xmalloc((n ? n : 1) * sizeof *order);
	uint32_t ntab = 0;
	it = table_iter(old);
	for (uint32_t i = 0; i < n && next_elem(&it, &raw, &v); i++) {
		death_parse(&ds[i], raw, &v, i);
		if (ds[i].is_table)
			order[ntab++] = &ds[i];
	}
	qsort(order, ntab, sizeof *order, death_cmp);
	for (uint32_t i = 0; i < ntab;) {
		uint32_t j = i + 1;
		while (j < ntab && order[j]->has == order[i]->has &&
		       (!(order[i]->has & 1) || bytes_same(order[j]->q, order[i]->q)) &&
		       (!(order[i]->has & 2) || bytes_same(order[j]->r, order[i]->r)))
			j++;
		order[i]->group = j - i;
		i = j;
	}

	const struct death *hit = NULL;
	for (uint32_t i = 0; i < n && !hit; i++)
		if (ds[i].group && ds[i].has == 3 && bytes_same(ds[i].q, ev->queue) &&
		    bytes_same(ds[i].r, ev->reason))
			hit = &ds[i];
	if (hit) {
		int64_t c = hit->has_count ? hit->count : (int64_t)hit->group;
		put_entry(w, hit, c == INT64_MAX ? c : c + 1, true);
	} else {
		put_new_entry(w, ev);
	}
	for (uint32_t i = 0; i < n; i++) {
		const struct death *d = &ds[i];
		if (!d->is_table)
			wb_add(w, d->raw.p, d->raw.len); /* a client's; kept where it was */
		else if (d->group && d != hit)
			put_entry(w, d, d->group, false);
	}
	free(order);
	free(ds);
	tw_end(w, a);
}

/* ---- the copy ---- */

/* One header pair by its raw bytes; ord makes the sort stable. */
struct pair {
	const uint8_t *p;
	uint32_t len;
	uint32_t ord;
};

static int pair_cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	int c = bytes_cmp((struct bytes){x->p + 1, x->p[0]}, (struct bytes){y->p + 1, y->p[0]});
	if (c)
		return c;
	return (x->ord > y->ord) - (x->ord < y->ord);
}

/* Headers of m that the copy does not keep as they are. */
static bool dropped(struct bytes key, bool first, bool new_rkey)
{
	static const char *const always[] = {
		"x-death", "x-last-death-reason", "x-last-death-queue", "x-last-death-exchange",
		"BCC", /* sender-selected distribution: never shown to a consumer */
	};
	for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
		if (bytes_eq(key, always[i]))
			return true;
	if (first &&
	    (bytes_eq(key, "x-first-death-reason") || bytes_eq(key, "x-first-death-queue") ||
	     bytes_eq(key, "x-first-death-exchange")))
		return true;
	/* A queue's own dead-letter routing key replaces every routing key,
	 * so the CC ones must not route the copy again (3.10-3.12). */
	return new_rkey && bytes_eq(key, "CC");
}

/* A name for message_new, which keeps at most 255 octets. */
static struct bytes name255(const char *s)
{
	struct bytes b = bytes_of(s);
	if (b.len > 255)
		b.len = 255;
	return b;
}

struct message *deadletter_copy(const struct message *m, const struct dl_reason *r, const char *dlx,
				const char *dl_rkey, uint64_t now_s)
{
	struct bytes raw_props = message_props(m);
	struct amqp_props pr;
	if (props_decode(raw_props.p, raw_props.len, &pr) != 0)
		return NULL;
	struct bytes hdrs = pr.headers; /* empty when absent: props_decode zeroes */

	struct event ev = {
		.queue = bytes_of(r->queue),
		.reason = bytes_of(r->reason),
		.exchange = message_exchange(m),
		.rkey = message_rkey(m),
		.expiration = pr.expiration,
		.has_exp = (pr.flags & PROP_EXPIRATION) != 0,
		.time = now_s,
	};
	struct fvalue v;
	if (table_get(hdrs, "CC", &v) && v.type == 'A') {
		ev.cc = v.v.s;
		ev.has_cc = true;
	}
	struct fvalue xd;
	bool have_xd = table_get(hdrs, "x-death", &xd) && xd.type == 'A';
	/* An x-death that is no array is a client's doing: RabbitMQ resets
	 * it, and this is then the message's first death. */
	bool first = !have_xd;

	/* The pairs this death writes go to `add`; their positions are taken
	 * as offsets and turned into pointers once it stops growing. */
	struct wbuf add = {0};
	size_t start[8];
	size_t nadd = 0;
	start[nadd++] = add.len;
	tw_key(&add, "x-death");
	put_x_death(&add, &ev, have_xd ? xd.v.s : (struct bytes){NULL, 0}, have_xd);
	static const char *const first_keys[] = {"x-first-death-reason", "x-first-death-queue",
						 "x-first-death-exchange"};
	static const char *const last_keys[] = {"x-last-death-reason", "x-last-death-queue",
						"x-last-death-exchange"};
	const struct bytes vals[] = {ev.reason, ev.queue, ev.exchange};
	for (int i = 0; first && i < 3; i++) {
		start[nadd++] = add.len;
		tw_key(&add, first_keys[i]);
		tv_bytes(&add, vals[i]);
	}
	for (int i = 0; i < 3; i++) {
		start[nadd++] = add.len;
		tw_key(&add, last_keys[i]);
		tv_bytes(&add, vals[i]);
	}
	start[nadd] = add.len;

	uint32_t nold = 0;
	struct table_iter it = table_iter(hdrs);
	struct bytes raw, key;
	while (next_pair(&it, &raw, &key, &v))
		nold++;
	struct pair *ps = xmalloc((nold + nadd) * sizeof *ps);
	uint32_t np = 0;
	it = table_iter(hdrs);
	while (next_pair(&it, &raw, &key, &v))
		if (!dropped(key, first, dl_rkey != NULL)) {
			ps[np] = (struct pair){raw.p, raw.len, np};
			np++;
		}
	for (size_t i = 0; i < nadd; i++) {
		ps[np] = (struct pair){add.p + start[i], (uint32_t)(start[i + 1] - start[i]), np};
		np++;
	}
	/* RabbitMQ stores headers sorted by key after any header edit
	 * (rabbit_misc:set_table_value in 3.10-3.12, usort in 3.13+). */
	qsort(ps, np, sizeof *ps, pair_cmp);
	struct wbuf hb = {0};
	for (uint32_t i = 0; i < np; i++)
		wb_add(&hb, ps[i].p, ps[i].len);

	pr.headers = (struct bytes){hb.p, (uint32_t)hb.len};
	pr.flags |= PROP_HEADERS;
	/* The copy must not expire again in the queues it reaches. */
	pr.flags &= (uint16_t)~PROP_EXPIRATION;
	struct wbuf out = {0};
	props_encode(&out, &pr);

	struct bytes rkey = dl_rkey ? name255(dl_rkey) : message_rkey(m);
	/* Republished without mandatory; a new message, with no store row yet. */
	struct message *c = message_new(name255(dlx), rkey, (struct bytes){out.p, (uint32_t)out.len},
					m->body_size, m->flags & MSG_PERSISTENT);
	if (m->body_size)
		memcpy(message_body(c), message_body(m), m->body_size);
	c->priority = m->priority;

	free(ps);
	wb_free(&out);
	wb_free(&hb);
	wb_free(&add);
	return c;
}

/* ---- cycles ---- */

bool deadletter_is_cycle(const struct message *m, const char *queue)
{
	struct bytes raw_props = message_props(m);
	struct amqp_props pr;
	if (props_decode(raw_props.p, raw_props.len, &pr) != 0)
		return false;
	struct fvalue xd;
	if (!table_get(pr.headers, "x-death", &xd) || xd.type != 'A')
		return false;
	/* Newest first: the first entry for `queue` closes the cycle; it is
	 * automatic when none of the entries up to it is a rejection. Types
	 * compare as in rabbit_dead_letter:is_cycle (longstr only). */
	bool automatic = true;
	struct table_iter it = table_iter(xd.v.s);
	struct fvalue e;
	while (array_next(&it, &e)) {
		if (e.type != 'F') {
			automatic = false;
			continue;
		}
		struct fvalue f;
		if (table_get(e.v.s, "reason", &f) && f.type == 'S' && bytes_eq(f.v.s, DL_REJECTED))
			automatic = false;
		if (table_get(e.v.s, "queue", &f) && f.type == 'S' && bytes_eq(f.v.s, queue))
			return automatic;
	}
	return false;
}
