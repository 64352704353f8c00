package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

// errGuardRefused stands for a circuit breaker's refusal: not sent.
var errGuardRefused = fmt.Errorf("%w: store 1 refused by its guard", transport.ErrNotSent)

// TestStoreGuardFailsFastWhenTheLeaderIsRefused: with the leader's store
// down and its guard refusing it, a write tries the follower (which
// answers NotLeader naming the same leader), then has no replica left and
// fails at once with the guard's not-sent error: no backoff, no re-route,
// not undetermined. Without a guard the same piece hands itself back for
// re-routing, as before.
func TestStoreGuardFailsFastWhenTheLeaderIsRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.truth.SetStoreDown(1, true)
		r, _ := c.Locate(context.Background(), []byte("k"))
		leader := r.Leader()
		c.tikv.Always(pipelinetest.ForStore(2), pipelinetest.RegionError(&errorpb.Error{
			NotLeader: &errorpb.NotLeader{RegionId: r.ID(), Leader: leader}}))
		req := &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")}

		// Without a guard: no replica left is stale routing for Shard.
		_, err := Retry(c.env(), testPutOnce)(context.Background(), r, req)
		if !isReroute(err) {
			t.Fatalf("without a guard: %v, want a re-routable region error", err)
		}

		env := c.env()
		var asked []uint64
		env.StoreGuard = func(store uint64) error {
			asked = append(asked, store)
			if store == leader.GetStoreId() {
				return errGuardRefused
			}
			return nil
		}
		r, _ = c.Locate(context.Background(), []byte("k"))
		st := env.newRetryState(context.Background())
		ctx := withRetryState(context.Background(), st)
		_, err = Retry(env, testPutOnce)(ctx, r, req)
		if !errors.Is(err, errGuardRefused) || !errors.Is(err, transport.ErrNotSent) {
			t.Fatalf("with the leader refused: %v, want the guard's not-sent error", err)
		}
		if isReroute(err) || errors.Is(err, kv.ErrUndetermined) {
			t.Fatalf("with the leader refused: %v is re-routable or undetermined", err)
		}
		if len(asked) != 1 || asked[0] != leader.GetStoreId() {
			t.Fatalf("guard asked about stores %v, want only the leader's %d", asked, leader.GetStoreId())
		}
		if slept := st.bo.Slept(); slept != 0 {
			t.Fatalf("slept %v before failing, want no backoff", slept)
		}
	})
}
