package mvcc

// txnStatusCacheCapacity is TiKV's storage.txn-status-cache-capacity
// default (DEFAULT_TXN_STATUS_CACHE_CAPACITY, 40_000 * 128 entries).
const txnStatusCacheCapacity = 40_000 * 128

// txnStatusCache is TiKV's TxnStatusCache (src/storage/txn/txn_status_cache.rs)
// as far as TiKV uses it: the commit ts of recently committed transactions,
// recorded by the commands that learn a commit (their WriteResult
// known_txn_status) and read by pessimistic prewrite, which handles a
// transaction known committed as a retry. TiKV keeps an entry at least 30 s
// and then evicts it only beyond capacity; the mock, which has no clock
// here, evicts the oldest entry beyond capacity. One cache serves the whole
// mock storage, where TiKV has one per instance. The Store's mu guards it.
type txnStatusCache struct {
	capacity  int
	committed map[uint64]uint64 // start ts -> commit ts
	order     []uint64          // start ts in insertion order, for eviction
}

func newTxnStatusCache(capacity int) txnStatusCache {
	return txnStatusCache{capacity: capacity, committed: make(map[uint64]uint64)}
}

// insertCommitted records that startTS committed at commitTS
// (insert_committed; a later insert of the same txn updates it).
func (c *txnStatusCache) insertCommitted(startTS, commitTS uint64) {
	if c.capacity <= 0 {
		return
	}
	if _, ok := c.committed[startTS]; !ok {
		c.order = append(c.order, startTS)
		if len(c.order) > c.capacity {
			delete(c.committed, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.committed[startTS] = commitTS
}

// committedTS returns startTS's commit ts if the cache knows it committed
// (get_committed_no_promote).
func (c *txnStatusCache) committedTS(startTS uint64) (uint64, bool) {
	ts, ok := c.committed[startTS]
	return ts, ok
}
