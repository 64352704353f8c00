package pipeline

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
)

// The tests in this file run the pipeline over the real region cache
// (cachedEnv): what they check is what that cache makes of TiKV's
// feedback, store health and PD lookups included.

// getPlan is a single-key read plan, as the raw client builds one.
func getPlan(env *Env) Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse] {
	return Single(Shard(env, ByKey((*kvrpcpb.RawGetRequest).GetKey), Retry(env, testGet)))
}

func mustGet(t *testing.T, plan Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse], key, want string) {
	t.Helper()
	resp, err := plan(context.Background(), &kvrpcpb.RawGetRequest{Key: []byte(key)})
	if err != nil || string(resp.GetValue()) != want {
		t.Fatalf("Get(%q) = %v, %v; want %q", key, resp, err, want)
	}
}

// TestLeaderHintUpdatesCache: after a NotLeader naming the new leader, the
// next call goes straight to it, and the hint costs no PD lookup (client-go's
// onNotLeader updates the cached region's leader).
func TestLeaderHintUpdatesCache(t *testing.T) {
	c := newFakeCluster()
	c.truth.KV().Put("k", "v")
	env, pd, _ := c.cachedEnv(t)
	get := getPlan(env)
	mustGet(t, get, "k", "v") // the cache learns region 1, led from store 1
	c.truth.MoveLeader("k", 2)

	c.rec.Reset()
	mustGet(t, get, "k", "v")
	if got := fmt.Sprint(storesOf(c.rec.Requests())); got != "[1 2]" {
		t.Fatalf("after the leader moved: attempts to stores %s, want [1 2] (stale leader, then the hint)", got)
	}
	c.rec.Reset()
	mustGet(t, get, "k", "v")
	if got := fmt.Sprint(storesOf(c.rec.Requests())); got != "[2]" {
		t.Fatalf("next call: attempts to stores %s, want [2]: the hint did not reach the cache", got)
	}
	if n := pd.RegionLookups(); n != 1 {
		t.Fatalf("%d PD region lookups, want 1 (the first call's)", n)
	}
}

// TestLeaderHintOutsideRegionReloadsFromPD: a NotLeader naming a store the
// cached region has no peer on means the membership changed: the region is
// dropped from the cache, and the re-split asks PD.
func TestLeaderHintOutsideRegionReloadsFromPD(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.truth.KV().Put("k", "v")
		env, pd, _ := c.cachedEnv(t)
		get := getPlan(env)
		mustGet(t, get, "k", "v")
		c.tikv.Script(nil, pipelinetest.RegionError(&errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: 1, Leader: &metapb.Peer{Id: 19, StoreId: 9}}}))
		c.rec.Reset()
		mustGet(t, get, "k", "v")
		if got := fmt.Sprint(storesOf(c.rec.Requests())); got != "[1 1]" {
			t.Fatalf("attempts to stores %s, want [1 1]", got)
		}
		if n := pd.Count("GetRegion"); n != 2 {
			t.Fatalf("%d GetRegion calls, want 2: the warm-up and the reload after invalidation", n)
		}
	})
}

