// Package mvcc is mocktikv's Percolator engine: TiKV's lock / write /
// default column families over user keys, and the semantics of every
// transactional command, read from TiKV's src/storage/txn/actions and
// src/storage/txn/commands. It is pure and region-agnostic: callers check
// regions and pass region bounds (in stored, memcomparable form) to the
// commands that scan.
//
// Commands take kvrpcpb requests and return kvrpcpb responses without a
// region error, so a handler is a region check plus one call.
package mvcc

import (
	"bytes"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/codec"
)

// shortValueMaxLen is TiKV's SHORT_VALUE_MAX_LEN
// (components/txn_types/src/types.rs): longer values go to the default CF.
const shortValueMaxLen = 255

// maxKeySize is TiKV's storage.max-key-size default, compared with the
// encoded key (check_key_size!).
const maxKeySize = 8192

// Lock is one lock-CF record (components/txn_types/src/lock.rs). Type is
// Op_Put, Op_Del, Op_Lock or Op_PessimisticLock. The Store owns the locks it
// returns: callers must not modify them.
type Lock struct {
	Type        kvrpcpb.Op
	Primary     []byte
	StartTS     uint64
	TTL         uint64 // ms, counted from StartTS's physical time
	ShortValue  []byte // Put with a value of at most 255 bytes
	ForUpdateTS uint64 // non-zero in pessimistic transactions
	TxnSize     uint64
	MinCommitTS uint64
	// UseAsyncCommit marks every lock of an async-commit transaction; only
	// the primary's carries Secondaries.
	UseAsyncCommit bool
	Secondaries    [][]byte
	// RollbackTS lists start timestamps of other transactions rolled back
	// on this key while it was locked (mark_rollback_on_mismatching_lock);
	// a commit at one of them sets has_overlapped_rollback.
	RollbackTS []uint64
	// Generation is the pipelined-DML flush generation (0 otherwise).
	Generation uint64
	// IsLockedWithConflict marks a pessimistic lock acquired in force-lock
	// mode over a newer write.
	IsLockedWithConflict bool
	// LastChange is the commit ts of the key's newest data version when
	// the lock was written (informational, as TiKV's last_change).
	LastChange uint64
}

// Info converts the lock to the LockInfo TiKV reports for key
// (Lock::into_lock_info). duration_to_last_update_ms, shared_lock_infos and
// is_txn_file are never filled by this conversion.
func (l *Lock) Info(key []byte) *kvrpcpb.LockInfo {
	return &kvrpcpb.LockInfo{
		PrimaryLock:     bytes.Clone(l.Primary),
		LockVersion:     l.StartTS,
		Key:             bytes.Clone(key),
		LockTtl:         l.TTL,
		TxnSize:         l.TxnSize,
		LockType:        l.Type,
		LockForUpdateTs: l.ForUpdateTS,
		UseAsyncCommit:  l.UseAsyncCommit,
		MinCommitTs:     l.MinCommitTS,
		Secondaries:     cloneKeys(l.Secondaries),
	}
}

func (l *Lock) clone() *Lock {
	c := *l
	c.Secondaries = cloneKeys(l.Secondaries)
	c.RollbackTS = slices.Clone(l.RollbackTS)
	return &c
}

// expired is TiKV's TTL rule (check_txn_status.rs, cleanup.rs): a lock has
// expired iff lock.ts.physical() + ttl < current_ts.physical(), strictly.
func (l *Lock) expired(currentTS uint64) bool {
	return physical(l.StartTS)+l.TTL < physical(currentTS)
}

// WriteType is the kind of a write-CF record.
type WriteType uint8

// The write record kinds (components/txn_types/src/write.rs).
const (
	WritePut WriteType = iota
	WriteDelete
	WriteLock
	WriteRollback
)

// op is the kvrpcpb.Op MvccWrite reports for the type.
func (t WriteType) op() kvrpcpb.Op {
	switch t {
	case WritePut:
		return kvrpcpb.Op_Put
	case WriteDelete:
		return kvrpcpb.Op_Del
	case WriteLock:
		return kvrpcpb.Op_Lock
	}
	return kvrpcpb.Op_Rollback
}

