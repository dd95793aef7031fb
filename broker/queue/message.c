/* message.c — the refcounted message; see message.h. */
#include "broker/queue/message.h"

#include <stdlib.h>

#include "broker/queue/slab.h"
#include "protocol/props.h"
#include "protocol/table.h"
#include "util/xalloc.h"

uint64_t message_live;
uint64_t message_bytes;
uint64_t message_mem;

/* A body bigger than this is received into a block that doubles as its
 * frames arrive: a content header's claimed size (up to max_message_size
 * on each of a connection's 2047 channels) reserves nothing until the
 * octets come, as RabbitMQ collects frames as they come. */
#define FIRST_ROOM (128 * 1024)

/* Body octets the block has room for once `have` of them have arrived. */
static uint64_t body_room(const struct message *m, uint64_t have)
{
	if (m->body_size <= FIRST_ROOM)
		return m->body_size;
	uint64_t room = FIRST_ROOM;
	while (room < have)
		room *= 2;
	return room < m->body_size ? room : m->body_size;
}

/* The size of m's block with room for `room` body octets; the store id
 * slot follows a complete body only. */
static size_t block_size(const struct message *m, uint64_t room)
{
	return sizeof *m + m->exchange_len + m->rkey_len + m->props_len + room +
	       (room == m->body_size && (m->flags & MSG_PERSISTENT) ? sizeof(uint64_t) : 0);
}

/* The size of m's allocation, from its own fields (slab_free needs it). */
static size_t alloc_size(const struct message *m)
{
	return block_size(m, m->body_size);
}

static struct message *make(struct bytes exchange, struct bytes rkey, struct bytes raw_props,
			    uint64_t body_size, unsigned flags, bool all_room)
{
	struct message head = {
		.refs = 1,
		.body_size = (uint32_t)body_size, /* bounded by max_message_size */
		.props_len = raw_props.len,
		.flags = (uint8_t)flags,
		.exchange_len = (uint8_t)exchange.len,
		.rkey_len = (uint8_t)rkey.len,
	};
	uint64_t room = all_room ? body_size : body_room(&head, 0);
	struct message *m = slab_alloc(block_size(&head, room));
	*m = head;
	if ((flags & MSG_PERSISTENT) && room == body_size)
		message_set_store_id(m, 0);
	uint8_t *p = m->data;
	const struct bytes parts[3] = {{exchange.p, m->exchange_len}, {rkey.p, m->rkey_len}, raw_props};
	for (int i = 0; i < 3; i++) {
		if (parts[i].len)
			memcpy(p, parts[i].p, parts[i].len);
		p += parts[i].len;
	}
	message_bytes += body_size;
	message_mem += alloc_size(m);
	message_live++;
	return m;
}

struct message *message_new(struct bytes exchange, struct bytes rkey, struct bytes raw_props,
			    uint64_t body_size, unsigned flags)
{
	return make(exchange, rkey, raw_props, body_size, flags, true);
}

struct message *message_receiving(struct bytes exchange, struct bytes rkey,
				  struct bytes raw_props, uint64_t body_size, unsigned flags)
{
	return make(exchange, rkey, raw_props, body_size, flags, false);
}

struct message *message_fill(struct message *m, uint64_t have, const uint8_t *p, size_t n)
{
	uint64_t room = body_room(m, have), need = body_room(m, have + n);
	if (need > room) { /* only bodies over FIRST_ROOM: malloc's blocks */
		m = xrealloc(m, block_size(m, need));
		if (need == m->body_size && (m->flags & MSG_PERSISTENT))
			message_set_store_id(m, 0);
	}
	memcpy(message_body(m) + have, p, n);
	return m;
}

void message_set_store_id(struct message *m, uint64_t id)
{
	if (!(m->flags & MSG_PERSISTENT))
		abort(); /* no room: a transient message is never stored */
	memcpy((uint8_t *)message_store_slot(m), &id, sizeof id);
}

