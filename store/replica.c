/* replica.c — the replicated backend behind store.h (docs/clustering.md
 * section 4): libraft 0.15 on a replication thread of its own (its libuv
 * loop), and an apply thread in the writer thread's place.
 *
 * A batch the caller hands over (store_submit -> replica_propose) becomes
 * one log entry (replica_entry.c) proposed by the replication thread. When
 * an entry is committed, libraft's fsm->apply, on every member, only queues
 * a copy for the apply thread, which runs its ops through writer_run (the
 * same sql_* calls as a single node) with the entry's index recorded in
 * the same transaction (object "raft"/"applied"), so a restarted member
 * skips what its file already has. On the leader, the batch whose entry
 * that is is then reported done: a confirm means committed on a majority
 * and in the leader's own file, so the caller's reads (paging, scans) see
 * it. A proposal that fails (leadership lost, not the leader) fails the
 * batch: its publishers are nacked.
 *
 * Roles. A member starts as NOWHERE. The replication thread polls libraft
 * every POLL_MS: on becoming leader it commits a barrier (every entry of
 * earlier terms is then committed), queues a promotion behind them, and
 * the apply thread, once it has applied them, reopens the file (the ids
 * handed out continue from what it now holds) and reports HERE. Any other
 * change is reported as ELSEWHERE (the leader's client address) or
 * NOWHERE. The caller hears of changes through the writer's eventfd
 * (store_poll -> replica_poll -> the store_on_role callback).
 *
 * Snapshots (every cluster.snapshot_threshold entries) are the file
 * itself, copied with VACUUM INTO; a member too far behind for the log the
 * leader kept installs one and replays the rest. */
#include <errno.h>
#include <pthread.h>
#include <raft.h>
#include <raft/uv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "store/batch.h"
#include "store/replica.h"
#include "store/sqlite.h"

#define POLL_MS 10

/* ---- configuration (store_cluster) ---- */
static bool on;
static unsigned self, nmembers, election_ms, heartbeat_ms, snap_threshold, snap_trailing;
static struct {
	unsigned id;
	char raft[64], amqp[64];
} members[STORE_MAX_MEMBERS];
static char listen_addr[64], cluster_name[64], dir[512];
static uint64_t nonce; /* this process's: its own entries carry it */

bool replica_on(void)
{
	return on;
}

void store_cluster(const struct store_cluster *c)
{
	self = c->self;
	election_ms = c->election_timeout;
	heartbeat_ms = c->heartbeat_interval;
	snap_threshold = c->snapshot_threshold ? c->snapshot_threshold : 1024;
	snap_trailing = c->snapshot_trailing;
	nmembers = c->n < STORE_MAX_MEMBERS ? c->n : STORE_MAX_MEMBERS;
	for (unsigned i = 0; i < nmembers; i++) {
		members[i].id = c->members[i].id;
		snprintf(members[i].raft, sizeof members[i].raft, "%s", c->members[i].raft);
		snprintf(members[i].amqp, sizeof members[i].amqp, "%s", c->members[i].amqp);
	}
	snprintf(listen_addr, sizeof listen_addr, "%s", c->listen ? c->listen : "");
	snprintf(cluster_name, sizeof cluster_name, "%s", c->name ? c->name : "");
	on = true;
}

/* ---- state shared by the threads, under mu ---- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static bool applying; /* the apply thread holds a job */
static struct batch *proposed; /* handed over, not yet proposed */
static struct batch *inflight; /* proposed or applying, not yet finished */
static enum store_role role = STORE_NOWHERE; /* as the threads see it */
static char role_where[64];
static bool role_changed, leading; /* leading: libraft says leader here */
static struct store_status shown; /* store_status()'s copy */
static uint64_t applied_index;

enum job_kind { JOB_ENTRY, JOB_PROMOTE, JOB_STOP };
struct job {
	enum job_kind kind;
	uint64_t index;
	uint8_t *data;
	size_t len;
	struct job *next;
};
static struct job *jobs, **jobs_tail = &jobs;

/* The caller's side. */
static enum store_role loop_role = STORE_NOWHERE;
static char loop_where[64];
static void (*role_fn)(enum store_role, const char *);
static int efd = -1;

