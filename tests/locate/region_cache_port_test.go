package locate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/codec"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// More ports of client-go internal/locate/region_cache_test.go: the cases
// that client-go checks on its cache's internal state (working leader
// index, invalid flags, sync flags) are checked here through what a request
// or a lookup does.

// TestStoreLabels ports client-go's TestStoreLabels
// (internal/locate/region_cache_test.go): each resolved store carries the
// labels PD reports, and a label selector matches exactly that store.
func TestStoreLabels(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		for _, id := range h.mock.StoreIDs() {
			l := h.cache.StoreLabels(id)
			want := fmt.Sprint(id)
			if len(l) != 1 || l[0].GetKey() != "id" || l[0].GetValue() != want {
				t.Fatalf("store %d labels %v, want id=%s", id, l, want)
			}
			// A mixed read selecting that label goes to that store only.
			ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{ReplicaRead: mixed,
				MatchLabels: []*metapb.StoreLabel{{Key: "id", Value: want}}})
			if _, err := h.get(ctx, "key"); err != nil {
				t.Fatal(err)
			}
			if got := h.rec.take(); len(got) != 1 || got[0].store != id {
				t.Fatalf("label id=%s: path %v", want, paths(got))
			}
		}
		if l := h.cache.StoreLabels(99); l != nil {
			t.Fatalf("unknown store has labels %v", l)
		}
	})
}

// TestFilterDownPeersOrPeersOnTombstoneOrDroppedStores ports client-go's
// TestFilterDownPeersOrPeersOnTombstoneOrDroppedStores
// (internal/locate/region_cache_test.go): a peer on a store PD buried
// (tombstone; mocktikv has no store removal, a tombstone is what PD reports
// for a removed store) is never chosen, for leader or follower reads; with
// every peer's store buried the request fails instead of looping. (tikvgo
// keeps the peer in the region's metadata and skips it when its store
// resolves as a tombstone, rather than dropping it when the region loads.)
func TestFilterDownPeersOrPeersOnTombstoneOrDroppedStores(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		if err := h.mock.TombstoneStore(3); err != nil {
			t.Fatal(err)
		}
		h.cache.OnStoreFailure(3)
		h.cache.Invalidate(h.region("key"))
		for _, read := range []kv.ReplicaReadType{leader, follower, mixed} {
			ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{ReplicaRead: read})
			for range 20 {
				if _, err := h.get(ctx, "key"); err != nil {
					t.Fatalf("%v read: %v", read, err)
				}
				for _, a := range h.rec.take() {
					if a.store == 3 {
						t.Fatalf("%v read went to the tombstone store 3", read)
					}
				}
			}
		}
		// Every store buried: no replica is left.
		for _, id := range []uint64{1, 2} {
			if err := h.mock.TombstoneStore(id); err != nil {
				t.Fatal(err)
			}
			h.cache.OnStoreFailure(id)
		}
		h.env.BackoffBudget = 5 * time.Second
		if _, err := h.get(t.Context(), "key"); err == nil {
			t.Fatal("a read with every store buried succeeded")
		}
	})
}

// TestSendFailedButLeaderNotChange ports client-go's
// TestSendFailedButLeaderNotChange (internal/locate/region_cache_test.go):
// a send failure to the leader moves the request to a follower; that
// follower answering NotLeader naming the other follower sends it there,
// where it is served; the region stays cached.
func TestSendFailedButLeaderNotChange(t *testing.T) {
	runCases(t, []accessCase{
		{write: true, answers: []answer{aDeadline, aNotLeaderTo(3)}, path: one("1:", "2:", "3:"),
			backoff: []string{"tikvRPC"}, valid: true},
		{write: true, answers: []answer{aDeadline, aNotLeaderTo(2)}, path: one("1:", "3:", "2:"),
			backoff: []string{"tikvRPC"}, valid: true},
	})
}

// TestSendFailedInHibernateRegion ports client-go's
// TestSendFailedInHibernateRegion (internal/locate/region_cache_test.go):
// after a send failure to the leader, a follower of a hibernating region
// answers NotLeader without a leader; the request moves on to the third
// peer (after a regionScheduling backoff) and is served there.
func TestSendFailedInHibernateRegion(t *testing.T) {
	runCases(t, []accessCase{
		{write: true, answers: []answer{aDeadline, aNotLeader}, path: one("1:", "x:", "y:"),
			backoff: []string{"tikvRPC", "regionScheduling"}, valid: true},
	})
}

