package locate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// Ports of client-go internal/locate/region_request3_test.go
// (testRegionRequestToThreeStoresSuite): the request sender on a region
// with three replicas, leader on store 1, stores labelled id=<store>.

// serve answers every request of cmd with an empty (successful) response.
func serve(cmd transport.Cmd) mocktikv.Action {
	return mocktikv.Respond(func(transport.Message) transport.Message { return cmd.NewResponse() })
}

func ctxOf(req transport.Message, cmd transport.Cmd) *kvrpcpb.Context { return cmd.Context(req) }

// TestSwitchPeerWhenNoLeader ports client-go's TestSwitchPeerWhenNoLeader
// (internal/locate/region_request3_test.go): the first peer keeps answering
// NotLeader without a hint; the write moves to another peer and succeeds
// there.
func TestSwitchPeerWhenNoLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withRaw(), withIDLabels())
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawPut, Store: 1, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(notLeader(nil)))}})
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawPut, Steps: []mocktikv.Step{mocktikv.Always(serve(transport.CmdRawPut))}})
		if err := raw.NewClient(h.cluster).Put(t.Context(), []byte("key"), []byte("value")); err != nil {
			t.Fatal(err)
		}
		got := paths(h.rec.take())
		if !matchPath([]string{"1:", "x:"}, got) {
			t.Fatalf("path %v, want [1: x:]", got)
		}
	})
}

// TestSwitchPeerWhenNoLeaderErrorWithNewLeaderInfo ports client-go's
// TestSwitchPeerWhenNoLeaderErrorWithNewLeaderInfo
// (internal/locate/region_request3_test.go): NotLeader naming the next peer
// is followed within the same request (two RPCs, no re-split) and the region
// stays cached.
func TestSwitchPeerWhenNoLeaderErrorWithNewLeaderInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.RegionError(notLeader(h.peer("a", 2)))),
			mocktikv.Always(serve(transport.CmdGet)),
		}})
		start := time.Now()
		if _, err := h.get(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		if got := paths(h.rec.take()); fmt.Sprint(got) != "[1: 2:]" {
			t.Fatalf("path %v, want [1: 2:]", got)
		}
		if time.Since(start) != 0 {
			t.Fatal("a NotLeader with a hint must not back off")
		}
		if !h.cached("a") || h.region("a").Leader().GetStoreId() != 2 {
			t.Fatalf("region %v: want it cached, led by store 2", h.region("a"))
		}
	})
}

// TestSendReqWithReplicaSelector ports client-go's
// TestSendReqWithReplicaSelector's full loop
// (internal/locate/region_request3_test.go): the leader's store stops and
// leadership moves; the request fails over to the new leader, the cache
// learns it, and the next request goes there directly; after a split the
// stale epoch is re-routed.
func TestSendReqWithReplicaSelector(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withRaw(), withIDLabels())
		client := raw.NewClient(h.cluster)
		ctx := t.Context()
		if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		h.rec.take()
		h.stop(1)
		if err := h.mock.TransferLeader(h.regionID("k"), 2); err != nil {
			t.Fatal(err)
		}
		v, err := client.Get(ctx, []byte("k"))
		if err != nil || string(v) != "v" {
			t.Fatalf("get after leader store stopped: %q, %v", v, err)
		}
		got := h.rec.take()
		if len(got) < 2 || got[0].store != 1 || got[len(got)-1].store != 2 {
			t.Fatalf("path %v: want the stopped leader first and the new leader last", paths(got))
		}
		if _, err := client.Get(ctx, []byte("k")); err != nil {
			t.Fatal(err)
		}
		if got := paths(h.rec.take()); fmt.Sprint(got) != "[2:]" {
			t.Fatalf("the next request went %v, want straight to the new leader [2:]", got)
		}
		// The store comes back; a split bumps the epoch: the stale region is
		// re-routed and both halves are read.
		h.start(1)
		if _, err := h.mock.Split([]byte("m")); err != nil {
			t.Fatal(err)
		}
		if err := client.Put(ctx, []byte("z"), []byte("w")); err != nil {
			t.Fatal(err)
		}
		got = h.rec.take()
		if got[0].regionErr != "EpochNotMatch" {
			t.Fatalf("attempts %v: want the first to meet EpochNotMatch", got)
		}
		if v, err := client.Get(ctx, []byte("z")); err != nil || string(v) != "w" {
			t.Fatalf("get after split: %q, %v", v, err)
		}
	})
}