/* The file, between the apply thread and the caller's reads. */
static pthread_mutex_t sql_mu = PTHREAD_MUTEX_INITIALIZER;

static void wake_caller(void)
{
	uint64_t one = 1;
	ssize_t w = write(efd, &one, sizeof one);
	(void)w;
}

/* Under mu. */
static void set_role(enum store_role r, const char *where)
{
	if (r == role && !strcmp(role_where, where ? where : ""))
		return;
	role = r;
	snprintf(role_where, sizeof role_where, "%s", where ? where : "");
	role_changed = true;
	wake_caller();
}

static void push_job(struct job *j)
{
	pthread_mutex_lock(&mu);
	j->next = NULL;
	*jobs_tail = j;
	jobs_tail = &j->next;
	pthread_cond_signal(&jobs_cond);
	pthread_mutex_unlock(&mu);
}

static struct job *new_job(enum job_kind k)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	j->kind = k;
	return j;
}

/* Finishes the in-flight batch numbered no (when it still is). */
static void finish(uint64_t no, const char *error)
{
	pthread_mutex_lock(&mu);
	struct batch *b = inflight && inflight->no == no ? inflight : NULL;
	if (b)
		inflight = NULL;
	pthread_mutex_unlock(&mu);
	if (!b)
		return;
	if (error) {
		b->failed = true;
		snprintf(b->error, sizeof b->error, "%s", error);
	}
	writer_finished(b);
}

/* ---- the apply thread ---- */
static pthread_t apply_thread, raft_thread;
static uint64_t applied_at_open; /* the file's index when it was opened */
static bool applied_since_open;

static _Noreturn void fatal(const char *what, const char *why)
{
	fprintf(stderr, "ternd: replication: %s: %s\n", what, why);
	_exit(70); /* the file would no longer match the log: start again from it */
}

/* The entry's index joins its transaction. */
static void add_applied(struct batch *b, uint64_t index)
{
	char v[32];
	int n = snprintf(v, sizeof v, "%llu", (unsigned long long)index);
	static const char kind[] = "raft", key[] = "applied";
	b->ops = realloc(b->ops, (b->nops + 1) * sizeof *b->ops);
	b->data = realloc(b->data, b->used + sizeof kind + sizeof key + (size_t)n + 1);
	if (!b->ops || !b->data)
		abort();
	struct op *o = &b->ops[b->nops++];
	memset(o, 0, sizeof *o);
	o->kind = OP_PUT_O;
	const char *s[3] = {kind, key, v};
	for (int i = 0; i < 3; i++) {
		size_t len = strlen(s[i]);
		memcpy(b->data + b->used, s[i], len + 1);
		o->off[i] = b->used;
		o->len[i] = len;
		b->used += len + 1;
	}
	b->live++;
}

static void apply_entry(struct job *j)
{
	struct entry_header h;
	struct batch b;
	char err[256];
	if (j->index <= applied_at_open) {
		pthread_mutex_lock(&mu);
		applied_index = j->index;
		pthread_mutex_unlock(&mu);
		return; /* the file has it: applied before a restart */
	}
	if (entry_read(j->data, j->len, &h, &b, err, sizeof err) < 0) {
		char path[700];
		snprintf(path, sizeof path, "%s/bad-entry-%llu", dir, (unsigned long long)j->index);
		FILE *f = fopen(path, "wb");
		if (f) {
			fwrite(j->data, 1, j->len, f);
			fclose(f);
		}
		fatal("cannot read a committed entry", err);
	}
	add_applied(&b, j->index);
	pthread_mutex_lock(&sql_mu);
	writer_run(&b);
	pthread_mutex_unlock(&sql_mu);
	if (b.failed)
		fatal("cannot apply a committed entry", b.error);
	entry_free(&b);
	applied_since_open = true;
	pthread_mutex_lock(&mu);
	applied_index = j->index;
	pthread_mutex_unlock(&mu);
	if (h.node == self && h.nonce == nonce)
		finish(h.batch, NULL);
}

/* Everything committed before this term is in the file: reopen it (the
 * next ids come from what it holds now) and serve. */
