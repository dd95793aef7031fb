/* opts.c — ternperf's command line: flags named after RabbitMQ PerfTest's
 * (-x -y -s -c -q -A -a -r -z -C -f -u -e -t), an amqp:// or amqps:// URI
 * with RabbitMQ's query parameters, and the presets --connections-only and
 * --declare-only. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/ternperf/perf.h"
#include "util/xalloc.h"

static const char usage_text[] =
	"usage: ternperf [options]\n"
	"AMQP 0-9-1 load generator. Producers stamp each body with the send time,\n"
	"their id and a sequence number; consumers measure latency and count lost\n"
	"and duplicated messages. One thread, one epoll loop, one connection per\n"
	"producer and per consumer.\n"
	"\n"
	"  -x, --producers N        producers (default 1)\n"
	"  -y, --consumers N        consumers (default 1)\n"
	"  -s, --size BYTES         body size, at least 16 (default 16)\n"
	"  -c, --confirm N          publisher confirms, at most N unconfirmed per\n"
	"                           producer (default 0: no confirms)\n"
	"  -q, --qos N              consumer prefetch count (default 0: unlimited)\n"
	"  -A, --multi-ack-every N  ack with multiple=true every N messages\n"
	"  -a, --auto-ack           consume with no-ack\n"
	"  -r, --rate R             msgs/s per producer, token bucket (default 0: as\n"
	"                           fast as the broker takes them)\n"
	"  -z, --time S             run for S seconds\n"
	"  -C, --pmessages N        publish N messages per producer, then stop; exit\n"
	"                           status 1 if any of them is not delivered\n"
	"  -f, --persistent         delivery_mode 2, durable queues and exchange\n"
	"  -u, --queue NAME         queue name (default ternperf)\n"
	"      --queues N           spread producers and consumers over N queues\n"
	"                           named NAME-0 .. NAME-<N-1>\n"
	"  -e, --exchange NAME      publish through this exchange (default: the\n"
	"                           default exchange); queues are bound to it\n"
	"  -t, --type TYPE          its type: direct topic fanout headers\n"
	"      --uri URI            amqp://user:pass@host:port/vhost, or amqps://...\n"
	"                           for TLS (port 5671 by default) with the query\n"
	"                           parameters below, e.g.\n"
	"                           amqps://guest:guest@localhost/?cacertfile=ca.pem\n"
	"                           (default amqp://guest:guest@127.0.0.1:5672/)\n"
	"      --json               one JSON object per report line and at the end\n"
	"      --connections-only N N producer connections publishing slowly (-r,\n"
	"                           default 1 msg/s each): the idle-connection case\n"
	"      --declare-only N     declare and bind N queues, report the rate,\n"
	"                           delete them\n"
	"      --duplex N           N connections, each publishing (-r, default 1\n"
	"                           msg/s) to its own queue NAME-<i> and consuming\n"
	"                           it on the same channel: many connections with\n"
	"                           one socket each, not two (the summary gives the\n"
	"                           broker's CPU with --broker-pid)\n"
	"      --topic-patterns     with -t topic and --queues N: bind queue i with\n"
	"                           a pattern of its own (\"a.i.#\", \"q.i.*\",\n"
	"                           \"*.i.z\" in turn) and publish with a key only\n"
	"                           it matches; the summary gives the declare+bind\n"
	"                           rate and, with --broker-pid, RSS per queue\n"
	"      --auto-delete BOOL   declare queues auto-delete (default true)\n"
	"      --queue-type TYPE    declare queues with x-queue-type TYPE (RabbitMQ's\n"
	"                           quorum, say)\n"
	"      --max-priority N     declare queues with x-max-priority N and publish\n"
	"                           with priorities 0..N-1 in turn\n"
	"      --cleanup            delete the queues (and exchange) at the end\n"
	"      --drain S            at the end, wait up to S seconds for confirms\n"
	"                           and deliveries (default 10)\n"
	"      --broker-pid PID     report that process's VmRSS (the broker's) and\n"
	"                           its CPU over the run (/proc/PID/stat)\n"
	"      --help               this text\n"
	"\n"
	"Each line reports the last second: rates, delivery latency quantiles (us),\n"
	"confirm latency, ternperf's own CPU, and lost (during the run: sequence\n"
	"gaps so far; in the summary: never delivered), duplicated (same message\n"
	"twice without the redelivered flag) and redelivered counts. Heartbeats are\n"
	"off (tune-ok heartbeat 0).\n"
	"\n"
	"URI query parameters (RabbitMQ's names; all but auth_mechanism need amqps://):\n"
	"  cacertfile=FILE          CA certificates to trust (default: the system's)\n"
	"  certfile=FILE, keyfile=FILE  a client certificate and its key (keyfile\n"
	"                           defaults to certfile); password=P for an\n"
	"                           encrypted key\n"
	"  verify=verify_peer       (the default) the server's certificate must chain\n"
	"                           to a trusted CA and name the host: the SNI name,\n"
	"                           else the URI's host name or IP address;\n"
	"                           verify=verify_none checks nothing\n"
	"  server_name_indication=NAME  the name sent as SNI and checked (default:\n"
	"                           the URI's host when it is a DNS name); =disable\n"
	"                           sends none and checks the chain only\n"
	"  depth=N                  longest certificate chain accepted\n"
	"  auth_mechanism=external  log in with the client certificate (SASL\n"
	"                           EXTERNAL) instead of PLAIN user:pass\n"
	"  fail_if_no_peer_cert=B   a server option: accepted and ignored\n"
	"TLS is 1.2 or 1.3, each connection does its own handshake, and each loop\n"
	"turn writes a connection's pending frames with one SSL_write. The JSON\n"
	"summary's \"tls\" field names the version and cipher negotiated.\n";

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	exit(status);
}

static void bad(const char *what, const char *arg)
{
	fprintf(stderr, "ternperf: bad %s '%s' (try --help)\n", what, arg);
	exit(2);
}

static long long num(const char *arg, const char *what, long long lo, long long hi)
{
	char *end;
	long long v = strtoll(arg, &end, 10);
	if (!*arg || *end || v < lo || v > hi)
		bad(what, arg);
	return v;
}

static double real(const char *arg, const char *what)
{
	char *end;
	double v = strtod(arg, &end);
	if (!*arg || *end || !(v >= 0))
		bad(what, arg);
	return v;
}

/* Copies s[0..n) with %XX escapes decoded. */
static char *unescape(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = {s[i + 1], s[i + 2], 0};
			*o++ = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

/* Sets *dst to a copy of the query value v. */
static void set_str(char **dst, char *v)
{
	free(*dst);
	*dst = v;
}

/* One key=value of the URI's query string (RabbitMQ's URI query
 * parameters, as its Erlang client reads them); v is unescaped and ours. */
static void uri_param(struct perf_cfg *cfg, const char *uri, const char *k, size_t kn, char *v)
{
#define IS(name) (kn == strlen(name) && !memcmp(k, name, kn))
	if (IS("auth_mechanism")) {
		if (strcasecmp(v, "plain") && strcasecmp(v, "external"))
			bad("auth_mechanism (plain or external)", v);
		cfg->external = !strcasecmp(v, "external");
		free(v);
		return;
	}
	if (!cfg->tls) {
		fprintf(stderr, "ternperf: URI parameter '%.*s' needs an amqps:// URI: %s\n",
			(int)kn, k, uri);
		exit(2);
	}
	if (IS("cacertfile")) {
		set_str(&cfg->cacertfile, v);
	} else if (IS("certfile")) {
		set_str(&cfg->certfile, v);
	} else if (IS("keyfile")) {
		set_str(&cfg->keyfile, v);
	} else if (IS("password")) {
		set_str(&cfg->keypass, v);
	} else if (IS("server_name_indication")) {
		cfg->sni_off = !strcmp(v, "disable");
		set_str(&cfg->sni, cfg->sni_off ? (free(v), NULL) : v);
	} else if (IS("verify")) {
		if (strcmp(v, "verify_peer") && strcmp(v, "verify_none"))
			bad("verify (verify_peer or verify_none)", v);
		cfg->verify_peer = !strcmp(v, "verify_peer");
		free(v);
	} else if (IS("depth")) {
		cfg->depth = (int)num(v, "depth", 0, 100);
		free(v);
	} else if (IS("fail_if_no_peer_cert")) {
		/* A server option the Erlang client accepts too: nothing to do. */
		if (strcmp(v, "true") && strcmp(v, "false"))
			bad("fail_if_no_peer_cert (true or false)", v);
		free(v);
	} else {
		fprintf(stderr,
			"ternperf: URI parameter '%.*s' is not supported (ternperf knows "
			"cacertfile certfile keyfile password verify server_name_indication "
			"depth fail_if_no_peer_cert auth_mechanism): %s\n",
			(int)kn, k, uri);
		exit(2);
	}
#undef IS
}

/* amqp[s]://[user[:pass]@]host[:port][/vhost][?key=value&...]; an empty
 * path is vhost "/"; the port defaults to 5672, or 5671 for amqps. */
static void uri_parse(struct perf_cfg *cfg, const char *uri)
{
	const char *p;
	if (!strncmp(uri, "amqp://", 7))
		p = uri + 7;
	else if (!strncmp(uri, "amqps://", 8))
		p = uri + 8;
	else
		bad("URI (amqp:// or amqps://)", uri);
	/* Each --uri starts from the defaults: the last one given wins whole. */
	cfg->tls = uri[4] == 's';
	cfg->verify_peer = true; /* as the Erlang client when verify is not given */
	cfg->sni_off = cfg->external = false;
	cfg->depth = -1;
	set_str(&cfg->cacertfile, NULL);
	set_str(&cfg->certfile, NULL);
	set_str(&cfg->keyfile, NULL);
	set_str(&cfg->keypass, NULL);
	set_str(&cfg->sni, NULL);
	const char *query = strchr(p, '?');
	const char *stop = query ? query : p + strlen(p);
	const char *slash = memchr(p, '/', (size_t)(stop - p));
	const char *end = slash ? slash : stop;
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *ue = colon ? colon : at;
		free(cfg->user);
		cfg->user = unescape(p, (size_t)(ue - p));
		free(cfg->pass);
		cfg->pass = colon ? unescape(colon + 1, (size_t)(at - colon - 1)) : xstrdup("");
		p = at + 1;
	}
	const char *hs = p, *he, *port = NULL;
	if (*p == '[') { /* [IPv6]:port */
		hs = p + 1;
		he = memchr(hs, ']', (size_t)(end - hs));
		if (!he)
			bad("URI", uri);
		if (he + 1 < end && he[1] == ':')
			port = he + 2;
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		he = colon ? colon : end;
		if (colon)
			port = colon + 1;
	}
	if (he > hs) {
		free(cfg->host);
		cfg->host = xstrndup(hs, (size_t)(he - hs));
	}
	free(cfg->port);
	if (port && end > port)
		cfg->port = xstrndup(port, (size_t)(end - port));
	else
		cfg->port = xstrdup(cfg->tls ? "5671" : "5672");
	free(cfg->vhost);
	if (slash && slash + 1 < stop)
		cfg->vhost = unescape(slash + 1, (size_t)(stop - slash - 1));
	else
		cfg->vhost = xstrdup("/");
	for (const char *k = query ? query + 1 : NULL; k && *k;) {
		const char *amp = strchr(k, '&');
		const char *pe = amp ? amp : k + strlen(k);
		const char *eq = memchr(k, '=', (size_t)(pe - k));
		if (!eq)
			bad("URI parameter (key=value)", k);
		uri_param(cfg, uri, k, (size_t)(eq - k), unescape(eq + 1, (size_t)(pe - eq - 1)));
		k = amp ? amp + 1 : NULL;
	}
	if (cfg->external && !cfg->certfile) {
		fprintf(stderr,
			"ternperf: auth_mechanism=external needs a client certificate "
			"(amqps:// with certfile and keyfile): %s\n",
			uri);
		exit(2);
	}
}