// TestLoadBasedReplicaRead ports client-go's TestLoadBasedReplicaRead
// (internal/locate/region_request3_test.go): a leader read with a busy
// threshold moves to idle followers while the leader's queue is too long;
// when every replica is busy it goes back to the leader and waits there (busy
// threshold cleared); a later read picks the replica whose wait has passed.
func TestLoadBasedReplicaRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		wait := func(ms uint32) mocktikv.Action {
			return mocktikv.RegionError(&errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{EstimatedWaitMs: ms}})
		}
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Steps: []mocktikv.Step{
			mocktikv.Times(1, wait(500)), mocktikv.Times(1, wait(800)), mocktikv.Times(1, wait(150)),
		}})
		ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{BusyThreshold: 50 * time.Millisecond})
		if _, err := h.get(ctx, "key"); err != nil {
			t.Fatal(err)
		}
		got := h.rec.take()
		if !matchPath([]string{"1:", "x:r", "y:r", "1:"}, paths(got)) {
			t.Fatalf("path %v, want [1: x:r y:r 1:]", paths(got))
		}
		if got[0].busyMs != 50 {
			t.Errorf("first attempt busy_threshold_ms = %d, want 50", got[0].busyMs)
		}
		if !h.cached("key") {
			t.Error("no idle replica must not invalidate the region")
		}
		if got[3].busyMs != 0 {
			t.Fatalf("after every replica answered ServerIsBusy the leader was retried with busy_threshold_ms %d (TiKV rejects it again): it must be cleared", got[3].busyMs)
		}
		// client-go's test skips backoff sleeps; here the deferred
		// ServerIsBusy wait before the leader retry ran in virtual time
		// (1-2 s), so every estimated wait has passed: the next read goes
		// straight to the leader, threshold set, and is served.
		if _, err := h.get(ctx, "key"); err != nil {
			t.Fatal(err)
		}
		if got := h.rec.take(); len(got) != 1 || got[0].store != 1 || got[0].replicaRead || got[0].busyMs != 50 {
			t.Fatalf("path %v: want one leader read with the busy threshold", paths(got))
		}
	})
}

// TestReplicaReadWithFlashbackInProgress ports client-go's
// TestReplicaReadWithFlashbackInProgress
// (internal/locate/region_request3_test.go): followers answer
// FlashbackInProgress; the leader answers ServerIsBusy to requests carrying a
// busy threshold and serves the others. Both a load-based leader read and a
// follower read end up served by the leader.
func TestReplicaReadWithFlashbackInProgress(t *testing.T) {
	for name, opts := range map[string]pipeline.ReadOptions{
		"busy-threshold": {BusyThreshold: 50 * time.Millisecond},
		"follower":       {ReplicaRead: follower},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, withIDLabels())
				busy := &errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{EstimatedWaitMs: 500}}
				h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Store: 1,
					Match: func(_ uint64, cmd transport.Cmd, req transport.Message) bool {
						return ctxOf(req, cmd).GetBusyThresholdMs() > 0
					},
					Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(busy))}})
				h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet,
					Match: func(store uint64, _ transport.Cmd, _ transport.Message) bool { return store != 1 },
					Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(&errorpb.Error{Message: "flashback",
						FlashbackInProgress: &errorpb.FlashbackInProgress{RegionId: h.regionID("key")}}))}})
				ctx, cancel := context.WithTimeout(pipeline.WithReadOptions(t.Context(), opts), time.Minute)
				defer cancel()
				_, err := h.get(ctx, "key")
				got := h.rec.take()
				if err != nil && opts.BusyThreshold > 0 && slices.ContainsFunc(got[1:], func(a attempt) bool { return a.store == 1 && a.busyMs > 0 }) {
					t.Fatalf("%+v: the leader fallback after FlashbackInProgress kept busy_threshold_ms, so the busy leader rejected it again: %v (path %v)", opts, err, paths(got))
				}
				if err != nil {
					t.Fatalf("%+v: %v (path %v)", opts, err, paths(got))
				}
				if len(got) < 2 || got[len(got)-1].store != 1 {
					t.Fatalf("%+v: path %v, want a retry ending on the leader", opts, paths(got))
				}
			})
		})
	}
}