static void promote(void)
{
	char err[512];
	if (applied_since_open) {
		pthread_mutex_lock(&sql_mu);
		sql_close();
		if (sql_open(dir, STORE_NORMAL, err, sizeof err) < 0)
			fatal("reopening the store at promotion", err);
		pthread_mutex_unlock(&sql_mu);
		applied_since_open = false;
	}
	sql_recover_redelivered = true;
	pthread_mutex_lock(&mu);
	if (leading)
		set_role(STORE_HERE, NULL);
	pthread_mutex_unlock(&mu);
}

static void *apply_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&mu);
		applying = false;
		if (!jobs)
			pthread_cond_broadcast(&idle_cond);
		while (!jobs)
			pthread_cond_wait(&jobs_cond, &mu);
		struct job *j = jobs;
		jobs = j->next;
		if (!jobs)
			jobs_tail = &jobs;
		applying = true;
		pthread_mutex_unlock(&mu);
		enum job_kind k = j->kind;
		if (k == JOB_ENTRY)
			apply_entry(j);
		else if (k == JOB_PROMOTE)
			promote();
		free(j->data);
		free(j);
		if (k == JOB_STOP)
			return NULL;
	}
}

/* ---- the replication thread: libraft ---- */
static uv_loop_t loop;
static uv_async_t propose_async, stop_async;
static uv_timer_t poll_timer;
static struct raft_uv_transport transport;
static struct raft_io io;
static struct raft_fsm fsm;
static struct raft raft;
static struct raft_barrier barrier_req;
static bool barrier_pending; /* a barrier for this term is on its way */
static bool promote_queued;  /* and committed: the promotion is queued */

struct proposal {
	struct raft_apply req;
	uint64_t batch;
};

static int fsm_apply(struct raft_fsm *f, const struct raft_buffer *buf, void **result)
{
	(void)f;
	struct job *j = new_job(JOB_ENTRY);
	j->index = raft_last_applied(&raft) + 1;
	j->len = buf->len;
	j->data = malloc(buf->len ? buf->len : 1);
	if (!j->data)
		abort();
	memcpy(j->data, buf->base, buf->len);
	push_job(j);
	*result = NULL;
	return 0;
}

/* Until the apply thread has applied every committed entry queued. */
static void wait_applied(void)
{
	pthread_mutex_lock(&mu);
	while (jobs || applying)
		pthread_cond_wait(&idle_cond, &mu);
	pthread_mutex_unlock(&mu);
}

/* Records the index in the file, in a transaction of its own. */
static void mark_applied(uint64_t index)
{
	struct batch b = {0};
	add_applied(&b, index);
	writer_run(&b);
	if (b.failed)
		fatal("recording the applied index", b.error);
	entry_free(&b);
}

/* A snapshot is the file as of raft's last applied index: the index (8
 * bytes, little-endian) and a VACUUM INTO copy. It runs on the replication
 * thread and holds it for the copy (libraft 0.15's synchronous snapshot;
 * cluster.snapshot_threshold keeps it rare). */
static int fsm_snapshot(struct raft_fsm *f, struct raft_buffer *bufs[], unsigned *n)
{
	(void)f;
	wait_applied();
	uint64_t index = raft_last_applied(&raft);
	char path[600];
	snprintf(path, sizeof path, "%s/raft-snapshot.db", dir);
	unlink(path);
	pthread_mutex_lock(&sql_mu);
	int rc = sql_copy_into(path);
	pthread_mutex_unlock(&sql_mu);
	FILE *fp = rc == 0 ? fopen(path, "rb") : NULL;
	if (!fp) {
		fprintf(stderr, "ternd: replication: snapshot: %s\n", rc ? sql_error() : strerror(errno));
		unlink(path);
		return RAFT_IOERR;
	}
	fseek(fp, 0, SEEK_END);
	long size = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	uint8_t *base = raft_malloc((size_t)size + 8);
	*bufs = raft_malloc(sizeof **bufs);
	if (!base || !*bufs || size < 0 || fread(base + 8, 1, (size_t)size, fp) != (size_t)size) {
		fclose(fp);
		unlink(path);
		raft_free(base);
		raft_free(*bufs);
		return RAFT_IOERR;
	}
	fclose(fp);
	unlink(path);
	for (int i = 0; i < 8; i++)
		base[i] = (uint8_t)(index >> (8 * i));
	(*bufs)[0].base = base;
	(*bufs)[0].len = (size_t)size + 8;
	*n = 1;
	return 0;
}

