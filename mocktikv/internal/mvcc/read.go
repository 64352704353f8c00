package mvcc

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
)

// readOpts is the part of a request's Context that shapes a read.
type readOpts struct {
	ts           uint64
	iso          kvrpcpb.IsolationLevel
	resolved     []uint64 // bypass locks
	committed    []uint64 // access locks
	needCommitTS bool
}

func newReadOpts(ctx *kvrpcpb.Context, ts uint64, needCommitTS bool) readOpts {
	return readOpts{
		ts:           ts,
		iso:          ctx.GetIsolationLevel(),
		resolved:     ctx.GetResolvedLocks(),
		committed:    ctx.GetCommittedLocks(),
		needCommitTS: needCommitTS,
	}
}

// noteRead pushes max_ts with the read ts, except for stale reads
// (Storage::get and friends; reads at u64::MAX are ignored by UpdateMaxTS).
func (s *Store) noteRead(ctx *kvrpcpb.Context, ts uint64) {
	if !ctx.GetStaleRead() {
		s.UpdateMaxTS(ts)
	}
}

// blocksSI is Lock::check_ts_conflict_si: whether l blocks an SI read of
// key at ts.
func blocksSI(l *Lock, key []byte, o readOpts) bool {
	switch {
	case l.StartTS > o.ts:
		return false
	case l.Type == kvrpcpb.Op_Lock || l.Type == kvrpcpb.Op_PessimisticLock:
		return false
	case l.MinCommitTS > o.ts:
		return false
	case slices.Contains(o.resolved, l.StartTS):
		return false
	case o.ts == maxU64 && bytes.Equal(key, l.Primary) && !l.UseAsyncCommit:
		// "Point get skip primary lock": a read at u64::MAX may not wait for
		// its own 2PC primary.
		return false
	}
	return true
}

// writeKey is the write-CF key of (key, ts): the encoded key followed by
// the bitwise-inverted ts, big-endian (Key::append_ts).
func writeKey(key []byte, ts uint64) []byte {
	return binary.BigEndian.AppendUint64(EncodeKey(key), ^ts)
}

// pointGet reads one key per §3 of the semantics: lock check by isolation
// level, then the newest visible version. found=false, err=nil is "not
// found".
func pointGet(e *entry, key []byte, o readOpts) (value []byte, commitTS uint64, found bool, err *kvrpcpb.KeyError) {
	if e != nil && e.lock != nil {
		l := e.lock
		switch o.iso {
		case kvrpcpb.IsolationLevel_SI:
			if blocksSI(l, key, o) {
				if v, ok, used := readFromAccessLock(e, l, o); used {
					return v, 0, ok, nil
				}
				return nil, 0, false, errLocked(l, key)
			}
		case kvrpcpb.IsolationLevel_RCCheckTS:
			// RCCheckTS fails on any Put/Delete lock not bypassed,
			// whatever its ts (point_getter.rs load_and_check_lock).
			if (l.Type == kvrpcpb.Op_Put || l.Type == kvrpcpb.Op_Del) && !slices.Contains(o.resolved, l.StartTS) {
				if v, ok, used := readFromAccessLock(e, l, o); used {
					return v, 0, ok, nil
				}
				return nil, 0, false, errWriteConflict(o.ts, l.StartTS, 0, key, l.Primary, kvrpcpb.WriteConflict_RcCheckTs)
			}
		}
	}
	if o.iso == kvrpcpb.IsolationLevel_RCCheckTS {
		// A version newer than the read ts means the read is stale. TiKV
		// reports the write-CF key (with its ts) as the conflict key.
		if w := e.newestWrite(); w != nil && w.CommitTS > o.ts {
			return nil, 0, false, errWriteConflict(o.ts, 0, w.CommitTS, writeKey(key, w.CommitTS), nil, kvrpcpb.WriteConflict_RcCheckTs)
		}
	}
	v, cts, ok := readAt(e, o.ts)
	return v, cts, ok, nil
}

// readFromAccessLock serves a read from a blocking lock whose transaction
// the client knows is committed (ctx.committed_locks), unless the request
// wants commit timestamps, which the lock cannot give.
func readFromAccessLock(e *entry, l *Lock, o readOpts) (value []byte, found, used bool) {
	if o.needCommitTS || !slices.Contains(o.committed, l.StartTS) {
		return nil, false, false
	}
	if l.Type == kvrpcpb.Op_Put {
		return e.value(l.StartTS, l.ShortValue), true, true
	}
	return nil, false, true
}

// Get is KvGet (Storage::get_entry) without the region check: the value at
// req.Version, not_found, or a key error. commit_ts is returned iff
// need_commit_ts and found.
func (s *Store) Get(req *kvrpcpb.GetRequest) *kvrpcpb.GetResponse {
	s.noteRead(req.Context, req.Version)
	s.mu.RLock()
	defer s.mu.RUnlock()
	resp := &kvrpcpb.GetResponse{}
	v, cts, ok, err := pointGet(s.lookup(req.Key), req.Key, newReadOpts(req.Context, req.Version, req.NeedCommitTs))
	switch {
	case err != nil:
		resp.Error = err
	case !ok:
		resp.NotFound = true
	default:
		resp.Value = v
		if req.NeedCommitTs {
			resp.CommitTs = cts
		}
	}
	return resp
}