// TestAccessFollowerAfter1TiKVDown ports client-go's
// TestAccessFollowerAfter1TiKVDown (internal/locate/region_request3_test.go):
// followers time out (and are then found unreachable) while the leader
// serves; once both followers are known unreachable, mixed reads go to the
// leader at once, without backoff.
func TestAccessFollowerAfter1TiKVDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		h.markDownOnDeadline()
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet,
			Match: func(store uint64, _ transport.Cmd, _ transport.Message) bool { return store != 1 },
			Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Fail(context.DeadlineExceeded))}})
		ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{ReplicaRead: mixed})
		for i := 0; ; i++ {
			if _, err := h.get(ctx, "key"); err != nil {
				t.Fatal(err)
			}
			h.rec.take()
			if h.cache.StoreHealth(2).Liveness != 0 && h.cache.StoreHealth(3).Liveness != 0 {
				break
			}
			if i == 30 {
				t.Fatal("the followers were never found unreachable")
			}
		}
		for range 100 {
			start := time.Now()
			if _, err := h.get(ctx, "key"); err != nil {
				t.Fatal(err)
			}
			if got := paths(h.rec.take()); fmt.Sprint(got) != "[1:]" {
				t.Fatalf("path %v, want only the leader", got)
			}
			if time.Since(start) != 0 {
				t.Fatal("backed off")
			}
		}
	})
}

// TestSendReqFirstTimeout ports client-go's TestSendReqFirstTimeout
// (internal/locate/region_request3_test.go), and client-go's
// TestTiKVClientReadTimeout (internal/locate/replica_selector_test.go) in
// its leader-read case (the leader first, then the followers as replica
// reads): a read whose short per-attempt
// timeout expires tries every replica once, at once (three RPCs to three
// stores, then the "no replica" region error), for leader, follower, mixed
// and stale reads; with a longer timeout one RPC serves. A write that times
// out never fast-retries: it backs off (tikvRPC) until the budget runs out.
func TestSendReqFirstTimeout(t *testing.T) {
	modes := []pipeline.ReadOptions{{ReplicaRead: leader}, {ReplicaRead: follower}, {ReplicaRead: mixed}, {StaleRead: true}}
	for _, o := range modes {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, withIDLabels(), withReadTimeout(time.Millisecond))
			h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet,
				Match: func(_ uint64, cmd transport.Cmd, req transport.Message) bool {
					return ctxOf(req, cmd).GetMaxExecutionDurationMs() < 10
				},
				Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Fail(context.DeadlineExceeded))}})
			ctx := pipeline.WithReadOptions(t.Context(), o)
			start := time.Now()
			_, err := h.get(ctx, "a")
			got := h.rec.take()
			stores := map[uint64]bool{}
			for _, a := range got {
				stores[a.store] = true
			}
			if errKind(err) != "noReplica" || len(got) != 3 || len(stores) != 3 || time.Since(start) != 0 {
				t.Fatalf("%+v: outcome %v, path %v, slept %v: want 3 RPCs to 3 stores, no backoff, no replica left",
					o, err, paths(got), time.Since(start))
			}
			if o.ReplicaRead == leader && !o.StaleRead && !matchPath([]string{"1:", "x:r", "y:r"}, paths(got)) {
				t.Fatalf("leader read: path %v, want the leader then the followers as replica reads", paths(got))
			}
			h.env.ReadTimeout = time.Second
			if _, err := h.get(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if got := h.rec.take(); len(got) != 1 {
				t.Fatalf("%+v: path %v, want one RPC", o, paths(got))
			}
		})
	}
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels(), withBudget(time.Second))
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Fail(context.DeadlineExceeded))}})
		h.env.WriteTimeout = time.Millisecond
		_, err := h.prewrite(t.Context(), "a")
		// Every attempt timed out after it was sent, so the prewrite may
		// have applied: tikvgo reports that as undetermined (client-go
		// returns the bare backoff error).
		var be *kv.BackoffExhaustedError
		if !errors.Is(err, kv.ErrUndetermined) || !errors.As(err, &be) || be.Policy != "tikvRPC" {
			t.Fatalf("write timing out: %v, want undetermined after the tikvRPC backoff ran out", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v: want the cause, a deadline", err)
		}
		for _, a := range h.rec.take() {
			if a.store != 1 {
				t.Fatal("a write went to a follower")
			}
		}
	})
}

