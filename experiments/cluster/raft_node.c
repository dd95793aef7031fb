/* raft_node.c — one node of a 3-node canonical/raft (libraft 0.15) cluster
 * on loopback, with raft's own libuv I/O (disk segments + TCP transport).
 *
 * Experiment for issue 14, not part of Tern. Each node is one process, so
 * the driver (raft_bench.py) can kill -9 the leader for real. Whenever a
 * node becomes leader it prints LEADER, waits for its peers, then runs one
 * load phase: `--count` entries of `--size` bytes, `--batch` entries per
 * raft_apply() (one batch = one Tern loop turn's writes), at most
 * `--window` batches in flight. A raft_apply callback fires once the batch
 * is committed (on a majority of disks) and applied to the leader's FSM:
 * that is the moment a publisher confirm could go out. The FSM only counts
 * entries and bytes (no SQLite), so the figures are the consensus cost
 * alone. Output is one line per event, "KEY k=v ...", read by the driver. */
#define _POSIX_C_SOURCE 200809L
#include <event2/event.h>
#include <pthread.h>
#include <raft.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <raft/uv.h>
#include <uv.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
	unsigned id, count, size, batch, window, election_ms, heartbeat_ms, threshold, pack,
		nodelay, handoff, sqlite;
	const char *dir;
	char addr[3][32];
} opt = {.count = 20000,
	 .size = 16,
	 .batch = 1,
	 .window = 1,
	 .election_ms = 1000,
	 .heartbeat_ms = 100,
	 .threshold = 65536,
	 .nodelay = 1};

static uv_loop_t loop;
static struct raft_uv_transport tcp, transport;
static struct raft_io io;
static struct raft_fsm fsm;
static struct raft raft;
static uv_timer_t poll_timer;

/* FSM state: what a follower's store would hold, reduced to counters. */
static unsigned long long applied_entries, applied_bytes;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* --sqlite 1: the FSM writes each message into an SQLite file beside the
 * raft directory (DIR.db), as a Tern follower would: one transaction per
 * log entry, the applied index in the same transaction, WAL mode,
 * synchronous=OFF (the raft log is what is synced). --sqlite 1 writes on
 * the raft loop inside fsm->apply; --sqlite 2 on an apply thread. */
static sqlite3 *db;
static sqlite3_stmt *ins, *meta;
static char db_path[512];

static void db_fail(const char *what)
{
	fprintf(stderr, "sqlite %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
	exit(1);
}

static void db_open(void)
{
	if (sqlite3_open(db_path, &db) != SQLITE_OK)
		db_fail("open");
	if (sqlite3_exec(db,
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
			 "CREATE TABLE IF NOT EXISTS entries (qid INTEGER, seq INTEGER, body BLOB,"
			 " PRIMARY KEY (qid, seq)) WITHOUT ROWID;"
			 "CREATE TABLE IF NOT EXISTS raft_meta (k TEXT PRIMARY KEY, v INTEGER);",
			 NULL, NULL, NULL) != SQLITE_OK)
		db_fail("schema");
	if (sqlite3_prepare_v2(db, "INSERT INTO entries VALUES (1, ?, ?)", -1, &ins, NULL) ||
	    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO raft_meta VALUES ('applied', ?)", -1,
			       &meta, NULL))
		db_fail("prepare");
}

static void db_close(void)
{
	sqlite3_finalize(ins);
	sqlite3_finalize(meta);
	sqlite3_close(db);
	db = NULL;
}

/* One committed entry into SQLite: one transaction, the entry's index in
 * raft_meta within it. first: the message number of the entry's first. */
