/* handshake.c — the connection class (spec §1.4.2): start / start-ok,
 * tune / tune-ok, open / open-ok, close / close-ok, and RabbitMQ's
 * update-secret. Each method is valid in one state only (see conn.c's
 * diagram); anything else is 503 COMMAND_INVALID or 505 UNEXPECTED_FRAME. */
#include "broker/net/handshake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/model/access.h"
#include "broker/net/auth.h"
#include "broker/net/conn.h"
#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/model/vhost.h"
#include "broker/net/tls.h"
#include "protocol/table.h"
#include "store/store.h"
#include "util/xalloc.h"

#define TERN_VERSION "0.1.0"

/* Capabilities Tern implements; each key listed here must work. */
static const char *const capabilities[] = {
	"publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_priorities",
	"consumer_cancel_notify", "connection.blocked", "authentication_failure_close",
	"per_consumer_qos", "direct_reply_to",
};

/* The SASL mechanisms Tern has; auth_mechanisms.N picks and orders them. */
static const char *const mechanisms[] = {"PLAIN", "AMQPLAIN", "EXTERNAL"};
#define NMECH (sizeof mechanisms / sizeof mechanisms[0])

/* Whether c is offered mechanism m: it is configured (PLAIN and AMQPLAIN
 * when nothing is), and EXTERNAL only over TLS (RabbitMQ's should_offer). */
static bool offered(const struct conn *c, const char *m)
{
	if (!strcmp(m, "EXTERNAL") && !c->tls)
		return false;
	if (!cfg.auth_mechanisms.n)
		return strcmp(m, "EXTERNAL") != 0;
	for (size_t i = 0; i < cfg.auth_mechanisms.n; i++)
		if (!strcmp(cfg.auth_mechanisms.vals[i], m))
			return true;
	return false;
}

/* connection.start's mechanisms: the offered ones, space-separated, in
 * the configured order. */
static void offer(const struct conn *c, char *out, size_t n)
{
	out[0] = '\0';
	const struct cfg_list *l = &cfg.auth_mechanisms;
	size_t count = l->n ? l->n : NMECH;
	for (size_t i = 0; i < count; i++) {
		const char *m = l->n ? l->vals[i] : mechanisms[i];
		bool again = false; /* the same name under two keys */
		for (size_t j = 0; j < i && l->n; j++)
			again |= !strcmp(l->vals[j], m);
		if (offered(c, m) && !again)
			snprintf(out + strlen(out), n - strlen(out), "%s%s", *out ? " " : "", m);
	}
}

void handshake_start(struct conn *c)
{
	struct wbuf props = {0};
	size_t t = tw_begin(&props);
	tw_key(&props, "product");
	tv_str(&props, "Tern");
	tw_key(&props, "version");
	tv_str(&props, TERN_VERSION);
	tw_key(&props, "platform");
	tv_str(&props, "C11/libevent");
	tw_key(&props, "information");
	tv_str(&props, "An AMQP 0-9-1 broker");
	tw_key(&props, "capabilities");
	tv_table_letter(&props);
	size_t caps = tw_begin(&props);
	for (size_t i = 0; i < sizeof capabilities / sizeof capabilities[0]; i++) {
		tw_key(&props, capabilities[i]);
		tv_bool(&props, true);
	}
	tw_end(&props, caps);
	tw_end(&props, t);
	struct amqp_method m = {.id = AMQP_CONNECTION_START};
	m.a.connection_start.version_major = 0;
	m.a.connection_start.version_minor = 9;
	m.a.connection_start.server_properties = (struct bytes){props.p + 4, (uint32_t)(props.len - 4)};
	char mechs[64];
	offer(c, mechs, sizeof mechs);
	m.a.connection_start.mechanisms = bytes_of(mechs);
	m.a.connection_start.locales = bytes_of("en_US");
	conn_send_method(c, 0, &m);
	wb_free(&props);
	c->state = CONN_START_OK;
}

/* Reads the client's capabilities we act on. */
static void read_client_caps(struct conn *c, struct bytes client_props)
{
	struct fvalue caps, v;
	if (!table_get(client_props, "capabilities", &caps) || caps.type != 'F')
		return;
	if (table_get(caps.v.s, "consumer_cancel_notify", &v) && v.type == 't')
		c->cap_cancel_notify = v.v.b;
	if (table_get(caps.v.s, "connection.blocked", &v) && v.type == 't')
		c->cap_blocked = v.v.b;
}