// TestShardResplitsOnlyTheStalePiece: after a split, only the piece sent to
// the split region comes back and is re-split, over the regions TiKV named
// in EpochNotMatch (no PD round trip); the next call routes right at once.
func TestShardResplitsOnlyTheStalePiece(t *testing.T) {
	c := newFakeCluster("d", "m")
	for _, k := range []string{"a", "b", "e", "f", "g", "n"} {
		c.truth.KV().Put(k, "v"+k)
	}
	env, pd, _ := c.cachedEnv(t)
	plan := Collect(Shard(env, batchGetSplit(Limit[[]byte]{}), Retry(env, testBatchGet)),
		(*kvrpcpb.RawBatchGetResponse).GetPairs)
	req := &kvrpcpb.RawBatchGetRequest{Keys: keysOf("a", "b", "e", "f", "g", "n")}
	run := func() map[uint64]int {
		t.Helper()
		c.rec.Reset()
		pairs, err := plan(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range pairs {
			got = append(got, string(p.Key))
		}
		if want := []string{"a", "b", "e", "f", "g", "n"}; !slices.Equal(got, want) {
			t.Fatalf("pairs = %v, want %v in key order", got, want)
		}
		perRegion := map[uint64]int{}
		for _, s := range c.rec.Requests() {
			perRegion[s.Target.RegionID]++
		}
		return perRegion
	}
	run()                 // warm the cache
	c.truth.Split("f", 9) // region 2 [d,m) -> [d,f) v2 + [f,m) id 9
	pd.ResetCounts()

	// Regions 1 and 3 once; region 2 twice (stale, then its left half);
	// the new region 9 once.
	if got, want := run(), map[uint64]int{1: 1, 2: 2, 3: 1, 9: 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sends per region = %v, want %v", got, want)
	}
	if n := pd.RegionLookups(); n != 0 {
		t.Fatalf("%d PD region lookups after EpochNotMatch carried the current regions, want 0", n)
	}
	if got, want := run(), map[uint64]int{1: 1, 2: 1, 3: 1, 9: 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("next call: sends per region = %v, want %v", got, want)
	}
}

// TestStreamResplitsAfterSplit: a scan over a region split since it was
// cached re-routes over the regions EpochNotMatch names, without PD.
func TestStreamResplitsAfterSplit(t *testing.T) {
	c := newFakeCluster("j")
	var all []string
	for ch := 'a'; ch <= 'o'; ch++ {
		c.truth.KV().Put(string(ch), "v")
		all = append(all, string(ch))
	}
	env, pd, _ := c.cachedEnv(t)
	_ = scanAll(t, env, &kvrpcpb.RawScanRequest{}, 0) // warm the cache
	c.truth.Split("e", 7)
	pd.ResetCounts()
	c.rec.Reset()
	if got := scanAll(t, env, &kvrpcpb.RawScanRequest{}, 0); !slices.Equal(got, all) {
		t.Fatalf("after split got %v", got)
	}
	if n := pd.RegionLookups(); n != 0 {
		t.Fatalf("%d PD region lookups, want 0", n)
	}
	var regions []uint64
	for _, s := range c.rec.Requests() {
		if len(regions) == 0 || regions[len(regions)-1] != s.Target.RegionID {
			regions = append(regions, s.Target.RegionID)
		}
	}
	// Region 1 (stale, then its left half [,e)), region 7 [e,j), region 2.
	if got := fmt.Sprint(regions); got != "[1 7 2]" {
		t.Fatalf("pages went to regions %s, want [1 7 2]", got)
	}
}

// TestUnreachableLeaderTriesFollowerWithLeaderRead: after the leader's
// store stops answering, the next attempt goes to a follower as a leader
// read; when that follower is the new leader it serves. The cache learns
// both facts: the store is found unreachable by its health check, and the
// next call goes straight to the new leader.
func TestUnreachableLeaderTriesFollowerWithLeaderRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeClusterOf(3)
		c.truth.KV().Put("k", "v")
		env, _, cache := c.cachedEnv(t)
		get := getPlan(env)
		mustGet(t, get, "k", "v")
		c.truth.SetStoreDown(1, true)
		c.truth.MoveLeader("k", 2)

		c.rec.Reset()
		mustGet(t, get, "k", "v")
		got := attemptsOf(c.rec.Requests())
		if got[0] != "1:" || got[len(got)-1] != "2:" {
			t.Fatalf("attempts = %v, want the dead leader, then store 2 as leader", got)
		}
		if l := cache.StoreHealth(1).Liveness; l != pdclient.Unreachable {
			t.Fatalf("store 1 liveness = %v after a failed send and a failing health check, want unreachable", l)
		}
		c.rec.Reset()
		mustGet(t, get, "k", "v")
		if got := fmt.Sprint(attemptsOf(c.rec.Requests())); got != "[2:]" {
			t.Fatalf("next call: attempts = %s, want [2:]", got)
		}
	})
}

// TestRegionErrorsAndTheCache: each TiKV region error is answered once to a
// read of a cached region; the read then succeeds, and the errors that mean
// the cached routing is wrong have made the cache drop the region, so the
// re-split asks PD again. The others cost no PD lookup. StoreNotMatch also
// has the store's address resolved again.
func TestRegionErrorsAndTheCache(t *testing.T) {
	cases := []struct {
		err          *errorpb.Error
		reload       bool
		storeResolve bool
	}{
		{&errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{}}, true, false},
		{&errorpb.Error{MismatchPeerId: &errorpb.MismatchPeerId{}}, true, false},
		{&errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}}, true, false},
		{&errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}, true, false},
		{&errorpb.Error{RecoveryInProgress: &errorpb.RecoveryInProgress{}}, true, false},
		{&errorpb.Error{IsWitness: &errorpb.IsWitness{}}, true, false},
		{&errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{}}, true, true},
		{&errorpb.Error{NotLeader: &errorpb.NotLeader{Leader: &metapb.Peer{Id: 99, StoreId: 9}}}, true, false},
		{&errorpb.Error{BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{}}, false, false},
		{&errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{}}, false, false},
		{&errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}, false, false},
		{&errorpb.Error{StaleCommand: &errorpb.StaleCommand{}}, false, false},
		{&errorpb.Error{Message: "something new"}, false, false},
	}
	for _, tc := range cases {
		t.Run(kv.RegionErrorKind(tc.err), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newFakeCluster()
				c.truth.KV().Put("k", "v")
				env, pd, _ := c.cachedEnv(t)
				get := getPlan(env)
				mustGet(t, get, "k", "v")
				pd.ResetCounts()
				c.tikv.Script(nil, pipelinetest.RegionError(tc.err))
				mustGet(t, get, "k", "v")
				if got := pd.RegionLookups() > 0; got != tc.reload {
					t.Fatalf("asked PD for the region again: %v, want %v", got, tc.reload)
				}
				if got := pd.Count("GetStore") > 0; got != tc.storeResolve {
					t.Fatalf("resolved a store again: %v, want %v", got, tc.storeResolve)
				}
			})
		})
	}
}
