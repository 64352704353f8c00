package locate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// newForwardingHarness is the three-store harness with forwarding on and
// store 1, the leader, cut off from the client (mocktikv.PartitionClient):
// its health check fails once a send to it has failed.
func newForwardingHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.env.Forwarding = pipeline.NewForwarding()
	if err := h.mock.PartitionClient(1); err != nil {
		t.Fatal(err)
	}
	h.live.set(h.mock.StoreAddr(1), true)
	return h
}

// TestForwardingAccessPathByProxy ports the first cases of client-go's
// TestReplicaReadAccessPathByProxyCase (internal/locate/replica_selector_test.go):
// a leader read whose leader cannot be reached is retried, after one TiKVRPC
// backoff, through the first follower with the leader's address as the
// forwarded host, and the leader serves it; the next read goes straight to
// the remembered proxy, without a backoff; the region stays valid.
func TestForwardingAccessPathByProxy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newForwardingHarness(t)
		var served []uint64
		h.mock.OnResponse(func(store uint64, cmd transport.Cmd, _, _ transport.Message, err error) {
			if cmd == transport.CmdGet && err == nil {
				served = append(served, store)
			}
		})
		start := time.Now()
		if _, err := h.get(t.Context(), "key"); err != nil {
			t.Fatal(err)
		}
		if lo, hi := backoffRange([]string{"tikvRPC"}); time.Since(start) < lo || time.Since(start) > hi {
			t.Fatalf("slept %v, want one tikvRPC backoff [%v, %v]", time.Since(start), lo, hi)
		}
		as := h.rec.take()
		if got := fmt.Sprint(paths(as)); got != "[1: 1: via 2]" {
			t.Fatalf("path %v, want [1: 1: via 2]", got)
		}
		if as[1].forwarded != h.mock.StoreAddr(1) {
			t.Fatalf("forwarded host %q, want store 1's address %q", as[1].forwarded, h.mock.StoreAddr(1))
		}
		if fmt.Sprint(served) != "[1]" {
			t.Fatalf("served by %v, want the leader, store 1, through the proxy", served)
		}
		if p := h.env.Forwarding.Proxy(h.regionID("key")); p != 2 {
			t.Fatalf("remembered proxy %d, want 2", p)
		}
		if !h.cached("key") {
			t.Fatal("region invalidated after a forwarded success")
		}

		// The known proxy is used at once: no attempt at the leader, no
		// backoff (virtual time does not move).
		start = time.Now()
		if _, err := h.get(t.Context(), "key"); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(paths(h.rec.take())); got != "[1: via 2]" {
			t.Fatalf("second read path %v, want [1: via 2]", got)
		}
		if d := time.Now().Sub(start); d != 0 {
			t.Fatalf("second read waited %v, want no backoff", d)
		}
	})
}

// TestForwardingProxiesExhausted ports the third case of client-go's
// TestReplicaReadAccessPathByProxyCase: when the leader fails through every
// follower too, each follower is tried once as a proxy, then the leader's
// store is reported failed and the region invalidated, and the piece is
// handed back for re-routing (client-go's fake EpochNotMatch) with
// pipeline.ErrProxiesExhausted in its cause.
func TestForwardingProxiesExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newForwardingHarness(t)
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Store: 1,
			Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Fail(status.Error(codes.Unavailable, "test: leader unreachable for the proxies too")))}})
		start := time.Now()
		_, err := h.get(t.Context(), "key")
		if lo, hi := backoffRange([]string{"tikvRPC", "tikvRPC", "tikvRPC"}); time.Since(start) < lo || time.Since(start) > hi {
			t.Fatalf("slept %v, want three tikvRPC backoffs [%v, %v]", time.Since(start), lo, hi)
		}
		var re *kv.RegionError
		if !errors.As(err, &re) || re.Err != nil || !errors.Is(err, pipeline.ErrProxiesExhausted) {
			t.Fatalf("err %v, want a re-routing region error caused by ErrProxiesExhausted", err)
		}
		// Like client-go's RPCContext with a proxy (TestRPCContextString,
		// region_request_test.go), the error names the proxy of the last
		// forwarded attempt and the store it forwarded to.
		if msg := err.Error(); !strings.Contains(msg, "to store 1 ("+h.mock.StoreAddr(1)+") via proxy store 3 ("+h.mock.StoreAddr(3)+")") {
			t.Fatalf("err %q does not name the last proxy", msg)
		}
		if got := fmt.Sprint(paths(h.rec.take())); got != "[1: 1: via 2 1: via 3]" {
			t.Fatalf("path %v, want [1: 1: via 2 1: via 3]", got)
		}
		if h.cached("key") {
			t.Fatal("region still valid after every proxy failed")
		}
	})
}

// TestForwardingNotLeaderThroughProxy ports the NotLeader case of client-go's
// TestReplicaReadAccessPathByProxyCase: when the leader answers NotLeader
// through a proxy, naming a reachable follower, the next attempt goes to
// that follower directly, and it serves the read.
func TestForwardingNotLeaderThroughProxy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newForwardingHarness(t)
		h.region("key") // cached with leader 1
		if err := h.mock.TransferLeader(h.regionID("key"), 2); err != nil {
			t.Fatal(err)
		}
		if _, err := h.get(t.Context(), "key"); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(paths(h.rec.take())); got != "[1: 1: via 2 2:]" {
			t.Fatalf("path %v, want [1: 1: via 2 2:]", got)
		}
		if p := h.env.Forwarding.Proxy(h.regionID("key")); p != 0 {
			t.Fatalf("proxy %d remembered for a region whose leader is reachable", p)
		}
	})
}

