package txn

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
)

// MaxTS is the read ts of "the newest committed data" (client-go's
// math.MaxUint64 snapshot, used by autocommit point gets): TiKV lets such
// a read pass the primary lock of a transaction that is still committing
// (TiKV's "point get skip primary lock", lock.rs check_ts_conflict_si); a
// point get at MaxTS waits only for the first transaction whose lock it
// meets and skips the locks of any other met on later tries (client-go's
// rule); and its answers are never cached, since they are not repeatable.
const MaxTS = math.MaxUint64

// Snapshot is a consistent, read-only view of the transactional key space
// at one timestamp (client-go's txnsnapshot.KVSnapshot): every read sees
// the versions committed at or before TS and nothing later, whatever
// commits meanwhile. A read that meets the lock of a transaction that may
// commit at or before TS hands it to the snapshot's LockResolver and reads
// again once it is settled (or waits, while it lives).
//
// Point reads (Get, BatchGet and their WithCommitTS forms) remember their
// answers, so a key read twice costs one RPC (WithCacheLimit). A Snapshot
// is safe for concurrent use and holds no resources: there is nothing to
// close. Keys passed in are not retained; slices returned belong to the
// caller.
type Snapshot struct {
	ts    uint64
	cfg   snapshotConfig
	err   error // set when the snapshot cannot read at all
	rctx  *kvrpcpb.Context
	plans snapshotPlans
	locks *seenLocks
	cache *snapshotCache
	stats atomic.Pointer[SnapshotRuntimeStats] // SetRuntimeStats
}

// NewSnapshot returns a snapshot reading at ts on env, which must be the
// transactional environment (Cluster.EnvFor(kv.ModeTxn)); resolver settles
// the locks reads meet (package txnlock's resolver; nil leaves them to the
// caller as a *kv.LockedError). Invalid arguments do not fail here: every
// read of the snapshot returns the error, a *kv.KeyModeError for an env of
// another key space and kv.ErrInvalidArgument for a ts that is no TSO
// timestamp (at or above 1<<63, other than MaxTS; client-go panics).
func NewSnapshot(env *pipeline.Env, resolver pipeline.LockResolver, ts uint64, opts ...SnapshotOption) *Snapshot {
	cfg := defaultSnapshotConfig()
	for _, o := range opts {
		o(&cfg)
	}
	s := &Snapshot{ts: ts, cfg: cfg, rctx: cfg.requestContext(), locks: &seenLocks{}}
	switch {
	case env == nil:
		s.err = kv.InvalidArgument("snapshot needs an environment")
		return s
	case env.Mode != kv.ModeTxn:
		s.err = &kv.KeyModeError{Cmd: "txn.Snapshot", CmdMode: kv.ModeTxn, EnvMode: env.Mode}
		return s
	case ts >= math.MaxInt64 && ts != MaxTS:
		s.err = kv.InvalidArgument("snapshot ts %d is not a timestamp", ts)
		return s
	}
	if ts != MaxTS {
		s.cache = newSnapshotCache(cfg.cacheLimit)
	} else if resolver != nil {
		resolver = firstLockResolver{next: resolver}
	}
	if resolver != nil {
		resolver = statsResolver{next: resolver, snap: s}
	}
	s.plans = compileSnapshotPlans(s.statsEnv(env), resolver, s.locks, cfg.scanBatchSize, s.readGuard())
	return s
}

// TS returns the snapshot's read timestamp.
func (s *Snapshot) TS() uint64 { return s.ts }

// IsolationLevel returns the read rule of the snapshot's reads.
func (s *Snapshot) IsolationLevel() IsolationLevel { return s.cfg.iso }

// Get returns the value of key at the snapshot's ts, or kv.ErrNotFound.
// A lock in the way is resolved first (see Snapshot); with SI a lock that
// outlives the read's backoff budget fails it with a
// *kv.BackoffExhaustedError wrapping the *kv.LockedError.
func (s *Snapshot) Get(ctx context.Context, key []byte) ([]byte, error) {
	e, err := s.get(ctx, key, false)
	return e.Value, err
}

// GetWithCommitTS is Get that also returns the commit ts of the version
// read (GetRequest.need_commit_ts; client-go's WithReturnCommitTS). TiKV
// cannot serve such a read from a committed transaction's lock, so it
// may resolve more locks than Get.
func (s *Snapshot) GetWithCommitTS(ctx context.Context, key []byte) (ValueEntry, error) {
	return s.get(ctx, key, true)
}