// TestSendFailedInMultipleNode ports client-go's TestSendFailedInMultipleNode
// (internal/locate/region_cache_test.go): send failures to the leader and
// then to the next peer move the request to the third peer; when that one
// names the first (unreachable) store leader, no peer is left.
func TestSendFailedInMultipleNode(t *testing.T) {
	runCases(t, []accessCase{
		{write: true, answers: []answer{aDeadline, aDeadline}, path: one("1:", "x:", "y:"),
			backoff: []string{"tikvRPC", "tikvRPC"}, valid: true},
		{write: true, answers: []answer{aDeadline, aDeadline, aNotLeaderTo(1)}, path: one("1:", "x:", "y:"),
			backoff: []string{"tikvRPC", "tikvRPC"}, err: "noReplica"},
	})
}

// TestSendFailInvalidateRegionsInSameStore ports client-go's
// TestSendFailInvalidateRegionsInSameStore
// (internal/locate/region_cache_test.go): a send failure met by a request to
// one region makes the next request to another region led on the same store
// avoid it. client-go drops every region led there (store epoch); tikvgo
// keeps them cached and its replica selection skips the store known
// unreachable, so the other region's write goes to a follower first and
// learns the new leader from it without a tikvRPC backoff.
func TestSendFailInvalidateRegionsInSameStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		if _, err := h.mock.SplitTxn([]byte("m")); err != nil {
			t.Fatal(err)
		}
		h.cache.Invalidate(h.region("a"))
		h.cache.Invalidate(h.region("x"))
		if h.region("a").ID() == h.region("x").ID() {
			t.Fatal("no split")
		}
		h.stop(1)
		for _, k := range []string{"a", "x"} {
			if err := h.mock.TransferLeader(h.regionID(k), 2); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.prewrite(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		if got := h.rec.take(); got[0].store != 1 || got[len(got)-1].store != 2 {
			t.Fatalf("first region: path %v, want the stopped leader then store 2", paths(got))
		}
		start := time.Now()
		if _, err := h.prewrite(t.Context(), "x"); err != nil {
			t.Fatal(err)
		}
		got := h.rec.take()
		for _, a := range got {
			if a.store == 1 {
				t.Fatalf("second region: path %v tried the store known unreachable", paths(got))
			}
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("second region: slept %v", d)
		}
	})
}

// TestLabelSelectorTiKVPeer ports client-go's TestLabelSelectorTiKVPeer
// (internal/locate/region_cache_test.go): leader on store 1 in dc-1,
// followers on store 2 (dc-2) and store 3 (dc-1). Mixed reads pick a
// matching peer, follower reads a matching follower, leader reads ignore
// labels, and no match falls back to the leader. (Among matching peers a
// mixed read prefers the leader: client-go's case only asks for one of
// them.)
func TestLabelSelectorTiKVPeer(t *testing.T) {
	dc := func(n int) []*metapb.StoreLabel {
		return []*metapb.StoreLabel{{Key: "zone", Value: fmt.Sprintf("dc-%d", n)}}
	}
	for _, tc := range []struct {
		name   string
		read   kv.ReplicaReadType
		labels []*metapb.StoreLabel
		stores []uint64
	}{
		{"mixed in dc-1", mixed, dc(1), []uint64{1, 3}},
		{"mixed in dc-2", mixed, dc(2), []uint64{2}},
		{"follower in dc-1", follower, dc(1), []uint64{3}},
		{"leader ignores labels", leader, dc(2), []uint64{1}},
		{"no match: the leader", mixed, dc(3), []uint64{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t,
					withLabels(1, map[string]string{"zone": "dc-1"}),
					withLabels(2, map[string]string{"zone": "dc-2"}),
					withLabels(3, map[string]string{"zone": "dc-1"}))
				ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{ReplicaRead: tc.read, MatchLabels: tc.labels})
				for range 30 {
					if _, err := h.get(ctx, "key"); err != nil {
						t.Fatal(err)
					}
					got := h.rec.take()
					if len(got) != 1 || !slices.Contains(tc.stores, got[0].store) {
						t.Fatalf("path %v, want one attempt on one of %v", paths(got), tc.stores)
					}
				}
			})
		})
	}
}

