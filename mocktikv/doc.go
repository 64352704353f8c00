// Package mocktikv is a protocol-faithful, in-memory TiKV cluster for tests:
// a PD and one TiKV per store, speaking kvproto's pdpb.PD and tikvpb.Tikv
// gRPC services on loopback, so the real github.com/tikv/pd/client and the
// real transport can be pointed at it. The same cluster is also reachable
// in-process, without gRPC, through Cluster.PD (a pdclient.PD) and
// Cluster.Sender (a transport.Sender).
//
// The model:
//
//   - Stores 1..N (WithStores), all Up. Every initial region has one peer on
//     every store; the leaders of the initial regions (WithSplitKeys,
//     WithTxnSplitKeys) rotate over the stores so that every store leads
//     some region. Tests change the topology with the control methods
//     (cluster_control.go): stores, peers, learners, merges, labels.
//   - Store, region and peer ids come from one counter, as PD allocates them.
//   - Data is replicated logically: one raw engine and one Percolator MVCC
//     engine (internal/mvcc) serve every store, so followers always have
//     the data and only safe ts (SetSafeTS) limits stale reads.
//   - Regions have epochs. Split bumps Version (TiKV's rule); leadership
//     changes do not touch the epoch. Split follows TiKV's default
//     right_derive_when_split: the original region keeps the right half and
//     its id, and the new region takes the left half.
//
// Every TiKV request has its kvrpcpb.Context checked the way TiKV's raftstore
// checks it (StoreNotMatch, RegionNotFound, MismatchPeerId, NotLeader,
// EpochNotMatch, then key ranges), and failures come back as the response's
// region_error, never as gRPC errors; see region_check.go. The behaviour of
// each command follows TiKV's server source (src/storage/txn/actions and
// commands, src/server/service/kv.rs, raftstore's checks), not a client's
// convenience.
//
// Implemented: RawKV for API v1, v1ttl and v2 (raw_*.go); the transactional
// commands with lock waiting and deadlock detection (txn_*.go,
// internal/mvcc, internal/lockwait); BroadcastTxnStatus into the
// transaction status cache (txn_status_broadcast.go); SplitRegion,
// GetStoreSafeTS;
// debugpb.Debug's GetRegionProperties (debug_service.go);
// GetHealthFeedback and the health feedback TiKV attaches to BatchCommands
// responses, with a slow score tests set (health_feedback.go); PD's
// regions, stores, TSO, GC states (unified and, for keyspaces made with
// WithKeyspaceLevelGC, keyspace-level: pd_gc_keyspace.go), keyspaces,
// split/scatter, the min resolved ts the stores report
// (pd_min_resolved_ts.go, served in process and over PD's HTTP API), and
// the resource manager's groups and RU token buckets (pd_*.go).
// Other clients can use the served cluster unmodified: PD's address also
// serves etcd's v3 KV and Cluster services (pd_etcd_*.go: client-go syncs
// etcd members and reads safe points there) and PD's HTTP API
// (pd_http.go), and each store's port serves TiKV's status API
// (store_status.go) as its status address; serve_mux.go puts gRPC and
// HTTP on one port.
// Commands not implemented answer codes.Unimplemented, as TiKV does for
// unknown methods; on a BatchCommands stream each sub-request is answered
// on its own, as TiKV does (batch_commands.go). Faults are scripted per
// command, store, region or key with Inject (faults.go), replacing
// client-go's global failpoints.
//
// The in-process Sender fails exactly as tikvgo's gRPC transport does
// against the served cluster: the same gRPC status and the same
// transport.ErrNotSent-or-not for a stopped store, a store stopped with
// the request in flight, a lost response, a delay past the caller's
// deadline and an injected transport error (inprocess_errors.go,
// TestFaultClassification), so a client bug cannot hide behind the mock.
package mocktikv
