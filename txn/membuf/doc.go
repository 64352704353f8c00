// Package membuf is the membuffer of a transaction: the ordered in-memory
// buffer of the writes a transaction has made but not yet committed
// (client-go's internal/unionstore MemDB, inventory rows J1–J5).
//
// # What it holds
//
// For each key the buffer holds a value slot and Flags. The slot is one of
// three Kinds: KindPut (a value, possibly empty), KindDelete (a tombstone)
// or KindNone (no value: the key carries flags only, e.g. a pessimistic lock
// on a key the transaction never wrote). Get reports the kind, so a reader
// knows whether to answer from the buffer, answer "not found", or go to the
// snapshot.
//
// Tombstones vs empty values: client-go does not distinguish them. Its
// memdb stores a delete as an empty value (unionstore.IsTombstone is
// len(v) == 0) and refuses to Set an empty value (ErrCannotSetNilValue),
// because TiDB never writes one. This package keeps them apart: the slot
// records a tombstone by a reserved marker, and Set(key, []byte{}) buffers
// an empty value that reads back as KindPut. A committer maps KindPut to a
// Put mutation and KindDelete to a Del mutation, whatever the value length.
//
// Len and Size follow client-go: Len counts every buffered key (values,
// tombstones, flags-only keys); Size is the sum of key plus value bytes.
//
// # Stages
//
// Staging opens a nested savepoint; Release keeps its writes, Cleanup rolls
// them back. Checkpoint / RevertToCheckpoint roll back to an arbitrary point
// inside the innermost stage. Values are rolled back, flags are not (except
// that a key whose value reverts to "none" keeps only its persistent flags,
// and disappears when none remain) — client-go's rules, see Cleanup.
// SnapshotGet and SnapshotIter read the stage-0 view: the buffer as it was
// before the outermost open stage began (J3). InspectStage lists what a
// stage wrote; Dirty says whether anything a commit must send was written.
//
// A value write made while a stage is open (or after the first Checkpoint)
// appends a 20-byte undo record holding the previous value's location;
// Cleanup, RevertToCheckpoint, InspectStage and the stage-0 view walk these
// records. A write that nothing can roll back is not recorded. Values are
// never updated in place (client-go overwrites a
// same-length value in place when no stage protects it), so history is
// always exact; the cost is that overwriting a key keeps the old bytes in
// the arena until Reset.
//
// # Iteration
//
// Iter/IterReverse return an Iterator (Valid/Key/Value/Kind/Flags/Next/Err);
// Entries is an iter.Seq2 walk including flags-only keys, for the committer;
// Union/UnionReverse merge the buffer over a snapshot scan given as an
// iter.Seq2[kv.KeyValue, error] (J5). Any write to the buffer during an
// iteration ends it with ErrIteratorInvalidated (client-go panics); the
// buffer is never affected.
//
// # Data structure
//
// Keys and values are copied into append-only arenas (chunks of 4 KiB
// doubling to 4 MiB), so a write allocates nothing per entry beyond
// amortised slice growth and the index's node splits. Entries (32 bytes:
// key and value locations, undo chain, flags) live in one slice indexed by
// a dense uint32 id; an ordered index maps keys to ids. Two index implementations sit behind the
// internal orderedIndex interface — a B-tree and a skip list — and the
// default was chosen by benchmark.
//
// # Benchmarks
//
// go test -run XXX -bench . -benchmem -count=3 ./txn/membuf/ on a shared
// 2-core VM (Oxide Virtual Turin-like, load average 2–5 during the runs);
// ranges are min–max of the 3 runs, per key. The Get and Iterate rows come
// from the run before the last Set-path change (undo records only when
// revertible), which does not touch their code. Keys are 19-byte TiDB
// row-shaped keys (common 11-byte prefix + 8-byte handle), values 16 bytes,
// inserted in ascending ("seq") or shuffled ("rand") order. Set fills a
// fresh buffer; heap-B/key is the live heap the filled buffer retains
// (arenas, tables and index), B/key and allocs/key what the fill allocated
// in total (slice growth included). Get looks up every key in insertion
// order; Iterate walks the whole buffer forward.
//
//	                      B-tree (default)              skip list
//	Set  seq   10k    268–397 ns, 120 heap-B       590–618 ns,   99 heap-B
//	Set  rand  10k    405–601 ns, 110 heap-B       725–774 ns,   99 heap-B
//	Set  seq    1M    424–3053 ns, 105 heap-B      422–1332 ns,  84 heap-B
//	Set  rand   1M   1729–3599 ns,  95 heap-B     6304–7157 ns,  84 heap-B
//	  (allocated: B-tree 207–233 B and 0.05–0.07 allocs per key; skip list
//	  231–267 B and ≤0.010 allocs per key; the B-tree seq-1M range joins two
//	  3-run sets, the first on a loaded machine, the second 424–1158 ns)
//	Get  seq   10k    113–115 ns                   197–241 ns
//	Get  rand  10k    197–210 ns                   349–375 ns
//	Get  seq    1M    146–199 ns                   328–343 ns
//	Get  rand   1M   1777–3473 ns                 6713–7741 ns
//	Iter seq   10k     11–14 ns                      9–15 ns
//	Iter rand  10k     11–14 ns                     11–16 ns
//	Iter seq    1M     15–23 ns                      9 ns
//	Iter rand   1M    111–120 ns                   277–418 ns
//
// The B-tree is the default: Set is 1.2–2x faster at 10k keys and 2–4x
// faster for 1M random keys (sequential 1M is within the noise), Get is
// 1.7–4x faster everywhere, and iterating keys inserted in random order is
// 2.5–3.5x faster; it costs 11–21 more retained bytes per key (12–25%: its
// half-full nodes) and about one allocation per 15–20 keys (node splits).
// The skip list wins only at walking keys inserted in order (9 vs 15–23 ns
// at 1M). It is kept, unexported, as the second candidate the tests run
// against. Random access
// to 1M keys is dominated by cache misses on key bytes (about 24 key
// comparisons per lookup); client-go's ART, which compares one byte per
// level, is the known better structure there if that size matters.
package membuf
