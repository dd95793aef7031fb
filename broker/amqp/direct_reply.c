/* direct_reply.c — RabbitMQ's direct reply-to; see direct_reply.h. The
 * error texts, the consumer tag form (amq.ctag- and 22 base64url
 * characters), the declare-ok counts (0 messages, 1 consumer), the
 * delivery tag of a reply (the channel's next tag, not used up) and the
 * return of a mandatory reply are RabbitMQ 3.10.8's, checked on the
 * reference node (tests/integration/test_direct_reply_to.py). */
#include "broker/amqp/direct_reply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker/amqp/channel.h"
#include "broker/amqp/handlers.h"
#include "broker/core/log.h"
#include "broker/model/vhost.h"
#include "broker/net/conn.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define PREFIX DIRECT_REPLY_QUEUE "."
#define PREFIX_LEN (sizeof PREFIX - 1)

/* reply key -> the channel whose reply consumer it names. Keys are
 * borrowed from the channels (ch->reply_key). */
static struct strmap replies;

bool direct_reply_named(struct bytes name)
{
	size_t n = sizeof DIRECT_REPLY_QUEUE - 1;
	return name.len >= n && memcmp(name.p, DIRECT_REPLY_QUEUE, n) == 0;
}

/* 16 random octets as 22 base64url characters (no padding), as
 * RabbitMQ's rabbit_guid:binary/2 writes them; out holds 23. */
static void random_word(char *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t r[18] = {0}; /* 16 random, 2 zero: three-octet groups */
	size_t got = 0;
	while (got < 16) {
		ssize_t n = getrandom(r + got, 16 - got, 0);
		if (n < 0 && errno != EINTR) {
			log_error("getrandom: %s", strerror(errno));
			abort(); /* no safe fallback for a secret name */
		}
		got += n > 0 ? (size_t)n : 0;
	}
	size_t o = 0;
	for (size_t i = 0; i < 18; i += 3) {
		uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
		for (int k = 3; k >= 0 && o < 22; k--)
			out[o++] = abc[(v >> (6 * k)) & 63];
	}
	out[22] = '\0';
}

/* The channel a reply name belongs to, in vh, or NULL. */
static struct channel *resolve(struct vhost *vh, struct bytes name)
{
	if (name.len <= PREFIX_LEN || memcmp(name.p, PREFIX, PREFIX_LEN) != 0)
		return NULL;
	struct channel *ch = strmap_get(&replies, name.p + PREFIX_LEN, name.len - PREFIX_LEN);
	/* A vhost is a boundary: a name leaked to another vhost reaches nothing. */
	return ch && ch->c->vh == vh ? ch : NULL;
}

int direct_reply_consume(struct channel *ch, const struct amqp_basic_consume *a)
{
	struct bytes tag = a->consumer_tag;
	if (tag.len && strmap_get(&ch->consumers, tag.p, tag.len))
		return conn_fail(ch->c, AMQP_NOT_ALLOWED, "attempt to reuse consumer tag '%.*s'",
				 (int)tag.len, (const char *)tag.p);
	if (!a->no_ack)
		return chan_fail(ch, AMQP_PRECONDITION_FAILED, "reply consumer cannot acknowledge");
	if (ch->reply_tag)
		return chan_fail(ch, AMQP_PRECONDITION_FAILED, "reply consumer already set");
	if (tag.len) {
		ch->reply_tag = xstrndup(tag.p, tag.len);
		ch->reply_tag_len = tag.len;
	} else {
		char word[23], gen[40];
		random_word(word);
		snprintf(gen, sizeof gen, "amq.ctag-%s", word);
		ch->reply_tag = xstrdup(gen);
		ch->reply_tag_len = (uint32_t)strlen(gen);
	}
	random_word(ch->reply_key);
	strmap_put(&replies, ch->reply_key, strlen(ch->reply_key), ch);
	if (!a->no_wait) {
		struct amqp_method ok = {.id = AMQP_BASIC_CONSUME_OK};
		ok.a.basic_consume_ok.consumer_tag =
			(struct bytes){(uint8_t *)ch->reply_tag, ch->reply_tag_len};
		conn_send_method(ch->c, ch->id, &ok);
	}
	return 0;
}

void direct_reply_forget(struct channel *ch)
{
	if (!ch->reply_tag)
		return;
	strmap_del(&replies, ch->reply_key, strlen(ch->reply_key));
	free(ch->reply_tag);
	ch->reply_tag = NULL;
	ch->reply_tag_len = 0;
	ch->reply_key[0] = '\0';
}

bool direct_reply_cancel(struct channel *ch, const struct amqp_basic_cancel *a)
{
	if (!ch->reply_tag || a->consumer_tag.len != ch->reply_tag_len ||
	    memcmp(a->consumer_tag.p, ch->reply_tag, ch->reply_tag_len) != 0)
		return false;
	if (!a->no_wait) {
		struct amqp_method ok = {.id = AMQP_BASIC_CANCEL_OK};
		ok.a.basic_cancel_ok.consumer_tag = a->consumer_tag;
		conn_send_method(ch->c, ch->id, &ok);
	}
	direct_reply_forget(ch);
	return true;
}

int direct_reply_rewrite(struct channel *ch, const struct amqp_props *props, struct wbuf *w)
{
	if (!(props->flags & PROP_REPLY_TO) || !bytes_eq(props->reply_to, DIRECT_REPLY_QUEUE))
		return 0;
	if (!ch->reply_tag)
		return chan_fail(ch, AMQP_PRECONDITION_FAILED, "fast reply consumer does not exist");
	char name[PREFIX_LEN + sizeof ch->reply_key];
	snprintf(name, sizeof name, "%s%s", PREFIX, ch->reply_key);
	struct amqp_props p = *props;
	p.reply_to = bytes_of(name);
	props_encode(w, &p);
	return 0;
}

void direct_reply_deliver(struct vhost *vh, struct bytes rkey, struct message *m)
{
	struct channel *ch = resolve(vh, rkey);
	if (!ch || ch->state != CH_OPEN || ch->c->state != CONN_OPEN)
		return; /* the requester has gone: the reply is dropped */
	/* As RabbitMQ: no-ack, and the tag is the channel's next one without
	 * using it up (the reply needs no ack, so nothing refers to it). */
	struct amqp_method d = {.id = AMQP_BASIC_DELIVER};
	d.a.basic_deliver = (struct amqp_basic_deliver){
		.consumer_tag = {(uint8_t *)ch->reply_tag, ch->reply_tag_len},
		.delivery_tag = ch->next_tag + 1,
		.redelivered = false,
		.exchange = message_exchange(m),
		.routing_key = rkey,
	};
	conn_send_content(ch->c, ch->id, &d, m);
}

int direct_reply_declare(struct channel *ch, struct bytes name, bool no_wait)
{
	struct vhost *vh = ch->c->vh;
	if (!bytes_eq(name, DIRECT_REPLY_QUEUE) && !resolve(vh, name))
		return chan_fail(ch, AMQP_NOT_FOUND, "no queue '%.*s' in vhost '%s'", (int)name.len,
				 (const char *)name.p, vh->name);
	free(ch->last_queue);
	ch->last_queue = xstrndup(name.p, name.len);
	if (!no_wait) {
		struct amqp_method ok = {.id = AMQP_QUEUE_DECLARE_OK};
		ok.a.queue_declare_ok.queue = name;
		ok.a.queue_declare_ok.message_count = 0;
		ok.a.queue_declare_ok.consumer_count = 1;
		conn_send_method(ch->c, ch->id, &ok);
	}
	return 0;
}
