/* dqlite_node.c — one dqlite 1.11 node on loopback (issue 14 experiment).
 *
 * dqlite's C API in this version is the node side only: create, bind,
 * start (it runs its own thread with a libuv loop and libraft inside),
 * stop. Everything else — joining nodes, SQL — goes through its wire
 * protocol, which dqlite_client.c speaks. Node 1 bootstraps a one-voter
 * cluster; the client then adds 2 and 3 and makes them voters.
 * Usage: dqlite_node ID DIR ADDR   (runs until SIGTERM or SIGINT) */
#define _POSIX_C_SOURCE 200809L
#include <dqlite.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: dqlite_node ID DIR HOST:PORT\n");
		return 2;
	}
	dqlite_node *n;
	int rv = dqlite_node_create(strtoull(argv[1], NULL, 10), argv[3], argv[2], &n);
	if (rv != 0) {
		fprintf(stderr, "dqlite_node_create: %d\n", rv);
		return 1;
	}
	/* dqlite derives heartbeat and election timeouts from the network
	 * latency; 1 ms made a busy 2-core machine lose leadership in the
	 * middle of 64-row transactions, so the latency is an argument. */
	unsigned latency = getenv("DQLITE_LATENCY_MS") ? atoi(getenv("DQLITE_LATENCY_MS")) : 0;
	signal(SIGPIPE, SIG_IGN); /* a write to a killed peer must not kill us */
	if ((rv = dqlite_node_set_bind_address(n, argv[3])) != 0 ||
	    (latency && (rv = dqlite_node_set_network_latency_ms(n, latency)) != 0) ||
	    (rv = dqlite_node_start(n)) != 0) {
		fprintf(stderr, "dqlite node: %s\n", dqlite_node_errmsg(n));
		return 1;
	}
	printf("START id=%s addr=%s\n", argv[1], dqlite_node_get_bind_address(n));
	fflush(stdout);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while (!stop)
		pause();
	dqlite_node_stop(n);
	dqlite_node_destroy(n);
	return 0;
}
