/* replica.c — the replicated backend behind store.h (docs/clustering.md
 * section 4): libraft 0.15 on a replication thread of its own (its libuv
 * loop), and an apply thread in the writer thread's place.
 *
 * A batch the caller hands over (store_submit -> replica_propose) becomes
 * one log entry (replica_entry.c) proposed by the replication thread. When
 * an entry is committed, libraft's fsm->apply, on every member, only queues
 * a copy for the apply thread (replica_apply.c), which runs its ops
 * through writer_run (the same sql_* calls as a single node) with the
 * entry's index recorded in the same transaction (object "raft"/"applied"),
 * so a restarted member skips what its file already has. On the leader,
 * the batch whose entry that is is then reported done: a confirm means committed on a majority
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
 * itself, copied with VACUUM INTO (replica_apply.c). This file is
 * libraft's side: the configuration, the replication thread, the roles,
 * and the calls writer.c makes. */
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
#include "store/replica_apply.h"
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

/* ---- state shared by the threads, under replica_mu ---- */
pthread_mutex_t replica_mu = PTHREAD_MUTEX_INITIALIZER;
static struct batch *proposed; /* handed over, not yet proposed */
static struct batch *inflight; /* proposed or applying, not yet finished */
static enum store_role role = STORE_NOWHERE; /* as the threads see it */
static char role_where[64];
static bool role_changed, leading; /* leading: libraft says leader here */
static struct store_status shown; /* store_status()'s copy */

/* The caller's side. */
static enum store_role loop_role = STORE_NOWHERE;
static char loop_where[64];
static void (*role_fn)(enum store_role, const char *);
static int efd = -1;

static void wake_caller(void)
{
	uint64_t one = 1;
	ssize_t w = write(efd, &one, sizeof one);
	(void)w;
}

/* Under replica_mu. */
static void set_role(enum store_role r, const char *where)
{
	if (r == role && !strcmp(role_where, where ? where : ""))
		return;
	role = r;
	snprintf(role_where, sizeof role_where, "%s", where ? where : "");
	role_changed = true;
	wake_caller();
}

/* Finishes the in-flight batch numbered no (when it still is). */
void replica_finish(uint64_t no, const char *error)
{
	pthread_mutex_lock(&replica_mu);
	struct batch *b = inflight && inflight->no == no ? inflight : NULL;
	if (b)
		inflight = NULL;
	pthread_mutex_unlock(&replica_mu);
	if (!b)
		return;
	if (error) {
		b->failed = true;
		snprintf(b->error, sizeof b->error, "%s", error);
	}
	writer_finished(b);
}

/* After a promotion (replica_apply.c). */
void replica_serve(void)
{
	pthread_mutex_lock(&replica_mu);
	if (leading)
		set_role(STORE_HERE, NULL);
	pthread_mutex_unlock(&replica_mu);
}

/* ---- the replication thread: libraft ---- */
static pthread_t raft_thread;
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
static void applied_cb(struct raft_apply *req, int status, void *result)
{
	(void)result;
	struct proposal *p = req->data;
	if (status != 0)
		replica_finish(p->batch, raft_strerror(status));
	/* status 0: the apply thread finishes it once it is in the file */
	free(p);
}

static void propose_cb(uv_async_t *a)
{
	(void)a;
	pthread_mutex_lock(&replica_mu);
	struct batch *b = proposed;
	proposed = NULL;
	bool serving = role == STORE_HERE;
	pthread_mutex_unlock(&replica_mu);
	if (!b)
		return;
	if (!serving || raft_state(&raft) != RAFT_LEADER) {
		replica_finish(b->no, "NOT_LEADER - this node is not the leader");
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
		replica_finish(b->no, raft_strerror(rv));
	}
}

static void barrier_cb(struct raft_barrier *req, int status)
{
	(void)req;
	barrier_pending = false;
	if (status == 0) {
		promote_queued = true;
		replica_apply_promote();
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
	s->applied_index = replica_applied_index;
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
			m->match = s->applied_index;
			m->lag = s->commit_index > s->applied_index
					 ? s->commit_index - s->applied_index
					 : 0;
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
	pthread_mutex_lock(&replica_mu);
	bool was_leading = leading;
	leading = st == RAFT_LEADER;
	if (leading && !was_leading)
		set_role(STORE_NOWHERE, NULL); /* until the promotion is done */
	else if (!leading && lid && lid != self)
		set_role(STORE_ELSEWHERE, amqp_of((unsigned)lid));
	else if (!leading)
		set_role(STORE_NOWHERE, NULL);
	update_status(st, (unsigned)lid);
	pthread_mutex_unlock(&replica_mu);
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
	pthread_mutex_lock(&replica_mu);
	proposed = b;
	inflight = b;
	pthread_mutex_unlock(&replica_mu);
	uv_async_send(&propose_async);
}

void replica_poll(void)
{
	pthread_mutex_lock(&replica_mu);
	bool changed = role_changed;
	role_changed = false;
	loop_role = role;
	snprintf(loop_where, sizeof loop_where, "%s", role_where);
	pthread_mutex_unlock(&replica_mu);
	if (changed && role_fn)
		role_fn(loop_role, loop_role == STORE_ELSEWHERE ? loop_where : NULL);
}

bool replica_read_begin(void)
{
	if (!on)
		return true;
	if (loop_role != STORE_HERE)
		return false;
	pthread_mutex_lock(&replica_file_mu);
	return true;
}

void replica_read_anywhere(void)
{
	if (on)
		pthread_mutex_lock(&replica_file_mu);
}

void replica_read_end(void)
{
	if (on)
		pthread_mutex_unlock(&replica_file_mu);
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
	pthread_mutex_lock(&replica_mu);
	*out = shown;
	pthread_mutex_unlock(&replica_mu);
	if (!out->state)
		out->state = "unavailable";
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
	/* Before raft_start, which may restore a snapshot. */
	replica_apply_init(&fsm, &raft, dir, self, nonce);
	loop_role = role = STORE_NOWHERE;
	if (start_raft(err, errlen) < 0)
		return -1;
	/* pthread_create returns its error; it does not set errno. */
	int rc = replica_apply_start();
	if (rc == 0)
		rc = pthread_create(&raft_thread, NULL, raft_main, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "replication threads: %s", strerror(rc));
		return -1;
	}
	return 0;
}

void replica_stop(void)
{
	uv_async_send(&stop_async);
	pthread_join(raft_thread, NULL);
	uv_loop_close(&loop);
	replica_apply_stop();
	pthread_mutex_lock(&replica_mu);
	struct batch *b = inflight;
	inflight = proposed = NULL;
	pthread_mutex_unlock(&replica_mu);
	if (b) {
		b->failed = true;
		snprintf(b->error, sizeof b->error, "replication stopped");
		writer_finished(b);
	}
	loop_role = role = STORE_NOWHERE;
}