// TestForwardingOffByDefault: without Forwarding the unreachable leader is
// never reached through a follower: the followers are asked with leader
// reads, answer NotLeader naming the unreachable leader, and the piece is
// handed back for re-routing with the region invalidated, as before.
func TestForwardingOffByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newForwardingHarness(t)
		h.env.Forwarding = nil
		_, err := h.get(t.Context(), "key")
		var re *kv.RegionError
		if !errors.As(err, &re) || errors.Is(err, pipeline.ErrProxiesExhausted) {
			t.Fatalf("err %v, want a re-routing region error", err)
		}
		for _, a := range h.rec.take() {
			if a.proxy != 0 || a.forwarded != "" {
				t.Fatalf("attempt %v was forwarded with forwarding off", a)
			}
		}
	})
}

// TestForwardingNewLeaderThroughProxy ports the fourth case of client-go's
// TestReplicaReadAccessPathByProxyCase (DeadLineExceeded, NotLeader naming
// store 2, DeadLineExceeded, ServerIsBusy): the unreachable leader answers
// through a proxy that store 2 leads now; store 2 is tried directly and
// times out, so it is reached through the one follower not yet tried (store
// 3), which answers busy; with no proxy left the region is invalidated and
// the piece re-routes, after two TiKVRPC backoffs and one ServerBusy.
func TestForwardingNewLeaderThroughProxy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newForwardingHarness(t)
		h.markDownOnDeadline()
		h.region("key") // cached with leader 1
		if err := h.mock.TransferLeader(h.regionID("key"), 2); err != nil {
			t.Fatal(err)
		}
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Store: 2, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Fail(context.DeadlineExceeded)),
			mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "test"}})),
		}})
		start := time.Now()
		_, err := h.get(t.Context(), "key")
		elapsed := time.Since(start)
		if !errors.Is(err, pipeline.ErrProxiesExhausted) {
			t.Fatalf("err %v, want ErrProxiesExhausted in the cause", err)
		}
		if got := fmt.Sprint(paths(h.rec.take())); got != "[1: 1: via 2 2: 2: via 3]" {
			t.Fatalf("path %v, want [1: 1: via 2 2: 2: via 3]", got)
		}
		if h.cached("key") {
			t.Fatal("region still valid with every proxy used up")
		}
		backoffs := []string{"tikvRPC", "tikvRPC", "tikvServerBusy"}
		if lo, hi := backoffRange(backoffs); elapsed < lo || elapsed > hi {
			t.Fatalf("slept %v, want [%v, %v] for backoffs %v", elapsed, lo, hi, backoffs)
		}
	})
}

// TestForwardingWriteNotLeaderThroughProxy ports the prewrite case of
// client-go's TestReplicaReadAccessPathByProxyCase (DeadLineExceeded, then
// NotLeader without a leader): a write reaches the unreachable leader
// through store 2, which answers that it is no longer the leader; a leader
// that said so is never forwarded to again, so the write goes to the
// follower not yet tried, store 3, which takes it as the new leader. One
// TiKVRPC and one RegionScheduling backoff; the region stays valid.
func TestForwardingWriteNotLeaderThroughProxy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newForwardingHarness(t)
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Store: 1, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: h.regionID("key")}})),
		}})
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Store: 3, Steps: []mocktikv.Step{
			mocktikv.Always(mocktikv.Respond(func(transport.Message) transport.Message { return &kvrpcpb.PrewriteResponse{} })),
		}})
		start := time.Now()
		if _, err := h.prewrite(t.Context(), "key"); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		if got := fmt.Sprint(paths(h.rec.take())); got != "[1: 1: via 2 3:]" {
			t.Fatalf("path %v, want [1: 1: via 2 3:]", got)
		}
		backoffs := []string{"tikvRPC", "regionScheduling"}
		if lo, hi := backoffRange(backoffs); elapsed < lo || elapsed > hi {
			t.Fatalf("slept %v, want [%v, %v] for backoffs %v", elapsed, lo, hi, backoffs)
		}
		if !h.cached("key") {
			t.Fatal("region invalidated")
		}
	})
}

// TestForwardingWriteToNewLeaderThroughProxy ports the last case of
// client-go's TestReplicaReadAccessPathByProxyCase (NotLeader naming store 2,
// DeadLineExceeded, NotLeader without a leader): the write follows the hint
// to store 2, which times out and becomes unreachable, so it is forwarded to
// store 2 through store 3; store 2 then says it is not the leader either, and
// with every replica tried the region is invalidated and the piece re-routes.
// One RegionScheduling and one TiKVRPC backoff.
func TestForwardingWriteToNewLeaderThroughProxy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.env.Forwarding = pipeline.NewForwarding()
		h.markDownOnDeadline()
		region := h.regionID("key")
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Store: 1, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: region, Leader: h.peer("key", 2)}})),
		}})
		h.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Store: 2, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Fail(context.DeadlineExceeded)),
			mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{NotLeader: &errorpb.NotLeader{RegionId: region}})),
		}})
		start := time.Now()
		_, err := h.prewrite(t.Context(), "key")
		elapsed := time.Since(start)
		var re *kv.RegionError
		if !errors.As(err, &re) || re.Err != nil {
			t.Fatalf("err %v, want the re-routing no-replica error", err)
		}
		if got := fmt.Sprint(paths(h.rec.take())); got != "[1: 2: 2: via 3]" {
			t.Fatalf("path %v, want [1: 2: 2: via 3]", got)
		}
		backoffs := []string{"regionScheduling", "tikvRPC"}
		if lo, hi := backoffRange(backoffs); elapsed < lo || elapsed > hi {
			t.Fatalf("slept %v, want [%v, %v] for backoffs %v", elapsed, lo, hi, backoffs)
		}
		if h.cached("key") {
			t.Fatal("region still valid with every replica tried")
		}
	})
}
