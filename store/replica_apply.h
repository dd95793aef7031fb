/* replica_apply.h — between the two halves of the replicated backend
 * (internal to store/): replica.c (the configuration, libraft on the
 * replication thread, the roles, the calls writer.c makes) and
 * replica_apply.c (the state machine: libraft's fsm callbacks, the apply
 * thread, snapshots). */
#ifndef TERN_STORE_REPLICA_APPLY_H
#define TERN_STORE_REPLICA_APPLY_H

#include <pthread.h>
#include <stdint.h>

struct raft;
struct raft_fsm;

/* ---- replica.c, for replica_apply.c ---- */

/* Guards what the threads share: the jobs queue, the in-flight batch,
 * the role, the status and replica_applied_index. */
extern pthread_mutex_t replica_mu;
/* Finishes the in-flight batch numbered no, when it still is: done, or
 * failed with error (not under replica_mu). */
void replica_finish(uint64_t no, const char *error);
/* After a promotion: HERE, if libraft still says this node leads (not
 * under replica_mu). */
void replica_serve(void);

/* ---- replica_apply.c, for replica.c ---- */

/* The file, between the apply thread and the caller's reads. */
extern pthread_mutex_t replica_file_mu;
/* The last entry in the file (under replica_mu). */
extern uint64_t replica_applied_index;
/* Before raft_init: reads the index the file has applied and fills fsm's
 * callbacks (raft: libraft's instance; the rest of the member's identity,
 * fixed once started). */
void replica_apply_init(struct raft_fsm *fsm, struct raft *raft, const char *dir, unsigned self,
			uint64_t nonce);
/* Starts the apply thread: 0 or pthread_create's error. */
int replica_apply_start(void);
/* Queues a promotion behind every committed entry queued so far. */
void replica_apply_promote(void);
/* Stops the apply thread once it has run what is queued. */
void replica_apply_stop(void);

#endif