// TestReconnect ports client-go's TestReconnect
// (internal/locate/region_cache_test.go): a region dropped after a
// connection failure is loaded again, with the same leader and followers.
func TestReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(2), withRaw())
		c := newCache(t, h)
		r := locate(t, c, "a")
		c.Invalidate(r)
		before := h.pd.regionLoads.Load()
		nr := locate(t, c, "a")
		if h.pd.regionLoads.Load() != before+1 {
			t.Fatal("the dropped region was not loaded again")
		}
		if nr.ID() != r.ID() || nr.Leader().GetStoreId() != 1 || nr.PeerOnStore(2) == nil {
			t.Fatalf("reloaded %v, want region %d led by store 1 with a peer on 2", nr, r.ID())
		}
		if locate(t, c, "x") != nr || h.pd.regionLoads.Load() != before+1 {
			t.Fatal("the reloaded region is not cached")
		}
	})
}

// TestFollowerReadFallback ports client-go's TestFollowerReadFallback and
// TestMixedReadFallback (internal/locate/region_cache_test.go): once a
// follower's store is found unreachable, follower reads go to the other
// follower and mixed reads to the leader or the other follower.
func TestFollowerReadFallback(t *testing.T) {
	for _, read := range []kv.ReplicaReadType{follower, mixed} {
		t.Run(read.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, withIDLabels())
				h.markUnreachable(2)
				ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{ReplicaRead: read})
				seen := map[uint64]bool{}
				for range 30 {
					if _, err := h.get(ctx, "key"); err != nil {
						t.Fatal(err)
					}
					got := h.rec.take()
					if len(got) != 1 || got[0].store == 2 {
						t.Fatalf("path %v: want one attempt avoiding the unreachable store 2", paths(got))
					}
					seen[got[0].store] = true
				}
				if read == follower && (len(seen) != 1 || !seen[3]) {
					t.Fatalf("follower reads served by %v, want store 3 only", seen)
				}
			})
		})
	}
}

// TestPeersLenChange ports client-go's TestPeersLenChange
// (internal/locate/region_cache_test.go): the region is reloaded with a
// peer PD reports down while a request to its leader is in flight; the
// send failure that follows is handled (no panic, no stale peer list) and
// the request is not sent to the down peer.
func TestPeersLenChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(2), withRaw())
		h.transferLeader("key", 2)
		rid := h.regionID("key")
		gate := mocktikv.NewGate()
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawPut, Store: 2, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Block(gate)),
			mocktikv.Times(1, mocktikv.Fail(errors.New("test: send fail"))),
		}})
		h.env.BackoffBudget = 5 * time.Second
		done := make(chan error, 1)
		go func() {
			_, err := h.rawPut(context.Background(), "key")
			done <- err
		}()
		<-gate.Arrived()
		// Meanwhile PD reports store 1's peer down and the cache reloads.
		if err := h.mock.SetPeerDown(rid, 1, true); err != nil {
			t.Fatal(err)
		}
		h.cache.Invalidate(h.region("key"))
		if r := h.region("key"); !r.HasDownPeers() {
			t.Fatalf("reloaded %v without the down peer", r)
		}
		gate.Open()
		err := <-done
		for _, a := range h.rec.take() {
			if a.store == 1 {
				t.Fatalf("a write went to the down peer: %v", a)
			}
		}
		_ = err // either served after the failure or given up: what matters is no panic and no down peer
	})
}

// TestContains ports client-go's TestContains and TestContainsByEnd
// (internal/locate/region_cache_test.go): [start, end) membership, and
// (start, end] membership for end-key lookups, with empty bounds open.
func TestContains(t *testing.T) {
	r := func(start, end []byte) *pdclient.Region {
		return pdclient.NewRegion(&metapb.Region{StartKey: start, EndKey: end}, nil)
	}
	k := func(b ...byte) []byte { return b }
	for _, tc := range []struct {
		region      *pdclient.Region
		key         []byte
		in, inByEnd bool
	}{
		{r(nil, nil), k(), true, true},
		{r(nil, nil), k(10), true, true},
		{r(k(10), nil), k(), false, true},
		{r(k(10), nil), k(9), false, false},
		{r(k(10), nil), k(10), true, false},
		{r(k(10), nil), k(11), true, true},
		{r(nil, k(10)), k(), true, false},
		{r(nil, k(10)), k(9), true, true},
		{r(nil, k(10)), k(10), false, true},
		{r(nil, k(10)), k(11), false, false},
		{r(k(10), k(20)), k(), false, false},
		{r(k(10), k(20)), k(15), true, true},
		{r(k(10), k(20)), k(30), false, false},
	} {
		if got := tc.region.Contains(tc.key); got != tc.in {
			t.Errorf("[%x, %x).Contains(%x) = %v", tc.region.StartKey(), tc.region.EndKey(), tc.key, got)
		}
		if got := tc.region.ContainsByEnd(tc.key); got != tc.inByEnd {
			t.Errorf("[%x, %x).ContainsByEnd(%x) = %v", tc.region.StartKey(), tc.region.EndKey(), tc.key, got)
		}
	}
}

