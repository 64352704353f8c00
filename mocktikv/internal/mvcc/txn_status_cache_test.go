package mvcc

import "testing"

// TestTxnStatusCacheUpsert ports TiKV's txn_status_cache.rs cases
// test_upsert_and_get_normal_txn, test_upsert_and_get_large_txn,
// test_update_ongoing_txn, test_update_committed_txn,
// test_normal_to_large_txn_transition, test_large_to_normal_txn_transition,
// test_get_committed and test_remove_large_txn: an ongoing state past its
// start ts lives in the large part and lookups prefer it; a committed or
// rolled-back state never changes; committedTS reads the normal part only.
func TestTxnStatusCacheUpsert(t *testing.T) {
	ongoing := func(ts uint64) TxnCacheState { return TxnCacheState{Kind: TxnCacheOngoing, TS: ts} }
	committed := func(ts uint64) TxnCacheState { return TxnCacheState{Kind: TxnCacheCommitted, TS: ts} }
	rolledBack := TxnCacheState{Kind: TxnCacheRolledBack}
	type step struct {
		start uint64
		state TxnCacheState
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  TxnCacheState
	}{
		{"normal then committed", []step{{1, ongoing(1)}, {1, committed(3)}}, committed(3)},
		{"large then committed", []step{{1, ongoing(10000)}, {1, committed(10000)}}, committed(10000)},
		{"ongoing raised", []step{{1, ongoing(2)}, {1, ongoing(3)}}, ongoing(3)},
		{"large never lowered", []step{{1, ongoing(30)}, {1, ongoing(20)}}, ongoing(30)},
		{"committed stays", []step{{1, committed(2)}, {1, rolledBack}}, committed(2)},
		{"normal to large", []step{{1, ongoing(1)}, {1, ongoing(2)}}, ongoing(2)},
		{"large to committed", []step{{1, ongoing(10000)}, {1, committed(10001)}}, committed(10001)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTxnStatusCache(100)
			for _, s := range tc.steps {
				c.upsert(s.start, s.state)
			}
			if got, ok := c.get(1); !ok || got != tc.want {
				t.Fatalf("get = %+v, %v; want %+v", got, ok, tc.want)
			}
		})
	}

	c := newTxnStatusCache(100)
	c.upsert(1, committed(2))
	c.upsert(3, ongoing(4))
	if ts, ok := c.committedTS(1); !ok || ts != 2 {
		t.Fatalf("committedTS(1) = %d, %v", ts, ok)
	}
	if _, ok := c.committedTS(3); ok {
		t.Fatal("committedTS of an ongoing txn")
	}
	c.removeLarge(3)
	if s, ok := c.get(3); ok {
		t.Fatalf("after removeLarge: %+v", s)
	}
}

// TestTxnStatusCacheCapacity ports TiKV's test_capacity_limit: beyond
// capacity the oldest entry goes (the mock evicts by capacity only).
func TestTxnStatusCacheCapacity(t *testing.T) {
	c := newTxnStatusCache(5)
	for i := uint64(1); i <= 6; i++ {
		c.upsert(i, TxnCacheState{Kind: TxnCacheOngoing, TS: i + 1})
	}
	if s, ok := c.get(1); ok {
		t.Fatalf("txn 1 kept past capacity: %+v", s)
	}
	if s, ok := c.get(6); !ok || s.TS != 7 {
		t.Fatalf("txn 6: %+v, %v", s, ok)
	}
}