/* Installs a snapshot: the file replaced by the copy, reopened. At start
 * libraft restores the last snapshot too: a file that already holds that
 * index or more is kept (its entries after it are skipped as applied). */
static int fsm_restore(struct raft_fsm *f, struct raft_buffer *buf)
{
	(void)f;
	const uint8_t *p = buf->base;
	if (buf->len < 8)
		return RAFT_MALFORMED;
	uint64_t index = 0;
	for (int i = 0; i < 8; i++)
		index |= (uint64_t)p[i] << (8 * i);
	wait_applied();
	if (index <= applied_index) {
		raft_free(buf->base);
		return 0;
	}
	char tmp[600], db[600], side[620];
	snprintf(tmp, sizeof tmp, "%s/tern.db.restore", dir);
	snprintf(db, sizeof db, "%s/tern.db", dir);
	FILE *fp = fopen(tmp, "wb");
	if (!fp || fwrite(p + 8, 1, buf->len - 8, fp) != buf->len - 8 || fflush(fp) ||
	    fsync(fileno(fp))) {
		if (fp)
			fclose(fp);
		return RAFT_IOERR;
	}
	fclose(fp);
	char err[512];
	pthread_mutex_lock(&sql_mu);
	sql_close();
	snprintf(side, sizeof side, "%s-wal", db);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", db);
	unlink(side);
	if (rename(tmp, db) < 0 || sql_open(dir, STORE_NORMAL, err, sizeof err) < 0)
		fatal("installing a snapshot", errno ? strerror(errno) : err);
	mark_applied(index);
	pthread_mutex_unlock(&sql_mu);
	applied_at_open = index;
	applied_since_open = true;
	pthread_mutex_lock(&mu);
	applied_index = index;
	pthread_mutex_unlock(&mu);
	raft_free(buf->base);
	return 0;
}

static void applied_cb(struct raft_apply *req, int status, void *result)
{
	(void)result;
	struct proposal *p = req->data;
	if (status != 0)
		finish(p->batch, raft_strerror(status));
	/* status 0: the apply thread finishes it once it is in the file */
	free(p);
}

static void propose_cb(uv_async_t *a)
{
	(void)a;
	pthread_mutex_lock(&mu);
	struct batch *b = proposed;
	proposed = NULL;
	bool serving = role == STORE_HERE;
	pthread_mutex_unlock(&mu);
	if (!b)
		return;
	if (!serving || raft_state(&raft) != RAFT_LEADER) {
		finish(b->no, "NOT_LEADER - this node is not the leader");
		return;
	}
	struct raft_buffer buf = {.len = entry_size(b)};
	buf.base = raft_malloc(buf.len);
	struct proposal *p = calloc(1, sizeof *p);
	if (!buf.base || !p)
		abort();
	entry_write(b, self, nonce, buf.base);
	p->req.data = p;
	p->batch = b->no;
	int rv = raft_apply(&raft, &p->req, &buf, 1, applied_cb);
	if (rv != 0) {
		raft_free(buf.base);
		free(p);
		finish(b->no, raft_strerror(rv));
	}
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	(void)req;
	barrier_pending = false;
	if (status == 0) {
		promote_queued = true;
		push_job(new_job(JOB_PROMOTE)); /* behind every committed entry */
	}
}

static const char *amqp_of(unsigned id)
{
	for (unsigned i = 0; i < nmembers; i++)
		if (members[i].id == id)
			return members[i].amqp;
	return NULL;
}

