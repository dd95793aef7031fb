/* ops.c — declare, delete, purge and bind, as rabbit_channel does them
 * (checks, their order, reply codes and texts); see ops.h. The AMQP
 * handlers, definitions.c and the HTTP API all come through here. */
#include "broker/model/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "broker/net/conn.h"
#include "broker/queue/persist.h"
#include "broker/queue/queue_args.h"
#include "protocol/frame.h"
#include "protocol/table.h"
#include "util/xalloc.h"

#define NAME(b) (int)(b).len, (const char *)(b).p

int op_fail(struct op_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof e->text, fmt, ap);
	va_end(ap);
	e->code = code;
	return code;
}

int op_check(const struct actor *who, struct vhost *vh, enum access_perm kind, const char *what,
	     struct bytes name, struct op_err *e)
{
	if (!who || !who->user)
		return 0;
	const struct perm *p =
		who->conn ? conn_perm(who->conn) : access_perm_find(who->user, vh->name);
	if (access_allows(p, kind, name))
		return 0;
	if (name.len == 0 && !strcmp(what, "exchange"))
		name = bytes_of("amq.default");
	/* RabbitMQ's text does not say which permission was missing. */
	return op_fail(e, AMQP_ACCESS_REFUSED,
		       "access to %s '%.*s' in vhost '%s' refused for user '%s'", what, NAME(name),
		       vh->name, who->user);
}

int op_check_topic(const struct actor *who, struct vhost *vh, const struct bexchange *x,
		   enum access_perm kind, struct bytes routing_key, struct op_err *e)
{
	if (!who || !who->user || strcmp(x->base.type->name, "topic") != 0)
		return 0;
	struct bytes xname = {(const uint8_t *)x->base.name, x->name_len};
	if (access_topic_allows(who->user, vh->name, xname, kind, routing_key))
		return 0;
	return op_fail(
		e, AMQP_ACCESS_REFUSED,
		"access to topic '%.*s' in exchange '%.*s' in vhost '%s' refused for user '%s'",
		NAME(routing_key), NAME(xname), vh->name, who->user);
}

static bool reserved(struct bytes name)
{
	return name.len >= 4 && memcmp(name.p, "amq.", 4) == 0;
}

static int default_exchange(struct op_err *e)
{
	return op_fail(e, AMQP_ACCESS_REFUSED, "operation not permitted on the default exchange");
}

static int no_exchange(struct vhost *vh, struct bytes name, struct op_err *e)
{
	return op_fail(e, AMQP_NOT_FOUND, "no exchange '%.*s' in vhost '%s'", NAME(name), vh->name);
}

static int no_queue(struct vhost *vh, struct bytes name, struct op_err *e)
{
	return op_fail(e, AMQP_NOT_FOUND, "no queue '%.*s' in vhost '%s'", NAME(name), vh->name);
}

static int locked(struct vhost *vh, struct bytes name, struct op_err *e)
{
	return op_fail(e, AMQP_RESOURCE_LOCKED,
		       "cannot obtain exclusive access to locked queue '%.*s' in vhost '%s'. "
		       "It could be originally declared on another connection or the exclusive "
		       "property value does not match that of the original declaration.",
		       NAME(name), vh->name);
}

static const char *tf(bool b)
{
	return b ? "true" : "false";
}

static int x_inequivalent(struct vhost *vh, struct bytes name, const char *arg, const char *got,
			  const char *have, struct op_err *e)
{
	return op_fail(e, AMQP_PRECONDITION_FAILED,
		       "inequivalent arg '%s' for exchange '%.*s' in vhost '%s': "
		       "received '%s' but current is '%s'",
		       arg, NAME(name), vh->name, got, have);
}

/* The alternate exchange (or dead-letter exchange) named in args under
 * key: read on the object itself, write on the one it names. */
static int check_forward(const struct actor *who, struct vhost *vh, struct bytes args,
			 const char *key, const char *what, struct bytes name, struct op_err *e)
{
	struct fvalue v;
	struct bytes target;
	if (!table_get(args, key, &v) || !fvalue_str(&v, &target))
		return 0;
	int rc = op_check(who, vh, PERM_READ, what, name, e);
	return rc ? rc : op_check(who, vh, PERM_WRITE, "exchange", target, e);
}