// TestNoBackoffWhenFailToDecodeRegion ports client-go's
// TestNoBackoffWhenFailToDecodeRegion (internal/locate/region_cache_test.go):
// a region whose boundary is not a memcomparable-encoded key (a raw split in
// a transactional keyspace) fails every lookup at once: no PD retry, no
// backoff, by key, by id and by range.
func TestNoBackoffWhenFailToDecodeRegion(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		right := h.regionID("k")
		if _, err := h.mock.Split([]byte("k")); err != nil {
			t.Fatal(err)
		}
		for name, lookup := range map[string]func() error{
			"key": func() error { _, err := h.cache.Locate(t.Context(), []byte("k")); return err },
			"id":  func() error { _, err := h.cache.LocateByID(t.Context(), right); return err },
			"range": func() error {
				_, err := h.cache.LoadRange(t.Context(), nil, nil, 10)
				return err
			},
		} {
			loads, scans := h.pd.regionLoads.Load(), h.pd.scans.Load()
			start := time.Now()
			err := lookup()
			if !errors.Is(err, kv.ErrProtocol) {
				t.Fatalf("by %s: %v, want a protocol error", name, err)
			}
			if d := time.Since(start); d != 0 {
				t.Errorf("by %s: backed off %v", name, d)
			}
			if n := h.pd.regionLoads.Load() - loads + h.pd.scans.Load() - scans; n != 1 {
				t.Errorf("by %s: %d PD calls, want 1", name, n)
			}
		}
	})
}

// TestRemoveIntersectingRegions ports client-go's TestRemoveIntersectingRegions
// (internal/locate/region_cache_test.go): regions [,b) [b,c) [c,d) [d,e)
// [e,) are cached; the first four merge. The cache keeps serving the stale
// pieces until one is found stale; the merged region loaded then replaces
// every cached region it overlaps, and the same again when the last region
// (empty end key) merges in.
func TestRemoveIntersectingRegions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		c := newCache(t, h)
		ids := map[byte]uint64{}
		for _, k := range []string{"b", "c", "d", "e"} {
			if _, err := h.mock.Split([]byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		for ch := byte('a'); ch <= 'e'; ch++ {
			ids[ch] = locate(t, c, string(ch)).ID()
		}
		survivor := ids['a']
		for ch := byte('b'); ch <= 'd'; ch++ {
			// Merge keeps the target's id.
			if err := h.mock.Merge(survivor, ids[ch]); err != nil {
				t.Fatal(err)
			}
			survivor = ids[ch]
		}
		if locate(t, c, "c").ID() != ids['c'] || locate(t, c, "e").ID() != ids['e'] {
			t.Fatal("the cache should still serve its (stale) pieces")
		}
		c.Invalidate(locate(t, c, "c"))
		if r := locate(t, c, "c"); r.ID() != survivor {
			t.Fatalf("after reload: %v, want the merged region %d", r, survivor)
		}
		loads := h.pd.regionLoads.Load()
		for _, k := range []string{"a", "b", "d"} {
			if r := locate(t, c, k); r.ID() != survivor {
				t.Fatalf("%s: %v, want the merged region %d (overlapping pieces dropped)", k, r, survivor)
			}
		}
		if h.pd.regionLoads.Load() != loads {
			t.Fatal("the merged region was not cached for its whole range")
		}
		if err := h.mock.Merge(survivor, ids['e']); err != nil {
			t.Fatal(err)
		}
		c.Invalidate(locate(t, c, "e"))
		last := locate(t, c, "e")
		if last.ID() != ids['e'] || len(last.StartKey()) != 0 || len(last.EndKey()) != 0 {
			t.Fatalf("after the last merge: %v, want region %d over everything", last, ids['e'])
		}
		if locate(t, c, "a") != last {
			t.Fatal("the previous merged region survived the last merge")
		}
	})
}