static void update_status(int st, unsigned leader)
{
	static const char *const names[] = {"unavailable", "follower", "candidate", "leader"};
	struct store_status *s = &shown;
	s->cluster = true;
	snprintf(s->name, sizeof s->name, "%s", cluster_name);
	s->self = self;
	s->leader = leader;
	s->state = st >= 0 && st <= 3 ? names[st] : "unavailable";
	s->term = raft.current_term;
	s->last_index = raft_last_index(&raft);
	s->commit_index = raft.commit_index;
	s->applied_index = applied_index;
	s->n = nmembers;
	for (unsigned i = 0; i < nmembers; i++) {
		struct store_member_status *m = &s->m[i];
		m->id = members[i].id;
		snprintf(m->raft, sizeof m->raft, "%s", members[i].raft);
		snprintf(m->amqp, sizeof m->amqp, "%s", members[i].amqp);
		m->leader = m->id == leader;
		m->self = m->id == self;
		m->known = false;
		if (m->self) {
			m->known = true;
			m->match = applied_index;
			m->lag = s->commit_index > applied_index ? s->commit_index - applied_index : 0;
		}
		if (st != RAFT_LEADER || m->self)
			continue;
		for (unsigned k = 0; k < raft.configuration.n; k++) {
			if (raft.configuration.servers[k].id != m->id)
				continue;
			m->known = true;
			m->match = raft.leader_state.progress[k].match_index;
			m->lag = s->last_index > m->match ? s->last_index - m->match : 0;
		}
	}
}

static void poll_cb(uv_timer_t *t)
{
	(void)t;
	int st = raft_state(&raft);
	raft_id lid = 0;
	const char *laddr = NULL;
	raft_leader(&raft, &lid, &laddr);
	pthread_mutex_lock(&mu);
	bool was_leading = leading;
	leading = st == RAFT_LEADER;
	if (leading && !was_leading)
		set_role(STORE_NOWHERE, NULL); /* until the promotion is done */
	else if (!leading && lid && lid != self)
		set_role(STORE_ELSEWHERE, amqp_of((unsigned)lid));
	else if (!leading)
		set_role(STORE_NOWHERE, NULL);
	update_status(st, (unsigned)lid);
	pthread_mutex_unlock(&mu);
	if (!leading)
		promote_queued = false;
	/* A new leader commits a barrier, then promotes; a barrier that
	 * failed while this node still leads is tried again. */
	if (leading && !promote_queued && !barrier_pending) {
		barrier_pending = true;
		if (raft_barrier(&raft, &barrier_req, barrier_cb) != 0)
			barrier_pending = false; /* again at the next poll */
	}
}

static void raft_closed(struct raft *r)
{
	(void)r;
	raft_uv_close(&io);
	replica_transport_close(&transport);
	uv_close((uv_handle_t *)&propose_async, NULL);
	uv_close((uv_handle_t *)&stop_async, NULL);
	uv_close((uv_handle_t *)&poll_timer, NULL);
}

static void stop_cb(uv_async_t *a)
{
	(void)a;
	uv_timer_stop(&poll_timer);
	raft_close(&raft, raft_closed);
}

static void *raft_main(void *arg)
{
	(void)arg;
	uv_run(&loop, UV_RUN_DEFAULT);
	return NULL;
}

/* ---- the calls writer.c makes ---- */

void replica_propose(struct batch *b)
{
	pthread_mutex_lock(&mu);
	proposed = b;
	inflight = b;
	pthread_mutex_unlock(&mu);
	uv_async_send(&propose_async);
}

void replica_poll(void)
{
	pthread_mutex_lock(&mu);
	bool changed = role_changed;
	role_changed = false;
	loop_role = role;
	snprintf(loop_where, sizeof loop_where, "%s", role_where);
	pthread_mutex_unlock(&mu);
	if (changed && role_fn)
		role_fn(loop_role, loop_role == STORE_ELSEWHERE ? loop_where : NULL);
}

bool replica_read_begin(void)
{
	if (!on)
		return true;
	if (loop_role != STORE_HERE)
		return false;
	pthread_mutex_lock(&sql_mu);
	return true;
}

void replica_read_anywhere(void)
{
	if (on)
		pthread_mutex_lock(&sql_mu);
}

void replica_read_end(void)
{
	if (on)
		pthread_mutex_unlock(&sql_mu);
}

enum store_role store_role(const char **where)
{
	if (where)
		*where = on && loop_role == STORE_ELSEWHERE ? loop_where : NULL;
	return on ? loop_role : STORE_HERE;
}

void store_on_role(void (*fn)(enum store_role role, const char *where))
{
	role_fn = fn;
}