int op_exchange_declare(struct vhost *vh, const struct actor *who, const struct exchange_decl *d,
			struct bexchange **out, struct op_err *e)
{
	struct bexchange *x = vhost_exchange(vh, d->name);
	if (d->passive) {
		if (!x)
			return no_exchange(vh, d->name, e);
		goto done;
	}
	const struct exchange_type *t = exchange_type_find(d->type);
	if (!t)
		return op_fail(e, AMQP_COMMAND_INVALID, "unknown exchange type '%.*s'",
			       NAME(d->type));
	if (d->name.len == 0)
		return default_exchange(e);
	int rc = op_check(who, vh, PERM_CONFIGURE, "exchange", d->name, e);
	if (rc)
		return rc;
	if (!x) {
		if (reserved(d->name))
			return op_fail(e, AMQP_ACCESS_REFUSED,
				       "exchange name '%.*s' contains reserved prefix 'amq.*'",
				       NAME(d->name));
		rc = check_forward(who, vh, d->args, "alternate-exchange", "exchange", d->name, e);
		if (rc)
			return rc;
		const char *why = "";
		x = vhost_add_exchange(vh, d->name, t, d->args, &rc, &why);
		if (!x)
			return op_fail(e, rc, "%s", why);
		x->durable = d->durable;
		x->auto_delete = d->auto_delete;
		x->internal = d->internal;
		x->creator = who && who->user ? xstrdup(who->user) : NULL;
		persist_exchange_declared(x);
		goto done;
	}
	if (x->base.type != t) {
		char got[256];
		snprintf(got, sizeof got, "%.*s", NAME(d->type));
		return x_inequivalent(vh, d->name, "type", got, x->base.type->name, e);
	}
	if (x->durable != d->durable)
		return x_inequivalent(vh, d->name, "durable", tf(d->durable), tf(x->durable), e);
	if (x->auto_delete != d->auto_delete)
		return x_inequivalent(vh, d->name, "auto_delete", tf(d->auto_delete),
				      tf(x->auto_delete), e);
	if (x->internal != d->internal)
		return x_inequivalent(vh, d->name, "internal", tf(d->internal), tf(x->internal), e);
	/* Of an exchange's arguments RabbitMQ compares alternate-exchange. */
	struct fvalue a, b;
	bool ha = table_get(x->args, "alternate-exchange", &a);
	bool hb = table_get(d->args, "alternate-exchange", &b);
	if (ha != hb || (ha && !fvalue_equal(&a, &b))) {
		char detail[300];
		queue_args_mismatch(x->args, d->args, "alternate-exchange", detail, sizeof detail);
		return op_fail(e, AMQP_PRECONDITION_FAILED,
			       "inequivalent arg 'alternate-exchange' for exchange '%.*s' in vhost "
			       "'%s': %s",
			       NAME(d->name), vh->name, detail);
	}
done:
	if (out)
		*out = x;
	return 0;
}

int op_exchange_delete(struct vhost *vh, const struct actor *who, struct bytes name, bool if_unused,
		       struct op_err *e)
{
	if (name.len == 0 || reserved(name))
		return op_fail(e, AMQP_ACCESS_REFUSED,
			       "operation not permitted on the %s exchange '%.*s'",
			       name.len ? "reserved" : "default", NAME(name));
	int rc = op_check(who, vh, PERM_CONFIGURE, "exchange", name, e);
	if (rc)
		return rc;
	struct bexchange *x = vhost_exchange(vh, name);
	if (!x)
		return 0; /* deleting what is not there is fine, as RabbitMQ */
	if (if_unused && x->nout)
		return op_fail(e, AMQP_PRECONDITION_FAILED, "exchange '%.*s' in vhost '%s' in use",
			       NAME(name), vh->name);
	vhost_delete_exchange(vh, x);
	return 0;
}

/* amq.gen- followed by 22 URL-safe base64 characters, as RabbitMQ. */
static void server_name(char out[32])
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	memcpy(out, "amq.gen-", 8);
	for (int i = 0; i < 22; i++)
		out[8 + i] = abc[random() & 63];
	out[30] = '\0';
}

static int q_inequivalent(struct vhost *vh, struct queue *q, const char *arg, bool got,
			  struct op_err *e)
{
	return op_fail(e, AMQP_PRECONDITION_FAILED,
		       "inequivalent arg '%s' for queue '%s' in vhost '%s': "
		       "received '%s' but current is '%s'",
		       arg, q->name, vh->name, tf(got), tf(!got));
}

