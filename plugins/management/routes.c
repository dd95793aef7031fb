/* routes.c — the management API's paths (below /api/), RabbitMQ's,
 * mapped to handlers with the tag each needs. ':x' captures one
 * percent-decoded segment; the first route whose pattern and method fit
 * wins, so literal segments ("users/without-permissions") come before
 * captures at the same place. */
#include "plugins/management/api.h"

#define GET EVHTTP_REQ_GET
#define PUT EVHTTP_REQ_PUT
#define POST EVHTTP_REQ_POST
#define DEL EVHTTP_REQ_DELETE
#define MGMT NEED_MANAGEMENT
#define MON NEED_MONITORING
#define POL NEED_POLICYMAKER
#define ADM NEED_ADMIN

const struct route mgmt_routes[] = {
	{GET, "overview", api_overview, MGMT},
	{GET, "whoami", api_whoami, MGMT},
	{GET, "extensions", api_extensions, MGMT},
	{GET, "nodes", api_nodes, MON},
	{GET, "nodes/:node", api_node, MON},
	{GET, "health/checks/alarms", api_health_alarms, MGMT},
	{GET, "health/checks/local-alarms", api_health_local_alarms, MGMT},
	{GET, "health/checks/port-listener/:port", api_health_port, MGMT},
	{GET, "health/checks/virtual-hosts", api_health_vhosts, MGMT},
	{GET, "health/checks/protocol-listener/:protocol", api_health_protocol, MGMT},
	{GET, "aliveness-test/:vhost", api_aliveness, MGMT},

	{GET, "connections", api_connections, MGMT},
	{GET, "connections/:name", api_connection, MGMT},
	{DEL, "connections/:name", api_connection_delete, MGMT},
	{GET, "connections/:name/channels", api_connection_channels, MGMT},
	{GET, "vhosts/:vhost/connections", api_connections, MGMT},
	{GET, "channels", api_channels, MGMT},
	{GET, "channels/:name", api_channel, MGMT},
	{GET, "vhosts/:vhost/channels", api_channels, MGMT},
	{GET, "consumers", api_consumers, MGMT},
	{GET, "consumers/:vhost", api_consumers, MGMT},

	{GET, "exchanges", api_exchanges, MGMT},
	{GET, "exchanges/:vhost", api_exchanges, MGMT},
	{GET, "exchanges/:vhost/:name", api_exchange, MGMT},
	{PUT, "exchanges/:vhost/:name", api_exchange_put, MGMT},
	{DEL, "exchanges/:vhost/:name", api_exchange_delete, MGMT},
	{POST, "exchanges/:vhost/:name/publish", api_publish, MGMT},
	{GET, "exchanges/:vhost/:name/bindings/source", api_exchange_bindings_source, MGMT},
	{GET, "exchanges/:vhost/:name/bindings/destination", api_exchange_bindings_destination,
	 MGMT},

	{GET, "queues", api_queues, MGMT},
	{GET, "queues/:vhost", api_queues, MGMT},
	{GET, "queues/:vhost/:name", api_queue, MGMT},
	{PUT, "queues/:vhost/:name", api_queue_put, MGMT},
	{DEL, "queues/:vhost/:name", api_queue_delete, MGMT},
	{DEL, "queues/:vhost/:name/contents", api_queue_purge, MGMT},
	{POST, "queues/:vhost/:name/get", api_get, MGMT},
	{GET, "queues/:vhost/:name/bindings", api_queue_bindings, MGMT},

	{GET, "bindings", api_bindings, MGMT},
	{GET, "bindings/:vhost", api_bindings, MGMT},
	{GET, "bindings/:vhost/e/:source/:kind/:dest", api_bindings_between, MGMT},
	{POST, "bindings/:vhost/e/:source/:kind/:dest", api_binding_create, MGMT},
	{GET, "bindings/:vhost/e/:source/:kind/:dest/:props", api_binding, MGMT},
	{DEL, "bindings/:vhost/e/:source/:kind/:dest/:props", api_binding_delete, MGMT},

	{GET, "vhosts", api_vhosts, MGMT},
	{GET, "vhosts/:vhost", api_vhost, MGMT},
	{PUT, "vhosts/:vhost", api_vhost_put, ADM},
	{DEL, "vhosts/:vhost", api_vhost_delete, ADM},
	{GET, "vhosts/:vhost/permissions", api_vhost_permissions, ADM},
	{GET, "vhosts/:vhost/topic-permissions", api_vhost_topic_permissions, ADM},
	{GET, "users", api_users, ADM},
	{GET, "users/without-permissions", api_users_without_permissions, ADM},
	{POST, "users/bulk-delete", api_users_bulk_delete, ADM},
	{GET, "users/:name", api_user, ADM},
	{PUT, "users/:name", api_user_put, ADM},
	{DEL, "users/:name", api_user_delete, ADM},
	{GET, "users/:name/permissions", api_user_permissions, ADM},
	{GET, "users/:name/topic-permissions", api_user_topic_permissions, ADM},
	{GET, "permissions", api_permissions, ADM},
	{GET, "permissions/:vhost/:user", api_permission, ADM},
	{PUT, "permissions/:vhost/:user", api_permission_put, ADM},
	{DEL, "permissions/:vhost/:user", api_permission_delete, ADM},
	{GET, "topic-permissions", api_topic_permissions, ADM},
	{GET, "topic-permissions/:vhost/:user", api_topic_permission, ADM},
	{PUT, "topic-permissions/:vhost/:user", api_topic_permission_put, ADM},
	{DEL, "topic-permissions/:vhost/:user", api_topic_permission_delete, ADM},
	{GET, "policies", api_policies, MGMT},
	{GET, "policies/:vhost", api_policies, MGMT},
	{GET, "policies/:vhost/:name", api_policy, MGMT},
	{PUT, "policies/:vhost/:name", api_policy_put, POL},
	{DEL, "policies/:vhost/:name", api_policy_delete, POL},
	{GET, "operator-policies", api_policies, ADM},
	{GET, "operator-policies/:vhost", api_policies, ADM},
	{GET, "operator-policies/:vhost/:name", api_policy, ADM},
	{PUT, "operator-policies/:vhost/:name", api_policy_put, ADM},
	{DEL, "operator-policies/:vhost/:name", api_policy_delete, ADM},
	{GET, "vhost-limits", api_vhost_limits, MGMT},
	{GET, "vhost-limits/:vhost", api_vhost_limits, MGMT},
	{PUT, "vhost-limits/:vhost/:name", api_vhost_limit_put, ADM},
	{DEL, "vhost-limits/:vhost/:name", api_vhost_limit_delete, ADM},
	{GET, "user-limits", api_user_limits, ADM},
	{GET, "user-limits/:user", api_user_limits, ADM},
	{PUT, "user-limits/:user/:name", api_user_limit_put, ADM},
	{DEL, "user-limits/:user/:name", api_user_limit_delete, ADM},

	{GET, "tern/queues/:vhost/:name/messages", api_tern_messages, MGMT},
	{DEL, "tern/queues/:vhost/:name/messages/:id", api_tern_message_delete, MGMT},
	{POST, "tern/queues/:vhost/:name/move", api_tern_move, MGMT},
	{POST, "tern/queues/:vhost/:name/redrive", api_tern_redrive, MGMT},
	{GET, "tern/queues/:vhost/:name/unacked", api_tern_unacked, MGMT},
	{GET, "tern/exchanges/:vhost/:name/delayed", api_tern_delayed, MGMT},
	{DEL, "tern/exchanges/:vhost/:name/delayed/:id", api_tern_delayed_cancel, MGMT},

	{GET, "definitions", api_definitions, ADM},
	{POST, "definitions", api_definitions_post, ADM},
	{GET, "definitions/:vhost", api_definitions, ADM},
	{POST, "definitions/:vhost", api_definitions_post, ADM},
};

const size_t mgmt_nroutes = sizeof mgmt_routes / sizeof mgmt_routes[0];