// TestShouldNotRetryFlashback ports client-go's TestShouldNotRetryFlashback
// (internal/locate/region_cache_test.go): FlashbackInProgress and
// FlashbackNotPrepared end the request at once (one attempt, no backoff, a
// fatal region error); BucketVersionNotMatch is not retried either, and its
// buckets replace the cached ones.
func TestShouldNotRetryFlashback(t *testing.T) {
	for _, e := range []*errorpb.Error{
		{Message: "flashback", FlashbackInProgress: &errorpb.FlashbackInProgress{}},
		{Message: "flashback not prepared", FlashbackNotPrepared: &errorpb.FlashbackNotPrepared{}},
	} {
		kind := kv.RegionErrorKind(e)
		t.Run(kind, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(e))}})
				start := time.Now()
				_, err := h.prewrite(t.Context(), "a")
				if k := errKind(err); k != "fatal:"+kind {
					t.Fatalf("%v (%s), want a fatal %s", err, k, kind)
				}
				if n := len(h.rec.take()); n != 1 || time.Since(start) != 0 {
					t.Fatalf("%d attempts in %v, want one at once", n, time.Since(start))
				}
			})
		})
	}
	t.Run("BucketVersionNotMatch", func(t *testing.T) {
		// TiKV reports bucket keys in stored form: memcomparable for
		// transactional keys; the cache holds them decoded.
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.RegionError(
				&errorpb.Error{Message: "bucket", BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{Keys: [][]byte{codec.EncodeBytes(nil, []byte("a"))}, Version: 1}}))}})
			_, err := h.prewrite(t.Context(), "a")
			if k := errKind(err); k != "region:BucketVersionNotMatch" {
				t.Fatalf("%v (%s), want the region error handed back", err, k)
			}
			if n := len(h.rec.take()); n != 1 {
				t.Fatalf("%d attempts, want 1", n)
			}
			b := h.region("a").Buckets()
			if b.GetVersion() != 1 || len(b.GetKeys()) != 1 || string(b.GetKeys()[0]) != "a" {
				t.Fatalf("cached buckets %v, want version 1 keys [a]", b)
			}
		})
	})
}

// TestSplitThenLocate ports client-go's TestSplitThenLocateInvalidRegion,
// TestSplitThenLocateRegionNeedReloadOnAccess and
// TestSplitThenLocateRegionNeedDelayedReload
// (internal/locate/region_cache_test.go): a region loaded by id splits at k
// and the client learns its copy is no longer good; lookups by key and by
// range then load the new halves: the start key's region no longer
// contains k, k's region does. (client-go marks the region invalid, or
// flags it for reload on access or delayed reload; tikvgo has one way to
// retire a region, Invalidate, which all three come to.)
func TestSplitThenLocate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		c := newCache(t, h)
		r1, err := c.LocateByID(t.Context(), h.regionID("k"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.mock.Split([]byte("k")); err != nil {
			t.Fatal(err)
		}
		c.Invalidate(r1)
		rs, err := c.LoadRange(t.Context(), r1.StartKey(), nil, 2)
		if err != nil || len(rs) != 2 || rs[0].ID() == r1.ID() {
			t.Fatalf("range from the old start: %v, %v: want the two new halves", rs, err)
		}
		left := locate(t, c, string(r1.StartKey()))
		if left.Contains([]byte("k")) {
			t.Fatalf("left half %v contains the split key", left)
		}
		if right := locate(t, c, "k"); !right.Contains([]byte("k")) || right.ID() == left.ID() {
			t.Fatalf("k's region %v", right)
		}
	})
}

