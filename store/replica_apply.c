/* replica_apply.c — the replicated backend's state machine (docs/
 * clustering.md section 4): libraft's fsm callbacks, which run on the
 * replication thread, and the apply thread in the writer thread's place.
 *
 * fsm->apply, on every member, only queues a copy of a committed entry;
 * the apply thread runs its ops through writer_run (the same sql_* calls
 * as a single node) with the entry's index recorded in the same
 * transaction (object "raft"/"applied"), so a restarted member skips what
 * its file already has, and finishes the leader's own batches
 * (replica_finish). A promotion queued behind the committed entries
 * reopens the file (the ids handed out continue from what it now holds)
 * and serves (replica_serve).
 *
 * Snapshots (every cluster.snapshot_threshold entries) are the file
 * itself, copied with VACUUM INTO; a member too far behind for the log the
 * leader kept installs one and replays the rest. */
#include <errno.h>
#include <pthread.h>
#include <raft.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/batch.h"
#include "store/replica.h"
#include "store/replica_apply.h"
#include "store/sqlite.h"

/* The file, between the apply thread and the caller's reads. */
pthread_mutex_t replica_file_mu = PTHREAD_MUTEX_INITIALIZER;
uint64_t replica_applied_index;

/* From replica_apply_init: replica.c's, fixed once started. */
static struct raft *raft;
static const char *dir;
static unsigned self;
static uint64_t nonce;

/* The jobs queue, under replica_mu. */
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static bool applying; /* the apply thread holds a job */

enum job_kind { JOB_ENTRY, JOB_PROMOTE, JOB_STOP };
struct job {
	enum job_kind kind;
	uint64_t index;
	uint8_t *data;
	size_t len;
	struct job *next;
};
static struct job *jobs, **jobs_tail = &jobs;

static void push_job(struct job *j)
{
	pthread_mutex_lock(&replica_mu);
	j->next = NULL;
	*jobs_tail = j;
	jobs_tail = &j->next;
	pthread_cond_signal(&jobs_cond);
	pthread_mutex_unlock(&replica_mu);
}

static struct job *new_job(enum job_kind k)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		abort();
	j->kind = k;
	return j;
}

/* ---- the apply thread ---- */
static pthread_t apply_thread;
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
		pthread_mutex_lock(&replica_mu);
		replica_applied_index = j->index;
		pthread_mutex_unlock(&replica_mu);
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
	pthread_mutex_lock(&replica_file_mu);
	writer_run(&b);
	pthread_mutex_unlock(&replica_file_mu);
	if (b.failed)
		fatal("cannot apply a committed entry", b.error);
	entry_free(&b);
	applied_since_open = true;
	pthread_mutex_lock(&replica_mu);
	replica_applied_index = j->index;
	pthread_mutex_unlock(&replica_mu);
	if (h.node == self && h.nonce == nonce)
		replica_finish(h.batch, NULL);
}

/* Everything committed before this term is in the file: reopen it (the
 * next ids come from what it holds now) and serve. */
static void promote(void)
{
	char err[512];
	if (applied_since_open) {
		pthread_mutex_lock(&replica_file_mu);
		sql_close();
		if (sql_open(dir, STORE_NORMAL, err, sizeof err) < 0)
			fatal("reopening the store at promotion", err);
		pthread_mutex_unlock(&replica_file_mu);
		applied_since_open = false;
	}
	sql_recover_redelivered = true;
	replica_serve();
}

static void *apply_main(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&replica_mu);
		applying = false;
		if (!jobs)
			pthread_cond_broadcast(&idle_cond);
		while (!jobs)
			pthread_cond_wait(&jobs_cond, &replica_mu);
		struct job *j = jobs;
		jobs = j->next;
		if (!jobs)
			jobs_tail = &jobs;
		applying = true;
		pthread_mutex_unlock(&replica_mu);
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

/* ---- libraft's fsm callbacks, on the replication thread ---- */

static int fsm_apply(struct raft_fsm *f, const struct raft_buffer *buf, void **result)
{
	(void)f;
	struct job *j = new_job(JOB_ENTRY);
	j->index = raft_last_applied(raft) + 1;
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
	pthread_mutex_lock(&replica_mu);
	while (jobs || applying)
		pthread_cond_wait(&idle_cond, &replica_mu);
	pthread_mutex_unlock(&replica_mu);
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
	uint64_t index = raft_last_applied(raft);
	char path[600];
	snprintf(path, sizeof path, "%s/raft-snapshot.db", dir);
	unlink(path);
	pthread_mutex_lock(&replica_file_mu);
	int rc = sql_copy_into(path);
	pthread_mutex_unlock(&replica_file_mu);
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
	if (index <= replica_applied_index) {
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
	pthread_mutex_lock(&replica_file_mu);
	sql_close();
	snprintf(side, sizeof side, "%s-wal", db);
	unlink(side);
	snprintf(side, sizeof side, "%s-shm", db);
	unlink(side);
	if (rename(tmp, db) < 0 || sql_open(dir, STORE_NORMAL, err, sizeof err) < 0)
		fatal("installing a snapshot", errno ? strerror(errno) : err);
	mark_applied(index);
	pthread_mutex_unlock(&replica_file_mu);
	applied_at_open = index;
	applied_since_open = true;
	pthread_mutex_lock(&replica_mu);
	replica_applied_index = index;
	pthread_mutex_unlock(&replica_mu);
	raft_free(buf->base);
	return 0;
}

static void applied_object(void *ctx, const char *key, const char *value)
{
	if (!strcmp(key, "applied"))
		*(uint64_t *)ctx = strtoull(value, NULL, 10);
}

void replica_apply_init(struct raft_fsm *fsm, struct raft *r, const char *data_dir, unsigned id,
			uint64_t process_nonce)
{
	raft = r;
	dir = data_dir;
	self = id;
	nonce = process_nonce;
	applied_at_open = 0;
	sql_scan_objects("raft", applied_object, &applied_at_open);
	replica_applied_index = applied_at_open;
	applied_since_open = false;
	fsm->version = 1;
	fsm->apply = fsm_apply;
	fsm->snapshot = fsm_snapshot;
	fsm->restore = fsm_restore;
}

int replica_apply_start(void)
{
	return pthread_create(&apply_thread, NULL, apply_main, NULL);
}

void replica_apply_promote(void)
{
	push_job(new_job(JOB_PROMOTE)); /* behind every committed entry */
}

void replica_apply_stop(void)
{
	push_job(new_job(JOB_STOP));
	pthread_join(apply_thread, NULL);
}