static void db_apply(const char *base, size_t len, unsigned long long first,
		     unsigned long long index)
{
	unsigned n = opt.pack ? len / opt.size : 1;
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (unsigned i = 0; i < n; i++) {
		sqlite3_bind_int64(ins, 1, (sqlite3_int64)(first + i));
		sqlite3_bind_blob(ins, 2, base + (size_t)i * opt.size, (int)opt.size,
				  SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			db_fail("insert");
		sqlite3_reset(ins);
	}
	sqlite3_bind_int64(meta, 1, (sqlite3_int64)index);
	if (sqlite3_step(meta) != SQLITE_DONE)
		db_fail("meta");
	sqlite3_reset(meta);
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		db_fail("commit");
}

/* --sqlite 2: the raft loop only queues a committed entry (a copy) for an
 * apply thread, which writes SQLite, as Tern's writer thread would; the
 * raft loop goes back to the network at once. A snapshot waits until the
 * apply thread has caught up. */
struct job {
	char *base;
	size_t len;
	unsigned long long first, index;
	struct job *next;
};
static pthread_mutex_t apply_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t apply_wake = PTHREAD_COND_INITIALIZER, apply_idle = PTHREAD_COND_INITIALIZER;
static struct job *jobs, **jobs_tail = &jobs;
static int apply_busy;

static void *apply_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&apply_mu);
	for (;;) {
		while (!jobs) {
			apply_busy = 0;
			pthread_cond_broadcast(&apply_idle);
			pthread_cond_wait(&apply_wake, &apply_mu);
		}
		apply_busy = 1;
		struct job *j = jobs;
		jobs = j->next;
		if (!jobs)
			jobs_tail = &jobs;
		pthread_mutex_unlock(&apply_mu);
		db_apply(j->base, j->len, j->first, j->index);
		free(j->base);
		free(j);
		pthread_mutex_lock(&apply_mu);
	}
	return NULL;
}

static void apply_wait_idle(void)
{
	pthread_mutex_lock(&apply_mu);
	while (jobs || apply_busy)
		pthread_cond_wait(&apply_idle, &apply_mu);
	pthread_mutex_unlock(&apply_mu);
}

static int fsm_apply(struct raft_fsm *f, const struct raft_buffer *buf, void **result)
{
	(void)f;
	unsigned n = opt.pack ? buf->len / opt.size : 1;
	unsigned long long index = raft_last_applied(&raft) + 1;
	if (opt.sqlite == 1) {
		db_apply(buf->base, buf->len, applied_entries, index);
	} else if (opt.sqlite == 2) {
		struct job *j = malloc(sizeof *j);
		j->base = malloc(buf->len);
		memcpy(j->base, buf->base, buf->len);
		j->len = buf->len;
		j->first = applied_entries;
		j->index = index;
		j->next = NULL;
		pthread_mutex_lock(&apply_mu);
		*jobs_tail = j;
		jobs_tail = &j->next;
		apply_busy = 1;
		pthread_cond_signal(&apply_wake);
		pthread_mutex_unlock(&apply_mu);
	}
	applied_entries += n; /* messages */
	applied_bytes += buf->len;
	*result = NULL;
	return 0;
}

/* A snapshot is the FSM's whole state: two counters, and with --sqlite the
 * SQLite file itself, copied with VACUUM INTO (on the raft loop: it stalls
 * raft while it runs, which Tern would move to snapshot_async). */
static int fsm_snapshot(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n)
{
	(void)f;
	size_t dbn = 0;
	char *dbdata = NULL;
	double t0 = now_ms();
	if (opt.sqlite) {
		if (opt.sqlite == 2)
			apply_wait_idle();
		char snap[600], sql[700];
		snprintf(snap, sizeof snap, "%s.snap", db_path);
		unlink(snap);
		snprintf(sql, sizeof sql, "VACUUM INTO '%s'", snap);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
			db_fail("vacuum into");
		FILE *fp = fopen(snap, "rb");
		fseek(fp, 0, SEEK_END);
		dbn = (size_t)ftell(fp);
		fseek(fp, 0, SEEK_SET);
		dbdata = raft_malloc(dbn);
		if (fread(dbdata, 1, dbn, fp) != dbn)
			db_fail("read snapshot");
		fclose(fp);
		unlink(snap);
	}
	*bufs = raft_malloc(sizeof **bufs * (opt.sqlite ? 2 : 1));
	(*bufs)[0].len = 16;
	(*bufs)[0].base = raft_malloc(16);
	memcpy((*bufs)[0].base, &applied_entries, 8);
	memcpy((char *)(*bufs)[0].base + 8, &applied_bytes, 8);
	*n = 1;
	if (opt.sqlite) {
		(*bufs)[1].len = dbn;
		(*bufs)[1].base = dbdata;
		*n = 2;
	}
	printf("SNAPSHOT id=%u entries=%llu bytes=%zu ms=%.1f t=%.1f\n", opt.id, applied_entries,
	       16 + dbn, now_ms() - t0, now_ms());
	fflush(stdout);
	return 0;
}

