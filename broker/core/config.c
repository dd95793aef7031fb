/* config.c — the option table and its parsers; see config.h and
 * etc/tern.conf, which documents every option with its default. */
#include "broker/core/config.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/log.h"
#include "util/xalloc.h"

struct config cfg;

/* OPT_LIST: RabbitMQ's indexed keys (NAME.KEY = VALUE) gathered into a
 * struct cfg_list; `choices`, when set, are the values allowed, and the
 * default is documentation only (an empty list means it). OPT_SIZE takes
 * RabbitMQ's information units (config_parse_size); OPT_RATIO a
 * non-negative decimal, below max (a double). A row whose min is -1 also
 * takes "none", stored as -1 (not set). */
enum opt_type { OPT_INT, OPT_SIZE, OPT_STR, OPT_LEVEL, OPT_CHOICE, OPT_BOOL, OPT_LIST, OPT_RATIO };

/* The options of one TLS listener kind: ssl_options.* and management.ssl.*
 * have the same rows (RabbitMQ's names), F is the struct tls_config. */
#define TLS_ROWS(P, F, WHO)                                                                        \
	{P ".cacertfile", OPT_STR, offsetof(struct config, F.cacertfile), "", 0, 0,               \
	 "CA certificates (PEM) that " WHO " client certificates are checked against", NULL},     \
	{P ".certfile", OPT_STR, offsetof(struct config, F.certfile), "", 0, 0,                   \
	 "the server's certificate (PEM, the chain after it) for " WHO, NULL},                     \
	{P ".keyfile", OPT_STR, offsetof(struct config, F.keyfile), "", 0, 0,                     \
	 "its private key (PEM; empty: in certfile)", NULL},                                       \
	{P ".password", OPT_STR, offsetof(struct config, F.password), "", 0, 0,                   \
	 "the password of an encrypted keyfile", NULL},                                            \
	{P ".verify", OPT_CHOICE, offsetof(struct config, F.verify), "verify_none", 0, 1,         \
	 "verify_peer: ask clients for a certificate and refuse one the CAs did not sign",         \
	 "verify_none|verify_peer"},                                                               \
	{P ".fail_if_no_peer_cert", OPT_BOOL, offsetof(struct config, F.fail_if_no_peer_cert),    \
	 "false", 0, 1, "true (with verify_peer): refuse clients that send no certificate", NULL}, \
	{P ".versions", OPT_LIST, offsetof(struct config, F.versions), "tlsv1.2, tlsv1.3", 0, 0,  \
	 "TLS versions, " P ".versions.N = tlsv1.2 | tlsv1.3 (nothing older)",                    \
	 "tlsv1.2|tlsv1.3"},                                                                       \
	{P ".ciphers", OPT_LIST, offsetof(struct config, F.ciphers), "OpenSSL's", 0, 0,           \
	 "cipher suites, " P ".ciphers.N = an OpenSSL name (TLS_... for TLS 1.3)", NULL},          \
	{P ".honor_cipher_order", OPT_BOOL, offsetof(struct config, F.honor_cipher_order),        \
	 "false", 0, 1, "true: the server's order of ciphers wins over the client's", NULL}

