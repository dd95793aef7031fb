/* replica_transport.c — libraft's TCP transport with TCP_NODELAY on every
 * stream it hands over, accepted or connected (replica.h). libraft 0.15
 * never sets it, and with several AppendEntries in flight a small write
 * then waits for the peer's delayed ACK: measured p99 ~48 ms against a few
 * ms with it set (docs/clustering.md). Everything else is delegated to
 * raft_uv_tcp_init's transport. One replication per process: the wrapped
 * transport and its callbacks are this file's statics. */
#include <raft.h>
#include <raft/uv.h>
#include <stdlib.h>
#include <uv.h>

#include "store/replica.h"

static struct raft_uv_transport tcp;    /* libraft's own */
static struct raft_uv_transport *outer; /* the one libraft is given */
static raft_uv_accept_cb accept_cb;
static raft_uv_transport_close_cb close_cb;

struct connecting {
	struct raft_uv_connect inner;
	struct raft_uv_connect *req;
	raft_uv_connect_cb cb;
};

static void accepted(struct raft_uv_transport *t, raft_id id, const char *address,
		     struct uv_stream_s *stream)
{
	(void)t;
	uv_tcp_nodelay((uv_tcp_t *)stream, 1);
	accept_cb(outer, id, address, stream);
}

static void connected(struct raft_uv_connect *inner, struct uv_stream_s *stream, int status)
{
	struct connecting *c = inner->data;
	if (status == 0)
		uv_tcp_nodelay((uv_tcp_t *)stream, 1);
	c->cb(c->req, stream, status);
	free(c);
}

static int t_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	(void)t;
	return tcp.init(&tcp, id, address);
}

static int t_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	(void)t;
	accept_cb = cb;
	return tcp.listen(&tcp, accepted);
}

static int t_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
		     const char *address, raft_uv_connect_cb cb)
{
	(void)t;
	struct connecting *c = calloc(1, sizeof *c);
	if (!c)
		return RAFT_NOMEM;
	c->inner.data = c;
	c->req = req;
	c->cb = cb;
	int rv = tcp.connect(&tcp, &c->inner, id, address, connected);
	if (rv != 0)
		free(c);
	return rv;
}

static void closed(struct raft_uv_transport *t)
{
	(void)t;
	if (close_cb)
		close_cb(outer);
}

static void t_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	(void)t;
	close_cb = cb;
	tcp.close(&tcp, closed);
}

int replica_transport_init(struct raft_uv_transport *t, struct uv_loop_s *loop, const char *bind)
{
	int rv = raft_uv_tcp_init(&tcp, loop);
	if (rv == 0 && bind && *bind)
		rv = raft_uv_tcp_set_bind_address(&tcp, bind);
	if (rv != 0)
		return rv;
	outer = t;
	t->init = t_init;
	t->listen = t_listen;
	t->connect = t_connect;
	t->close = t_close;
	return 0;
}

void replica_transport_close(struct raft_uv_transport *t)
{
	(void)t;
	raft_uv_tcp_close(&tcp);
}
