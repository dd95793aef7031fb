/* api.h — the handlers of the management API (one api_<area>.c per group
 * of endpoints; routes.c maps paths to them) and the object builders they
 * share: RabbitMQ's JSON shapes of queues, exchanges, bindings,
 * connections, channels and messages. */
#ifndef TERN_PLUGINS_MANAGEMENT_API_H
#define TERN_PLUGINS_MANAGEMENT_API_H

#include "broker/net/conn.h"
#include "broker/model/vhost.h"
#include "plugins/management/mgmt.h"

/* The node's name ("tern@HOST"), as RabbitMQ's "rabbit@HOST". */
const char *node_name(void);

#define TERN_VERSION "0.1.0"
#define RABBITMQ_VERSION "3.10.8" /* the RabbitMQ whose API and metrics Tern follows */

/* A wall-clock ms as RabbitMQ shows times: "2026-12-01T10:05:42.188+00:00". */
json_t *time_json(uint64_t wall_ms);

json_t *queue_json(const struct queue *q);
/* RabbitMQ's consumer objects of a queue (consumer_details, /api/consumers). */
json_t *consumers_json(const struct queue *q);
json_t *exchange_json(const struct bexchange *x);
json_t *binding_json(const struct vhost *vh, const struct binding *b);
/* The default exchange's implicit binding to a queue. */
json_t *default_binding_json(const struct vhost *vh, const struct queue *qu);
json_t *connection_json(const struct conn *c);
json_t *props_json(struct bytes raw_props);
json_t *message_json(const struct message *m, const char *encoding, long truncate);
/* The connection's name in the API: "PEER -> LOCAL". */
void connection_name(const struct conn *c, char *out, size_t n);
/* Its peer's address and port, as JSON. */
json_t *connection_peer_host(const struct conn *c);
json_t *connection_peer_port(const struct conn *c);

/* api_overview.c; overview_started() marks the start (uptime). */
void overview_started(void);
void api_overview(struct req *q);
void api_whoami(struct req *q);
void api_nodes(struct req *q);
/* api_cluster.c: the members of a cluster (self_node: this node's figures). */
json_t *cluster_nodes_json(json_t *self_node);
void api_node(struct req *q);
void api_extensions(struct req *q);
void api_health_alarms(struct req *q);
void api_health_local_alarms(struct req *q);
void api_health_port(struct req *q);
void api_health_vhosts(struct req *q);
void api_health_protocol(struct req *q);
void api_aliveness(struct req *q);

/* api_queues.c */
void api_queues(struct req *q);
void api_queue(struct req *q);
void api_queue_put(struct req *q);
void api_queue_delete(struct req *q);
void api_queue_purge(struct req *q);
void api_queue_bindings(struct req *q);

/* api_exchanges.c */
void api_exchanges(struct req *q);
void api_exchange(struct req *q);
void api_exchange_put(struct req *q);
void api_exchange_delete(struct req *q);
void api_exchange_bindings_source(struct req *q);
void api_exchange_bindings_destination(struct req *q);
void api_bindings(struct req *q);
void api_bindings_between(struct req *q);
void api_binding_create(struct req *q);
void api_binding(struct req *q);
void api_binding_delete(struct req *q);

/* api_messages.c */
void api_publish(struct req *q);
void api_get(struct req *q);

/* api_conns.c */
void api_connections(struct req *q);
void api_connection(struct req *q);
void api_connection_delete(struct req *q);
void api_connection_channels(struct req *q);
void api_channels(struct req *q);
void api_channel(struct req *q);
void api_consumers(struct req *q);

/* api_access.c */
void api_vhosts(struct req *q);
void api_vhost(struct req *q);
void api_vhost_put(struct req *q);
void api_vhost_delete(struct req *q);
void api_vhost_permissions(struct req *q);
void api_users(struct req *q);
void api_users_without_permissions(struct req *q);
void api_users_bulk_delete(struct req *q);
void api_vhost_topic_permissions(struct req *q);
void api_user_topic_permissions(struct req *q);
void api_user(struct req *q);
void api_user_put(struct req *q);
void api_user_delete(struct req *q);
void api_user_permissions(struct req *q);
void api_permissions(struct req *q);
void api_permission(struct req *q);
void api_permission_put(struct req *q);
void api_permission_delete(struct req *q);
void api_topic_permissions(struct req *q);
void api_topic_permission(struct req *q);
void api_topic_permission_put(struct req *q);
void api_topic_permission_delete(struct req *q);
void api_policies(struct req *q);
void api_policy(struct req *q);
void api_policy_put(struct req *q);
void api_policy_delete(struct req *q);
void api_vhost_limits(struct req *q);
void api_vhost_limit_put(struct req *q);
void api_vhost_limit_delete(struct req *q);
void api_user_limits(struct req *q);
void api_user_limit_put(struct req *q);
void api_user_limit_delete(struct req *q);

/* api_policies.c: policies, operator policies, definitions */
void api_definitions(struct req *q);
void api_definitions_post(struct req *q);

/* api_tern.c: Tern's own, under /api/tern/ */
void api_tern_messages(struct req *q);
void api_tern_message_delete(struct req *q);
void api_tern_move(struct req *q);
void api_tern_redrive(struct req *q);
void api_tern_unacked(struct req *q);
void api_tern_delayed(struct req *q);
void api_tern_delayed_cancel(struct req *q);

#endif
