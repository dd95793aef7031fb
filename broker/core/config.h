/* config.h — broker settings: defaults, the config file, command-line
 * overrides. Every option lives in one table (config.c) of
 * {name, type, offset, default, min, max, help}, so the file parser, the
 * command line and etc/tern.conf describe the same set. */
#ifndef TERN_BROKER_CONFIG_H
#define TERN_BROKER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* The "NAME.KEY = VALUE" lines of a list option (RabbitMQ's indexed
 * keys: auth_mechanisms.1, ssl_options.versions.2, listeners.ssl.default),
 * in file order; a KEY given again replaces its value. A config file
 * that is read gives the whole list, so lists start empty at each load. */
struct cfg_list {
	size_t n;
	char **keys, **vals;
};

/* The TLS options of one kind of listener under RabbitMQ's names:
 * ssl_options.* (AMQPS) or management.ssl.* (HTTPS). broker/net/tls.c
 * builds an OpenSSL context from them. */
struct tls_config {
	char *cacertfile, *certfile, *keyfile, *password; /* "" when not given */
	int64_t verify;               /* 0: verify_none, 1: verify_peer */
	int64_t fail_if_no_peer_cert; /* boolean */
	int64_t honor_cipher_order;   /* boolean */
	struct cfg_list versions;     /* tlsv1.2, tlsv1.3; empty: both */
	struct cfg_list ciphers;      /* OpenSSL names; empty: OpenSSL's defaults */
};

struct config {
	char *bind;             /* comma-separated addresses */
	int64_t port;
	char *data_dir;
	int64_t log_level;
	int64_t frame_max;
	int64_t channel_max;
	int64_t heartbeat;      /* seconds; 0 disables */
	int64_t max_message_size;
	int64_t handshake_timeout; /* milliseconds */
	int64_t consumer_timeout;  /* ms a delivery may stay unacked; 0: no limit */
	char *default_user;
	char *default_pass;
	char *default_vhost;
	char *default_permissions_configure, *default_permissions_write,
		*default_permissions_read;
	char *loopback_users;   /* comma-separated: may log in from loopback only */
	int64_t loopback_only_default_user; /* 1: default_user is in loopback_users */
	int64_t durability;     /* 0: full (fsync per commit), 1: normal */
	int64_t memory_budget;  /* message body bytes kept in RAM for durable queues */
	int64_t management_port; /* the HTTP API and page; 0: off */
	char *management_ip;
	int64_t prometheus_port; /* /metrics without login; 0: off */
	char *prometheus_ip;
	char *load_definitions; /* file or directory applied at boot and on SIGHUP */
	int64_t definitions_prune, definitions_prune_nonempty_queues; /* booleans */
	int64_t tcp_off;                 /* 1: listeners.tcp = none */
	struct cfg_list ssl_listeners;   /* listeners.ssl.NAME = [HOST:]PORT */
	struct tls_config ssl;           /* ssl_options.* */
	int64_t ssl_handshake_timeout;   /* milliseconds */
	struct cfg_list auth_mechanisms; /* offered in order; empty: PLAIN, AMQPLAIN */
	int64_t ssl_cert_login_from;     /* 0: distinguished_name, 1: common_name */
	int64_t management_ssl_port;     /* HTTPS, when management_ssl.certfile is set */
	char *management_ssl_ip;
	struct tls_config management_ssl; /* management.ssl.* */
	/* Resource alarms (broker/net/alarm.h); -1: not set. */
	double mem_relative;    /* vm_memory_high_watermark.relative: fraction of RAM */
	int64_t mem_absolute;   /* vm_memory_high_watermark.absolute: bytes */
	double paging_ratio;    /* vm_memory_high_watermark_paging_ratio */
	int64_t total_memory;   /* total_memory_available_override_value: bytes */
	double disk_relative;   /* disk_free_limit.relative: a multiple of RAM */
	int64_t disk_absolute;  /* disk_free_limit.absolute: bytes */
	/* Clustering (docs/clustering.md; config_cluster.c checks them). A
	 * node id of 0: the single node, none of the rest applies. */
	int64_t cluster_node_id;
	char *cluster_listen;          /* "": this node's own members entry */
	struct cfg_list cluster_nodes; /* cluster_formation.classic_config.nodes.ID = host:port */
	struct cfg_list cluster_amqp;  /* cluster.amqp_address.ID = host:port */
	int64_t cluster_election_timeout, cluster_heartbeat_interval; /* ms */
	int64_t cluster_snapshot_threshold, cluster_snapshot_trailing; /* log entries */
	char *cluster_name;
	int64_t cluster_partition_handling; /* 0: pause_minority, the only one */
};

extern struct config cfg;

/* Fills cfg with the defaults. */
void config_defaults(void);

/* Sets option `name` from its text value. Returns 0, or -1 with a reason
 * in err ("unknown option", "must be between ..."). */
int config_set(const char *name, const char *value, char *err, size_t errlen);

/* Reads a file of `name = value` lines ('#' starts a comment). Options
 * take Tern's names or RabbitMQ's rabbitmq.conf names; a rabbitmq.conf
 * key Tern knows but does not implement is logged as a warning naming
 * file and line. Returns 0, or -1 with err naming the file, the line and
 * the problem. */
int config_load(const char *path, char *err, size_t errlen);

/* Parses RabbitMQ's listener value [HOST:]PORT ("5671", "127.0.0.1:5671",
 * "[::1]:5671"): host is "" for a bare port. Returns 0 or -1. */
int config_listener_parse(const char *value, char *host, size_t hostlen, int64_t *port);
/* Parses a size in RabbitMQ's information units: plain bytes, or a
 * whole number followed by k, K, kiB, KiB (1024), m, M, MiB (1024^2),
 * g, G, GiB (1024^3), or kB, KB (1000), MB (1000^2), GB (1000^3) — the
 * spellings RabbitMQ accepts, nothing else. Returns 0 with *out set, or
 * -1 (not a size, or too large). */
int config_parse_size(const char *v, int64_t *out);

/* A command-line setting that wins over the file, kept for reloads. */
struct config_override {
	const char *name, *value;
};

/* SIGHUP: the settings again from the defaults up, then the file at path,
 * then the n overrides. Whole or nothing: on an error cfg is left as it
 * was and err names the file, line and problem. Returns 0 or -1. */
int config_reload(const char *path, const struct config_override *ov, int n, char *err,
		  size_t errlen);

/* config_cluster.c: records the line a cluster key was set on (for
 * errors), and checks the cluster options together once the file is
 * read: -1 with err naming the file, the line and the problem. */
void config_cluster_note(const char *name, int line);
int config_cluster_check(const char *path, char *err, size_t errlen);
/* Hands the checked cluster options to the store (store_cluster), when
 * cluster.node_id is set; before the store opens. */
void config_cluster_apply(void);

/* Prints every option with its default and help, for --help. */
void config_print_help(void);

#endif