static const struct option_row {
	const char *name;
	enum opt_type type;
	size_t offset;
	const char *def;
	int64_t min, max;
	const char *help;
	const char *choices; /* OPT_CHOICE: '|'-separated; the value is the index */
} options[] = {
	{"bind", OPT_STR, offsetof(struct config, bind), "127.0.0.1,::1", 0, 0,
	 "addresses to listen on, comma-separated", NULL},
	{"port", OPT_INT, offsetof(struct config, port), "5672", 1, 65535, "AMQP port", NULL},
	{"data_dir", OPT_STR, offsetof(struct config, data_dir), "./var", 0, 0,
	 "directory for the database", NULL},
	{"log_level", OPT_LEVEL, offsetof(struct config, log_level), "info", 0, 3,
	 "error, warning, info or debug", NULL},
	{"frame_max", OPT_SIZE, offsetof(struct config, frame_max), "131072", 4096, 1 << 24,
	 "largest frame offered to clients, in bytes", NULL},
	{"channel_max", OPT_INT, offsetof(struct config, channel_max), "2047", 1, 65535,
	 "most channels per connection", NULL},
	{"heartbeat", OPT_INT, offsetof(struct config, heartbeat), "60", 0, 65535,
	 "heartbeat interval offered to clients, in seconds (0: off)", NULL},
	{"max_message_size", OPT_SIZE, offsetof(struct config, max_message_size), "16777216", 1,
	 (int64_t)512 << 20, "largest message body accepted, in bytes", NULL},
	{"handshake_timeout", OPT_INT, offsetof(struct config, handshake_timeout), "10000", 100,
	 3600000,
	 "milliseconds a client has to finish the AMQP handshake (RabbitMQ's unit and default)",
	 NULL},
	{"consumer_timeout", OPT_INT, offsetof(struct config, consumer_timeout), "1800000", 0,
	 0xFFFFFFFFll,
	 "milliseconds a delivery may stay unacknowledged before its consumer is cancelled "
	 "(or its channel closed); 0: no limit",
	 NULL},
	{"default_user", OPT_STR, offsetof(struct config, default_user), "guest", 0, 0,
	 "user created on a blank node (no definitions loaded at its first boot)", NULL},
	{"default_pass", OPT_STR, offsetof(struct config, default_pass), "guest", 0, 0,
	 "its password", NULL},
	{"default_vhost", OPT_STR, offsetof(struct config, default_vhost), "/", 0, 0,
	 "vhost created on a blank node", NULL},
	{"default_permissions.configure", OPT_STR,
	 offsetof(struct config, default_permissions_configure), ".*", 0, 0,
	 "the default user's configure permission on the default vhost", NULL},
	{"default_permissions.write", OPT_STR, offsetof(struct config, default_permissions_write),
	 ".*", 0, 0, "its write permission", NULL},
	{"default_permissions.read", OPT_STR, offsetof(struct config, default_permissions_read),
	 ".*", 0, 0, "its read permission", NULL},
	{"loopback_users", OPT_STR, offsetof(struct config, loopback_users), "guest", 0, 0,
	 "users who may log in from loopback only, comma-separated (none: nobody); "
	 "loopback_users.NAME = true|false adds or removes one",
	 NULL},
	{"management.tcp.port", OPT_INT, offsetof(struct config, management_port), "15672", 0, 65535,
	 "port of the management page and HTTP API (0: off)", NULL},
	{"management.tcp.ip", OPT_STR, offsetof(struct config, management_ip), "127.0.0.1", 0, 0,
	 "address the management listener binds (loopback by default)", NULL},
	{"prometheus.tcp.port", OPT_INT, offsetof(struct config, prometheus_port), "15692", 0, 65535,
	 "port of the Prometheus metrics (/metrics, /metrics/per-object; no login; 0: off)", NULL},
	{"prometheus.tcp.ip", OPT_STR, offsetof(struct config, prometheus_ip), "127.0.0.1", 0, 0,
	 "address the Prometheus listener binds (loopback by default)", NULL},
	{"load_definitions", OPT_STR, offsetof(struct config, load_definitions), "", 0, 0,
	 "definitions file (RabbitMQ's JSON) or directory of *.json, applied at boot and on SIGHUP",
	 NULL},
	{"definitions.prune", OPT_BOOL, offsetof(struct config, definitions_prune), "false", 0, 1,
	 "true: objects the definitions no longer list are deleted on reload", NULL},
	{"definitions.prune_nonempty_queues", OPT_BOOL,
	 offsetof(struct config, definitions_prune_nonempty_queues), "false", 0, 1,
	 "true: prune deletes queues that still hold messages too", NULL},
	{"durability", OPT_CHOICE, offsetof(struct config, durability), "full", 0, 1,
	 "full: a confirm means fsync'd; normal: no fsync per commit (faster, a machine "
	 "crash may lose the last commits)", "full|normal"},
	{"memory_budget", OPT_SIZE, offsetof(struct config, memory_budget), "256m", 0,
	 INT64_MAX / 2,
	 "bytes of messages kept in RAM (bodies with their properties and headers); past it, "
	 "durable queues keep persistent messages on disk only and read them back when "
	 "consumers need them (also at recovery)", NULL},
	{"loopback_only_default_user", OPT_INT, offsetof(struct config, loopback_only_default_user),
	 "1", 0, 1, "1: the default user is one of loopback_users (0 takes it out)", NULL},
	{"listeners.tcp", OPT_CHOICE, offsetof(struct config, tcp_off), "on", 0, 1,
	 "none: no plaintext AMQP listener (AMQPS only)", "on|none"},
	{"listeners.ssl", OPT_LIST, offsetof(struct config, ssl_listeners), "", 0, 0,
	 "AMQPS listeners, listeners.ssl.NAME = [HOST:]PORT (a bare PORT: on every bind "
	 "address); none: no AMQPS",
	 NULL},
	TLS_ROWS("ssl_options", ssl, "AMQPS"),
	{"ssl_handshake_timeout", OPT_INT, offsetof(struct config, ssl_handshake_timeout), "5000", 100,
	 3600000, "milliseconds a client has to finish the TLS handshake", NULL},
	{"auth_mechanisms", OPT_LIST, offsetof(struct config, auth_mechanisms), "PLAIN, AMQPLAIN", 0,
	 0, "SASL mechanisms offered, in order, auth_mechanisms.N = PLAIN | AMQPLAIN | EXTERNAL "
	 "(EXTERNAL on TLS connections only)",
	 "PLAIN|AMQPLAIN|EXTERNAL"},
	{"ssl_cert_login_from", OPT_CHOICE, offsetof(struct config, ssl_cert_login_from),
	 "distinguished_name", 0, 1,
	 "what EXTERNAL takes from a verified client certificate as the user name",
	 "distinguished_name|common_name"},
	{"management.ssl.port", OPT_INT, offsetof(struct config, management_ssl_port), "15671", 1,
	 65535, "HTTPS port of the management page and API (on when management.ssl.certfile is set)",
	 NULL},
	{"management.ssl.ip", OPT_STR, offsetof(struct config, management_ssl_ip), "127.0.0.1", 0, 0,
	 "address the HTTPS management listener binds (loopback by default)", NULL},
	TLS_ROWS("management.ssl", management_ssl, "HTTPS"),
	/* Resource alarms (alarm.c), RabbitMQ's names and precedence: a
	 * .relative value wins over .absolute when both are set. */
	{"vm_memory_high_watermark.relative", OPT_RATIO, offsetof(struct config, mem_relative),
	 "none", -1, 1000,
	 "memory alarm above this fraction of RAM (wins over .absolute; neither set: 0.4)", NULL},
	{"vm_memory_high_watermark.absolute", OPT_SIZE, offsetof(struct config, mem_absolute),
	 "none", -1, INT64_MAX / 2, "memory alarm above this resident size (like 2GB or 1024MiB)",
	 NULL},
	{"vm_memory_high_watermark_paging_ratio", OPT_RATIO, offsetof(struct config, paging_ratio),
	 "0.5", 0, 1,
	 "durable queues page out at this fraction of the watermark, if under memory_budget", NULL},
	{"total_memory_available_override_value", OPT_SIZE, offsetof(struct config, total_memory),
	 "none", -1, INT64_MAX / 2, "RAM the relative limits are taken of (none: the machine's)",
	 NULL},
	{"disk_free_limit.relative", OPT_RATIO, offsetof(struct config, disk_relative), "none", -1,
	 1000, "disk alarm below this multiple of RAM free under data_dir (wins over .absolute)",
	 NULL},
	{"disk_free_limit.absolute", OPT_SIZE, offsetof(struct config, disk_absolute), "50MB", 0,
	 INT64_MAX / 2, "disk alarm below this much free space under data_dir", NULL},
	/* Clustering (docs/clustering.md 4.4); config_cluster.c checks them
	 * together at the end of the file. */
	{"cluster.node_id", OPT_INT, offsetof(struct config, cluster_node_id), "0", 0, 255,
	 "this node's id among cluster_formation.classic_config.nodes (0: a single node, no "
	 "cluster)", NULL},
	{"cluster.listen", OPT_STR, offsetof(struct config, cluster_listen), "", 0, 0,
	 "host:port this node's replication listens on (default: its own nodes.ID entry)", NULL},
	{"cluster_formation.classic_config.nodes", OPT_LIST, offsetof(struct config, cluster_nodes),
	 "", 0, 0, "the members, cluster_formation.classic_config.nodes.ID = host:port of their "
	 "replication (at least 3)", NULL},
	{"cluster.amqp_address", OPT_LIST, offsetof(struct config, cluster_amqp), "", 0, 0,
	 "each member's AMQP address, cluster.amqp_address.ID = host:port, named by followers "
	 "when they refuse clients", NULL},
	{"cluster.election_timeout", OPT_INT, offsetof(struct config, cluster_election_timeout),
	 "1000", 50, 60000, "ms without a leader before a follower stands for election (1-2x)",
	 NULL},
	{"cluster.heartbeat_interval", OPT_INT, offsetof(struct config, cluster_heartbeat_interval),
	 "100", 10, 10000, "ms between the leader's heartbeats (below cluster.election_timeout)",
	 NULL},
	{"cluster.snapshot_threshold", OPT_INT, offsetof(struct config, cluster_snapshot_threshold),
	 "1024", 2, 1 << 30, "log entries between two snapshots of the store (a copy of the file)",
	 NULL},
	{"cluster.snapshot_trailing", OPT_INT, offsetof(struct config, cluster_snapshot_trailing),
	 "256", 0, 1 << 30, "log entries kept after a snapshot, for members a little behind", NULL},
	{"cluster_name", OPT_STR, offsetof(struct config, cluster_name), "tern", 0, 0,
	 "the cluster's name (shown by /api/nodes and /api/overview)", NULL},
	{"cluster_partition_handling", OPT_CHOICE, offsetof(struct config, cluster_partition_handling),
	 "pause_minority", 0, 0,
	 "only pause_minority: a minority side cannot commit and refuses clients", "pause_minority"},
};