void store_status(struct store_status *out)
{
	memset(out, 0, sizeof *out);
	if (!on)
		return;
	pthread_mutex_lock(&mu);
	*out = shown;
	pthread_mutex_unlock(&mu);
	if (!out->state)
		out->state = "unavailable";
}

static void applied_object(void *ctx, const char *key, const char *value)
{
	if (!strcmp(key, "applied"))
		*(uint64_t *)ctx = strtoull(value, NULL, 10);
}

static int start_raft(char *err, size_t errlen)
{
	char rdir[600];
	snprintf(rdir, sizeof rdir, "%s/raft", dir);
	if (mkdir(rdir, 0750) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", rdir, strerror(errno));
		return -1;
	}
	const char *me = NULL;
	for (unsigned i = 0; i < nmembers; i++)
		if (members[i].id == self)
			me = members[i].raft;
	int rv;
	uv_loop_init(&loop);
	if ((rv = replica_transport_init(&transport, &loop, listen_addr)) != 0 ||
	    (rv = raft_uv_init(&io, &loop, rdir, &transport)) != 0) {
		snprintf(err, errlen, "replication in %s: %s %s", rdir, raft_strerror(rv), io.errmsg);
		return -1;
	}
	fsm.version = 1;
	fsm.apply = fsm_apply;
	fsm.snapshot = fsm_snapshot;
	fsm.restore = fsm_restore;
	if ((rv = raft_init(&raft, &io, &fsm, self, me)) != 0) {
		snprintf(err, errlen, "replication: %s", raft_errmsg(&raft));
		return -1;
	}
	/* Every member bootstraps the same configuration; one that has
	 * state already gets RAFT_CANTBOOTSTRAP and goes on. */
	struct raft_configuration conf;
	raft_configuration_init(&conf);
	for (unsigned i = 0; i < nmembers; i++)
		raft_configuration_add(&conf, members[i].id, members[i].raft, RAFT_VOTER);
	rv = raft_bootstrap(&raft, &conf);
	raft_configuration_close(&conf);
	if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
		snprintf(err, errlen, "replication bootstrap: %s", raft_errmsg(&raft));
		return -1;
	}
	raft_set_election_timeout(&raft, election_ms);
	raft_set_heartbeat_timeout(&raft, heartbeat_ms);
	raft_set_snapshot_threshold(&raft, snap_threshold);
	raft_set_snapshot_trailing(&raft, snap_trailing);
	raft_set_pre_vote(&raft, true);
	raft_uv_set_connect_retry_delay(&io, 50);
	if ((rv = raft_start(&raft)) != 0) {
		snprintf(err, errlen, "replication start: %s", raft_errmsg(&raft));
		return -1;
	}
	uv_async_init(&loop, &propose_async, propose_cb);
	uv_async_init(&loop, &stop_async, stop_cb);
	uv_timer_init(&loop, &poll_timer);
	uv_timer_start(&poll_timer, poll_cb, POLL_MS, POLL_MS);
	return 0;
}

int replica_start(const char *data_dir, int fd, char *err, size_t errlen)
{
	snprintf(dir, sizeof dir, "%s", data_dir);
	efd = fd;
	if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce)
		nonce = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	applied_at_open = 0;
	sql_scan_objects("raft", applied_object, &applied_at_open);
	applied_index = applied_at_open;
	applied_since_open = false;
	loop_role = role = STORE_NOWHERE;
	if (start_raft(err, errlen) < 0)
		return -1;
	if (pthread_create(&apply_thread, NULL, apply_main, NULL) != 0 ||
	    pthread_create(&raft_thread, NULL, raft_main, NULL) != 0) {
		snprintf(err, errlen, "replication threads: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void replica_stop(void)
{
	uv_async_send(&stop_async);
	pthread_join(raft_thread, NULL);
	uv_loop_close(&loop);
	push_job(new_job(JOB_STOP));
	pthread_join(apply_thread, NULL);
	pthread_mutex_lock(&mu);
	struct batch *b = inflight;
	inflight = proposed = NULL;
	pthread_mutex_unlock(&mu);
	if (b) {
		b->failed = true;
		snprintf(b->error, sizeof b->error, "replication stopped");
		writer_finished(b);
	}
	loop_role = role = STORE_NOWHERE;
}