enum {
	O_QUEUES = 256,
	O_URI,
	O_JSON,
	O_CONN_ONLY,
	O_DECL_ONLY,
	O_DUPLEX,
	O_PATTERNS,
	O_AUTODEL,
	O_MAXPRIO,
	O_QTYPE,
	O_CLEANUP,
	O_DRAIN,
	O_PID,
	O_HELP,
};

static const struct option longopts[] = {
	{"producers", required_argument, NULL, 'x'},
	{"consumers", required_argument, NULL, 'y'},
	{"size", required_argument, NULL, 's'},
	{"confirm", required_argument, NULL, 'c'},
	{"qos", required_argument, NULL, 'q'},
	{"multi-ack-every", required_argument, NULL, 'A'},
	{"auto-ack", no_argument, NULL, 'a'},
	{"autoack", no_argument, NULL, 'a'},
	{"rate", required_argument, NULL, 'r'},
	{"time", required_argument, NULL, 'z'},
	{"pmessages", required_argument, NULL, 'C'},
	{"persistent", no_argument, NULL, 'f'},
	{"queue", required_argument, NULL, 'u'},
	{"queues", required_argument, NULL, O_QUEUES},
	{"exchange", required_argument, NULL, 'e'},
	{"type", required_argument, NULL, 't'},
	{"uri", required_argument, NULL, O_URI},
	{"json", no_argument, NULL, O_JSON},
	{"connections-only", required_argument, NULL, O_CONN_ONLY},
	{"declare-only", required_argument, NULL, O_DECL_ONLY},
	{"duplex", required_argument, NULL, O_DUPLEX},
	{"topic-patterns", no_argument, NULL, O_PATTERNS},
	{"auto-delete", required_argument, NULL, O_AUTODEL},
	{"max-priority", required_argument, NULL, O_MAXPRIO},
	{"queue-type", required_argument, NULL, O_QTYPE},
	{"cleanup", no_argument, NULL, O_CLEANUP},
	{"drain", required_argument, NULL, O_DRAIN},
	{"broker-pid", required_argument, NULL, O_PID},
	{"help", no_argument, NULL, O_HELP},
	{NULL, 0, NULL, 0},
};

