/* message.c — the refcounted message; see message.h. */
#include "broker/message.h"

#include <stdlib.h>

#include "util/xalloc.h"

uint64_t message_live;
uint64_t message_bytes;

struct message *message_new(struct bytes exchange, struct bytes rkey, struct bytes raw_props,
			    uint64_t body_size)
{
	size_t head = (size_t)exchange.len + rkey.len + raw_props.len;
	struct message *m = xmalloc(sizeof *m + head + body_size);
	m->refs = 1;
	m->flags = 0;
	m->priority = 0;
	m->exchange_len = (uint8_t)exchange.len;
	m->rkey_len = (uint8_t)rkey.len;
	m->props_len = raw_props.len;
	m->body_size = body_size;
	m->store_id = 0;
	message_bytes += body_size;
	uint8_t *p = m->data;
	const struct bytes parts[3] = {exchange, rkey, raw_props};
	for (int i = 0; i < 3; i++) {
		if (parts[i].len)
			memcpy(p, parts[i].p, parts[i].len);
		p += parts[i].len;
	}
	message_live++;
	return m;
}

void message_unref(struct message *m)
{
	if (--m->refs == 0) {
		message_live--;
		message_bytes -= m->body_size;
		free(m);
	}
}
