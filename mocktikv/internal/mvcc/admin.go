package mvcc

import (
	"cmp"
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// DeleteRange is KvDeleteRange with notify_only=false, and
// UnsafeDestroyRange: every version in all three column families of the
// keys in r (stored form) is physically removed, locks included, with no
// MVCC tombstones. Removed locks count as released.
func (s *Store) DeleteRange(r Range) {
	s.update(func(b *batch) {
		lo, hi := s.spanLocked(r)
		for _, e := range s.sorted[lo:hi] {
			if e.lock != nil {
				b.released = append(b.released, released{e.raw, e.lock.StartTS, 0})
			}
			if e.shared != nil {
				b.released = append(b.released, released{e.raw, e.shared.locks[0].StartTS, 0})
			}
			e.lock, e.shared, e.writes, e.values = nil, nil, nil, nil
		}
		s.compactLocked()
	})
}

// mvccInfo renders a key's records as MvccGetByKey does
// (actions/mvcc.rs, MvccInfo::into_proto): the lock with only type,
// start_ts, primary and short_value (a TiKV quirk), every write newest
// first, every default-CF value newest first.
func mvccInfo(e *entry) *kvrpcpb.MvccInfo {
	info := &kvrpcpb.MvccInfo{}
	if e == nil {
		return info
	}
	l := e.lock
	if l == nil && e.shared != nil {
		// A SharedLocks shows one of its sub-locks (actions/mvcc.rs picks
		// the first in its map; the mock the smallest start ts).
		l = e.shared.locks[0]
	}
	if l != nil {
		info.Lock = &kvrpcpb.MvccLock{Type: l.Type, StartTs: l.StartTS, Primary: append([]byte{}, l.Primary...), ShortValue: l.ShortValue, LastChangeTs: l.LastChange}
	}
	for _, w := range e.writes {
		info.Writes = append(info.Writes, &kvrpcpb.MvccWrite{
			Type: w.Type.op(), StartTs: w.StartTS, CommitTs: w.CommitTS, ShortValue: w.ShortValue,
			HasOverlappedRollback: w.HasOverlappedRollback, HasGcFence: w.HasGCFence, GcFence: w.GCFence,
			LastChangeTs: w.LastChange,
		})
	}
	var starts []uint64
	for ts := range e.values {
		starts = append(starts, ts)
	}
	slices.SortFunc(starts, func(a, b uint64) int { return cmp.Compare(b, a) })
	for _, ts := range starts {
		info.Values = append(info.Values, &kvrpcpb.MvccValue{StartTs: ts, Value: append([]byte{}, e.values[ts]...)})
	}
	return info
}

// MvccGetByKey returns every record of key (MvccGetByKey).
func (s *Store) MvccGetByKey(key []byte) *kvrpcpb.MvccInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return mvccInfo(s.lookup(key))
}

// MvccGetByStartTs scans the write CF of region from its start for the
// first record of the transaction startTS and returns its key and records;
// a transaction with only locks is not found (nil key, empty info).
func (s *Store) MvccGetByStartTs(startTS uint64, region Range) ([]byte, *kvrpcpb.MvccInfo) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	lo, hi := s.spanLocked(region)
	for _, e := range s.sorted[lo:hi] {
		for _, w := range e.writes {
			if w.StartTS == startTS {
				return append([]byte{}, e.raw...), mvccInfo(e)
			}
		}
	}
	return nil, &kvrpcpb.MvccInfo{}
}

// GC runs TiKV's per-key GC rule (actions/gc.rs) with safe point sp over
// every key: records newer than sp are kept; from the newest record at or
// below sp, Lock and Rollback records are dropped up to the first Put or
// Delete; that Put is kept and everything older dropped (with long
// values); a Delete is dropped with everything older. Locks are never
// touched. TiKV runs GC itself (KvGC is unimplemented); tests call this.
func (s *Store) GC(sp uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.sorted {
		i := e.seekWrite(sp)
		kept := e.writes[:i:i]
		keepPut := true
		for _, w := range e.writes[i:] {
			switch {
			case keepPut && w.Type == WritePut:
				kept = append(kept, w)
				keepPut = false
				continue
			case keepPut && w.Type == WriteDelete:
				keepPut = false
			}
			if w.Type == WritePut {
				delete(e.values, w.StartTS)
			}
		}
		e.writes = kept
	}
	s.compactLocked()
}
