/* server_role.c — a cluster member's life as the store's role changes
 * (store_on_role; docs/clustering.md 4.2). A member that does not lead
 * holds no broker state: its AMQP listener refuses clients at
 * connection.open (handshake.c), its management API is read-only. When it
 * becomes the leader, the store has applied everything committed before,
 * and the member recovers it as start-up does (server_promote), then
 * serves. When a leader loses the leadership, its in-memory state may
 * hold what was never committed: the simplest safe way to drop it is the
 * one start-up already proves, so it closes its connections with 320 and
 * re-executes itself, to come back as a follower. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/core/config.h"
#include "broker/core/log.h"
#include "broker/net/conn.h"
#include "broker/net/server.h"
#include "store/store.h"

static char *const *saved_argv;
static bool serving;

static _Noreturn void reexec(const char *why)
{
	log_warn("cluster: %s; restarting as a follower", why);
	fflush(NULL);
	/* Listeners, the store's files and sockets are close-on-exec, but
	 * not every descriptor a library opened may be. */
	close_range(3, ~0u, 0);
	execv("/proc/self/exe", saved_argv);
	log_error("cluster: re-exec failed: %s", strerror(errno));
	_exit(1);
}

#define DEMOTE_DELAY_MS 100
static char demote_why[160];
static struct event *demote_timer;

static void demote(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	conn_close_all(demote_why);
	reexec(demote_why + 13);
}

static void on_role(enum store_role role, const char *where)
{
	if (demote_timer)
		return; /* on its way out: the re-exec decides anew */
	if (role == STORE_HERE && !serving) {
		log_info("cluster: node %lld leads; recovering the stored state",
			 (long long)cfg.cluster_node_id);
		if (server_promote() < 0)
			reexec("the recovery at promotion failed");
		serving = true;
		log_info("cluster: node %lld is the leader and serves", (long long)cfg.cluster_node_id);
		return;
	}
	if (serving && role != STORE_HERE) {
		if (where)
			snprintf(demote_why, sizeof demote_why,
				 "NOT_LEADER - leadership lost; the leader is %s", where);
		else
			snprintf(demote_why, sizeof demote_why,
				 "NOT_LEADER - leadership lost; no leader elected yet");
		/* A few turns first: the nacks of the batches that failed with
		 * the leadership go out before the connections close. */
		demote_timer = evtimer_new(server_base, demote, NULL);
		struct timeval tv = {0, DEMOTE_DELAY_MS * 1000};
		evtimer_add(demote_timer, &tv);
		return;
	}
	if (role == STORE_ELSEWHERE)
		log_info("cluster: node %lld follows; the leader's clients go to %s",
			 (long long)cfg.cluster_node_id, where);
	else if (role == STORE_NOWHERE)
		log_info("cluster: node %lld: no leader known", (long long)cfg.cluster_node_id);
}

void server_role_watch(char *const *argv)
{
	saved_argv = argv;
	log_info("cluster: node %lld of '%s' started; it serves clients once it leads",
		 (long long)cfg.cluster_node_id, cfg.cluster_name);
	store_on_role(on_role);
}
