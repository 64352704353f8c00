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
// before the outermost open stage began (J3).
//
// Every value write appends a 20-byte undo record holding the previous
// value's location; Cleanup, RevertToCheckpoint and the stage-0 view walk
// these records. Values are never updated in place (client-go overwrites a
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
// doubling to 4 MiB), so a write allocates nothing per entry beyond amortised
// slice growth. Entries live in one slice indexed by a dense uint32 id; an
// ordered index maps keys to ids. Two index implementations sit behind the
// internal orderedIndex interface — a B-tree and a skip list — and the
// default was chosen by benchmark (see below).
package membuf