// TestReplicaReadFallbackToLeaderRegionError ports client-go's
// TestReplicaReadFallbackToLeaderRegionError
// (internal/locate/region_request3_test.go): a stale read whose followers
// answer DataIsNotReady and whose leader answers MismatchPeerId returns the
// MismatchPeerId (not a "no replica" error) and invalidates the region.
func TestReplicaReadFallbackToLeaderRegionError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Store: 1, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(
			&errorpb.Error{Message: "mismatch", MismatchPeerId: &errorpb.MismatchPeerId{RequestPeerId: 1, StorePeerId: 2}}))}})
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(errDataIsNotReady))}})
		ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{StaleRead: true, ReplicaRead: follower})
		_, err := h.get(ctx, "key")
		if k := errKind(err); k != "region:MismatchPeerId" {
			t.Fatalf("outcome %v (%s), want MismatchPeerId", err, k)
		}
		if h.cached("key") {
			t.Fatal("the region must be invalidated")
		}
	})
}

// TestStaleReadTryFollowerAfterTimeout ports client-go's
// TestStaleReadTryFollowerAfterTimeout
// (internal/locate/region_request3_test.go): a stale read aimed at the
// leader's zone times out there (short timeout) and is served by a follower
// right away: two RPCs, no backoff.
func TestStaleReadTryFollowerAfterTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels(), withReadTimeout(time.Second))
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Store: 1, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Fail(context.DeadlineExceeded))}})
		ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{StaleRead: true,
			MatchLabels: []*metapb.StoreLabel{{Key: "id", Value: "1"}}})
		start := time.Now()
		if _, err := h.get(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if got := paths(h.rec.take()); !matchPath([]string{"1:s", "x:s"}, got) || time.Since(start) != 0 {
			t.Fatalf("path %v after %v, want [1:s x:s] without backoff", got, time.Since(start))
		}
	})
}

// markUnreachable makes the client find store id unreachable (its prober
// says so after a reported send failure).
func (h *harness) markUnreachable(id uint64) {
	h.live.set(h.mock.StoreAddr(id), true)
	h.cache.ReportSendFailure(context.Background(), id, errors.New("test: partitioned"))
}

// TestDoNotTryUnreachableLeader ports client-go's
// TestDoNotTryUnreachableLeader (internal/locate/region_request3_test.go): a
// stale read matching a follower's labels is served by it; the unreachable
// leader is not tried.
func TestDoNotTryUnreachableLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		h.markUnreachable(1)
		ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{StaleRead: true,
			MatchLabels: []*metapb.StoreLabel{{Key: "id", Value: "2"}}})
		if _, err := h.get(ctx, "key"); err != nil {
			t.Fatal(err)
		}
		if got := paths(h.rec.take()); fmt.Sprint(got) != "[2:s]" {
			t.Fatalf("path %v, want [2:s]", got)
		}
	})
}

// TestPreferLeader ports client-go's TestPreferLeader
// (internal/locate/region_request3_test.go): the leader serves prefer-leader
// reads while reachable, then a follower, then the other one; with none
// reachable the request gets the "no replica" error.
func TestPreferLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{ReplicaRead: prefer})
		step := func(want string) {
			t.Helper()
			_, err := h.get(ctx, "key")
			got := h.rec.take()
			if want == "noReplica" {
				if errKind(err) != "noReplica" || len(got) != 0 {
					t.Fatalf("outcome %v, path %v, want no replica and no RPC", err, paths(got))
				}
				return
			}
			if err != nil || !matchPath([]string{want}, paths(got)) {
				t.Fatalf("outcome %v, path %v, want [%s]", err, paths(got), want)
			}
		}
		step("1:")
		h.markUnreachable(1)
		step("x:r")
		h.markUnreachable(2)
		step("3:r")
		h.markUnreachable(3)
		step("noReplica")
	})
}