// TestBatchScanRegions ports client-go's TestBatchScanRegions and
// TestBatchScanRegionsFallback (internal/locate/region_cache_test.go) onto
// tikvgo's LoadRange (one range per call; client-go's BatchLocateKeyRanges
// takes several, so each of its multi-range checks is the union of
// LoadRange calls here): regions [,a) [a,b) ... [g,) with parts of the key
// space cached, including after a merge and a re-split behind the cache's
// back. Ranges are served from the cache where it covers them and from PD
// elsewhere, and what PD returns replaces overlapping cached regions.
// The fallback (PD without BatchScanRegions) is pdclient's
// TestLoadRangeFallsBackToScanRegions.
func TestBatchScanRegions(t *testing.T) {
	type kr struct{ start, end string }
	rs := func(keys ...string) []kr {
		var out []kr
		for i := 0; i < len(keys); i += 2 {
			out = append(out, kr{keys[i], keys[i+1]})
		}
		return out
	}
	setup := func(t *testing.T) (*harness, *pdclient.RegionCache, []uint64) {
		h := newHarness(t, withStores(1), withRaw())
		for ch := byte('a'); ch <= 'g'; ch++ {
			if _, err := h.mock.Split([]byte{ch}); err != nil {
				t.Fatal(err)
			}
		}
		ids := []uint64{h.regionID("")}
		for ch := byte('a'); ch <= 'g'; ch++ {
			ids = append(ids, h.regionID(string(ch)))
		}
		return h, newCache(t, h), ids
	}
	scan := func(t *testing.T, c *pdclient.RegionCache, ranges []kr) []uint64 {
		var out []uint64
		for _, r := range ranges {
			got, err := c.LoadRange(t.Context(), []byte(r.start), []byte(r.end), 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				if len(out) == 0 || out[len(out)-1] != g.ID() {
					out = append(out, g.ID())
				}
			}
		}
		return out
	}
	fill := func(t *testing.T, c *pdclient.RegionCache, ranges []kr) {
		for _, r := range ranges {
			if _, err := c.LoadRange(t.Context(), []byte(r.start), []byte(r.end), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	type tc struct {
		scan, cached []kr
		want         func(ids []uint64) []uint64
	}
	for i, c := range []tc{
		{rs("A", "B", "C", "D", "E", "F"), rs("", "a"), func(ids []uint64) []uint64 { return ids[:1] }},
		{rs("A", "B", "C", "D", "E", "F", "G", "c"), rs("", "c"), func(ids []uint64) []uint64 { return ids[:3] }},
		{rs("a", "g"), nil, func(ids []uint64) []uint64 { return ids[1:7] }},
		{rs("a", "g"), rs("a", "d"), func(ids []uint64) []uint64 { return ids[1:7] }},
		{rs("a", "d", "e", "g"), rs("a", "d"), func(ids []uint64) []uint64 { return []uint64{ids[1], ids[2], ids[3], ids[5], ids[6]} }},
		{rs("a", "d", "e", "g"), rs("a", "b", "e", "f"), func(ids []uint64) []uint64 { return []uint64{ids[1], ids[2], ids[3], ids[5], ids[6]} }},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, cache, ids := setup(t)
				fill(t, cache, c.cached)
				if got, want := scan(t, cache, c.scan), c.want(ids); !slices.Equal(got, want) {
					t.Fatalf("scan %v with %v cached: %v, want %v", c.scan, c.cached, got, want)
				}
				// Scanning again is served from the cache.
				scans, loads := h.pd.scans.Load(), h.pd.regionLoads.Load()
				scan(t, cache, c.scan)
				if h.pd.scans.Load() != scans || h.pd.regionLoads.Load() != loads {
					t.Fatal("a range the cache covers asked PD")
				}
			})
		})
	}
	// A merge behind the cache's back: [a,b) and [b,c) are one region now.
	// The cached [a,b) is stale; scanning [a,d) must not return both it and
	// the merged region.
	t.Run("merge", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h, cache, ids := setup(t)
			fill(t, cache, rs("a", "b", "e", "f"))
			if err := h.mock.Merge(ids[1], ids[2]); err != nil {
				t.Fatal(err)
			}
			// The merged region (the target, ids[2]) replaces the stale
			// cached [a,b): no key is covered twice.
			got := scan(t, cache, rs("a", "d", "e", "g"))
			if want := []uint64{ids[2], ids[3], ids[5], ids[6]}; !slices.Equal(got, want) {
				t.Fatalf("after the merge: %v, want %v", got, want)
			}
		})
	})
	// A merge and two splits behind the cache's back, where PD's answer
	// does not reach back over all of the cached range: the cached
	// regions PD's answer does not replace are still returned.
	//   before: [a,b) [b,c) [c,d) [d,e) [e,f) [f,g); cached [a,c) [e,f)
	//   after:  ... [d,e) merged into [e,f) as [d,f), split at d2 and e1
	t.Run("merge and split", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h, cache, ids := setup(t)
			fill(t, cache, rs("a", "c", "e", "f"))
			if err := h.mock.Merge(ids[4], ids[5]); err != nil {
				t.Fatal(err)
			}
			n1, err := h.mock.Split([]byte("d2"))
			if err != nil {
				t.Fatal(err)
			}
			n2, err := h.mock.Split([]byte("e1"))
			if err != nil {
				t.Fatal(err)
			}
			got := scan(t, cache, rs("a", "d3", "e", "g"))
			// [a,b) [b,c) cached; [c,d) [d,d2) [d2,e1) from PD for the first
			// range; the stale cached [e,f) for the second (the cache still
			// covers e), then [f,g) from PD.
			want := []uint64{ids[1], ids[2], ids[3], n1, n2, ids[5], ids[6]}
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	})
}

