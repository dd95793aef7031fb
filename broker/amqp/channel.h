/* channel.h — AMQP channels (spec §2.2.5, class channel) and the per-channel
 * state of the basic class: content assembly, delivery tags, the unacked
 * map, prefetch, publisher confirms and transactions.
 *
 * Design notes. The unacked map is a ring indexed by delivery tag
 * (tag - base), so ack, nack and reject find a record in O(1); acked slots
 * become holes and the base advances past them. Confirms for messages that
 * need no disk are due at once; they are batched and sent at the end of the
 * loop turn as one basic.ack with multiple=true. */
#ifndef TERN_BROKER_CHANNEL_H
#define TERN_BROKER_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/queue/queue.h"
#include "protocol/frame.h"
#include "protocol/method.h"
#include "util/strmap.h"

struct conn;

enum chan_state {
	CH_OPEN,    /* normal operation */
	CH_CLOSING, /* we sent channel.close: drop all but close/close-ok */
};

enum content_state {
	CONTENT_NONE,   /* expecting a method */
	CONTENT_HEADER, /* after basic.publish: the header must come next */
	CONTENT_BODY,   /* collecting body frames up to body_size */
};

/* One delivery awaiting ack. e.m == NULL marks an acked hole. */
struct unacked {
	struct qentry e;        /* deliveries counts this delivery too */
	struct queue *q;        /* holds a queue reference */
	struct consumer *cons;  /* NULL for basic.get or a cancelled consumer */
	uint64_t since_ms;      /* when it was delivered: the loop's cached wall-clock ms */
};

/* A range of publish sequence numbers or delivery tags, inclusive. */
struct seqrange {
	uint64_t from, to;
};

/* A publish buffered inside a transaction, or an ack/reject. */
struct txop {
	enum { TX_PUBLISH, TX_ACK, TX_NACK } kind;
	struct message *m;          /* TX_PUBLISH */
	bool mandatory;             /* TX_PUBLISH */
	uint64_t tag;               /* TX_ACK / TX_NACK */
	bool multiple, requeue;
};

struct channel {
	struct conn *c;
	uint16_t id;
	enum chan_state state;
	bool free_me; /* the peer closed it: free after this frame */
	char *last_queue; /* last queue declared, for the '' shortcut */

	/* content assembly */
	enum content_state content;
	struct message *pub; /* the message being assembled (after its header) */
	uint64_t pub_have;   /* body octets of it received so far */
	bool pub_mandatory;
	/* The last exchange this channel was allowed to publish to, while
	 * access_gen stays wperm_gen: the write check is a memcmp then. */
	bool wperm_ok;
	uint8_t wperm_len;
	uint64_t wperm_gen;
	uint8_t wperm_x[255];
	uint8_t pub_exchange_len, pub_rkey_len;
	uint8_t pub_exchange[255], pub_rkey[255]; /* from basic.publish */

	/* deliveries */
	uint64_t next_tag; /* last delivery tag issued */
	uint64_t ring_base;
	struct unacked *ring;
	size_t ring_len, ring_cap; /* slots in use from base; capacity */
	uint32_t unacked_n;
	uint32_t prefetch_global;   /* basic.qos global=true */
	uint32_t prefetch_consumer; /* basic.qos global=false, for new consumers */
	bool flow_active;           /* client's channel.flow */
	struct strmap consumers;    /* tag -> struct consumer */

	/* consumer timeout (consumer_timeout.c): no outstanding delivery has
	 * a timeout below ct_floor ms (0: none has one), as of ct_gen. */
	uint64_t ct_floor, ct_gen;
	/* tags taken back from timed-out consumers (ranges, oldest first, at
	 * most CHANNEL_RECLAIMED_MAX): a late ack or reject of one is ignored */
	struct seqrange *reclaimed;
	size_t nreclaimed;

	/* direct reply-to (direct_reply.c): the reply consumer, if any */
	char *reply_tag; /* NULL: none */
	uint32_t reply_tag_len;
	char reply_key[23]; /* the random part of the reply name, 22 characters */