/* RabbitMQ's rabbitmq.conf names for Tern's options. */
static const struct alias {
	const char *rabbit, *tern;
} aliases[] = {
	{"log.console.level", "log_level"},
	{"definitions.local.path", "load_definitions"},
	{"management.load_definitions", "load_definitions"},
	/* the classic config's bare key is the relative watermark */
	{"vm_memory_high_watermark", "vm_memory_high_watermark.relative"},
};

/* rabbitmq.conf keys (or their prefixes, ending in '.') Tern accepts
 * without acting on them: a file written for RabbitMQ still loads. */
static const char *const ignored[] = {
	"cluster_formation.", "cluster_keepalive_interval",
	"vm_memory_calculation_strategy", "memory_monitor_interval", "ssl_options.depth",
	"ssl_options.reuse_sessions", "ssl_options.secure_renegotiate",
	"ssl_options.client_renegotiation", "ssl_options.honor_ecc_order", "ssl_options.crl_check",
	"ssl_options.dh", "ssl_options.dhfile", "ssl_options.log_level", "ssl_options.log_alert",
	"ssl_options.bypass_pem_cache", "ssl_options.cacerts.", "ssl_options.cert", "ssl_options.key.",
	"ssl_options.psk_identity", "ssl_allow_poodle_attack", "ssl_cert_login_san_type",
	"ssl_cert_login_san_index", "management.ssl.backlog", "management.ssl.honor_ecc_order",
	"management.ssl.reuse_sessions", "management.ssl.secure_renegotiate",
	"management.ssl.client_renegotiation", "management.ssl.depth", "management.ssl.compress",
	"management.ssl.idle_timeout", "management.ssl.inactivity_timeout",
	"management.ssl.request_timeout", "management.ssl.shutdown_timeout",
	"management.ssl.max_keepalive", "management.rates_mode",
	"management.sample_retention_policies.", "management.cors.", "management.csp.",
	"management.hsts.", "management.path_prefix", "management.http_log_dir",
	"management.tcp.compress", "management.tcp.idle_timeout", "management.tcp.inactivity_timeout",
	"management.tcp.request_timeout", "management.disable_stats", "management.enable_queue_totals",
	"management_agent.", "prometheus.return_per_object_metrics", "prometheus.path",
	"prometheus.filter_aggregated_queue_metrics_pattern", "prometheus.ssl.",
	"prometheus.tcp.compress", "prometheus.tcp.idle_timeout", "prometheus.tcp.inactivity_timeout",
	"prometheus.tcp.request_timeout", "log.",
	"collect_statistics", "collect_statistics_interval", "queue_master_locator",
	"mqtt.", "stomp.", "web_mqtt.", "web_stomp.", "auth_backends.",
	"auth_ldap.", "auth_oauth2.", "default_user_tags.", "definitions.import_backend",
	"definitions.skip_if_unchanged", "definitions.hashing.algorithm", "password_hashing_module",
	"tcp_listen_options.", "num_acceptors.", "reverse_dns_lookups", "proxy_protocol",
	"mirroring_sync_batch_size", "queue_index_embed_msgs_below", "lazy_queue_explicit_gc_run_operation_threshold",
	"credit_flow_default_credit", "channel_operation_timeout", "connection_max",
	"background_gc_enabled", "background_gc_target_interval",
	"classic_queue.", "quorum_queue.", "stream.", "raft.", "distribution.", "delegate_count",
	"msg_store_", "queue_explicit_gc_run_operation_threshold", "max_message_size_",
	"deprecated_features.", "cluster_queue_limit", "vhost_max", "anonymous_login_",
};
#define NIGNORED (sizeof ignored / sizeof ignored[0])
#define NOPTS (sizeof options / sizeof options[0])