static int on_start_ok(struct conn *c, const struct amqp_connection_start_ok *a)
{
	read_client_caps(c, a->client_properties);
	free(c->client_props);
	c->client_props = xmemdup(a->client_properties.p, a->client_properties.len);
	c->client_props_len = a->client_properties.len;
	/* RabbitMQ's texts (rabbit_reader); it drops the socket after 3 s
	 * where Tern sends them in connection.close. */
	const char *mech = NULL;
	for (size_t i = 0; i < NMECH; i++)
		if (bytes_eq(a->mechanism, mechanisms[i]))
			mech = mechanisms[i];
	if (!mech)
		return conn_fail(c, AMQP_COMMAND_INVALID, "unknown authentication mechanism '%.*s'",
				 (int)a->mechanism.len, a->mechanism.p);
	if (!offered(c, mech))
		return conn_fail(c, AMQP_COMMAND_INVALID, "invalid authentication mechanism '%s'",
				 mech);
	int rc;
	if (store_role(NULL) != STORE_HERE && !strcmp(mech, "EXTERNAL")) {
		/* A cluster member that does not lead checks passwords against
		 * its store's copy of the users (auth.c); a certificate's name
		 * goes on to the 320 at connection.open (on_open). */
		rc = 0;
		free(c->user);
		c->user = xstrdup("");
	} else if (!strcmp(mech, "EXTERNAL")) {
		char name[512];
		const char *why;
		rc = tls_conn_login_name(c, name, sizeof name, &why);
		if (rc < 0)
			log_info("%s: EXTERNAL login refused: %s", c->peer, why);
		else
			rc = auth_external(name, c->loopback, &c->user);
	} else {
		rc = auth_check(a->mechanism, a->response, c->loopback, &c->user);
	}
	if (rc < 0) {
		log_info("%s: login refused (mechanism %.*s)", c->peer, (int)a->mechanism.len,
			 a->mechanism.p);
		return conn_fail(c, AMQP_ACCESS_REFUSED,
				 "Login was refused using authentication mechanism %.*s. "
				 "For details see the broker logfile.",
				 (int)a->mechanism.len, a->mechanism.p);
	}
	c->auth_mechanism = mech;
	struct amqp_method m = {.id = AMQP_CONNECTION_TUNE};
	m.a.connection_tune.channel_max = (uint16_t)cfg.channel_max;
	m.a.connection_tune.frame_max = (uint32_t)cfg.frame_max;
	m.a.connection_tune.heartbeat = (uint16_t)cfg.heartbeat;
	conn_send_method(c, 0, &m);
	c->state = CONN_TUNE_OK;
	return 0;
}

static int on_tune_ok(struct conn *c, const struct amqp_connection_tune_ok *a)
{
	uint32_t fmax = a->frame_max ? a->frame_max : (uint32_t)cfg.frame_max;
	if (fmax < FRAME_MIN_SIZE)
		return conn_fail(c, AMQP_NOT_ALLOWED, "frame_max=%u < %u min size", fmax,
				 FRAME_MIN_SIZE);
	if (fmax > cfg.frame_max)
		return conn_fail(c, AMQP_NOT_ALLOWED, "frame_max=%u > %u max size", fmax,
				 (unsigned)cfg.frame_max);
	uint16_t chmax = a->channel_max ? a->channel_max : (uint16_t)cfg.channel_max;
	if (chmax > cfg.channel_max)
		return conn_fail(c, AMQP_NOT_ALLOWED, "channel_max=%u > %u max", chmax,
				 (unsigned)cfg.channel_max);
	c->frame_max = fmax;
	c->channel_max = chmax;
	c->heartbeat = a->heartbeat;
	c->state = CONN_OPEN_WAIT;
	return 0;
}

/* connection.open: the vhost must exist, the user needs permissions on
 * it, and neither the vhost's nor the user's connection limit may be
 * reached (RabbitMQ's checks and texts, 530 NOT_ALLOWED). */
