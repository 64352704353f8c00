package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline/pipelinetest"
)

// TestShardByKeyMatchesShard runs a single-key read through ShardByKey and
// through Shard with ByKey, the two ways to build the same plan, over the
// real region cache: both route the key to the same stores, re-split after
// a split the cache has not seen, and wait out a PD outage under the
// PDRPC policy, with the same answers, attempts and PD lookups.
func TestShardByKeyMatchesShard(t *testing.T) {
	builds := map[string]func(*Env) Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]{
		"Shard(ByKey)": getPlan,
		"ShardByKey": func(env *Env) Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse] {
			return Single(ShardByKey(env, (*kvrpcpb.RawGetRequest).GetKey, Retry(env, testGet)))
		},
	}
	// run returns, per build, what a scenario saw.
	run := func(t *testing.T, scenario func(t *testing.T, c *fakeCluster, pd *pipelinetest.PD, get Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]) string) {
		t.Helper()
		seen := map[string]string{}
		for name, build := range builds {
			synctest.Test(t, func(t *testing.T) {
				c := newFakeCluster("m")
				c.truth.KV().Put("f", "vf")
				c.truth.KV().Put("p", "vp")
				env, pd, _ := c.cachedEnv(t)
				seen[name] = scenario(t, c, pd, build(env))
			})
		}
		if seen["ShardByKey"] != seen["Shard(ByKey)"] {
			t.Fatalf("ShardByKey saw %s; Shard(ByKey) saw %s", seen["ShardByKey"], seen["Shard(ByKey)"])
		}
		t.Log(seen["ShardByKey"])
	}
	get := func(t *testing.T, c *fakeCluster, plan Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse], key string) string {
		t.Helper()
		c.rec.Reset()
		resp, err := plan(context.Background(), &kvrpcpb.RawGetRequest{Key: []byte(key)})
		var regions []uint64
		for _, r := range c.rec.Requests() {
			regions = append(regions, r.Target.RegionID)
		}
		return fmt.Sprintf("%s=%q err=%v regions=%v", key, resp.GetValue(), err, regions)
	}

	t.Run("split", func(t *testing.T) {
		run(t, func(t *testing.T, c *fakeCluster, pd *pipelinetest.PD, plan Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]) string {
			warm := get(t, c, plan, "f")
			c.truth.Split("e", 9)
			pd.ResetCounts()
			after := get(t, c, plan, "f")
			if want := `f="vf" err=<nil> regions=[1 9]`; after != want {
				t.Fatalf("after a split: %s, want %s (stale region, then the new one EpochNotMatch named)", after, want)
			}
			return fmt.Sprintf("%s; %s; %s; lookups=%d", warm, after, get(t, c, plan, "p"), pd.RegionLookups())
		})
	})
	t.Run("pd-outage", func(t *testing.T) {
		run(t, func(t *testing.T, c *fakeCluster, pd *pipelinetest.PD, plan Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]) string {
			start := time.Now()
			pd.FailRegionLookupsUntil(start.Add(2 * time.Second))
			got := get(t, c, plan, "p")
			if want := `p="vp" err=<nil> regions=[2]`; got != want {
				t.Fatalf("after a PD outage: %s, want %s", got, want)
			}
			if waited := time.Since(start); waited < 2*time.Second {
				t.Fatalf("answered after %v, before PD came back", waited)
			}
			return got
		})
	})
	t.Run("pd-down-past-budget", func(t *testing.T) {
		run(t, func(t *testing.T, c *fakeCluster, pd *pipelinetest.PD, plan Plan[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]) string {
			pd.FailRegionLookupsUntil(time.Now().Add(time.Hour))
			_, err := plan(context.Background(), &kvrpcpb.RawGetRequest{Key: []byte("p")})
			if !errors.Is(err, pipelinetest.ErrPDUnavailable) {
				t.Fatalf("err = %v, want one wrapping ErrPDUnavailable", err)
			}
			return fmt.Sprintf("sent=%d", len(c.rec.Requests()))
		})
	})
}