/* RabbitMQ's information units (rabbit_resource_monitor_misc): the
 * k, M, G family and the *iB spellings are powers of 2, the *B ones
 * (kB, MB, GB) powers of 10. Exactly these spellings, as RabbitMQ. */
static const struct unit {
	const char *name;
	int64_t mul;
} units[] = {
	{"k", 1024}, {"K", 1024}, {"kiB", 1024}, {"KiB", 1024}, {"kib", 1024}, {"KIB", 1024},
	{"m", 1 << 20}, {"M", 1 << 20}, {"MiB", 1 << 20}, {"mib", 1 << 20}, {"MIB", 1 << 20},
	{"g", 1 << 30}, {"G", 1 << 30}, {"GiB", 1 << 30}, {"gib", 1 << 30}, {"GIB", 1 << 30},
	{"kB", 1000}, {"KB", 1000}, {"kb", 1000}, {"Kb", 1000},
	{"MB", 1000000}, {"mb", 1000000}, {"Mb", 1000000},
	{"GB", 1000000000}, {"gb", 1000000000}, {"Gb", 1000000000},
};

int config_parse_size(const char *v, int64_t *out)
{
	const char *p = v;
	int64_t n = 0;
	while (*p >= '0' && *p <= '9') {
		if (n > (INT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*p++ - '0');
	}
	if (p == v)
		return -1;
	int64_t mul = 1;
	if (*p) {
		size_t i = 0;
		while (i < sizeof units / sizeof units[0] && strcmp(p, units[i].name))
			i++;
		if (i == sizeof units / sizeof units[0])
			return -1;
		mul = units[i].mul;
	}
	if (n > INT64_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

/* A plain decimal, 0.4 or 2 or 1.5: no sign, exponent or hex. */
static int parse_ratio(const char *v, double *out)
{
	size_t digits = strspn(v, "0123456789");
	const char *p = v + digits;
	if (*p == '.') {
		size_t frac = strspn(p + 1, "0123456789");
		digits += frac;
		p += 1 + frac;
	}
	if (!digits || *p)
		return -1;
	*out = strtod(v, NULL);
	return isfinite(*out) ? 0 : -1;
}

static int parse_int(const char *v, int64_t *out)
{
	errno = 0;
	char *end;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < 0)
		return -1;
	*out = n;
	return 0;
}

static int set_row(const struct option_row *o, const char *value, char *err, size_t errlen)
{
	void *dst = (char *)&cfg + o->offset;
	int64_t n;
	switch (o->type) {
	case OPT_STR:
		free(*(char **)dst);
		*(char **)dst = xstrdup(value);
		return 0;
	case OPT_LEVEL:
		n = log_level_parse(value);
		if (n < 0) {
			snprintf(err, errlen, "%s: '%s' is not one of error, warning, info, debug",
				 o->name, value);
			return -1;
		}
		*(int64_t *)dst = n;
		return 0;
	case OPT_CHOICE: {
		size_t len = strlen(value);
		n = 0;
		for (const char *p = o->choices; *p; n++) {
			const char *bar = strchr(p, '|');
			size_t k = bar ? (size_t)(bar - p) : strlen(p);
			if (k == len && !strncmp(p, value, k)) {
				*(int64_t *)dst = n;
				return 0;
			}
			p += k + (bar != NULL);
		}
		snprintf(err, errlen, "%s: '%s' is not one of %s", o->name, value, o->choices);
		return -1;
	}
	case OPT_BOOL:
		if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
			n = 1;
		else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
			n = 0;
		else {
			snprintf(err, errlen, "%s: '%s' is not true or false", o->name, value);
			return -1;
		}
		*(int64_t *)dst = n;
		return 0;
	case OPT_RATIO: {
		double d = -1;
		if (strcmp(value, "none") || o->min != -1) {
			if (parse_ratio(value, &d) < 0) {
				snprintf(err, errlen, "%s: '%s' is not a decimal number (like 0.4)",
					 o->name, value);
				return -1;
			}
			if (d >= (double)o->max) {
				snprintf(err, errlen, "%s: %s is out of range (0 to below %lld)",
					 o->name, value, (long long)o->max);
				return -1;
			}
		}
		*(double *)dst = d;
		return 0;
	}
	case OPT_INT:
	case OPT_SIZE:
		if (o->min == -1 && !strcmp(value, "none")) {
			*(int64_t *)dst = -1;
			return 0;
		}
		if ((o->type == OPT_SIZE ? config_parse_size(value, &n) : parse_int(value, &n)) < 0) {
			snprintf(err, errlen, "%s: '%s' is not a %s", o->name, value,
				 o->type == OPT_SIZE ? "size (like 16777216, 16MiB, 96MB or 2GB)"
						     : "whole number");
			return -1;
		}
		if (n < o->min || n > o->max) {
			snprintf(err, errlen, "%s: %lld is out of range (%lld to %lld)", o->name,
				 (long long)n, (long long)o->min, (long long)o->max);
			return -1;
		}
		*(int64_t *)dst = n;
		return 0;
	case OPT_LIST:
		break; /* set_list() */
	}
	return -1;
}

/* Whether value is one of the '|'-separated choices. */
static bool one_of(const char *choices, const char *value)
{
	size_t len = strlen(value);
	for (const char *p = choices; *p;) {
		size_t k = strcspn(p, "|");
		if (k == len && !strncmp(p, value, k))
			return true;
		p += k + (p[k] == '|');
	}
	return false;
}

static void list_clear(struct cfg_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->keys[i]);
		free(l->vals[i]);
	}
	free(l->keys);
	free(l->vals);
	memset(l, 0, sizeof *l);
}

