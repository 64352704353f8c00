package integration_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/admin"
	"github.com/tikvgo/tikv/gc"
	"github.com/tikvgo/tikv/kv"
)

// TestAdminSplitAndRegionInfo: SplitRegions splits at the keys given, the
// new layout is what RegionByKey, RegionByID and Regions report (in the
// transactional key space, and in the raw one, which sees the encoded
// boundaries as they are), and data written across the split stays
// readable. The splits are in the transactional key space only: under API
// V1 a region boundary at a raw key is not a memcomparable key, and a
// transactional client could no longer route through it (client-go's
// neither), which on a shared cluster would break everyone's transactions.
func TestAdminSplitAndRegionInfo(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := e.ctx()
	a := admin.New(e.cluster)
	s1, s2 := e.txnKey("split-1"), e.txnKey("split-2")
	ids, err := a.SplitRegions(ctx, [][]byte{s1, s2, s2}, false)
	if err != nil {
		t.Fatalf("SplitRegions: %v", err)
	}
	if len(ids) != 2 {
		t.Fatalf("SplitRegions at two keys (one repeated) created %v, want two regions", ids)
	}
	r, err := a.RegionByKey(ctx, s1)
	if err != nil {
		t.Fatalf("RegionByKey: %v", err)
	}
	if !bytes.Equal(r.StartKey(), s1) || !bytes.Equal(r.EndKey(), s2) {
		t.Fatalf("the region at %q is [%q, %q), want [%q, %q)", s1, r.StartKey(), r.EndKey(), s1, s2)
	}
	byID, err := a.RegionByID(ctx, r.ID())
	if err != nil || !bytes.Equal(byID.StartKey(), s1) || byID.Ver() != r.Ver() {
		t.Fatalf("RegionByID(%d) = %v, %v; RegionByKey said %v", r.ID(), byID, err, r)
	}
	if len(r.Peers()) == 0 || r.Leader() == nil {
		t.Errorf("region %v has no peers or no leader", r)
	}
	regions, err := a.Regions(ctx, e.txnKey(""), e.txnKey("split-3"), 0)
	if err != nil {
		t.Fatalf("Regions: %v", err)
	}
	var starts [][]byte
	for _, r := range regions {
		starts = append(starts, r.StartKey())
	}
	if len(regions) < 3 || !bytes.Equal(starts[len(starts)-2], s1) || !bytes.Equal(starts[len(starts)-1], s2) {
		t.Fatalf("Regions over the split range start at %q", starts)
	}
	if more, err := a.SplitRegions(ctx, [][]byte{s1}, false); err != nil || len(more) != 0 {
		t.Fatalf("splitting at a region's start again = %v, %v; want nothing split", more, err)
	}

	// The raw key space sees the same region with its boundary encoded.
	ra := admin.New(e.cluster, admin.WithKeyMode(kv.ModeRaw))
	rr, err := ra.RegionByID(ctx, r.ID())
	if err != nil || rr.ID() != r.ID() || len(rr.StartKey()) <= len(s1) {
		t.Fatalf("raw RegionByID(%d) = %v, %v; want the region with its encoded boundary", r.ID(), rr, err)
	}
	if at, err := ra.RegionByKey(ctx, rr.StartKey()); err != nil || at.ID() != r.ID() {
		t.Fatalf("raw RegionByKey at the encoded boundary = %v, %v; want region %d", at, err, r.ID())
	}

	// Data across the new boundaries still reads back.
	tc := e.txn()
	commit(t, ctx, tc, [][]byte{e.txnKey("split-0"), []byte("a"), e.txnKey("split-1"), []byte("b"), e.txnKey("split-2x"), []byte("c")})
	now, err := tc.CurrentTimestamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range tc.Snapshot(now).Iter(ctx, e.txnKey(""), e.txnKey("split-3")) {
		if err != nil {
			t.Fatalf("Iter across the splits: %v", err)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("Iter across the splits returned %d pairs, want 3", n)
	}
	if v := latest(t, ctx, tc, e.txnKey("split-2x")); string(v) != "c" {
		t.Fatalf("transactional read across the split = %q", v)
	}
}

// TestAdminScatter: regions split with scatter set, or scattered after,
// finish scattering within the wait.
func TestAdminScatter(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := e.ctx()
	a := admin.New(e.cluster)
	ids, err := a.SplitRegions(ctx, [][]byte{e.txnKey("scatter-1"), e.txnKey("scatter-2")}, true)
	if err != nil {
		t.Fatalf("SplitRegions with scatter: %v", err)
	}
	if err := a.ScatterRegions(ctx, ids); err != nil {
		t.Fatalf("ScatterRegions: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var last, total int
	if err := a.WaitScatterFinish(wctx, ids, func(d, n int) { last, total = d, n }); err != nil {
		t.Fatalf("WaitScatterFinish: %v", err)
	}
	if last != len(ids) || total != len(ids) {
		t.Fatalf("progress ended at %d of %d, want %d of %d", last, total, len(ids), len(ids))
	}
}

// TestAdminStores: every store PD lists is readable by id and has an
// address.
func TestAdminStores(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := e.ctx()
	a := admin.New(e.cluster)
	stores, err := a.Stores(ctx)
	if err != nil || len(stores) == 0 {
		t.Fatalf("Stores = %v, %v", stores, err)
	}
	if e.mock != nil && len(stores) != 3 {
		t.Fatalf("the embedded cluster has 3 stores, Stores listed %d", len(stores))
	}
	for _, s := range stores {
		got, err := a.Store(ctx, s.ID)
		if err != nil || got.ID != s.ID || got.Addr == "" || got.Addr != s.Addr {
			t.Errorf("Store(%d) = %+v, %v; listed as %+v", s.ID, got, err, s)
		}
	}
}

// TestGCSafePointRead: the GC states PD reports are consistent (the GC
// safe point never passes the txn safe point, neither passes now), and a
// snapshot above the txn safe point reads.
func TestGCSafePointRead(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := e.ctx()
	st, err := gc.State(ctx, e.cluster)
	if e.mock == nil && status.Code(err) == codes.Unimplemented {
		t.Skipf("PD has no GetGCStates (older than the GC API this client uses): %v", err)
	}
	if err != nil {
		t.Fatalf("gc.State: %v", err)
	}
	c := e.txn()
	now, err := c.CurrentTimestamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.GCSafePoint > st.TxnSafePoint || st.TxnSafePoint > now {
		t.Fatalf("GC states: gc safe point %d, txn safe point %d, now %d", st.GCSafePoint, st.TxnSafePoint, now)
	}
	if e.mock != nil && (st.TxnSafePoint != e.mock.TxnSafePoint() || st.GCSafePoint != e.mock.GCSafePoint()) {
		t.Fatalf("gc.State = %+v, the mock holds txn %d, gc %d", st, e.mock.TxnSafePoint(), e.mock.GCSafePoint())
	}
	if _, err := c.Snapshot(now).Get(ctx, e.txnKey("absent")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("read at now, above the safe point: %v", err)
	}
}

// TestAdminSeesMockClusterChanges: a split made inside the cluster (not by
// this client) and a leader moved there are what admin reports once a
// request has met them (TiKV's EpochNotMatch and NotLeader update the
// client's region cache); reads follow both. Mock-only: it drives the
// cluster.
func TestAdminSeesMockClusterChanges(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m := e.needMock("splits and moves leaders from the cluster's side")
	ctx := e.ctx()
	rc, tc := e.raw(), e.txn()
	rk, tk := e.rawKey("moved"), e.txnKey("moved")
	if err := rc.Put(ctx, rk, []byte("r")); err != nil {
		t.Fatal(err)
	}
	commit(t, ctx, tc, [][]byte{tk, []byte("t")})

	if _, err := m.SplitTxn(tk); err != nil {
		t.Fatalf("split: %v", err)
	}
	// Reads learn of the split from TiKV's EpochNotMatch.
	if v := latest(t, ctx, tc, tk); string(v) != "t" {
		t.Fatalf("txn read after the split = %q", v)
	}
	a := admin.New(e.cluster)
	before, err := a.RegionByKey(ctx, tk)
	if err != nil || !bytes.Equal(before.StartKey(), tk) {
		t.Fatalf("RegionByKey after the split = %v, %v; want it to start at %q", before, err, tk)
	}
	var to uint64
	for _, p := range before.Peers() {
		if p.GetStoreId() != before.Leader().GetStoreId() {
			to = p.GetStoreId()
			break
		}
	}
	if to == 0 {
		t.Fatalf("region %v has a single peer", before)
	}
	if err := m.TransferLeader(before.ID(), to); err != nil {
		t.Fatalf("transfer leader: %v", err)
	}
	// The client learns of the move from TiKV's NotLeader, not from PD:
	// read first, then ask admin, which answers from the region cache.
	if v, err := rc.Get(ctx, rk); err != nil || string(v) != "r" {
		t.Fatalf("raw Get after the move = %q, %v", v, err)
	}
	if v := latest(t, ctx, tc, tk); string(v) != "t" {
		t.Fatalf("txn read after the move = %q", v)
	}
	r, err := a.RegionByKey(ctx, tk)
	if err != nil || !bytes.Equal(r.StartKey(), tk) || r.Leader().GetStoreId() != to {
		t.Fatalf("RegionByKey after the leader moved = %v, %v; want start %q, leader on store %d", r, err, tk, to)
	}
}
