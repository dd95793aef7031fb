/* dqlite_client.c — the smallest dqlite wire-protocol client that can form
 * a 3-node cluster and time replicated writes (issue 14 experiment).
 *
 * The protocol (dqlite's docs, "Wire protocol"): after connecting, the
 * client sends one 8-byte word, the protocol version (1). Every message is
 * an 8-byte header — body size in 8-byte words (uint32 LE), type (uint8),
 * schema (uint8), 2 unused bytes — then the body: uint64 LE fields and
 * NUL-terminated texts padded to a multiple of 8. Requests used: LEADER
 * (0), CLIENT (1), OPEN (3), EXEC_SQL (8), ADD (12), ASSIGN (13).
 * Responses: FAILURE (0: code, message), SERVER (1: id, address), WELCOME
 * (2), DB (4), RESULT (6: last insert id, rows affected), EMPTY (8).
 * Written from that description, not from dqlite's code.
 *
 * Usage:
 *   dqlite_client ADDR leader
 *   dqlite_client ADDR join ID ADDR2      (add ADDR2 as voter ID, via leader ADDR)
 *   dqlite_client ADDR bench SIZE ROWS_PER_TXN TXNS
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fd = -1;
static uint8_t out[1 << 20], in[1 << 16];
static size_t outlen;
static uint8_t rtype;
static size_t rlen;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "dqlite_client: %s\n", what);
	exit(1);
}

static void put64(uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[outlen++] = (uint8_t)(v >> (8 * i));
}

static void puttext(const char *s)
{
	size_t n = strlen(s) + 1;
	if (outlen + n + 8 > sizeof out)
		die("request too big");
	memcpy(out + outlen, s, n);
	outlen += n;
	while (outlen % 8)
		out[outlen++] = 0;
}

static uint64_t get64(size_t off)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | in[off + i];
	return v;
}

static void writeall(const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			die("write");
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

static void readall(void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			die("read (connection closed)");
		p = (char *)p + r;
		n -= (size_t)r;
	}
}

/* Starts a request body; send() writes header + body, then reads one
 * response into in[] (rtype, rlen). */
static void begin(void)
{
	outlen = 8;
}

static void send_req(uint8_t type)
{
	uint32_t words = (uint32_t)((outlen - 8) / 8);
	out[0] = words & 0xff, out[1] = words >> 8 & 0xff, out[2] = words >> 16 & 0xff,
	out[3] = words >> 24;
	out[4] = type, out[5] = 0, out[6] = out[7] = 0;
	writeall(out, outlen);
	uint8_t h[8];
	readall(h, 8);
	rlen = (size_t)(h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24) * 8;
	rtype = h[4];
	if (rlen > sizeof in)
		die("response too big");
	readall(in, rlen);
}

static void expect(uint8_t type, const char *what)
{
	if (rtype == 0) {
		fprintf(stderr, "dqlite_client: %s failed: code %llu: %s\n", what,
			(unsigned long long)get64(0), (const char *)in + 8);
		exit(1);
	}
	if (rtype != type) {
		fprintf(stderr, "dqlite_client: %s: response type %u, wanted %u\n", what, rtype,
			type);
		exit(1);
	}
}

static void connect_to(const char *addr)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof host)
		die("address must be HOST:PORT");
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die("bad IPv4 address");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		die("connect");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	uint8_t v[8] = {1};
	writeall(v, 8); /* protocol version 1 */
	begin();
	put64(0); /* client id */
	send_req(1);
	expect(2, "CLIENT");
}

static void exec_sql(const char *sql)
{
	begin();
	put64(0); /* db id */
	puttext(sql);
	put64(0); /* an empty parameter tuple: count 0, padded to a word */
	send_req(8);
	expect(6, sql);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		die("usage: dqlite_client ADDR leader | join ID ADDR2 | bench SIZE ROWS TXNS");
	connect_to(argv[1]);
	if (!strcmp(argv[2], "leader")) {
		begin();
		put64(0);
		send_req(0);
		expect(1, "LEADER");
		printf("LEADER id=%llu addr=%s\n", (unsigned long long)get64(0),
		       (const char *)in + 8);
		return 0;
	}
	if (!strcmp(argv[2], "join") && argc == 5) {
		begin();
		put64(strtoull(argv[3], NULL, 10));
		puttext(argv[4]);
		send_req(12);
		expect(8, "ADD");
		begin();
		put64(strtoull(argv[3], NULL, 10));
		put64(0); /* role: voter */
		send_req(13);
		expect(8, "ASSIGN");
		printf("JOINED id=%s addr=%s\n", argv[3], argv[4]);
		return 0;
	}
	if (!strcmp(argv[2], "bench") && argc == 6) {
		unsigned size = atoi(argv[3]), rows = atoi(argv[4]), txns = atoi(argv[5]);
		begin();
		puttext("tern");
		put64(0);
		puttext("");
		send_req(3);
		expect(4, "OPEN");
		exec_sql("CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY, body BLOB)");
		/* One transaction of ROWS rows: what one Tern loop turn would
		 * commit. A recursive CTE makes the rows inside SQLite, so the
		 * request stays small and the cost measured is replication. */
		char sql[512];
		snprintf(sql, sizeof sql,
			 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<%u) "
			 "INSERT INTO m(body) SELECT randomblob(%u) FROM c",
			 rows, size);
		double *lat = malloc(sizeof(double) * txns);
		double t0 = now_ms();
		for (unsigned i = 0; i < txns; i++) {
			double s = now_ms();
			exec_sql(sql);
			lat[i] = now_ms() - s;
		}
		double secs = (now_ms() - t0) / 1e3;
		qsort(lat, txns, sizeof *lat, cmp_double);
		printf("RESULT size=%u rows_per_txn=%u txns=%u secs=%.3f txn_per_s=%.0f rows_per_s=%.0f "
		       "MB_per_s=%.2f lat_p50_ms=%.2f lat_p99_ms=%.2f lat_max_ms=%.2f\n",
		       size, rows, txns, secs, txns / secs, txns * (double)rows / secs,
		       txns * (double)rows * size / secs / 1e6, lat[txns / 2], lat[txns * 99 / 100],
		       lat[txns - 1]);
		return 0;
	}
	die("unknown command");
}