int config_listener_parse(const char *value, char *host, size_t hostlen, int64_t *port)
{
	const char *colon = strrchr(value, ':');
	const char *digits = colon ? colon + 1 : value;
	char *end;
	errno = 0;
	long p = strtol(digits, &end, 10);
	if (errno || end == digits || *end || p < 1 || p > 65535)
		return -1;
	*port = p;
	host[0] = '\0';
	if (!colon)
		return 0;
	size_t n = (size_t)(colon - value);
	if (n >= 2 && value[0] == '[' && value[n - 1] == ']') { /* [::1]:5671 */
		value++;
		n -= 2;
	}
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, value, n);
	host[n] = '\0';
	return 0;
}

/* NAME.KEY = VALUE for a list row; NAME = none empties the list. */
static int set_list(const struct option_row *o, const char *key, const char *value, char *err,
		    size_t errlen)
{
	struct cfg_list *l = (void *)((char *)&cfg + o->offset);
	if (!key) {
		if (strcmp(value, "none")) {
			snprintf(err, errlen, "%s: only 'none' may be given here (%s.NAME = VALUE adds one)",
				 o->name, o->name);
			return -1;
		}
		list_clear(l);
		return 0;
	}
	if (o->choices && !one_of(o->choices, value)) {
		snprintf(err, errlen, "%s.%s: '%s' is not one of %s%s", o->name, key, value, o->choices,
			 strstr(o->name, ".versions") ? " (TLS older than 1.2 is refused)" : "");
		return -1;
	}
	char host[256];
	int64_t port;
	if (o->offset == offsetof(struct config, ssl_listeners) &&
	    config_listener_parse(value, host, sizeof host, &port) < 0) {
		snprintf(err, errlen, "%s.%s: '%s' is not [HOST:]PORT", o->name, key, value);
		return -1;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->keys[i], key)) {
			free(l->vals[i]);
			l->vals[i] = xstrdup(value);
			return 0;
		}
	}
	l->keys = xrealloc(l->keys, (l->n + 1) * sizeof *l->keys);
	l->vals = xrealloc(l->vals, (l->n + 1) * sizeof *l->vals);
	l->keys[l->n] = xstrdup(key);
	l->vals[l->n++] = xstrdup(value);
	return 0;
}

