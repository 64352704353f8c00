package raw_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// Regression tests for the fault rules of issue #8. Where the fault can be
// produced both ways, each runs over gRPC and in-process.

type connectFunc func(t *testing.T, mockOpts []mocktikv.Option, opts ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster, *raw.Client)

var modes = []struct {
	name    string
	connect connectFunc
}{{"grpc", connectGRPC}, {"inprocess", connectInProcess}}

// rawWrite is one raw write of key k (with value v) and the command it
// sends.
type rawWrite struct {
	name string
	cmd  transport.Cmd
	do   func(ctx context.Context, c *raw.Client, k, v []byte, opts ...raw.CallOption) error
	// applied reports whether the write took effect, from a read.
	applied func(ctx context.Context, c *raw.Client, k, v []byte) bool
}

func stored(ctx context.Context, c *raw.Client, k, v []byte) bool {
	got, err := c.Get(ctx, k)
	return err == nil && string(got) == string(v)
}

func gone(ctx context.Context, c *raw.Client, k, _ []byte) bool {
	_, err := c.Get(ctx, k)
	return errors.Is(err, kv.ErrNotFound)
}

var rawWrites = []rawWrite{
	{"Put", transport.CmdRawPut, func(ctx context.Context, c *raw.Client, k, v []byte, o ...raw.CallOption) error {
		return c.Put(ctx, k, v, o...)
	}, stored},
	{"BatchPut", transport.CmdRawBatchPut, func(ctx context.Context, c *raw.Client, k, v []byte, o ...raw.CallOption) error {
		return c.BatchPut(ctx, [][]byte{k}, [][]byte{v}, o...)
	}, stored},
	{"Delete", transport.CmdRawDelete, func(ctx context.Context, c *raw.Client, k, _ []byte, o ...raw.CallOption) error {
		return c.Delete(ctx, k, o...)
	}, gone},
	{"BatchDelete", transport.CmdRawBatchDelete, func(ctx context.Context, c *raw.Client, k, _ []byte, o ...raw.CallOption) error {
		return c.BatchDelete(ctx, [][]byte{k}, o...)
	}, gone},
	{"DeleteRange", transport.CmdRawDeleteRange, func(ctx context.Context, c *raw.Client, k, _ []byte, o ...raw.CallOption) error {
		return c.DeleteRange(ctx, k, append(k, 0), o...)
	}, gone},
}

// Bug 1: a raw write whose response is lost after it applied is not sent
// again; the call reports kv.ErrUndetermined (and the write did apply). A
// resend could land after another client's acknowledged write to the key.
// With AtLeastOnce it is resent and succeeds, as in client-go.
func TestRawWriteWithLostResponseIsNotResent(t *testing.T) {
	for _, m := range modes {
		for _, w := range rawWrites {
			t.Run(m.name+"/"+w.name, func(t *testing.T) {
				mock, _, client := m.connect(t, []mocktikv.Option{mocktikv.WithStores(3)})
				ctx := t.Context()
				k, v := []byte("k"), []byte("v-"+w.name)
				if err := client.Put(ctx, k, []byte("before")); err != nil {
					t.Fatal(err)
				}
				arrivals := countArrivals(mock, w.cmd)
				lose := mocktikv.Fault{Cmd: w.cmd, Steps: []mocktikv.Step{
					mocktikv.Times(1, mocktikv.LoseResponse(status.Error(codes.Unavailable, "connection reset after apply"))),
				}}
				mock.Inject(lose)
				err := w.do(ctx, client, k, v)
				if !errors.Is(err, kv.ErrUndetermined) {
					t.Fatalf("%s with a lost response = %v, want kv.ErrUndetermined", w.name, err)
				}
				if n := arrivals.Load(); n != 1 {
					t.Fatalf("TiKV saw %d %s attempts, want 1", n, w.name)
				}
				if !w.applied(ctx, client, k, v) {
					t.Fatalf("the lost %s did not apply: the test's fault is wrong", w.name)
				}

				if err := client.Put(ctx, k, []byte("before")); err != nil {
					t.Fatal(err)
				}
				mock.Inject(lose)
				before := arrivals.Load()
				if err := w.do(ctx, client, k, v, raw.AtLeastOnce()); err != nil {
					t.Fatalf("at-least-once %s = %v", w.name, err)
				}
				if n := arrivals.Load() - before; n != 2 {
					t.Fatalf("TiKV saw %d at-least-once %s attempts, want 2 (one resend)", n, w.name)
				}
			})
		}
	}
}

