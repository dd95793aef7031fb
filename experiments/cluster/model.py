#!/usr/bin/python3
"""model.py — a back-of-envelope model of Tern's confirmed persistent
throughput (S3-like: 16 B messages, confirms, one durable queue per
publisher) for the three designs in docs/clustering.md. Not a simulation of
Raft: a cost model whose inputs are this machine's measured figures (the
defaults below, from docs/benchmarks.md and results/*.txt) plus a few
assumed ratios, each named, so that a better measurement replaces a guess.

  step 1  one Raft group for the whole broker, the leader serves every
          client: cluster throughput = one node's, less the replication
          work the leader does, capped by what the log can commit
  step 2  one Raft group per queue (replication factor R), leaders spread
          evenly over N nodes, a publish reaching a node that does not lead
          its queue is forwarded there (as RabbitMQ's quorum queues)
  loops   one machine, L event loops, queues owned by loops, a publish
          for another loop's queue handed over through a queue between
          threads; one store (SQLite file) per loop

Usage: model.py [--single MSG_S] [--raft MSG_S] [--cores N]
"""
import argparse

p = argparse.ArgumentParser()
p.add_argument("--single", type=float, default=110_000,
               help="single-node S3 confirmed msg/s on one core (docs/benchmarks.md)")
p.add_argument("--raft", type=float, default=600_000,
               help="16 B msg/s libraft commits with a turn packed into one entry "
                    "(results/raft_bench.txt, batch 1024, 3 nodes on one 2-core box)")
p.add_argument("--follower", type=float, default=0.35,
               help="ASSUMED: a follower's work per message (log append + SQLite apply) "
                    "as a fraction of the leader's whole per-message work")
p.add_argument("--leader-extra", type=float, default=0.15,
               help="ASSUMED: extra leader work per message for Raft (encode, send to "
                    "R-1 peers, track acks), fraction of the single-node work")
p.add_argument("--forward", type=float, default=0.5,
               help="ASSUMED: work on the node a client is connected to for forwarding "
                    "one message to (or from) another node, fraction of single-node work")
p.add_argument("--handoff", type=float, default=0.1,
               help="ASSUMED: cost of handing one message to another loop on the same "
                    "machine (a ring between threads), fraction of single-node work")
p.add_argument("--cores", type=int, default=8, help="cores per machine for the loops model")
p.add_argument("--r", type=int, default=3, help="replication factor (group size)")
a = p.parse_args()

w = 1.0 / a.single  # seconds of one core per confirmed message on one node

print("inputs: single node %.0f msg/s, raft log %.0f msg/s, follower %.2f, leader extra %.2f,"
      " forward %.2f, handoff %.2f, R=%d" % (a.single, a.raft, a.follower, a.leader_extra,
                                             a.forward, a.handoff, a.r))
print()
print("step 1: one group, the leader serves (each node on its own machine)")
print("  nodes  confirmed msg/s  vs single  limited by")
for n in (1, 3, 5):
    if n == 1:
        t, lim = a.single, "the one loop"
    else:
        leader = 1.0 / (w * (1 + a.leader_extra * (n - 1) / 2))
        t = min(leader, a.raft)
        lim = "leader's loop" if leader < a.raft else "log commit rate"
    print("  %5d  %15.0f  %8.2fx  %s" % (n, t, t / a.single, lim))

print()
print("step 2: one group per queue, R=%d, leaders spread, clients on random nodes" % a.r)
print("  nodes  confirmed msg/s  vs single  per-message work (x single)")
for n in (1, 3, 5, 7, 9, 15):
    r = min(a.r, n)
    fwd = (n - 1) / n  # chance the publisher's node is not the queue's leader
    # publish forwarded in, delivery forwarded out to a consumer elsewhere
    work = w * (1 + (a.leader_extra if r > 1 else 0) + (r - 1) * a.follower
                + 2 * fwd * a.forward)
    t = n / work
    print("  %5d  %15.0f  %8.2fx  %.2f" % (n, t, t / a.single, work / w))

print()
print("loops: one machine, %d cores, L loops, queues owned by loops, one store per loop" % a.cores)
print("  loops  confirmed msg/s  vs one loop")
for l in (1, 2, 4, 8, 16):
    busy = min(l, a.cores)
    cross = (l - 1) / l  # a publish arrives on a random loop
    work = w * (1 + cross * a.handoff)
    # beyond the cores, more loops add only handoffs
    t = busy / work
    print("  %5d  %15.0f  %8.2fx" % (l, t, t / a.single))
