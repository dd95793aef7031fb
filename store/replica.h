/* replica.h — the replicated backend's calls for writer.c (internal to
 * store/). replica.c runs libraft on a thread of its own, and
 * replica_apply.c applies committed entries on an apply thread (the
 * writer thread's role); replica_entry.c turns a batch into a log entry
 * and back; replica_transport.c is libraft's TCP transport with
 * TCP_NODELAY. */
#ifndef TERN_STORE_REPLICA_H
#define TERN_STORE_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct batch;

/* True once store_cluster() configured a cluster (before store_open). */
bool replica_on(void);
/* After sql_open: starts the replication and apply threads; finished
 * batches and role changes are signalled on efd. 0 or -1 with err. */
int replica_start(const char *dir, int efd, char *err, size_t errlen);
void replica_stop(void);
/* Hands a batch over: writer_finished(b) once its entry is committed and
 * applied here (ok), or failed (not the leader, leadership lost). */
void replica_propose(struct batch *b);
/* On the caller's thread, from store_poll: reports a role change. */
void replica_poll(void);
/* Around a read of the file on the caller's thread: false (no read) on a
 * node that is not the leader, whose file the apply thread owns. */
bool replica_read_begin(void);
/* The same lock on any node, for a read a follower may make too (the
 * objects: its copy of the control plane); replica_read_end releases it. */
void replica_read_anywhere(void);
void replica_read_end(void);

/* ---- replica_entry.c: the log entry format ----
 * A version byte, then who proposed it (node id and a random number of
 * that process, so a leader knows its own entries), the batch's number,
 * and its live ops with their strings. Versioned so that nodes of
 * different versions refuse each other's entries instead of misapplying. */
#define ENTRY_VERSION 1
struct entry_header {
	uint8_t version;
	uint16_t node;
	uint64_t nonce, batch;
	uint32_t nops;
};
size_t entry_size(const struct batch *b);
/* Writes the entry of b into buf (entry_size bytes). */
void entry_write(const struct batch *b, unsigned node, uint64_t nonce, uint8_t *buf);
/* Reads an entry into out (ops and data allocated; entry_free). 0, or -1
 * with err (not an entry of this version). */
int entry_read(const uint8_t *buf, size_t len, struct entry_header *h, struct batch *out,
	       char *err, size_t errlen);
void entry_free(struct batch *b);

/* ---- replica_transport.c ---- */
struct raft_uv_transport;
struct uv_loop_s;
/* libraft's TCP transport, wrapped so that every stream has TCP_NODELAY
 * (libraft 0.15 leaves Nagle on: ~40 ms stalls with entries in flight). */
int replica_transport_init(struct raft_uv_transport *t, struct uv_loop_s *loop, const char *bind);
void replica_transport_close(struct raft_uv_transport *t);

#endif