// Bug 2: with only CAS traffic, the leader's store stops and the leader
// moves (raft's election). CAS must fail over: the dial to the dead store
// fails before anything is sent (ErrNotSent), the routing layer learns the
// store is down, and the next replica names the new leader. Before the fix
// every CAS returned ErrUndetermined forever.
func TestCASFailsOverWhenTheLeaderStoreStops(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			mock, _, client := m.connect(t, []mocktikv.Option{mocktikv.WithStores(3)})
			client = client.With(raw.WithAtomicForCAS(true))
			ctx := t.Context()
			k := []byte("cas")
			if _, ok, err := client.CompareAndSwap(ctx, k, nil, []byte("0")); err != nil || !ok {
				t.Fatalf("first CAS = %v, %v", ok, err)
			}
			region, leader := mock.RegionByKey(k)
			if err := mock.StopStore(leader.GetStoreId()); err != nil {
				t.Fatal(err)
			}
			if err := mock.TransferLeader(region.GetId(), otherStore(mock, leader.GetStoreId())); err != nil {
				t.Fatal(err)
			}
			prev := "0"
			for i := 1; i <= 5; i++ {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				next := fmt.Sprint(i)
				old, ok, err := client.CompareAndSwap(cctx, k, []byte(prev), []byte(next))
				cancel()
				if i == 1 && errors.Is(err, kv.ErrUndetermined) {
					// The first CAS may have been written to the connection
					// as the store went down: it is rightly undetermined.
					// Learn the value and go on.
					v, gerr := client.Get(ctx, k)
					if gerr != nil {
						t.Fatalf("Get after an undetermined CAS: %v", gerr)
					}
					prev = string(v)
					continue
				}
				if err != nil {
					t.Fatalf("CAS %d after the leader's store stopped: %v", i, err)
				}
				if !ok || string(old) != prev {
					t.Fatalf("CAS %d = (%q, %v), want a swap from %q", i, old, ok, prev)
				}
				prev = next
			}
		})
	}
}

// Bug 3: TiKV may apply a command it answered StaleCommand for. A CAS that
// gets StaleCommand is undetermined and is not resent (before the fix the
// resend answered swapped=false with the caller's own new value as "old").
func TestCASStaleCommandIsUndetermined(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			mock, _, client := m.connect(t, []mocktikv.Option{mocktikv.WithStores(3)})
			client = client.With(raw.WithAtomicForCAS(true))
			arrivals := countArrivals(mock, transport.CmdRawCompareAndSwap)
			mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawCompareAndSwap, Steps: []mocktikv.Step{
				mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{Message: "stale command", StaleCommand: &errorpb.StaleCommand{}})),
			}})
			_, _, err := client.CompareAndSwap(t.Context(), []byte("k"), nil, []byte("v"))
			if !errors.Is(err, kv.ErrUndetermined) {
				t.Fatalf("CAS answered StaleCommand = %v, want kv.ErrUndetermined", err)
			}
			var re *kv.RegionError
			if !errors.As(err, &re) || re.Err.GetStaleCommand() == nil {
				t.Fatalf("%v: want the StaleCommand region error as the cause", err)
			}
			if n := arrivals.Load(); n != 1 {
				t.Fatalf("%d CAS attempts, want 1", n)
			}
		})
	}
}

