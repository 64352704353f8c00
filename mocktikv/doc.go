// Package mocktikv is a protocol-faithful, in-memory TiKV cluster for tests:
// a PD and one TiKV per store, speaking kvproto's pdpb.PD and tikvpb.Tikv
// gRPC services on loopback, so the real github.com/tikv/pd/client and the
// real transport can be pointed at it. The same cluster is also reachable
// in-process, without gRPC, through Cluster.PD (a pdclient.PD) and
// Cluster.Sender (a transport.Sender).
//
// The model:
//
//   - Stores 1..N (WithStores), all Up. Every region has one peer on every
//     store; the leaders of the initial regions (WithSplitKeys) rotate over
//     the stores so that every store leads some region.
//   - Store, region and peer ids come from one counter, as PD allocates them.
//   - Data is replicated logically: there is one raw engine for the whole
//     cluster, with the column families default, lock and write.
//   - Regions have epochs. Split bumps Version (TiKV's rule); leadership
//     changes do not touch the epoch. Split follows TiKV's default
//     right_derive_when_split: the original region keeps the right half and
//     its id, and the new region takes the left half.
//
// Every TiKV request has its kvrpcpb.Context checked the way TiKV's raftstore
// checks it (StoreNotMatch, RegionNotFound, MismatchPeerId, NotLeader,
// EpochNotMatch, then key ranges), and failures come back as the response's
// region_error, never as gRPC errors; see region_check.go. The behaviour of
// each command follows TiKV's server (reference/tikv-server-semantics.md),
// not a client's convenience.
//
// This version implements the raw commands and the PD calls the real PD
// client needs; transactional commands answer codes.Unimplemented.
package mocktikv
