/* config_cluster.c — the cluster options checked together (one key alone
 * cannot say whether this node is among the members, or whether two
 * members share an address), and handed to the store. Each error names the
 * file, the line of the key at fault and the problem, as config_load's do. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/config.h"
#include "store/store.h"
#include "util/xalloc.h"

/* The line each cluster key was last set on. */
#define NOTES 64
static struct {
	char *name;
	int line;
} notes[NOTES];
static int nnotes;

static bool cluster_key(const char *name)
{
	return !strncmp(name, "cluster.", 8) || !strncmp(name, "cluster_formation.", 18);
}

void config_cluster_note(const char *name, int line)
{
	if (!cluster_key(name))
		return;
	for (int i = 0; i < nnotes; i++)
		if (!strcmp(notes[i].name, name)) {
			notes[i].line = line;
			return;
		}
	if (nnotes < NOTES) {
		notes[nnotes].name = xstrdup(name);
		notes[nnotes++].line = line;
	}
}

static int line_of(const char *prefix, const char *key)
{
	char name[256];
	snprintf(name, sizeof name, "%s%s%s", prefix, key ? "." : "", key ? key : "");
	for (int i = 0; i < nnotes; i++)
		if (!strcmp(notes[i].name, name))
			return notes[i].line;
	return 0;
}

#define NODES "cluster_formation.classic_config.nodes"
#define AMQP "cluster.amqp_address"

static int fail(char *err, size_t errlen, const char *path, int line, const char *fmt,
		const char *a, const char *b)
{
	char why[512];
	snprintf(why, sizeof why, fmt, a, b);
	if (line)
		snprintf(err, errlen, "%s:%d: %s", path, line, why);
	else
		snprintf(err, errlen, "%s: %s", path, why);
	return -1;
}

/* A member id: 1..255, digits only. */
static long member_id(const char *key)
{
	char *end;
	long id = strtol(key, &end, 10);
	return *key && !*end && id >= 1 && id <= 255 ? id : 0;
}

/* A host (name or address) and a port: what followers name to clients. */
static bool any_host_port(const char *v)
{
	char host[256];
	int64_t port;
	return config_listener_parse(v, host, sizeof host, &port) == 0 && *host;
}

/* An IPv4 address and a port: libraft 0.15's TCP transport takes no
 * names and no IPv6. */
static bool host_port(const char *v)
{
	char host[256];
	int64_t port;
	struct in_addr a;
	return config_listener_parse(v, host, sizeof host, &port) == 0 &&
	       inet_pton(AF_INET, host, &a) == 1;
}

int config_cluster_check(const char *path, char *err, size_t errlen)
{
	const struct cfg_list *n = &cfg.cluster_nodes, *a = &cfg.cluster_amqp;
	if (!cfg.cluster_node_id)
		return 0; /* a single node; a RabbitMQ file's nodes lines mean nothing here */
	char own[16];
	snprintf(own, sizeof own, "%lld", (long long)cfg.cluster_node_id);
	int id_line = line_of("cluster.node_id", NULL);
	bool found = false;
	for (size_t i = 0; i < n->n; i++) {
		int line = line_of(NODES, n->keys[i]);
		if (!member_id(n->keys[i]))
			return fail(err, errlen, path, line, NODES ".%s: the member id must be 1 to 255%s",
				    n->keys[i], "");
		if (!host_port(n->vals[i]))
			return fail(err, errlen, path, line, NODES ".%s: '%s' is not IPv4-address:port",
				    n->keys[i], n->vals[i]);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(n->vals[i], n->vals[j]))
				return fail(err, errlen, path, line,
					    NODES ".%s: address %s is already another member's",
					    n->keys[i], n->vals[i]);
		found |= member_id(n->keys[i]) == cfg.cluster_node_id;
		bool has_amqp = false;
		for (size_t j = 0; j < a->n; j++)
			has_amqp |= member_id(a->keys[j]) == member_id(n->keys[i]);
		if (!has_amqp)
			return fail(err, errlen, path, line,
				    NODES ".%s: no " AMQP ".%s for this member (followers name it)",
				    n->keys[i], n->keys[i]);
	}
	if (n->n < 3)
		return fail(err, errlen, path, id_line,
			    "cluster.node_id is set but " NODES ".ID names %s (a cluster needs at "
			    "least 3)%s", n->n ? "fewer than three members" : "no members", "");
	if (!found)
		return fail(err, errlen, path, id_line,
			    "cluster.node_id = %s is not one of the " NODES ".ID entries%s", own, "");
	for (size_t j = 0; j < a->n; j++) {
		int line = line_of(AMQP, a->keys[j]);
		bool member = false;
		for (size_t i = 0; i < n->n; i++)
			member |= member_id(n->keys[i]) && !strcmp(n->keys[i], a->keys[j]);
		if (!member)
			return fail(err, errlen, path, line, AMQP ".%s: %s is not a member id", a->keys[j],
				    a->keys[j]);
		if (!any_host_port(a->vals[j]))
			return fail(err, errlen, path, line, AMQP ".%s: '%s' is not host:port",
				    a->keys[j], a->vals[j]);
	}
	if (*cfg.cluster_listen && !host_port(cfg.cluster_listen))
		return fail(err, errlen, path, line_of("cluster.listen", NULL),
			    "cluster.listen: '%s' is not IPv4-address:port%s", cfg.cluster_listen, "");
	if (cfg.cluster_heartbeat_interval >= cfg.cluster_election_timeout) {
		int line = line_of("cluster.heartbeat_interval", NULL);
		return fail(err, errlen, path, line ? line : line_of("cluster.election_timeout", NULL),
			    "cluster.heartbeat_interval must be below cluster.election_timeout%s%s",
			    "", "");
	}
	return 0;
}

void config_cluster_apply(void)
{
	if (!cfg.cluster_node_id)
		return;
	static struct store_member members[STORE_MAX_MEMBERS];
	struct store_cluster c = {
		.self = (unsigned)cfg.cluster_node_id,
		.listen = cfg.cluster_listen,
		.name = cfg.cluster_name,
		.election_timeout = (unsigned)cfg.cluster_election_timeout,
		.heartbeat_interval = (unsigned)cfg.cluster_heartbeat_interval,
		.snapshot_threshold = (unsigned)cfg.cluster_snapshot_threshold,
		.snapshot_trailing = (unsigned)cfg.cluster_snapshot_trailing,
		.members = members,
	};
	for (size_t i = 0; i < cfg.cluster_nodes.n && c.n < STORE_MAX_MEMBERS; i++) {
		struct store_member *m = &members[c.n++];
		m->id = (unsigned)member_id(cfg.cluster_nodes.keys[i]);
		m->raft = cfg.cluster_nodes.vals[i];
		m->amqp = "";
		for (size_t j = 0; j < cfg.cluster_amqp.n; j++)
			if (!strcmp(cfg.cluster_amqp.keys[j], cfg.cluster_nodes.keys[i]))
				m->amqp = cfg.cluster_amqp.vals[j];
		if (m->id == c.self && !*c.listen)
			c.listen = m->raft;
	}
	store_cluster(&c);
}