void opts_parse(struct perf_cfg *cfg, int argc, char **argv)
{
	*cfg = (struct perf_cfg){
		.producers = 1,
		.consumers = 1,
		.body_size = 16,
		.queue = "ternperf",
		.queues = 1,
		.exchange = "",
		.xtype = NULL,
		.drain = 10,
		.auto_delete = true,
	};
	cfg->host = xstrdup("127.0.0.1");
	cfg->port = xstrdup("5672");
	cfg->user = xstrdup("guest");
	cfg->pass = xstrdup("guest");
	cfg->vhost = xstrdup("/");
	cfg->verify_peer = true;
	cfg->depth = -1;
	bool rate_set = false;
	int o;
	while ((o = getopt_long(argc, argv, "x:y:s:c:q:A:ar:z:C:fu:e:t:", longopts, NULL)) != -1) {
		switch (o) {
		case 'x': cfg->producers = (int)num(optarg, "-x", 0, 65535); break;
		case 'y': cfg->consumers = (int)num(optarg, "-y", 0, 65535); break;
		case 's': cfg->body_size = (uint32_t)num(optarg, "-s", 16, 1 << 27); break;
		case 'c': cfg->confirm = (uint32_t)num(optarg, "-c", 0, 1 << 24); break;
		case 'q': cfg->prefetch = (uint16_t)num(optarg, "-q", 0, 65535); break;
		case 'A': cfg->multi_ack = (uint32_t)num(optarg, "-A", 0, 1 << 24); break;
		case 'a': cfg->auto_ack = true; break;
		case 'r':
			cfg->rate = real(optarg, "-r");
			rate_set = true;
			break;
		case 'z': cfg->seconds = real(optarg, "-z"); break;
		case 'C': cfg->count = (uint64_t)num(optarg, "-C", 0, 0xFFFFFFFFLL); break;
		case 'f': cfg->persistent = true; break;
		case 'u': cfg->queue = optarg; break;
		case 'e': cfg->exchange = optarg; break;
		case 't': cfg->xtype = optarg; break;
		case O_QUEUES: cfg->queues = (int)num(optarg, "--queues", 1, 1 << 20); break;
		case O_URI: uri_parse(cfg, optarg); break;
		case O_JSON: cfg->json = true; break;
		case O_CONN_ONLY:
			cfg->connections_only = (int)num(optarg, "--connections-only", 1, 65535);
			break;
		case O_DECL_ONLY:
			cfg->declare_only = (int)num(optarg, "--declare-only", 1, 1 << 24);
			break;
		case O_DUPLEX: cfg->duplex = (int)num(optarg, "--duplex", 1, 65535); break;
		case O_PATTERNS: cfg->topic_patterns = true; break;
		case O_AUTODEL:
			if (strcmp(optarg, "true") && strcmp(optarg, "false"))
				bad("--auto-delete", optarg);
			cfg->auto_delete = !strcmp(optarg, "true");
			break;
		case O_MAXPRIO: cfg->max_priority = (int)num(optarg, "--max-priority", 1, 255); break;
		case O_QTYPE: cfg->queue_type = optarg; break;
		case O_CLEANUP: cfg->cleanup = true; break;
		case O_DRAIN: cfg->drain = real(optarg, "--drain"); break;
		case O_PID: cfg->broker_pid = (int)num(optarg, "--broker-pid", 1, 1 << 30); break;
		case O_HELP: usage(0); break;
		default: usage(2);
		}
	}
	if (optind < argc)
		bad("argument", argv[optind]);
	if (cfg->connections_only) {
		cfg->producers = cfg->connections_only;
		if (!rate_set)
			cfg->rate = 1;
	}
	if (cfg->duplex) {
		if (cfg->connections_only)
			bad("--duplex with --connections-only", "--connections-only");
		cfg->producers = cfg->consumers = cfg->queues = cfg->duplex;
		if (!rate_set)
			cfg->rate = 1;
	}
	if (strlen(cfg->queue) > 200)
		bad("queue name (too long)", cfg->queue);
	/* The amq.* exchanges exist already; their names say their types. */
	if (!cfg->xtype) {
		const char *x = cfg->exchange;
		cfg->xtype = !strcmp(x, "amq.fanout")                               ? "fanout"
			     : !strcmp(x, "amq.topic")                              ? "topic"
			     : !strcmp(x, "amq.headers") || !strcmp(x, "amq.match") ? "headers"
										    : "direct";
	}
	if (strcmp(cfg->xtype, "direct") && strcmp(cfg->xtype, "topic") &&
	    strcmp(cfg->xtype, "fanout") && strcmp(cfg->xtype, "headers"))
		bad("exchange type", cfg->xtype);
	if (cfg->topic_patterns && (strcmp(cfg->xtype, "topic") || !cfg->exchange[0]))
		bad("--topic-patterns without a topic exchange (-e NAME -t topic)", cfg->xtype);
	if (cfg->producers > 0 && !cfg->exchange[0] && cfg->queues > 1 &&
	    cfg->producers < cfg->queues)
		fprintf(stderr, "ternperf: note: only %d of %d queues get messages\n",
			cfg->producers, cfg->queues);
}