void message_unref(struct message *m)
{
	if (--m->refs == 0) {
		message_live--;
		message_bytes -= m->body_size;
		message_mem -= alloc_size(m);
		slab_free(m, alloc_size(m));
	}
}

/* A copy of m with header `key` removed and, when set is true, added back
 * as the integer v. */
static struct message *rewrite_header(const struct message *m, const char *key, bool set,
				      int64_t v)
{
	struct amqp_props p;
	struct bytes raw = message_props(m);
	struct fvalue old;
	if (props_decode(raw.p, raw.len, &p) != 0 || (!set && !table_get(p.headers, key, &old)))
		return NULL;
	struct wbuf headers = {0}, props = {0};
	size_t t = tw_begin(&headers);
	struct table_iter it = table_iter(p.headers);
	struct bytes k;
	struct fvalue val;
	while (table_next(&it, &k, &val)) {
		if (bytes_eq(k, key))
			continue;
		wb_shortstr(&headers, k);
		tv_value(&headers, &val);
	}
	if (set) {
		tw_key(&headers, key);
		tv_i64(&headers, v);
	}
	tw_end(&headers, t);
	p.headers = (struct bytes){headers.p + 4, (uint32_t)(headers.len - 4)};
	p.flags |= PROP_HEADERS;
	props_encode(&props, &p);
	struct message *c = message_new(message_exchange(m), message_rkey(m),
					(struct bytes){props.p, (uint32_t)props.len}, m->body_size,
					m->flags);
	if (m->body_size)
		memcpy(message_body(c), message_body(m), m->body_size);
	c->priority = m->priority;
	if (m->flags & MSG_PERSISTENT)
		message_set_store_id(c, message_store_id(m));
	wb_free(&headers);
	wb_free(&props);
	return c;
}

struct message *message_with_header(const struct message *m, const char *key, int64_t v)
{
	return rewrite_header(m, key, true, v);
}

struct message *message_without_header(const struct message *m, const char *key)
{
	return rewrite_header(m, key, false, 0);
}

int message_parse_expiration(struct bytes s, uint32_t *ms)
{
	uint64_t v = 0;
	if (s.len == 0 || s.len > 10)
		return -1;
	for (uint32_t i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*ms = (uint32_t)v;
	return 0;
}

uint32_t message_expiration(const struct message *m)
{
	struct amqp_props p;
	struct bytes raw = message_props(m);
	uint32_t ms = 0;
	if (props_decode(raw.p, raw.len, &p) == 0 && (p.flags & PROP_EXPIRATION))
		message_parse_expiration(p.expiration, &ms);
	return ms;
}

struct message *message_decoded(struct bytes exchange, struct bytes rkey, struct bytes raw_props,
				struct bytes body)
{
	struct amqp_props p;
	unsigned flags = 0;
	uint8_t priority = 0;
	uint32_t ms;
	if (props_decode(raw_props.p, raw_props.len, &p) == 0) {
		if ((p.flags & PROP_DELIVERY_MODE) && p.delivery_mode == 2)
			flags |= MSG_PERSISTENT;
		if (p.flags & PROP_PRIORITY)
			priority = p.priority;
		if ((p.flags & PROP_EXPIRATION) && message_parse_expiration(p.expiration, &ms) == 0)
			flags |= MSG_EXPIRATION;
	}
	struct message *m = message_new(exchange, rkey, raw_props, body.len, flags);
	if (body.len)
		memcpy(message_body(m), body.p, body.len);
	m->priority = priority;
	return m;
}

size_t message_size_of(size_t exchange_len, size_t rkey_len, size_t props_len, uint64_t body_size,
		       unsigned flags)
{
	struct message head = {.body_size = (uint32_t)body_size, .props_len = (uint32_t)props_len,
			       .flags = (uint8_t)flags, .exchange_len = (uint8_t)exchange_len,
			       .rkey_len = (uint8_t)rkey_len};
	return alloc_size(&head);
}