// Bug 5: one retry budget per logical request. A region whose every replica
// keeps answering ServerIsBusy ends the call after the ServerBusy policy's
// own budget (10 minutes of sleep), not after 10 minutes per re-route; a
// region in recovery backs off exponentially across re-routes and gives up
// within the request's budget.
func TestOneBackoffBudgetAcrossReroutes(t *testing.T) {
	t.Run("ServerIsBusy", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			mock, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(3)})
			mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawGet, Steps: []mocktikv.Step{
				mocktikv.Always(mocktikv.RegionError(&errorpb.Error{Message: "busy", ServerIsBusy: &errorpb.ServerIsBusy{Reason: "test"}})),
			}})
			start := time.Now()
			_, err := client.Get(context.Background(), []byte("k"))
			elapsed := time.Since(start)
			var be *kv.BackoffExhaustedError
			if !errors.As(err, &be) || be.Policy != "tikvServerBusy" {
				t.Fatalf("Get against a busy region = %v, want tikvServerBusy exhausted", err)
			}
			if elapsed > 11*time.Minute {
				t.Fatalf("the call took %v of virtual time: the busy budget (10 min) was spent more than once", elapsed)
			}
		})
	})
	t.Run("RecoveryInProgress", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			mock, _, client := connectInProcess(t, []mocktikv.Option{mocktikv.WithStores(3)})
			arrivals := countArrivals(mock, transport.CmdRawGet)
			mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawGet, Steps: []mocktikv.Step{
				mocktikv.Always(mocktikv.RegionError(&errorpb.Error{Message: "recovery", RecoveryInProgress: &errorpb.RecoveryInProgress{}})),
			}})
			start := time.Now()
			_, err := client.Get(context.Background(), []byte("k"))
			elapsed := time.Since(start)
			var be *kv.BackoffExhaustedError
			if !errors.As(err, &be) || be.Policy != "regionRecoveryInProgress" {
				t.Fatalf("Get against a recovering region = %v, want regionRecoveryInProgress exhausted", err)
			}
			// 100ms doubling to the 10s cap: the 40s budget is spent in
			// about nine waits. A backoffer renewed per re-route would stay
			// at ~100ms and send one RPC per wait until the re-split limit.
			if n := arrivals.Load(); n > 16 || be.Slept < 30*time.Second {
				t.Fatalf("%d attempts, %v slept (%v): the backoff did not grow across re-routes", n, be.Slept, err)
			}
			if strings.Count(err.Error(), "gave up") != 1 {
				t.Fatalf("%q: the give-up must be reported once", err)
			}
			if elapsed > 45*time.Second {
				t.Fatalf("the call took %v of virtual time, beyond the 40s budget", elapsed)
			}
		})
	})
}

// Bug 6: a scan re-routes at most Env.MaxResplits times per position, not
// over the whole scan: a scan over more stale regions than that succeeds
// when each needs one re-route.
func TestScanOverManyStaleRegions(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var splits [][]byte
			for i := 10; i < 400; i += 10 {
				splits = append(splits, key(i))
			}
			mock, _, client := m.connect(t, []mocktikv.Option{mocktikv.WithSplitKeys(splits...)})
			ctx := t.Context()
			var keys, values [][]byte
			for i := range 400 {
				keys, values = append(keys, key(i)), append(values, value(i))
			}
			if err := client.BatchPut(ctx, keys, values); err != nil {
				t.Fatal(err)
			}
			// Every region the client cached is now stale.
			for i := 5; i < 400; i += 10 {
				if _, err := mock.Split(key(i)); err != nil {
					t.Fatal(err)
				}
			}
			n := 0
			for kv, err := range client.Scan(ctx, nil, nil, 0) {
				if err != nil {
					t.Fatalf("scan after %d pairs: %v", n, err)
				}
				if string(kv.Key) != string(key(n)) {
					t.Fatalf("pair %d is %q", n, kv.Key)
				}
				n++
			}
			if n != 400 {
				t.Fatalf("scanned %d pairs, want 400", n)
			}
		})
	}
}

