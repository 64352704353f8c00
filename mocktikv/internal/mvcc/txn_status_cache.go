package mvcc

import "github.com/pingcap/kvproto/pkg/kvrpcpb"

// txnStatusCacheCapacity is TiKV's storage.txn-status-cache-capacity
// default (DEFAULT_TXN_STATUS_CACHE_CAPACITY, 40_000 * 128 entries).
const txnStatusCacheCapacity = 40_000 * 128

// TxnCacheKind is the kind of a transaction's state in the status cache
// (TiKV's TxnState variants).
type TxnCacheKind int

// The kinds of TxnCacheState.
const (
	// TxnCacheOngoing: the transaction is still running; TS is the
	// smallest commit ts it may get (its min_commit_ts).
	TxnCacheOngoing TxnCacheKind = iota + 1
	// TxnCacheCommitted: it committed at TS.
	TxnCacheCommitted
	// TxnCacheRolledBack: it was rolled back; TS is 0.
	TxnCacheRolledBack
)

// TxnCacheState is what the transaction status cache knows about one
// transaction (TiKV's TxnState).
type TxnCacheState struct {
	Kind TxnCacheKind
	TS   uint64
}

// txnStateFromStatus is TxnState::from_ts: rolled_back wins, then a zero
// commit ts is an ongoing transaction whose min commit ts is at least its
// start ts.
func txnStateFromStatus(st *kvrpcpb.TxnStatus) TxnCacheState {
	switch {
	case st.RolledBack:
		return TxnCacheState{Kind: TxnCacheRolledBack}
	case st.CommitTs == 0:
		return TxnCacheState{Kind: TxnCacheOngoing, TS: max(st.StartTs, st.MinCommitTs)}
	}
	return TxnCacheState{Kind: TxnCacheCommitted, TS: st.CommitTs}
}

// txnStatusCache is TiKV's TxnStatusCache (src/storage/txn/txn_status_cache.rs)
// with its two parts: the normal part holds the states commands learn
// (commits recorded through their WriteResult known_txn_status) and those
// broadcast; the large part holds the ongoing transactions whose min
// commit ts was pushed past their start ts (pipelined transactions, told
// by BroadcastTxnStatus), apart so that a flood of small commits cannot
// evict them. Lookups ask the large part first. TiKV keeps an entry at
// least 30 s and then evicts it only beyond capacity; the mock, which has
// no clock here, evicts the oldest entry beyond capacity. One cache serves
// the whole mock storage, where TiKV has one per instance. The Store's mu
// guards it.
type txnStatusCache struct {
	capacity      int
	normal, large txnStatusPart
}

// txnStatusPart is one part of the cache: states by start ts, and start ts
// in insertion order for eviction.
type txnStatusPart struct {
	states map[uint64]TxnCacheState
	order  []uint64
}

func (p *txnStatusPart) insert(startTS uint64, s TxnCacheState, capacity int) {
	if p.states == nil {
		p.states = make(map[uint64]TxnCacheState)
	}
	p.order = append(p.order, startTS)
	p.states[startTS] = s
	for len(p.order) > capacity {
		delete(p.states, p.order[0])
		p.order = p.order[1:]
	}
}

func newTxnStatusCache(capacity int) txnStatusCache {
	return txnStatusCache{capacity: capacity}
}

// upsert records state for startTS (TxnStatusCache::upsert): an ongoing
// state past the start ts goes to the large part, where it only ever
// raises the min commit ts it holds; any other state goes to the normal
// part and replaces an ongoing state in either part, never a committed or
// rolled-back one (a transaction's fate does not change).
func (c *txnStatusCache) upsert(startTS uint64, state TxnCacheState) {
	if c.capacity <= 0 {
		return
	}
	if state.Kind == TxnCacheOngoing && state.TS > startTS {
		old, ok := c.large.states[startTS]
		switch {
		case !ok:
			c.large.insert(startTS, state, c.capacity)
		case old.Kind == TxnCacheOngoing && state.TS > old.TS:
			c.large.states[startTS] = state
		}
		return
	}
	old, ok := c.normal.states[startTS]
	switch {
	case !ok:
		c.normal.insert(startTS, state, c.capacity)
	case old.Kind == TxnCacheOngoing:
		c.normal.states[startTS] = state
	}
	if old, ok := c.large.states[startTS]; ok && old.Kind == TxnCacheOngoing {
		c.large.states[startTS] = state
	}
}

// insertCommitted records that startTS committed at commitTS
// (insert_committed).
func (c *txnStatusCache) insertCommitted(startTS, commitTS uint64) {
	c.upsert(startTS, TxnCacheState{Kind: TxnCacheCommitted, TS: commitTS})
}

// get returns what the cache knows of startTS, the large part first (get).
func (c *txnStatusCache) get(startTS uint64) (TxnCacheState, bool) {
	if s, ok := c.large.states[startTS]; ok {
		return s, true
	}
	s, ok := c.normal.states[startTS]
	return s, ok
}

// removeLarge forgets startTS in the large part (remove_large_txn): the
// transaction completed, its locks are all resolved.
func (c *txnStatusCache) removeLarge(startTS uint64) {
	if _, ok := c.large.states[startTS]; !ok {
		return
	}
	delete(c.large.states, startTS)
	for i, ts := range c.large.order {
		if ts == startTS {
			c.large.order = append(c.large.order[:i], c.large.order[i+1:]...)
			break
		}
	}
}

// committedTS returns startTS's commit ts if the normal part knows it
// committed (get_committed_no_promote).
func (c *txnStatusCache) committedTS(startTS uint64) (uint64, bool) {
	s, ok := c.normal.states[startTS]
	if !ok || s.Kind != TxnCacheCommitted {
		return 0, false
	}
	return s.TS, true
}

// UpdateTxnStatus is BroadcastTxnStatus (Storage::update_txn_status_cache):
// each status is upserted into the cache; a completed transaction
// (committed or rolled back, every lock resolved) first leaves the large
// part. TiKV asserts a completed status is not ongoing, and a commit ts
// not below the min commit ts the cache holds; the mock leaves the cache
// unchanged for such a status, and reports how many it refused.
func (s *Store) UpdateTxnStatus(statuses []*kvrpcpb.TxnStatus) (refused int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range statuses {
		state := txnStateFromStatus(st)
		if st.IsCompleted && state.Kind == TxnCacheOngoing {
			refused++
			continue
		}
		if old, ok := s.txnStatus.get(st.StartTs); ok && old.Kind == TxnCacheOngoing &&
			state.Kind == TxnCacheCommitted && state.TS < old.TS {
			refused++
			continue
		}
		if st.IsCompleted {
			s.txnStatus.removeLarge(st.StartTs)
		}
		s.txnStatus.upsert(st.StartTs, state)
	}
	return refused
}

// TxnStatus returns what the transaction status cache knows of the
// transaction startTS (TxnStatusCache::get).
func (s *Store) TxnStatus(startTS uint64) (TxnCacheState, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.txnStatus.get(startTS)
}