// writeTypeOf is WriteType::from_lock_type; a pessimistic lock never
// becomes a write.
func writeTypeOf(lockType kvrpcpb.Op) (WriteType, bool) {
	switch lockType {
	case kvrpcpb.Op_Put:
		return WritePut, true
	case kvrpcpb.Op_Del:
		return WriteDelete, true
	case kvrpcpb.Op_Lock:
		return WriteLock, true
	}
	return 0, false
}

// protectedRollbackMark is the short value of a protected rollback
// (Write::new_rollback(ts, true)).
var protectedRollbackMark = []byte{'p'}

// Write is one write-CF record at (key, CommitTS); a rollback's CommitTS is
// its transaction's start ts.
type Write struct {
	Type       WriteType
	StartTS    uint64
	CommitTS   uint64
	ShortValue []byte
	// HasOverlappedRollback: a rollback of the transaction whose start ts
	// equals this record's CommitTS was folded into it.
	HasOverlappedRollback bool
	// HasGCFence and GCFence are TiKV's Option<gc_fence>.
	HasGCFence bool
	GCFence    uint64
	LastChange uint64
}

// Protected reports whether a Rollback record may never be collapsed.
func (w *Write) Protected() bool {
	return w.Type == WriteRollback && bytes.Equal(w.ShortValue, protectedRollbackMark)
}

// rolledBackAt reports whether the record says its key's transaction with
// start ts == w.CommitTS was rolled back.
func (w *Write) rolledBackAt() bool {
	return w.Type == WriteRollback || w.HasOverlappedRollback
}

// gcFenced is check_gc_fence_as_latest_version failing: the version was
// garbage-collected as of readTS.
func (w *Write) gcFenced(readTS uint64) bool {
	return w.HasGCFence && w.GCFence != 0 && w.GCFence <= readTS
}

// entry holds one user key's records in all three column families.
type entry struct {
	raw, enc []byte
	lock     *Lock
	shared   *sharedLocks      // instead of lock: a SharedLocks container (shared.go)
	writes   []*Write          // newest (largest CommitTS) first
	values   map[uint64][]byte // default CF: start ts -> long value
}

func (e *entry) empty() bool {
	return e.lock == nil && e.shared == nil && len(e.writes) == 0 && len(e.values) == 0
}

// seekWrite returns the index of the newest write with CommitTS <= ts, or
// len(writes).
func (e *entry) seekWrite(ts uint64) int {
	return sort.Search(len(e.writes), func(i int) bool { return e.writes[i].CommitTS <= ts })
}

func (e *entry) newestWrite() *Write {
	if e == nil || len(e.writes) == 0 {
		return nil
	}
	return e.writes[0]
}

// value returns the value of a Put record or lock started at startTS.
func (e *entry) value(startTS uint64, short []byte) []byte {
	if v, ok := e.values[startTS]; ok {
		return bytes.Clone(v)
	}
	return append([]byte{}, short...)
}

// LockReleasedFunc is called after a command removed a lock: startTS is the
// lock's transaction, commitTS its commit ts, 0 when it was rolled back.
type LockReleasedFunc func(key []byte, startTS, commitTS uint64)

// LockAcquiredFunc is called when a command wrote a lock on a key that had
// none; lock is its LockInfo, Key set.
type LockAcquiredFunc func(lock *kvrpcpb.LockInfo)

// Options configures a Store.
type Options struct {
	// OnLockReleased, if set, is called for every lock a command removes
	// (commit, rollback, resolve, pessimistic rollback, 1PC replacing a
	// pessimistic lock, TTL-expiry rollbacks, DeleteRange), after the
	// command's writes are visible and without any Store lock held, so it
	// may call back into the Store. It is how lock waiters are woken.
	OnLockReleased LockReleasedFunc
	// OnLockAcquired, if set, is called for every lock a command writes on
	// a key that had no lock (TiKV's MvccTxn new_locks, which the scheduler
	// hands to LockWaitQueues::update_lock_wait): by pessimistic locking,
	// prewrite and flush. It runs while the Store's write lock is still
	// held, right after the command's writes became visible, so lock
	// waiters learn of the new holder before anyone can release it; it must
	// not block nor call into the Store.
	OnLockAcquired LockAcquiredFunc
}