// TestRegionCacheValidAfterLoading ports client-go's
// TestRegionCacheValidAfterLoading (internal/locate/region_cache_test.go):
// whatever lookup loads regions from PD (by key, end key, id, range), a
// cached region that is still valid stays cached; one that was dropped is
// cached again by the lookup that loads it.
func TestRegionCacheValidAfterLoading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		for ch := byte('a'); ch <= 'j'; ch++ {
			if _, err := h.mock.Split([]byte{ch}); err != nil {
				t.Fatal(err)
			}
		}
		c := newCache(t, h)
		ctx := t.Context()
		lookups := map[string]func() error{
			"LoadRange": func() error { _, err := c.LoadRange(ctx, []byte("a"), []byte("e"), 0); return err },
			"LoadRange limit": func() error {
				_, err := c.LoadRange(ctx, []byte("a"), nil, 10)
				return err
			},
			"Locate":       func() error { _, err := c.Locate(ctx, []byte("b")); return err },
			"LocateEndKey": func() error { _, err := c.LocateEndKey(ctx, []byte("c")); return err },
			"LocateByID": func() error {
				for _, r := range h.mock.Regions() {
					if _, err := c.LocateByID(ctx, r.GetId()); err != nil {
						return err
					}
				}
				return nil
			},
		}
		cachedB := func() bool {
			before := h.pd.regionLoads.Load()
			locate(t, c, "b")
			return h.pd.regionLoads.Load() == before
		}
		for name, f := range lookups {
			locate(t, c, "b")
			if err := f(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !cachedB() {
				t.Fatalf("%s dropped the valid region of b", name)
			}
		}
		for name, f := range lookups {
			if name == "Locate" {
				continue // trivially reloads it
			}
			c.Invalidate(locate(t, c, "b"))
			if err := f(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !cachedB() {
				t.Fatalf("%s loaded b's region without caching it", name)
			}
		}
	})
}

// TestListRegionIDsInCache ports client-go's TestListRegionIDsInCache
// (internal/locate/region_cache_test.go) onto LoadRange, tikvgo's way to
// list the regions of a range: regions [,m) and [m,). client-go's
// ListRegionIDsInKeyRange also lists the region starting at the range's end
// key; LoadRange's end is exclusive, so [a,m) is the first region only.
func TestListRegionIDsInCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withStores(1), withRaw())
		c := newCache(t, h)
		first, err := h.mock.Split([]byte("m"))
		if err != nil {
			t.Fatal(err)
		}
		second := h.regionID("m")
		list := func(start, end string) []uint64 {
			rs, err := c.LoadRange(t.Context(), []byte(start), []byte(end), 0)
			if err != nil {
				t.Fatal(err)
			}
			var out []uint64
			for _, r := range rs {
				out = append(out, r.ID())
			}
			return out
		}
		for _, tc := range []struct {
			start, end string
			want       []uint64
		}{
			{"a", "z", []uint64{first, second}},
			{"m", "z", []uint64{second}},
			{"a", "m", []uint64{first}},
			{"a", "m\x00", []uint64{first, second}},
		} {
			if got := list(tc.start, tc.end); !slices.Equal(got, tc.want) {
				t.Errorf("[%q, %q): %v, want %v", tc.start, tc.end, got, tc.want)
			}
		}
	})
}