// BatchGet is KvBatchGet: keys in request order (duplicates twice), found
// keys as pairs, not-found keys omitted, a key's error as a pair with no key
// (its key is inside the error).
func (s *Store) BatchGet(req *kvrpcpb.BatchGetRequest) *kvrpcpb.BatchGetResponse {
	s.noteRead(req.Context, req.Version)
	s.mu.RLock()
	defer s.mu.RUnlock()
	resp := &kvrpcpb.BatchGetResponse{}
	o := newReadOpts(req.Context, req.Version, req.NeedCommitTs)
	for _, k := range req.Keys {
		v, cts, ok, err := pointGet(s.lookup(k), k, o)
		switch {
		case err != nil:
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Error: err})
		case ok:
			p := &kvrpcpb.KvPair{Key: bytes.Clone(k), Value: v}
			if req.NeedCommitTs {
				p.CommitTs = cts
			}
			resp.Pairs = append(resp.Pairs, p)
		}
	}
	return resp
}

// Scan is KvScan over the part of the request's range inside region
// (stored form). Forward scans [start_key, end_key), reverse scans
// [end_key, start_key) descending; an empty end_key means the region's
// bound. A locked key yields a keyless pair carrying the error, counted
// toward limit; key_only returns empty values; sample_step keeps every
// step-th readable key. A request-level error (the range leaves the region,
// RCCheckTS conflicts) is returned in error and as the only pair.
func (s *Store) Scan(req *kvrpcpb.ScanRequest, region Range) *kvrpcpb.ScanResponse {
	s.noteRead(req.Context, req.Version)
	resp := &kvrpcpb.ScanResponse{}
	fail := func(e *kvrpcpb.KeyError) *kvrpcpb.ScanResponse {
		resp.Error, resp.Pairs = e, []*kvrpcpb.KvPair{{Error: e}}
		return resp
	}
	// start_key is always Key::from_raw, even when empty (src/storage/mod.rs
	// scan), so a reverse scan with an empty start_key scans nothing.
	var lower, upper []byte // stored form; nil = none
	if req.Reverse {
		if len(req.EndKey) > 0 {
			lower = EncodeKey(req.EndKey)
		}
		upper = EncodeKey(req.StartKey)
	} else {
		lower = EncodeKey(req.StartKey)
		if len(req.EndKey) > 0 {
			upper = EncodeKey(req.EndKey)
		}
	}
	// SnapshotStore::verify_range (src/storage/txn/store.rs): a bound
	// outside the region is InvalidReqRange, an abort, not a region error.
	if (lower != nil && len(region.Start) > 0 && bytes.Compare(lower, region.Start) < 0) ||
		(upper != nil && len(region.End) > 0 && bytes.Compare(upper, region.End) > 0) {
		return fail(abort(txnDebug("InvalidReqRange { start: " + rustBytes(req.StartKey) + ", end: " + rustBytes(req.EndKey) +
			", lower_bound: " + rustBytes(region.Start) + ", upper_bound: " + rustBytes(region.End) + " }")))
	}
	if req.Limit == 0 {
		return resp
	}
	r := Range{Start: region.Start, End: region.End}
	if lower != nil && bytes.Compare(lower, r.Start) > 0 {
		r.Start = lower
	}
	if upper != nil && (len(r.End) == 0 || bytes.Compare(upper, r.End) < 0) {
		r.End = upper
		if len(upper) == 0 {
			return resp
		}
	}
	o := newReadOpts(req.Context, req.Version, false)

	s.mu.RLock()
	defer s.mu.RUnlock()
	lo, hi := s.spanLocked(r)
	step := int(req.SampleStep)
	read := 0 // successfully read keys, for sampling
	visit := func(e *entry) (stop bool, failed *kvrpcpb.KeyError) {
		v, _, ok, err := pointGet(e, e.raw, o)
		if err != nil {
			if err.Conflict != nil {
				// RCCheckTS conflicts abort the whole scan.
				return true, err
			}
			resp.Pairs = append(resp.Pairs, &kvrpcpb.KvPair{Error: err})
			return len(resp.Pairs) >= int(req.Limit), nil
		}
		if !ok {
			return false, nil
		}
		read++
		if step > 1 && (read-1)%step != 0 {
			return false, nil
		}
		p := &kvrpcpb.KvPair{Key: bytes.Clone(e.raw)}
		if !req.KeyOnly {
			p.Value = v
		}
		resp.Pairs = append(resp.Pairs, p)
		return len(resp.Pairs) >= int(req.Limit), nil
	}
	if req.Reverse {
		for i := hi - 1; i >= lo; i-- {
			if stop, err := visit(s.sorted[i]); err != nil {
				return fail(err)
			} else if stop {
				break
			}
		}
	} else {
		for i := lo; i < hi; i++ {
			if stop, err := visit(s.sorted[i]); err != nil {
				return fail(err)
			} else if stop {
				break
			}
		}
	}
	return resp
}