void config_defaults(void)
{
	char err[128];
	for (size_t i = 0; i < NOPTS; i++)
		if (options[i].type != OPT_LIST &&
		    set_row(&options[i], options[i].def, err, sizeof err) < 0)
			abort(); /* a bad default is a programming error */
}

static int set_named(const char *name, const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct option_row *o = &options[i];
		size_t n = strlen(o->name);
		if (o->type == OPT_LIST && !strncmp(name, o->name, n) &&
		    (name[n] == '\0' || (name[n] == '.' && name[n + 1])))
			return set_list(o, name[n] ? name + n + 1 : NULL, value, err, errlen);
		if (!strcmp(o->name, name))
			return set_row(o, value, err, errlen);
	}
	snprintf(err, errlen, "unknown option '%s'", name);
	return -1;
}

/* loopback_users.NAME = true|false: NAME joins or leaves the list. */
static int set_loopback_user(const char *name, const char *value, char *err, size_t errlen)
{
	bool on = !strcmp(value, "true");
	if (!on && strcmp(value, "false")) {
		snprintf(err, errlen, "loopback_users.%s: '%s' is not true or false", name, value);
		return -1;
	}
	char list[1024] = "";
	const char *p = strcmp(cfg.loopback_users, "none") ? cfg.loopback_users : "";
	while (*p) {
		size_t len = strcspn(p, ", ");
		if (len && (len != strlen(name) || strncmp(p, name, len)))
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%.*s",
				 *list ? "," : "", (int)len, p);
		p += len;
		p += strspn(p, ", ");
	}
	if (on)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? "," : "",
			 name);
	free(cfg.loopback_users);
	cfg.loopback_users = xstrdup(*list ? list : "none");
	return 0;
}