/* Restore gets the buffers as one: counters, then the SQLite file. */
static int fsm_restore(struct raft_fsm *f, struct raft_buffer *buf)
{
	(void)f;
	double t0 = now_ms();
	memcpy(&applied_entries, buf->base, 8);
	memcpy(&applied_bytes, (char *)buf->base + 8, 8);
	if (opt.sqlite && buf->len > 16) {
		char tmp[600], side[600];
		snprintf(tmp, sizeof tmp, "%s.restore", db_path);
		FILE *fp = fopen(tmp, "wb");
		if (!fp || fwrite((char *)buf->base + 16, 1, buf->len - 16, fp) != buf->len - 16)
			db_fail("write restore");
		fclose(fp);
		if (opt.sqlite == 2)
			apply_wait_idle();
		db_close();
		snprintf(side, sizeof side, "%s-wal", db_path);
		unlink(side);
		snprintf(side, sizeof side, "%s-shm", db_path);
		unlink(side);
		rename(tmp, db_path);
		db_open();
	}
	printf("RESTORED id=%u entries=%llu bytes=%zu ms=%.1f t=%.1f\n", opt.id, applied_entries,
	       buf->len, now_ms() - t0, now_ms());
	fflush(stdout);
	raft_free(buf->base);
	return 0;
}

/* --- a transport that sets TCP_NODELAY ---
 * raft's TCP transport leaves Nagle on (libraft 0.15 never calls
 * uv_tcp_nodelay), so with several AppendEntries in flight a small write
 * waits for the peer's delayed ACK: ~40 ms stalls. This wrapper delegates
 * to raft_uv_tcp_init's transport and sets TCP_NODELAY on every stream it
 * hands over, accepted or connected. --nodelay 0 uses raft's transport
 * as it is, without this wrapper. */
static raft_uv_accept_cb accept_user_cb;
struct nd_connect {
	struct raft_uv_connect inner;
	struct raft_uv_connect *outer;
	raft_uv_connect_cb cb;
};

static void nd_accepted(struct raft_uv_transport *t, raft_id id, const char *address,
			struct uv_stream_s *stream)
{
	(void)t;
	if (opt.nodelay)
		uv_tcp_nodelay((uv_tcp_t *)stream, 1);
	accept_user_cb(&transport, id, address, stream);
}

static void nd_connected(struct raft_uv_connect *req, struct uv_stream_s *stream, int status)
{
	struct nd_connect *c = req->data;
	if (status == 0 && opt.nodelay)
		uv_tcp_nodelay((uv_tcp_t *)stream, 1);
	c->cb(c->outer, stream, status);
	free(c);
}

static int nd_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
	(void)t;
	return tcp.init(&tcp, id, address);
}

static int nd_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	(void)t;
	accept_user_cb = cb;
	return tcp.listen(&tcp, nd_accepted);
}

static int nd_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id,
		      const char *address, raft_uv_connect_cb cb)
{
	(void)t;
	struct nd_connect *c = calloc(1, sizeof *c);
	c->inner.data = c;
	c->outer = req;
	c->cb = cb;
	int rv = tcp.connect(&tcp, &c->inner, id, address, nd_connected);
	if (rv != 0)
		free(c);
	return rv;
}

static raft_uv_transport_close_cb close_user_cb;
static void nd_closed(struct raft_uv_transport *t)
{
	(void)t;
	if (close_user_cb)
		close_user_cb(&transport);
}

static void nd_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
	(void)t;
	close_user_cb = cb;
	tcp.close(&tcp, nd_closed);
}

/* --- the load phase (leader only) --- */
struct req {
	struct raft_apply apply;
	double sent;
	unsigned n;
	struct raft_buffer *bufs; /* handed to raft_apply (it takes the bases) */
	unsigned nbufs;
	int status;
	struct req *next;
};

/* --handoff 1: the load runs on a libevent loop in the main thread, as
 * Tern's loop would, and raft on its own thread with the uv loop. A batch
 * crosses over through a locked list and uv_async_send(); its result
 * comes back through another list and an eventfd the libevent loop
 * watches (the same shape as the writer thread's "batch done"). */
static pthread_mutex_t hand_mu = PTHREAD_MUTEX_INITIALIZER;
static struct req *hand_head, **hand_tail = &hand_head; /* loop -> raft */
static struct req *done_head, **done_tail = &done_head; /* raft -> loop */
static uv_async_t hand_async;
static int done_fd = -1;
static atomic_int go;
static struct event_base *evbase;
static struct {
	int running, done;
	unsigned submitted, committed, inflight;
	double start;
	double *lat;
	unsigned nlat;
} load;