static struct conn *owner_of(const struct actor *who)
{
	return who ? who->conn : NULL;
}

/* An existing queue redeclared: RabbitMQ's equivalence checks. */
static int redeclare(struct vhost *vh, const struct actor *who, struct queue *q,
		     const struct queue_decl *d, struct op_err *e)
{
	struct bytes name = {(const uint8_t *)q->name, q->name_len};
	if (q->exclusive && q->owner != owner_of(who))
		return locked(vh, name, e);
	if (d->passive)
		return 0;
	if (q->durable != d->durable)
		return q_inequivalent(vh, q, "durable", d->durable, e);
	if (q->exclusive != d->exclusive)
		return locked(vh, name, e);
	if (q->auto_delete != d->auto_delete)
		return q_inequivalent(vh, q, "auto_delete", d->auto_delete, e);
	const char *why = queue_args_equivalent(q->args, d->args);
	if (why) {
		char detail[300];
		queue_args_mismatch(q->args, d->args, why, detail, sizeof detail);
		return op_fail(e, AMQP_PRECONDITION_FAILED,
			       "inequivalent arg '%s' for queue '%s' in vhost '%s': %s", why, q->name,
			       vh->name, detail);
	}
	return 0;
}

int op_queue_declare(struct vhost *vh, const struct actor *who, const struct queue_decl *d,
		     struct queue **out, struct op_err *e)
{
	char gen[32];
	struct bytes name = d->name;
	struct queue *q = vhost_queue(vh, name);
	if (d->passive) {
		if (!q)
			return no_queue(vh, name, e);
	} else {
		if (name.len == 0) {
			do
				server_name(gen);
			while (vhost_queue(vh, bytes_of(gen)));
			name = bytes_of(gen);
		} else if (!q && reserved(name)) {
			return op_fail(e, AMQP_ACCESS_REFUSED,
				       "queue name '%.*s' contains reserved prefix 'amq.*'",
				       NAME(name));
		}
		int rc = op_check(who, vh, PERM_CONFIGURE, "queue", name, e);
		if (rc)
			return rc;
	}
	if (q) {
		int rc = redeclare(vh, who, q, d, e);
		if (rc)
			return rc;
		stats_churn.queues_declared += !d->passive;
		*out = q;
		return 0;
	}
	if (vh->max_queues >= 0 && vh->queues.n >= (size_t)vh->max_queues)
		return op_fail(e, AMQP_PRECONDITION_FAILED,
			       "cannot declare queue '%.*s': queue limit in vhost '%s' (%lld) is "
			       "reached",
			       NAME(name), vh->name, (long long)vh->max_queues);
	char why[256];
	if (queue_args_validate(d->args, why, sizeof why) < 0) {
		/* why is "'x-arg': detail"; RabbitMQ names the queue between. */
		char *detail = strstr(why, "': ");
		if (detail)
			*++detail = '\0', detail += 2;
		return op_fail(e, AMQP_PRECONDITION_FAILED,
			       "invalid arg %s for queue '%.*s' in vhost '%s': %s", why, NAME(name),
			       vh->name, detail ? detail : "invalid");
	}
	int rc = check_forward(who, vh, d->args, "x-dead-letter-exchange", "queue", name, e);
	if (rc)
		return rc;
	q = queue_new(vh, name, d->args);
	q->durable = d->durable;
	q->exclusive = d->exclusive;
	q->auto_delete = d->auto_delete;
	if (q->exclusive && owner_of(who)) {
		q->owner = who->conn;
		conn_own_queue(who->conn, q);
	}
	vhost_add_queue(vh, q);
	persist_queue_declared(q);
	stats_churn.queues_declared++;
	stats_churn.queues_created++;
	*out = q;
	return 0;
}

/* A queue some operation names: 404 when missing, 405 when exclusive to
 * another connection. */
static int find_queue(struct vhost *vh, const struct actor *who, struct bytes name,
		      struct queue **out, struct op_err *e)
{
	struct queue *q = vhost_queue(vh, name);
	if (!q)
		return no_queue(vh, name, e);
	if (q->exclusive && q->owner != owner_of(who))
		return locked(vh, name, e);
	*out = q;
	return 0;
}

