/* cmd_cluster.c — `ternctl cluster status`: the members of a Tern cluster
 * from GET /api/nodes (docs/clustering.md): each member's id, addresses,
 * whether it leads, its replicated index and its lag in log entries (as
 * the node asked knows them: the leader knows every member's, a follower
 * only its own), and this node's state, term and applied index. */
#include <string.h>

#include "tools/ternctl/ctl.h"
#include "tools/ternctl/table.h"

static void cell_int(struct table *t, const json_t *o, const char *key)
{
	char v[32] = "?";
	const json_t *j = json_object_get(o, key);
	if (json_is_integer(j))
		snprintf(v, sizeof v, "%lld", (long long)json_integer_value(j));
	table_cell(t, v, true);
}

static int print_cluster(const json_t *nodes)
{
	static const char *const headers[] = {"id", "name", "amqp", "replication", "role",
					      "match", "lag"};
	size_t i;
	const json_t *nd, *self = NULL;
	json_array_foreach(nodes, i, nd)
		if (json_is_true(json_object_get(nd, "self")))
			self = nd;
	if (!self || !json_object_get(self, "raft_address")) {
		fprintf(stderr, "ternctl: this node is not a cluster member (no cluster.node_id)\n");
		return CTL_EBROKER;
	}
	printf("cluster %s: node %lld is %s (term %lld, commit %lld, applied %lld)\n",
	       json_string_value(json_object_get(self, "cluster_name")),
	       (long long)json_integer_value(json_object_get(self, "id")),
	       json_string_value(json_object_get(self, "state")),
	       (long long)json_integer_value(json_object_get(self, "term")),
	       (long long)json_integer_value(json_object_get(self, "commit_index")),
	       (long long)json_integer_value(json_object_get(self, "applied_index")));
	struct table *t = table_new(7, headers);
	json_array_foreach(nodes, i, nd)
	{
		cell_int(t, nd, "id");
		table_cell(t, json_string_value(json_object_get(nd, "name")), false);
		table_cell(t, json_string_value(json_object_get(nd, "amqp_address")), false);
		table_cell(t, json_string_value(json_object_get(nd, "raft_address")), false);
		const char *role = json_is_true(json_object_get(nd, "leader")) ? "leader" : "follower";
		char r[32];
		snprintf(r, sizeof r, "%s%s", role, nd == self ? " (this node)" : "");
		table_cell(t, r, false);
		cell_int(t, nd, "match_index");
		cell_int(t, nd, "lag");
	}
	table_print(t, stdout);
	table_free(t);
	return CTL_OK;
}

static int run_cluster(struct ctl *c, int argc, char **argv)
{
	int o;
	while ((o = ctl_getopt(c, argc, argv, NULL)) != CTL_OPT_END)
		if (o == CTL_OPT_EXIT)
			return c->rc;
	if (optind != argc - 1 || strcmp(argv[optind], "status"))
		return ctl_usage(c, "cluster takes one subcommand: status");
	json_t *nodes = NULL;
	int rc = api(c, "GET", "/api/nodes", NULL, &nodes, NULL);
	if (rc == CTL_OK && !json_is_array(nodes)) {
		fprintf(stderr, "ternctl: /api/nodes answered an unexpected shape\n");
		rc = CTL_EBROKER;
	}
	if (rc == CTL_OK && c->json)
		ctl_print_json(stdout, nodes);
	else if (rc == CTL_OK)
		rc = print_cluster(nodes);
	json_decref(nodes);
	return rc;
}

const struct cmd cmd_cluster = {
	.name = "cluster",
	.summary = "a cluster's members, leader and lag",
	.usage = "cluster status",
	.help = "Shows the cluster the node belongs to (GET /api/nodes): this node's state, term,\n"
		"commit and applied index, and for each member its id, AMQP and replication\n"
		"addresses, whether it leads, its highest replicated log index and its lag in\n"
		"entries (a follower knows only its own; '?' where unknown). Followers answer\n"
		"it too: their management API is read-only.\n",
	.run = run_cluster,
};