static void submit(void);

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void load_report(void)
{
	double secs = (now_ms() - load.start) / 1e3;
	qsort(load.lat, load.nlat, sizeof *load.lat, cmp_double);
	double p50 = load.nlat ? load.lat[load.nlat / 2] : 0;
	double p99 = load.nlat ? load.lat[load.nlat * 99 / 100] : 0;
	double mx = load.nlat ? load.lat[load.nlat - 1] : 0;
	printf("RESULT id=%u size=%u batch=%u window=%u pack=%u nodelay=%u handoff=%u sqlite=%u entries=%u secs=%.3f entries_per_s=%.0f "
	       "batches_per_s=%.0f MB_per_s=%.2f lat_p50_ms=%.2f lat_p99_ms=%.2f lat_max_ms=%.2f\n",
	       opt.id, opt.size, opt.batch, opt.window, opt.pack, opt.nodelay, opt.handoff,
	       opt.sqlite, load.committed, secs, load.committed / secs, load.nlat / secs,
	       load.committed * (double)opt.size / secs / 1e6, p50, p99, mx);
	fflush(stdout);
	free(load.lat);
	load.lat = NULL;
	load.running = 0;
	load.done = 1;
}

static void finish(struct req *r, int status)
{
	free(r->bufs);
	load.inflight--;
	if (status != 0) {
		printf("APPLYFAIL id=%u status=%d t=%.1f (%s)\n", opt.id, status, now_ms(),
		       raft_strerror(status));
		fflush(stdout);
		free(r);
		load.running = 0;
		return;
	}
	load.committed += r->n;
	load.lat[load.nlat++] = now_ms() - r->sent;
	free(r);
	if (load.committed >= opt.count)
		load_report();
	else
		submit();
}

static void push(struct req ***tail, struct req *r)
{
	r->next = NULL;
	**tail = r;
	*tail = &r->next;
}

static void applied(struct raft_apply *a, int status, void *result)
{
	(void)result;
	struct req *r = a->data;
	if (!opt.handoff) {
		finish(r, status);
		return;
	}
	r->status = status;
	pthread_mutex_lock(&hand_mu);
	push(&done_tail, r);
	pthread_mutex_unlock(&hand_mu);
	uint64_t one = 1;
	ssize_t w = write(done_fd, &one, sizeof one);
	(void)w;
}

/* The raft thread: take the batches the loop handed over. */
static void hand_cb(uv_async_t *h)
{
	(void)h;
	pthread_mutex_lock(&hand_mu);
	struct req *r = hand_head;
	hand_head = NULL;
	hand_tail = &hand_head;
	pthread_mutex_unlock(&hand_mu);
	while (r) {
		struct req *next = r->next;
		int rv = raft_apply(&raft, &r->apply, r->bufs, r->nbufs, applied);
		if (rv != 0)
			applied(&r->apply, rv, NULL);
		r = next;
	}
}

/* The libevent loop: results are back. */
static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what, (void)arg;
	uint64_t n;
	ssize_t got = read(fd, &n, sizeof n);
	(void)got;
	pthread_mutex_lock(&hand_mu);
	struct req *r = done_head;
	done_head = NULL;
	done_tail = &done_head;
	pthread_mutex_unlock(&hand_mu);
	while (r) {
		struct req *next = r->next;
		finish(r, r->status);
		r = next;
	}
}

static void submit(void)
{
	while (load.running && load.inflight < opt.window && load.submitted < opt.count) {
		unsigned n = opt.batch;
		if (n > opt.count - load.submitted)
			n = opt.count - load.submitted;
		/* --pack 1: the batch's messages in one log entry, as a replicated
		 * store would send one loop turn's transaction. */
		unsigned nbufs = opt.pack ? 1 : n, each = opt.pack ? n * opt.size : opt.size;
		struct raft_buffer *bufs = calloc(nbufs, sizeof *bufs);
		for (unsigned i = 0; i < nbufs; i++) {
			bufs[i].len = each;
			bufs[i].base = raft_malloc(each);
			memset(bufs[i].base, 'm', each);
			memcpy(bufs[i].base, &load.submitted,
			       sizeof load.submitted < opt.size ? sizeof load.submitted : opt.size);
		}
		struct req *r = calloc(1, sizeof *r);
		r->apply.data = r;
		r->n = n;
		r->sent = now_ms();
		r->bufs = bufs;
		r->nbufs = nbufs;
		if (opt.handoff) {
			pthread_mutex_lock(&hand_mu);
			push(&hand_tail, r);
			pthread_mutex_unlock(&hand_mu);
			load.submitted += n;
			load.inflight++;
			continue;
		}
		int rv = raft_apply(&raft, &r->apply, bufs, nbufs, applied);
		if (rv != 0) {
			printf("APPLYFAIL id=%u status=%d t=%.1f (%s)\n", opt.id, rv, now_ms(),
			       raft_strerror(rv));
			fflush(stdout);
			free(bufs);
			free(r);
			load.running = 0;
			return;
		}
		load.submitted += n;
		load.inflight++;
	}
	if (opt.handoff)
		uv_async_send(&hand_async);
}