// Store is the engine: one logical TiKV storage shared by every store of
// a mock cluster. Every method is safe for concurrent use and atomic: a
// command sees a snapshot and its writes become visible together, as a
// TiKV scheduler command under latches.
type Store struct {
	opts Options
	// maxTS is the concurrency manager's max_ts
	// (components/concurrency_manager): the largest read ts seen.
	maxTS atomic.Uint64

	mu    sync.RWMutex
	byKey map[string]*entry
	// txnStatus is the committed-transaction cache (txn_status_cache.go).
	txnStatus txnStatusCache
	sorted    []*entry // by enc, which orders as raw does
	pending   []*entry // created by the running command, not yet in sorted
}

// New returns an empty Store.
func New(opts Options) *Store {
	return &Store{opts: opts, byKey: make(map[string]*entry), txnStatus: newTxnStatusCache(txnStatusCacheCapacity)}
}

// MaxTS returns the store's max_ts.
func (s *Store) MaxTS() uint64 { return s.maxTS.Load() }

// UpdateMaxTS is ConcurrencyManager::update_max_ts: max_ts only grows, and
// u64::MAX is ignored.
func (s *Store) UpdateMaxTS(ts uint64) {
	if ts == maxU64 {
		return
	}
	for {
		cur := s.maxTS.Load()
		if ts <= cur || s.maxTS.CompareAndSwap(cur, ts) {
			return
		}
	}
}

const maxU64 = ^uint64(0)

// physical is a timestamp's physical part in ms.
func physical(ts uint64) uint64 { return ts >> 18 }

func (s *Store) lookup(key []byte) *entry { return s.byKey[string(key)] }

// ensureLocked returns key's entry, creating it (and queueing it for the
// ordered index) if needed. The caller holds mu for writing.
func (s *Store) ensureLocked(key []byte) *entry {
	if e := s.byKey[string(key)]; e != nil {
		return e
	}
	e := &entry{raw: bytes.Clone(key), enc: codec.EncodeBytes(nil, key)}
	s.byKey[string(key)] = e
	s.pending = append(s.pending, e)
	return e
}

// flushPendingLocked merges newly created entries into the ordered index in
// one pass, so a batch of n new keys costs O((n+m) log n), not O(n*m).
func (s *Store) flushPendingLocked() {
	if len(s.pending) == 0 {
		return
	}
	p := s.pending
	s.pending = nil
	if len(p) == 1 {
		i := s.searchLocked(p[0].enc)
		s.sorted = slices.Insert(s.sorted, i, p[0])
		return
	}
	slices.SortFunc(p, func(a, b *entry) int { return bytes.Compare(a.enc, b.enc) })
	merged := make([]*entry, 0, len(s.sorted)+len(p))
	i, j := 0, 0
	for i < len(s.sorted) && j < len(p) {
		if bytes.Compare(s.sorted[i].enc, p[j].enc) < 0 {
			merged = append(merged, s.sorted[i])
			i++
		} else {
			merged = append(merged, p[j])
			j++
		}
	}
	merged = append(append(merged, s.sorted[i:]...), p[j:]...)
	s.sorted = merged
}

// compactLocked drops entries that hold nothing any more.
func (s *Store) compactLocked() {
	kept := s.sorted[:0]
	for _, e := range s.sorted {
		if e.empty() {
			delete(s.byKey, string(e.raw))
			continue
		}
		kept = append(kept, e)
	}
	clear(s.sorted[len(kept):])
	s.sorted = kept
}

// searchLocked returns the index of the first entry whose encoded key is
// >= enc.
func (s *Store) searchLocked(enc []byte) int {
	return sort.Search(len(s.sorted), func(i int) bool { return bytes.Compare(s.sorted[i].enc, enc) >= 0 })
}

// Range is a key range in stored (memcomparable-encoded) form, the form
// region boundaries have: [Start, End), an empty End meaning no bound.
type Range struct {
	Start, End []byte
}

// EncodeKey returns key's stored form (TiKV's Key::from_raw).
func EncodeKey(key []byte) []byte { return codec.EncodeBytes(nil, key) }

// contains reports whether the stored key enc is in r.
func (r Range) contains(enc []byte) bool {
	return bytes.Compare(enc, r.Start) >= 0 && (len(r.End) == 0 || bytes.Compare(enc, r.End) < 0)
}