int op_queue_delete(struct vhost *vh, const struct actor *who, struct bytes name, bool if_unused,
		    bool if_empty, uint32_t *count, struct op_err *e)
{
	*count = 0;
	int rc = op_check(who, vh, PERM_CONFIGURE, "queue", name, e);
	if (rc)
		return rc;
	struct queue *q = vhost_queue(vh, name);
	if (!q)
		return 0;
	if (q->exclusive && q->owner != owner_of(who))
		return locked(vh, name, e);
	if (if_unused && q->ncons)
		return op_fail(e, AMQP_PRECONDITION_FAILED, "queue '%s' in vhost '%s' in use",
			       q->name, vh->name);
	if (if_empty && q->len)
		return op_fail(e, AMQP_PRECONDITION_FAILED, "queue '%s' in vhost '%s' not empty",
			       q->name, vh->name);
	*count = vhost_delete_queue(vh, q);
	return 0;
}

int op_queue_purge(struct vhost *vh, const struct actor *who, struct bytes name, uint32_t *count,
		   struct op_err *e)
{
	struct queue *q;
	int rc = op_queue_for_read(vh, who, name, &q, e);
	if (rc)
		return rc;
	*count = queue_purge(q);
	/* purge-ok says they are gone: after a crash too, as delete-ok does. */
	if (*count && q->durable)
		persist_commit_before_replies();
	return 0;
}

int op_queue_for_read(struct vhost *vh, const struct actor *who, struct bytes name,
		      struct queue **out, struct op_err *e)
{
	int rc = op_check(who, vh, PERM_READ, "queue", name, e);
	return rc ? rc : find_queue(vh, who, name, out, e);
}

/* RabbitMQ (rabbit_binding:remove) looks for the binding first: unbinding
 * what is not bound succeeds whether or not either end exists, and only an
 * existing binding to another connection's exclusive queue is refused. */
static int unbind_if_bound(struct vhost *vh, const struct actor *who, enum binding_dest kind,
			   struct bexchange *src, struct bytes dest, struct bytes key,
			   struct bytes args, struct op_err *e)
{
	struct queue *q = kind == DEST_QUEUE ? vhost_queue(vh, dest) : NULL;
	void *d = kind == DEST_QUEUE ? (void *)q : (void *)vhost_exchange(vh, dest);
	if (!src || !d || !vhost_bound(src, kind, d, key, args))
		return 0;
	if (q && q->exclusive && q->owner != owner_of(who))
		return locked(vh, dest, e);
	vhost_unbind(vh, src, kind, d, key, args);
	return 0;
}

int op_bind(struct vhost *vh, const struct actor *who, enum binding_dest kind, struct bytes source,
	    struct bytes dest, struct bytes key, struct bytes args, bool unbind, struct op_err *e)
{
	bool to_queue = kind == DEST_QUEUE;
	int rc = op_check(who, vh, PERM_WRITE, to_queue ? "queue" : "exchange", dest, e);
	if (rc)
		return rc;
	if (source.len == 0 || (!to_queue && dest.len == 0))
		return default_exchange(e);
	rc = op_check(who, vh, PERM_READ, "exchange", source, e);
	if (rc)
		return rc;
	struct bexchange *src = vhost_exchange(vh, source);
	if (src && (rc = op_check_topic(who, vh, src, PERM_READ, key, e)))
		return rc;
	if (unbind)
		return unbind_if_bound(vh, who, kind, src, dest, key, args, e);
	void *d;
	if (to_queue) {
		struct queue *q;
		if ((rc = find_queue(vh, who, dest, &q, e)))
			return rc;
		d = q;
	} else if (!(d = vhost_exchange(vh, dest))) {
		return no_exchange(vh, dest, e);
	}
	if (!src)
		return no_exchange(vh, source, e);
	const char *why = "";
	rc = vhost_bind(vh, src, kind, d, key, args, &why);
	return rc ? op_fail(e, rc, "%s", why) : 0;
}

int op_publish_target(struct vhost *vh, const struct actor *who, struct bytes xname,
		      struct bytes routing_key, struct bexchange **out, struct op_err *e)
{
	struct bexchange *x = *out = vhost_exchange(vh, xname);
	if (!x)
		return op_fail(e, AMQP_NOT_FOUND, "no exchange '%.*s' in vhost '%s'", NAME(xname),
			       vh->name);
	if (x->internal)
		return op_fail(e, AMQP_ACCESS_REFUSED,
			       "cannot publish to internal exchange '%.*s' in vhost '%s'",
			       NAME(xname), vh->name);
	return op_check_topic(who, vh, x, PERM_WRITE, routing_key, e);
}