static void load_start(unsigned heard)
{
	load.running = 1;
	load.start = now_ms();
	load.lat = malloc(sizeof(double) * (opt.count / opt.batch + 2));
	load.nlat = 0;
	load.committed = load.submitted = 0;
	printf("LOAD id=%u peers_caught_up=%u handoff=%u t=%.1f\n", opt.id, heard, opt.handoff,
	       now_ms());
	fflush(stdout);
	submit();
}

/* The libevent loop's 5 ms timer: starts the load once raft says go. */
static void go_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	if (atomic_load(&go) && !load.running && !load.done)
		load_start(atomic_load(&go) - 1);
}

static void *raft_thread(void *arg)
{
	(void)arg;
	uv_run(&loop, UV_RUN_DEFAULT);
	return NULL;
}

/* Every 5 ms: report role changes (the driver times elections from these
 * lines) and start the load once this leader has heard from both peers. */
static void poll_cb(uv_timer_t *t)
{
	(void)t;
	static int last_state = -1;
	static unsigned long long last_applied;
	static double last_print, leader_since;
	int st = raft_state(&raft);
	if (st != last_state) {
		raft_id lid;
		const char *laddr;
		raft_leader(&raft, &lid, &laddr);
		printf("STATE id=%u state=%s leader=%llu term=%llu t=%.1f\n", opt.id,
		       st == RAFT_LEADER      ? "leader"
		       : st == RAFT_FOLLOWER  ? "follower"
		       : st == RAFT_CANDIDATE ? "candidate"
					      : "unavailable",
		       lid, raft.current_term, now_ms());
		fflush(stdout);
		last_state = st;
		leader_since = now_ms();
		if (st != RAFT_LEADER && !opt.handoff)
			load.running = 0;
	}
	if (st == RAFT_LEADER && !load.running && !load.done && opt.count && !atomic_load(&go)) {
		unsigned heard = 0;
		for (unsigned i = 0; i < raft.configuration.n; i++)
			if (raft.configuration.servers[i].id != raft.id &&
			    raft.leader_state.progress[i].match_index >= raft_last_index(&raft))
				heard++;
		if (heard + 1 >= raft.configuration.n || now_ms() - leader_since > 3000) {
			if (opt.handoff)
				atomic_store(&go, (int)heard + 1); /* the libevent loop starts it */
			else
				load_start(heard);
		}
	}
	if (applied_entries != last_applied && now_ms() - last_print > 250) {
		printf("APPLIED id=%u entries=%llu index=%llu t=%.1f\n", opt.id, applied_entries,
		       raft_last_applied(&raft), now_ms());
		fflush(stdout);
		last_applied = applied_entries;
		last_print = now_ms();
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: raft_node --id N --dir D [--base-port P] [--count N] [--size B] "
		"[--batch N] [--window N] [--election-ms MS] [--heartbeat-ms MS] "
		"[--threshold N] [--pack 0|1] [--nodelay 0|1] [--handoff 0|1] [--sqlite 0|1|2]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned base_port = 9101;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--id"))
			opt.id = atoi(v);
		else if (!strcmp(a, "--dir"))
			opt.dir = v;
		else if (!strcmp(a, "--base-port"))
			base_port = atoi(v);
		else if (!strcmp(a, "--count"))
			opt.count = atoi(v);
		else if (!strcmp(a, "--size"))
			opt.size = atoi(v);
		else if (!strcmp(a, "--batch"))
			opt.batch = atoi(v);
		else if (!strcmp(a, "--window"))
			opt.window = atoi(v);
		else if (!strcmp(a, "--election-ms"))
			opt.election_ms = atoi(v);
		else if (!strcmp(a, "--heartbeat-ms"))
			opt.heartbeat_ms = atoi(v);
		else if (!strcmp(a, "--threshold"))
			opt.threshold = atoi(v);
		else if (!strcmp(a, "--pack"))
			opt.pack = atoi(v);
		else if (!strcmp(a, "--nodelay"))
			opt.nodelay = atoi(v);
		else if (!strcmp(a, "--handoff"))
			opt.handoff = atoi(v);
		else if (!strcmp(a, "--sqlite"))
			opt.sqlite = atoi(v);
		else
			usage();
	}
	if (opt.id < 1 || opt.id > 3 || !opt.dir || !opt.batch || !opt.window || opt.size < 1)
		usage();
	for (int i = 0; i < 3; i++)
		snprintf(opt.addr[i], sizeof opt.addr[i], "127.0.0.1:%u", base_port + i);

	int rv;
	if (opt.sqlite) {
		snprintf(db_path, sizeof db_path, "%s.db", opt.dir);
		db_open();
		if (opt.sqlite == 2) {
			pthread_t at;
			pthread_create(&at, NULL, apply_thread, NULL);
		}
	}
	/* A write to a peer that was just killed raises SIGPIPE, which would
	 * kill this node too (found the hard way: both survivors died). */
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	transport.init = nd_init;
	transport.listen = nd_listen;
	transport.connect = nd_connect;
	transport.close = nd_close;
	if ((rv = raft_uv_tcp_init(&tcp, &loop)) != 0 ||
	    (rv = raft_uv_init(&io, &loop, opt.dir, opt.nodelay ? &transport : &tcp)) != 0) {
		fprintf(stderr, "raft_uv_init: %s %s\n", raft_strerror(rv), io.errmsg);
		return 1;
	}
	fsm.version = 1;
	fsm.apply = fsm_apply;
	fsm.snapshot = fsm_snapshot;
	fsm.restore = fsm_restore;
	if ((rv = raft_init(&raft, &io, &fsm, opt.id, opt.addr[opt.id - 1])) != 0) {
		fprintf(stderr, "raft_init: %s\n", raft_errmsg(&raft));
		return 1;
	}
	/* Every node bootstraps with the same three-voter configuration; a
	 * node that already has state gets RAFT_CANTBOOTSTRAP, which is fine. */
	struct raft_configuration conf;
	raft_configuration_init(&conf);
	for (unsigned i = 0; i < 3; i++)
		raft_configuration_add(&conf, i + 1, opt.addr[i], RAFT_VOTER);
	rv = raft_bootstrap(&raft, &conf);
	if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
		fprintf(stderr, "raft_bootstrap: %s\n", raft_errmsg(&raft));
		return 1;
	}
	raft_configuration_close(&conf);
	raft_set_election_timeout(&raft, opt.election_ms);
	raft_set_heartbeat_timeout(&raft, opt.heartbeat_ms);
	raft_set_snapshot_threshold(&raft, opt.threshold);
	raft_set_snapshot_trailing(&raft, opt.threshold / 4);
	raft_set_pre_vote(&raft, true);
	raft_uv_set_connect_retry_delay(&io, 50);
	if ((rv = raft_start(&raft)) != 0) {
		fprintf(stderr, "raft_start: %s\n", raft_errmsg(&raft));
		return 1;
	}
	printf("START id=%u addr=%s t=%.1f\n", opt.id, opt.addr[opt.id - 1], now_ms());
	fflush(stdout);
	uv_timer_init(&loop, &poll_timer);
	uv_timer_start(&poll_timer, poll_cb, 5, 5);
	if (!opt.handoff) {
		uv_run(&loop, UV_RUN_DEFAULT);
		return 0;
	}
	uv_async_init(&loop, &hand_async, hand_cb);
	done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	evbase = event_base_new();
	struct event *done_ev = event_new(evbase, done_fd, EV_READ | EV_PERSIST, done_cb, NULL);
	struct event *go_ev = event_new(evbase, -1, EV_PERSIST, go_cb, NULL);
	struct timeval five = {0, 5000};
	event_add(done_ev, NULL);
	event_add(go_ev, &five);
	pthread_t th;
	pthread_create(&th, NULL, raft_thread, NULL);
	event_base_dispatch(evbase);
	return 0;
}
