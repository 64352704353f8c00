package raw_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// countArrivals counts the requests of cmd that reach any store of mock.
func countArrivals(mock *mocktikv.Cluster, cmd transport.Cmd) *atomic.Int64 {
	var n atomic.Int64
	mock.OnRequest(func(_ uint64, c transport.Cmd, _ transport.Message) {
		if c == cmd {
			n.Add(1)
		}
	})
	return &n
}

// TestCASLostResponseIsUndetermined: TiKV applies the CAS but the answer is
// lost. The client must not send it again (a second CAS would compare
// against its own write and report a false failure, or swap twice); it
// returns kv.ErrUndetermined after exactly one attempt, in-process and over
// gRPC (where the loss breaks the BatchCommands stream).
func TestCASLostResponseIsUndetermined(t *testing.T) {
	for _, mode := range []string{"in-process", "grpc"} {
		t.Run(mode, func(t *testing.T) {
			connect := connectInProcess
			if mode == "grpc" {
				connect = connectGRPC
			}
			mock, _, client := connect(t, []mocktikv.Option{mocktikv.WithStores(3)})
			client = client.With(raw.WithAtomicForCAS(true))
			ctx := context.Background()
			if err := client.Put(ctx, []byte("k"), []byte("v1")); err != nil {
				t.Fatal(err)
			}
			arrivals := countArrivals(mock, transport.CmdRawCompareAndSwap)
			mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawCompareAndSwap, Steps: []mocktikv.Step{
				mocktikv.Times(1, mocktikv.LoseResponse(status.Error(codes.Unavailable, "connection reset after apply"))),
			}})

			old, swapped, err := client.CompareAndSwap(ctx, []byte("k"), []byte("v1"), []byte("v2"))
			if !errors.Is(err, kv.ErrUndetermined) {
				t.Fatalf("CAS with a lost response = %q, %v, %v; want kv.ErrUndetermined", old, swapped, err)
			}
			if swapped || old != nil {
				t.Fatalf("an undetermined CAS reported %q, %v", old, swapped)
			}
			if n := arrivals.Load(); n != 1 {
				t.Fatalf("%d CAS attempts reached the store, want exactly 1", n)
			}
			// The swap did happen: the caller finds out by reading.
			if v, err := client.Get(ctx, []byte("k")); err != nil || string(v) != "v2" {
				t.Fatalf("Get after the lost CAS = %q, %v; want v2", v, err)
			}
		})
	}
}

// TestCASNotSentIsRetried: a send that provably never reached TiKV
// (transport.ErrNotSent, here a dial failure) is safe to repeat even for a
// CAS; the client retries after a backoff (virtual time) and the swap
// happens once.
func TestCASNotSentIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		mock, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(3)}, tikv.WithMiddleware(rec.middleware))
		client = client.With(raw.WithAtomicForCAS(true))
		ctx := context.Background()
		if err := client.Put(ctx, []byte("k"), []byte("v1")); err != nil {
			t.Fatal(err)
		}
		arrivals := countArrivals(mock, transport.CmdRawCompareAndSwap)
		fault := mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawCompareAndSwap, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.Fail(fmt.Errorf("%w: dial tcp: connection refused", transport.ErrNotSent))),
		}})
		rec.take()

		old, swapped, err := client.CompareAndSwap(ctx, []byte("k"), []byte("v1"), []byte("v2"))
		if err != nil || !swapped || string(old) != "v1" {
			t.Fatalf("CAS after a not-sent failure = %q, %v, %v; want v1, true", old, swapped, err)
		}
		if fault.Hits() != 1 {
			t.Fatalf("fault hit %d times", fault.Hits())
		}
		var cas []attempt
		for _, a := range rec.take() {
			if a.cmd == transport.CmdRawCompareAndSwap {
				cas = append(cas, a)
			}
		}
		if len(cas) != 2 || !errors.Is(cas[0].err, transport.ErrNotSent) || cas[1].err != nil || cas[1].n != 1 {
			t.Fatalf("CAS attempts %+v: want a not-sent failure, then one retry that succeeds", cas)
		}
		// The mock saw both requests; only the second was executed.
		if n := arrivals.Load(); n != 2 {
			t.Fatalf("%d CAS requests arrived, want 2", n)
		}
		if v, _ := client.Get(ctx, []byte("k")); string(v) != "v2" {
			t.Fatalf("Get = %q, want v2", v)
		}
	})
}

// TestCASRegionErrorIsRetried: TiKV answers region errors before executing
// anything, so a CAS that met a stale epoch or a busy server is retried as any
// request is (in virtual time: ServerIsBusy backs off).
func TestCASRegionErrorIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(3)})
		client = client.With(raw.WithAtomicForCAS(true))
		ctx := context.Background()
		mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawCompareAndSwap, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{Message: "epoch", EpochNotMatch: &errorpb.EpochNotMatch{}})),
			mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{Reason: "test"}})),
		}})
		old, swapped, err := client.CompareAndSwap(ctx, []byte("k"), nil, []byte("v"))
		if err != nil || !swapped || old != nil {
			t.Fatalf("CAS = %q, %v, %v; want nil, true", old, swapped, err)
		}
	})
}

// TestPutLostResponseIsUndetermined: a Put whose response was lost after
// it applied is not resent by default: the call says undetermined (the
// value is in fact stored) and TiKV saw one attempt. Resending it could undo
// another client's later acknowledged write (issue #8, bug 1). With
// AtLeastOnce the client resends, as client-go does, and succeeds.
func TestPutLostResponseIsUndetermined(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(3)})
		arrivals := countArrivals(mock, transport.CmdRawPut)
		lose := mocktikv.Fault{Cmd: transport.CmdRawPut, Steps: []mocktikv.Step{
			mocktikv.Times(1, mocktikv.LoseResponse(status.Error(codes.Unavailable, "connection reset after apply"))),
		}}
		mock.Inject(lose)
		err := client.Put(context.Background(), []byte("k"), []byte("v"))
		if !errors.Is(err, kv.ErrUndetermined) {
			t.Fatalf("Put with a lost response = %v, want kv.ErrUndetermined", err)
		}
		if n := arrivals.Load(); n != 1 {
			t.Fatalf("%d Put attempts, want 1: the write must not be resent", n)
		}
		if v, err := client.Get(context.Background(), []byte("k")); err != nil || string(v) != "v" {
			t.Fatalf("Get = %q, %v: the lost Put did apply", v, err)
		}

		mock.Inject(lose)
		if err := client.Put(context.Background(), []byte("k"), []byte("w"), raw.AtLeastOnce()); err != nil {
			t.Fatalf("at-least-once Put with a lost response = %v", err)
		}
		if n := arrivals.Load(); n != 3 {
			t.Fatalf("%d Put attempts in all, want 3 (the at-least-once Put resent once)", n)
		}
	})
}
