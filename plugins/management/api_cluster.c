/* api_cluster.c — /api/nodes of a cluster member: every member with its
 * addresses, which one leads, and how far each is (store_status): on the
 * leader, each member's highest replicated index and its lag in log
 * entries; on a follower, its own applied index and lag behind what it
 * knows is committed. This node's entry carries node_json()'s figures too. */
#include <stdio.h>

#include "plugins/management/api.h"
#include "store/store.h"

json_t *cluster_nodes_json(json_t *self_node)
{
	struct store_status s;
	store_status(&s);
	json_t *arr = json_array();
	for (unsigned i = 0; i < s.n; i++) {
		const struct store_member_status *m = &s.m[i];
		json_t *o = m->self ? json_incref(self_node) : json_object();
		char name[32];
		snprintf(name, sizeof name, "tern-%u", m->id);
		json_object_set_new(o, "name", json_string(name));
		json_object_set_new(o, "id", json_integer(m->id));
		json_object_set_new(o, "self", json_boolean(m->self));
		json_object_set_new(o, "leader", json_boolean(m->leader));
		json_object_set_new(o, "raft_address", json_string(m->raft));
		json_object_set_new(o, "amqp_address", json_string(m->amqp));
		json_object_set_new(o, "cluster_name", json_string(s.name));
		if (m->self) {
			json_object_set_new(o, "state", json_string(s.state));
			json_object_set_new(o, "term", json_integer((json_int_t)s.term));
			json_object_set_new(o, "last_index", json_integer((json_int_t)s.last_index));
			json_object_set_new(o, "commit_index", json_integer((json_int_t)s.commit_index));
			json_object_set_new(o, "applied_index",
					    json_integer((json_int_t)s.applied_index));
		}
		if (m->known) {
			json_object_set_new(o, "match_index", json_integer((json_int_t)m->match));
			json_object_set_new(o, "lag", json_integer((json_int_t)m->lag));
		} else {
			json_object_set_new(o, "match_index", json_null());
			json_object_set_new(o, "lag", json_null());
		}
		json_array_append_new(arr, o);
	}
	return arr;
}