static int on_open(struct conn *c, const struct amqp_connection_open *a)
{
	const char *leader;
	switch (store_role(&leader)) {
	case STORE_HERE: break;
	case STORE_ELSEWHERE:
		return conn_fail(c, AMQP_CONNECTION_FORCED,
				 "NOT_LEADER - this node is a follower; the leader is %s", leader);
	case STORE_NOWHERE:
		return conn_fail(c, AMQP_CONNECTION_FORCED, "NOT_LEADER - no leader elected yet");
	}
	struct vhost *vh = vhost_find(a->virtual_host);
	if (!vh)
		return conn_fail(c, AMQP_NOT_ALLOWED, "vhost %.*s not found",
				 (int)a->virtual_host.len, a->virtual_host.p);
	if (!access_perm_find(c->user, vh->name))
		return conn_fail(c, AMQP_NOT_ALLOWED, "access to vhost '%s' refused for user '%s'",
				 vh->name, c->user);
	if (vh->max_connections >= 0 && vh->nconns >= (uint64_t)vh->max_connections)
		return conn_fail(c, AMQP_NOT_ALLOWED,
				 "access to vhost '%s' refused for user '%s': connection limit (%lld) "
				 "is reached",
				 vh->name, c->user, (long long)vh->max_connections);
	struct user *u = access_user_find(c->user);
	if (u && u->max_connections >= 0 && u->nconns >= (uint64_t)u->max_connections)
		return conn_fail(c, AMQP_NOT_ALLOWED,
				 "connection refused for user '%s': user connection limit (%lld) is "
				 "reached",
				 c->user, (long long)u->max_connections);
	c->vh = vh;
	vh->refs++;
	vh->nconns++;
	if (u)
		u->nconns++;
	c->counted = true;
	stats_churn.conns_opened++;
	struct amqp_method m = {.id = AMQP_CONNECTION_OPEN_OK};
	conn_send_method(c, 0, &m);
	c->state = CONN_OPEN;
	log_info("%s: user '%s' opened vhost '%s'", c->peer, c->user, vh->name);
	return 0;
}

/* Which method each handshake state expects next. */
static uint32_t expected(enum conn_state s)
{
	switch (s) {
	case CONN_START_OK: return AMQP_CONNECTION_START_OK;
	case CONN_TUNE_OK: return AMQP_CONNECTION_TUNE_OK;
	case CONN_OPEN_WAIT: return AMQP_CONNECTION_OPEN;
	default: return 0;
	}
}

int handshake_method(struct conn *c, const uint8_t *payload, size_t len)
{
	struct amqp_method m;
	int rc = method_decode(payload, len, &m);
	if (rc)
		return conn_fail(c, rc, "cannot decode %s on channel 0",
				 len >= 4 ? method_name(get32(payload)) : "method");
	if (m.id == AMQP_CONNECTION_CLOSE) {
		conn_closed_by_peer(c);
		return 0;
	}
	if (c->state != CONN_OPEN) {
		if (m.id != expected(c->state))
			return conn_fail(c, AMQP_COMMAND_INVALID, "expected %s, got %s",
					 method_name(expected(c->state)), method_name(m.id));
		switch (m.id) {
		case AMQP_CONNECTION_START_OK: return on_start_ok(c, &m.a.connection_start_ok);
		case AMQP_CONNECTION_TUNE_OK: return on_tune_ok(c, &m.a.connection_tune_ok);
		default: return on_open(c, &m.a.connection_open);
		}
	}
	switch (m.id) {
	case AMQP_CONNECTION_UPDATE_SECRET: {
		struct amqp_method ok = {.id = AMQP_CONNECTION_UPDATE_SECRET_OK};
		conn_send_method(c, 0, &ok);
		return 0;
	}
	case AMQP_CONNECTION_CLOSE_OK:
		return 0; /* a stray close-ok is harmless */
	default:
		if (METHOD_CLASS(m.id) != AMQP_CLASS_CONNECTION)
			return conn_fail(c, AMQP_CHANNEL_ERROR, "%s is not allowed on channel 0",
					 method_name(m.id));
		return conn_fail(c, AMQP_COMMAND_INVALID, "unexpected %s", method_name(m.id));
	}
}