// Bug 7: PD failing region lookups for longer than the region cache's own
// retries (10 attempts, ~2s) does not fail a request: the plan keeps
// retrying under the PDRPC policy within the request's budget.
func TestRegionLookupRetriesThroughPDHiccup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock, _, client := connectInProcess(t, nil)
		mock.FailPD("QueryRegion", status.Error(codes.Unavailable, "not leader"), 25)
		if err := client.Put(context.Background(), []byte("k"), []byte("v")); err != nil {
			t.Fatalf("Put through a PD hiccup: %v", err)
		}
	})
}

// Bug 11: a leader whose store is down surfaces as what happened: a typed,
// one-line error naming the unreachable store, not an "EpochNotMatch".
func TestStoreDownErrorNamesTheStore(t *testing.T) {
	mock, _, client := connectGRPC(t, []mocktikv.Option{mocktikv.WithStores(2)})
	if err := client.Put(t.Context(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	_, leader := mock.RegionByKey([]byte("k"))
	if err := mock.StopStore(leader.GetStoreId()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := client.Get(ctx, []byte("k"))
	var be *kv.BackoffExhaustedError
	var su *kv.StoreUnreachableError
	if !errors.As(err, &be) || !errors.As(err, &su) || su.StoreID != leader.GetStoreId() {
		t.Fatalf("Get with the leader's store down = %v, want *kv.BackoffExhaustedError naming unreachable store %d", err, leader.GetStoreId())
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || strings.Contains(msg, "EpochNotMatch") {
		t.Fatalf("error %q: want one line naming what happened", msg)
	}
}

// Bug 12: a BatchPut over three regions whose middle region's store is
// down: the error is not ErrNotSent (two regions were written) but a
// *kv.PartialWriteError naming the keys written and not written.
func TestPartialBatchPutSaysWhatWasWritten(t *testing.T) {
	mock, _, client := connectGRPC(t, []mocktikv.Option{mocktikv.WithStores(2), mocktikv.WithSplitKeys([]byte("b"), []byte("c"))})
	ctx := t.Context()
	// Put every region's leader on store 1 but b's on store 2, then stop 2.
	var down uint64
	for _, k := range []string{"a", "b", "c"} {
		r, _ := mock.RegionByKey([]byte(k))
		id := mock.StoreIDs()[0]
		if k == "b" {
			id = mock.StoreIDs()[1]
			down = id
		}
		if err := mock.TransferLeader(r.GetId(), id); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.BatchPut(ctx, [][]byte{[]byte("a"), []byte("b"), []byte("c")}, [][]byte{[]byte("1"), []byte("1"), []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if err := mock.StopStore(down); err != nil {
		t.Fatal(err)
	}
	// Let the client see the store go (a read fails against it), so that
	// no part of the write below is in flight on a connection as it breaks:
	// such a part would rightly be undetermined.
	gctx, gcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	if _, err := client.Get(gctx, []byte("b")); err == nil {
		t.Fatal("Get from a stopped store succeeded")
	}
	gcancel()
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := client.BatchPut(cctx, [][]byte{[]byte("a"), []byte("b"), []byte("c")}, [][]byte{[]byte("2"), []byte("2"), []byte("2")})
	var pe *kv.PartialWriteError
	if !errors.As(err, &pe) {
		t.Fatalf("BatchPut with one region down = %v, want *kv.PartialWriteError", err)
	}
	if errors.Is(err, transport.ErrNotSent) {
		t.Fatalf("%v: two regions were written, so the error must not say not sent", err)
	}
	if fmt.Sprintf("%s", pe.Applied) != "[a c]" || fmt.Sprintf("%s", pe.NotApplied) != "[b]" || len(pe.Undetermined) != 0 {
		t.Fatalf("applied %q, not applied %q, undetermined %q; want [a c], [b], none", pe.Applied, pe.NotApplied, pe.Undetermined)
	}
	for _, k := range []string{"a", "c"} {
		if v, err := client.Get(ctx, []byte(k)); err != nil || string(v) != "2" {
			t.Fatalf("%s = %q, %v: reported applied", k, v, err)
		}
	}
}