	/* publisher confirms */
	bool confirm;
	uint64_t pub_seq;      /* last publish sequence number */
	uint64_t confirm_due;  /* all seq <= this are confirmed */
	uint64_t confirm_sent; /* highest seq acked to the client */
	/* publishes waiting on store batches, oldest first (waits[wait_head]
	 * up to waits[nwaits - 1]): each is settled when its batch is
	 * committed or its ticket is (persist.h) */
	struct confirm_wait {
		uint64_t batch, seq, ticket;
	} *waits;
	size_t wait_head, nwaits, waits_cap;
	struct seqrange *nacks; /* publishes to nack */
	size_t nnacks, nnacks_cap;

	/* transactions */
	bool tx;
	struct stats stats; /* the channel's message counters (the API's message_stats) */
	struct txop *txops;
	size_t ntx, ntx_cap;

	bool defer_pending;
	struct channel *next_defer;
};

struct channel *channel_new(struct conn *c, uint16_t id);

/* Frees the channel: requeues unacked messages (redelivered), cancels its
 * consumers, drops a half-assembled message and tx buffer. */
void channel_free(struct channel *ch);

/* Delivers e from q to consumer cons (basic.deliver), or answers a
 * basic.get when cons is NULL (basic.get-ok with message_count). The
 * entry's reference moves into the unacked map, or is released when
 * no_ack. */
void channel_deliver(struct channel *ch, struct consumer *cons, struct queue *q, struct qentry e,
		     bool no_ack, uint32_t message_count);

/* True when cons may receive one more message now. */
bool channel_consumer_ready(const struct channel *ch, const struct consumer *cons);

/* Acks, or nacks/rejects (requeue or drop), delivery tag `tag`. multiple
 * covers every outstanding tag up to it (tag 0 with multiple: all).
 * Returns 0 or 406 through chan_fail for an unknown tag. */
int channel_ack(struct channel *ch, uint64_t tag, bool multiple);
int channel_nack(struct channel *ch, uint64_t tag, bool multiple, bool requeue);

/* Requeues every unacked delivery (basic.recover, channel close). */
void channel_requeue_all(struct channel *ch);

/* Requeues every unacked delivery of cons (they count as redelivered)
 * and remembers their tags, so that the client's late ack, nack or reject
 * of one is ignored instead of being an unknown tag (a timed-out
 * consumer, consumer_timeout.c). Returns how many were requeued. */
uint32_t channel_reclaim(struct channel *ch, struct consumer *cons);
#define CHANNEL_RECLAIMED_MAX 256

/* Records that publish `seq` is confirmed and schedules the ack. */
void channel_confirm(struct channel *ch, uint64_t seq);
/* Records that publish `seq` is confirmed once the store batch its writes
 * joined (persist_batch()) is committed, nacked when it fails, or at once
 * when its ticket (persist_publish_end, 0: none) is settled first. The
 * channel releases the ticket. */
void channel_confirm_after_commit(struct channel *ch, uint64_t seq, uint64_t ticket);

/* Records that publish `seq` must be nacked (a queue refused it). */
void channel_nack_publish(struct channel *ch, uint64_t seq);

/* Sends the batched confirm, if any (end of turn). */
void channel_flush_confirms(struct channel *ch);

/* Cancels and frees one consumer; notify sends basic.cancel to the client
 * (when it asked for consumer_cancel_notify). */
void channel_cancel_consumer(struct channel *ch, struct consumer *cons, bool notify);

/* Sends channel.close with `code`, the text in the connection's error
 * buffer (chan_fail) and the method that failed (0: none), and enters
 * CH_CLOSING: deliveries stop and unacked messages are requeued now. A
 * soft error in a handler ends here, and so does a timed-out consumer. */
void channel_close(struct channel *ch, int code, uint32_t method_id);

/* Processes one frame for this channel (called by conn). Returns 0 or a
 * reply code (text already in the connection's error buffer). */
int channel_frame(struct channel *ch, const struct frame *f);

#endif