// span returns the index range of entries inside r.
func (s *Store) spanLocked(r Range) (lo, hi int) {
	lo = s.searchLocked(r.Start)
	hi = len(s.sorted)
	if len(r.End) > 0 {
		hi = s.searchLocked(r.End)
	}
	return lo, max(lo, hi)
}

// released is one lock removal to report.
type released struct {
	key               []byte
	startTS, commitTS uint64
}

// batch buffers one command's writes, like TiKV's MvccTxn: reads go to the
// store's current state (the command's snapshot) and nothing is visible
// until apply, so a command that fails part-way writes nothing.
type batch struct {
	s        *Store
	ops      []func()
	released []released
	acquired []*kvrpcpb.LockInfo
	// shared is the command's pending view of the SharedLocks it rewrote
	// (nil value: deleted); see sharedOf.
	shared map[string]*sharedLocks
}

// putLock writes key's lock; a lock on a key that had none is recorded for
// OnLockAcquired (MvccTxn::put_lock's is_new).
func (b *batch) putLock(key []byte, l *Lock) {
	b.ops = append(b.ops, func() {
		e := b.s.ensureLocked(key)
		if e.lock == nil && b.s.opts.OnLockAcquired != nil {
			b.acquired = append(b.acquired, l.Info(key))
		}
		e.lock = l
	})
}

// unlock removes key's lock and records the release for OnLockReleased.
func (b *batch) unlock(key []byte, startTS, commitTS uint64) {
	b.ops = append(b.ops, func() {
		if e := b.s.lookup(key); e != nil && e.lock != nil && e.lock.StartTS == startTS {
			e.lock = nil
			b.released = append(b.released, released{bytes.Clone(key), startTS, commitTS})
		}
	})
}

// putWrite stores w at (key, w.CommitTS), replacing any record there.
func (b *batch) putWrite(key []byte, w *Write) {
	b.ops = append(b.ops, func() {
		e := b.s.ensureLocked(key)
		i := e.seekWrite(w.CommitTS)
		if i < len(e.writes) && e.writes[i].CommitTS == w.CommitTS {
			e.writes[i] = w
			return
		}
		e.writes = slices.Insert(e.writes, i, w)
	})
}

func (b *batch) deleteWrite(key []byte, commitTS uint64) {
	b.ops = append(b.ops, func() {
		if e := b.s.lookup(key); e != nil {
			if i := e.seekWrite(commitTS); i < len(e.writes) && e.writes[i].CommitTS == commitTS {
				e.writes = slices.Delete(e.writes, i, i+1)
			}
		}
	})
}

func (b *batch) putValue(key []byte, startTS uint64, v []byte) {
	v = bytes.Clone(v)
	b.ops = append(b.ops, func() {
		e := b.s.ensureLocked(key)
		if e.values == nil {
			e.values = make(map[uint64][]byte)
		}
		e.values[startTS] = v
	})
}

func (b *batch) deleteValue(key []byte, startTS uint64) {
	b.ops = append(b.ops, func() {
		if e := b.s.lookup(key); e != nil {
			delete(e.values, startTS)
		}
	})
}

// apply makes the buffered writes visible and empties the buffer.
func (b *batch) apply() {
	for _, op := range b.ops {
		op()
	}
	b.ops = nil
	b.shared = nil
	b.s.flushPendingLocked()
}

// discard drops the buffered writes.
func (b *batch) discard() { b.ops, b.shared = nil, nil }

// update runs a write command under the store's write lock. f applies its
// batch (or not); new locks are reported before mu is released, lock
// releases after.
func (s *Store) update(f func(b *batch)) {
	s.mu.Lock()
	b := &batch{s: s}
	f(b)
	for _, l := range b.acquired {
		s.opts.OnLockAcquired(l)
	}
	rel := b.released
	s.mu.Unlock()
	if s.opts.OnLockReleased != nil {
		for _, r := range rel {
			s.opts.OnLockReleased(r.key, r.startTS, r.commitTS)
		}
	}
}

func cloneKeys(keys [][]byte) [][]byte {
	if keys == nil {
		return nil
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = bytes.Clone(k)
	}
	return out
}