func (s *Snapshot) get(ctx context.Context, key []byte, wantCommitTS bool) (ValueEntry, error) {
	if s.err != nil {
		return ValueEntry{}, s.err
	}
	if len(key) == 0 {
		return ValueEntry{}, kv.InvalidArgument("empty key")
	}
	if e, ok := s.cache.get(key, wantCommitTS); ok {
		return found(e)
	}
	rctx := s.pointReadContext(ctx)
	if s.ts == MaxTS {
		rctx = withFirstLock(rctx)
	}
	resp, err := s.plans.get(rctx, &kvrpcpb.GetRequest{
		Context: s.locks.context(s.rctx), Key: key, Version: s.ts, NeedCommitTs: wantCommitTS,
	})
	if err != nil {
		return ValueEntry{}, err
	}
	// Checked after the answer, as client-go does: GC that passed the ts
	// during the read may have removed what it should have seen.
	if err := s.checkVisibility(ctx); err != nil {
		return ValueEntry{}, err
	}
	var e ValueEntry
	if !resp.GetNotFound() && len(resp.GetValue()) > 0 {
		e = ValueEntry{Value: resp.GetValue(), CommitTS: resp.GetCommitTs()}
		if err := checkCommitTS(wantCommitTS, key, e); err != nil {
			return ValueEntry{}, err
		}
	}
	s.cache.put([][]byte{key}, map[string]ValueEntry{string(key): e})
	return found(e)
}

// found turns an entry into Get's answer: no value is kv.ErrNotFound.
func found(e ValueEntry) (ValueEntry, error) {
	if e.Value == nil {
		return ValueEntry{}, kv.ErrNotFound
	}
	return e, nil
}

// checkCommitTS refuses a found value without the commit ts the read asked
// for: TiKV sets commit_ts whenever need_commit_ts is set and the key is
// found (storage/mod.rs get_entry), so its absence is a protocol breach
// (client-go's checkCommitTSRequired).
func checkCommitTS(want bool, key []byte, e ValueEntry) error {
	if want && e.Value != nil && e.CommitTS == 0 {
		return fmt.Errorf("read %q: commit ts asked for but not returned: %w", key, kv.ErrProtocol)
	}
	return nil
}

// BatchGet returns the values of keys at the snapshot's ts in the order of
// keys, nil for a key that has no value, as raw.Client.BatchGet does
// (client-go returns a map without the missing keys). Keys are grouped by
// region and read in parallel, at most BatchGetSize keys per RPC; a key
// may appear more than once. Locks are resolved as for Get; a region that
// met locks is read again as a whole.
func (s *Snapshot) BatchGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	es, err := s.batchGet(ctx, keys, false)
	if err != nil {
		return nil, err
	}
	values := make([][]byte, len(es))
	for i, e := range es {
		values[i] = e.Value
	}
	return values, nil
}

// BatchGetWithCommitTS is BatchGet that also returns each value's commit
// ts; a missing key's entry is the zero ValueEntry.
func (s *Snapshot) BatchGetWithCommitTS(ctx context.Context, keys [][]byte) ([]ValueEntry, error) {
	return s.batchGet(ctx, keys, true)
}

func (s *Snapshot) batchGet(ctx context.Context, keys [][]byte, wantCommitTS bool) ([]ValueEntry, error) {
	if s.err != nil {
		return nil, s.err
	}
	got := make(map[string]ValueEntry, len(keys))
	var missing [][]byte
	for _, k := range keys {
		if len(k) == 0 {
			return nil, kv.InvalidArgument("empty key")
		}
		if _, seen := got[string(k)]; seen {
			continue
		}
		e, ok := s.cache.get(k, wantCommitTS)
		got[string(k)] = e // a placeholder until read when !ok
		if !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		pairs, err := s.plans.batchGet(s.pointReadContext(ctx), &kvrpcpb.BatchGetRequest{
			Context: s.locks.context(s.rctx), Keys: missing, Version: s.ts, NeedCommitTs: wantCommitTS,
		})
		if err != nil {
			return nil, err
		}
		if err := s.checkVisibility(ctx); err != nil {
			return nil, err
		}
		read := make(map[string]ValueEntry, len(missing))
		for _, k := range missing {
			read[string(k)] = ValueEntry{} // TiKV leaves missing keys out
		}
		for _, p := range pairs {
			if len(p.GetValue()) == 0 {
				continue
			}
			e := ValueEntry{Value: p.GetValue(), CommitTS: p.GetCommitTs()}
			if err := checkCommitTS(wantCommitTS, p.GetKey(), e); err != nil {
				return nil, err
			}
			read[string(p.GetKey())] = e
		}
		for k, e := range read {
			got[k] = e
		}
		s.cache.put(missing, read)
	}
	out := make([]ValueEntry, len(keys))
	for i, k := range keys {
		out[i] = got[string(k)]
	}
	return out, nil
}