/* listeners.tcp.NAME = [HOST:]PORT (RabbitMQ's): Tern has one port for
 * all its addresses; each host given joins the bind list. */
static bool listeners_seen;
static int set_listener(const char *name, const char *value, char *err, size_t errlen)
{
	char host[256];
	int64_t port;
	if (config_listener_parse(value, host, sizeof host, &port) < 0) {
		snprintf(err, errlen, "%s: '%s' is not [HOST:]PORT", name, value);
		return -1;
	}
	const char *colon = strrchr(value, ':');
	if (!colon)
		return set_named("port", value, err, errlen);
	if (set_named("port", colon + 1, err, errlen) < 0)
		return -1;
	char list[1024];
	snprintf(list, sizeof list, "%s%s%s", listeners_seen ? cfg.bind : "",
		 listeners_seen ? "," : "", host);
	listeners_seen = true;
	return set_named("bind", list, err, errlen);
}

int config_set(const char *name, const char *value, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (!strcmp(aliases[i].rabbit, name))
			name = aliases[i].tern;
	if (!strncmp(name, "listeners.tcp.", 14))
		return set_listener(name, value, err, errlen);
	if (!strncmp(name, "loopback_users.", 15))
		return set_loopback_user(name + 15, value, err, errlen);
	if (!strcmp(name, "loopback_only_default_user") && set_named(name, value, err, errlen) == 0)
		return set_loopback_user(cfg.default_user, cfg.loopback_only_default_user ? "true"
											   : "false",
					 err, errlen);
	return set_named(name, value, err, errlen);
}