// TestLeaderStuck ports client-go's TestLeaderStuck
// (internal/locate/region_request3_test.go): the leader's store hangs (every
// write to it times out after 2s) and the followers name it as leader; the
// write keeps retrying it until its attempt budget is spent, and succeeds
// once the leadership really moves to a follower. (client-go starts the
// leader's attempt time near its 50s limit through a failpoint; here the
// whole wait runs in virtual time.)
func TestLeaderStuck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		var leaderStore atomic.Uint64
		leaderStore.Store(1)
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Store: 1, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Delay(2 * time.Second))}})
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Store: 1, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Fail(context.DeadlineExceeded))}})
		stuckPeer := h.peer("key", 1)
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite,
			Match: func(store uint64, _ transport.Cmd, _ transport.Message) bool {
				return store != 1 && leaderStore.Load() == 1
			},
			Steps: []mocktikv.Step{mocktikv.Always(mocktikv.RegionError(notLeader(stuckPeer)))}})
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := h.prewrite(context.Background(), "key")
			done <- err
		}()
		time.Sleep(200 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("finished too early: %v", err)
		default:
		}
		if err := h.mock.TransferLeader(h.regionID("key"), 2); err != nil {
			t.Fatal(err)
		}
		leaderStore.Store(2)
		err := <-done
		got := h.rec.take()
		if err != nil {
			t.Fatalf("%v (path %v)", err, paths(got))
		}
		if last := got[len(got)-1]; last.store != 2 {
			t.Fatalf("path %v: want the new leader to serve", paths(got))
		}
		if elapsed := time.Since(start); elapsed > 60*time.Second {
			t.Fatalf("took %v", elapsed)
		}
	})
}

// TestTiKVRecoveredFromDown ports client-go's TestTiKVRecoveredFromDown
// (internal/locate/region_request3_test.go): a peer PD reports down is not
// read from (even when it matches the labels); once it is up again it is used
// after the region is reloaded.
func TestTiKVRecoveredFromDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, withIDLabels())
		if err := h.mock.SetPeerDown(h.regionID("key"), 3, true); err != nil {
			t.Fatal(err)
		}
		h.cache.Invalidate(h.region("key"))
		ctx := pipeline.WithReadOptions(t.Context(), pipeline.ReadOptions{ReplicaRead: mixed,
			MatchLabels: []*metapb.StoreLabel{{Key: "id", Value: "3"}}})
		for range 15 {
			if _, err := h.get(ctx, "key"); err != nil {
				t.Fatal(err)
			}
			for _, a := range h.rec.take() {
				if a.store == 3 {
					t.Fatalf("a replica read went to store 3, whose peer PD reports down (router.Region.DownPeers)")
				}
			}
		}
		if err := h.mock.SetPeerDown(h.regionID("key"), 3, false); err != nil {
			t.Fatal(err)
		}
		h.cache.Invalidate(h.region("key"))
		if _, err := h.get(ctx, "key"); err != nil {
			t.Fatal(err)
		}
		if got := paths(h.rec.take()); fmt.Sprint(got) != "[3:r]" {
			t.Fatalf("path %v, want the recovered matching peer", got)
		}
	})
}

// A leader read answered ServerIsBusy is retried on the leader, never sent
// to a follower as a leader read (which could only answer NotLeader): with
// an estimated wait, every retry goes to the leader after a ServerBusy
// backoff; with none, the same, except that after two such answers in one
// call client-go probes one follower once with the leader read, to learn
// whether leadership moved while the leader's read pool is wedged
// (tikv/client-go#2041, replica_selector.go onServerIsBusy). tikvgo follows
// that; this test pins the paths.
func TestLeaderReadServerIsBusyStaysOnTheLeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		busy *errorpb.Error
		n    int
		want []string
	}{
		{"wait/once", errServerIsBusyWait, 1, []string{"1:", "1:"}},
		{"wait/thrice", errServerIsBusyWait, 3, []string{"1:", "1:", "1:", "1:"}},
		{"nowait/once", errServerIsBusy, 1, []string{"1:", "1:"}},
		{"nowait/thrice", errServerIsBusy, 3, []string{"1:", "1:", "x:", "1:", "1:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Store: 1, Steps: []mocktikv.Step{mocktikv.Times(tc.n, mocktikv.RegionError(tc.busy))}})
				if _, err := h.get(t.Context(), "key"); err != nil {
					t.Fatal(err)
				}
				got := h.rec.take()
				if !matchPath(tc.want, paths(got)) {
					t.Fatalf("path %v, want %v", paths(got), tc.want)
				}
				for _, a := range got {
					if a.store != 1 && a.regionErr != "NotLeader" {
						t.Fatalf("follower attempt %v: want only the NotLeader probe", a)
					}
				}
			})
		})
	}
}