/* A rabbitmq.conf key Tern accepts but does not implement. */
static bool ignored_key(const char *name)
{
	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (!strcmp(aliases[i].rabbit, name))
			return false;
	/* The one cluster_formation key Tern implements (with addresses). */
	if (!strncmp(name, "cluster_formation.classic_config.nodes", 38))
		return false;
	for (size_t i = 0; i < NIGNORED; i++) {
		size_t n = strlen(ignored[i]);
		bool prefix = ignored[i][n - 1] == '.' || ignored[i][n - 1] == '_';
		if (prefix ? !strncmp(name, ignored[i], n) : !strcmp(name, ignored[i]))
			return true;
	}
	return false;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int config_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char line[1024], why[256];
	int lineno = 0, rc = 0;
	/* The file gives whole lists and the listeners anew. */
	for (size_t i = 0; i < NOPTS; i++)
		if (options[i].type == OPT_LIST)
			list_clear((void *)((char *)&cfg + options[i].offset));
	listeners_seen = false;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected 'name = value'", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *name = trim(s);
		if (ignored_key(name)) {
			log_warn("%s:%d: '%s' is a RabbitMQ setting Tern does not implement; ignored",
				 path, lineno, name);
			continue;
		}
		if (config_set(name, trim(eq + 1), why, sizeof why) < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			rc = -1;
			break;
		}
		config_cluster_note(name, lineno);
	}
	fclose(f);
	if (rc == 0)
		rc = config_cluster_check(path, err, errlen);
	return rc;
}

/* Frees what cfg-shaped c owns: the strings of the OPT_STR rows and the
 * lists of the OPT_LIST rows. */
static void free_owned(struct config *c)
{
	for (size_t i = 0; i < NOPTS; i++) {
		void *field = (char *)c + options[i].offset;
		if (options[i].type == OPT_LIST) {
			list_clear(field);
		} else if (options[i].type == OPT_STR) {
			free(*(char **)field);
			*(char **)field = NULL;
		}
	}
}

int config_reload(const char *path, const struct config_override *ov, int n, char *err,
		  size_t errlen)
{
	struct config old = cfg;
	bool old_seen = listeners_seen;
	memset(&cfg, 0, sizeof cfg);
	listeners_seen = false;
	config_defaults();
	int rc = config_load(path, err, errlen);
	for (int i = 0; rc == 0 && i < n; i++)
		rc = config_set(ov[i].name, ov[i].value, err, errlen);
	if (rc == 0) {
		free_owned(&old);
		return 0;
	}
	free_owned(&cfg);
	cfg = old;
	listeners_seen = old_seen;
	return -1;
}

void config_print_help(void)
{
	for (size_t i = 0; i < NOPTS; i++)
		printf("  %-28s %s (default: %s)\n", options[i].name, options[i].help,
		       *options[i].def ? options[i].def : "none");
}
