package tikv_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	rmpb "github.com/pingcap/kvproto/pkg/resource_manager"
	pd "github.com/tikv/pd/client"
	"github.com/tikv/pd/client/resource_group/controller"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// ruGroup is a resource group in RU mode with a fill rate and burst limit.
func ruGroup(name string, fillRate uint64, burst int64) *rmpb.ResourceGroup {
	return &rmpb.ResourceGroup{
		Name: name,
		Mode: rmpb.GroupMode_RUMode,
		RUSettings: &rmpb.GroupRequestUnitSettings{RU: &rmpb.TokenBucket{
			Settings: &rmpb.TokenLimitSettings{FillRate: fillRate, BurstLimit: burst},
		}},
		Priority: 8,
	}
}

// putMany writes n 4 KiB values in ctx's group, pausing gap after each,
// and returns how long it took and what the group was charged.
func putMany(t *testing.T, ctx context.Context, client *raw.Client, prefix string, n int, gap time.Duration) (time.Duration, *middleware.RUDetails) {
	t.Helper()
	details := &middleware.RUDetails{}
	ctx = middleware.WithRUDetails(ctx, details)
	value := make([]byte, 4096)
	start := time.Now()
	for i := range n {
		if err := client.Put(ctx, fmt.Appendf(nil, "%s%03d", prefix, i), value); err != nil {
			t.Fatalf("put %d in %s: %v", i, prefix, err)
		}
		time.Sleep(gap)
	}
	return time.Since(start), details
}

// wruPerPut is what the controller charges a RawPut of a 4-byte key and a
// 4 KiB value on one replica with PD's default RU model: write base cost 1,
// batch base cost 1 at the average batch proportion 0.7, and 1 RU per KiB.
const wruPerPut = 1 + 0.7 + (4+4096)/1024.0

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

// TestResourceControlThrottlesSmallGroup is the acceptance test of resource
// control, in-process and in virtual time: writes in a group whose fill
// rate is 100 RU/s wait for their tokens, writes in the unlimited default
// group do not wait at all, each group is charged its writes' RU, and PD
// receives each group's consumption in the controller's reports.
func TestResourceControlThrottlesSmallGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock := mocktikv.NewCluster()
		defer mock.Close()
		rm := mock.PD().(controller.ResourceGroupProvider)
		ctx := context.Background()
		if _, err := rm.AddResourceGroup(ctx, ruGroup("tiny", 100, 100)); err != nil {
			t.Fatal(err)
		}
		cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
			tikv.WithResourceControl("default"))
		if err != nil {
			t.Fatal(err)
		}
		defer cluster.Close()
		client := raw.NewClient(cluster)

		// In virtual time a request takes no time at all, and the
		// controller, which estimates a group's RU/s from the consumption
		// between two instants, would see an infinite rate and ask PD for
		// nothing: each write here takes 1ms, as on a fast network.
		const n, gap = 60, time.Millisecond
		defTook, def := putMany(t, ctx, client, "d", n, gap)
		tinyTook, tiny := putMany(t, middleware.WithResourceGroup(ctx, "tiny"), client, "t", n, gap)

		for _, g := range []struct {
			name string
			d    *middleware.RUDetails
		}{{"default", def}, {"tiny", tiny}} {
			if !near(g.d.WRU(), n*wruPerPut) {
				t.Errorf("group %s charged %.3f WRU, want %d puts x %.3f", g.name, g.d.WRU(), n, wruPerPut)
			}
		}
		if defTook != n*gap || def.WaitDuration() != 0 {
			t.Errorf("default group took %v and waited %v, want no wait (unlimited)", defTook, def.WaitDuration())
		}
		// 60 puts cost 60*5.7 = 342 RU; the group starts with at most its
		// 100 RU burst locally, so the rest arrives at about 100 RU/s.
		if minWait := time.Duration((n*wruPerPut - 200) / 100 * float64(time.Second)); tinyTook < minWait || tiny.WaitDuration() < minWait/2 {
			t.Errorf("tiny group took %v and waited %v, want at least %v (100 RU/s)", tinyTook, tiny.WaitDuration(), minWait)
		}
		t.Logf("tiny group: %d puts in %v (virtual), waited %v", n, tinyTook, tiny.WaitDuration())

		// The controller reports a group's consumption at least every 20s
		// (4 target periods); PD adds it to the group's RU stats.
		time.Sleep(25 * time.Second)
		for _, g := range []struct {
			name string
			d    *middleware.RUDetails
		}{{"default", def}, {"tiny", tiny}} {
			got, err := rm.GetResourceGroup(ctx, g.name, pd.WithRUStats)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got.GetRUStats().GetWRU(), g.d.WRU()) {
				t.Errorf("PD's WRU of %s = %.3f, want the %.3f the client charged", g.name, got.GetRUStats().GetWRU(), g.d.WRU())
			}
		}
	})
}

// rccRecorder keeps the resource-control context of each RawPut a store
// received.
type rccRecorder struct {
	mu   sync.Mutex
	seen []*kvrpcpb.ResourceControlContext
}

func (r *rccRecorder) observe(_ uint64, cmd transport.Cmd, req transport.Message) {
	if cmd != transport.CmdRawPut {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, req.(*kvrpcpb.RawPutRequest).GetContext().GetResourceControlContext())
}

func (r *rccRecorder) last() *kvrpcpb.ResourceControlContext {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.seen) == 0 {
		return nil
	}
	return r.seen[len(r.seen)-1]
}

// TestResourceControlOverGRPC runs the acceptance scenario against the
// gRPC PD and TiKV in real time: the small group's writes get their RU from
// PD's AcquireTokenBuckets stream only after waiting, the default group's
// never wait, each is charged its writes, every request carries its group
// and the group's priority in its ResourceControlContext, and PD's RU stats
// of each group come to match what the client charged.
func TestResourceControlOverGRPC(t *testing.T) {
	mock := mocktikv.Start(t)
	var rec rccRecorder
	mock.OnRequest(rec.observe)
	ctx := t.Context()
	cluster, err := tikv.Connect(ctx, mock.PDAddrs(), tikv.WithResourceControl("default"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	rm, ok := cluster.PD().(controller.ResourceGroupProvider)
	if !ok {
		t.Fatalf("the PD client %T is no resource-group provider", cluster.PD())
	}
	tinyGroup := ruGroup("tiny", 100, 100)
	tinyGroup.Priority = 1
	if _, err := rm.AddResourceGroup(ctx, tinyGroup); err != nil {
		t.Fatal(err)
	}
	client := raw.NewClient(cluster)

	// PD gives a limited group 100000 RU when a client first asks for its
	// tokens (GroupTokenBucket.init), and caps the bucket at its burst
	// limit from the next request on. Warm the group up until PD's bucket
	// is initialised, so the test's writes meet the 100 RU burst.
	warm := middleware.WithResourceGroup(ctx, "tiny")
	if err := client.Put(warm, []byte("warm"), nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		g, err := rm.GetResourceGroup(ctx, "tiny")
		if err != nil {
			t.Fatal(err)
		}
		if g.GetRUSettings().GetRU().GetTokens() != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the controller did not ask PD for the group's tokens in 10s")
		}
	}

	// 40 puts cost 228 RU: more than the 100 RU the group may hold.
	const n = 40
	_, def := putMany(t, ctx, client, "d", n, 0)
	if rcc := rec.last(); rcc.GetResourceGroupName() != "default" || rcc.GetOverridePriority() != 8 {
		t.Errorf("a default-group put carried %v, want group default at priority 8", rcc)
	}
	_, tiny := putMany(t, middleware.WithResourceGroup(ctx, "tiny"), client, "t", n, 0)
	if rcc := rec.last(); rcc.GetResourceGroupName() != "tiny" || rcc.GetOverridePriority() != 1 {
		t.Errorf("a tiny-group put carried %v, want group tiny at priority 1", rcc)
	}
	for _, g := range []struct {
		name string
		d    *middleware.RUDetails
	}{{"default", def}, {"tiny", tiny}} {
		if !near(g.d.WRU(), n*wruPerPut) {
			t.Errorf("group %s charged %.3f WRU, want %d puts x %.3f", g.name, g.d.WRU(), n, wruPerPut)
		}
	}
	if def.WaitDuration() != 0 {
		t.Errorf("default group waited %v, want no wait (unlimited)", def.WaitDuration())
	}
	// Without PD's grants the controller's local bucket, empty with no
	// fill rate, would have refused the writes: a wait proves they came.
	if tiny.WaitDuration() == 0 {
		t.Error("the tiny group never waited for RU")
	}
	t.Logf("tiny group waited %v for %d puts", tiny.WaitDuration(), n)

	// PD learns each group's consumption from the controller's token
	// requests, at the latest 5s after the last one once 100 RU or more
	// are unreported: wait until PD's RU stats match the client's charges.
	for _, g := range []struct {
		name string
		d    *middleware.RUDetails
	}{{"default", def}, {"tiny", tiny}} {
		want := g.d.WRU()
		if g.name == "tiny" {
			want += 1 + 0.7 + 4/1024.0 // the warm-up put
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			got, err := rm.GetResourceGroup(ctx, g.name, pd.WithRUStats)
			if err != nil {
				t.Fatal(err)
			}
			if near(got.GetRUStats().GetWRU(), want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("PD's WRU of %s = %.3f after 15s, want the %.3f the client charged", g.name, got.GetRUStats().GetWRU(), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// TestResourceControlFollowsGroupChanges checks, both ways, that the
// controller watches PD's meta storage: a group's new priority reaches the
// requests without a restart.
func TestResourceControlFollowsGroupChanges(t *testing.T) {
	// settle waits until the controller has the change; it may repeat the
	// change, because a watch starts at PD's current revision and the
	// controller opens its watch in the background after Connect.
	check := func(t *testing.T, cluster *tikv.Cluster, rm controller.ResourceGroupProvider, rec *rccRecorder, settle func(modify func())) {
		ctx := context.Background()
		if _, err := rm.AddResourceGroup(ctx, ruGroup("g", 1000000, -1)); err != nil {
			t.Fatal(err)
		}
		client := raw.NewClient(cluster)
		gctx := middleware.WithResourceGroup(ctx, "g")
		if err := client.Put(gctx, []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if p := rec.last().GetOverridePriority(); p != 8 {
			t.Fatalf("priority before the change = %d, want 8", p)
		}
		changed := ruGroup("g", 1000000, -1)
		changed.Priority = 16
		modify := func() {
			if _, err := rm.ModifyResourceGroup(ctx, changed); err != nil {
				t.Fatal(err)
			}
		}
		modify()
		settle(modify)
		if err := client.Put(gctx, []byte("k"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if p := rec.last().GetOverridePriority(); p != 16 {
			t.Fatalf("priority after the change = %d, want 16", p)
		}
	}
	t.Run("in-process", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			mock := mocktikv.NewCluster()
			defer mock.Close()
			var rec rccRecorder
			mock.OnRequest(rec.observe)
			cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
				tikv.WithResourceControl(""))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()
			synctest.Wait() // the controller's loop has opened its watches
			check(t, cluster, mock.PD().(controller.ResourceGroupProvider), &rec, func(func()) { synctest.Wait() })
		})
	})
	t.Run("grpc", func(t *testing.T) {
		mock := mocktikv.Start(t)
		var rec rccRecorder
		mock.OnRequest(rec.observe)
		cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithResourceControl(""))
		if err != nil {
			t.Fatal(err)
		}
		defer cluster.Close()
		// The change travels PD's watch stream: wait until the
		// controller has it, for at most 10s.
		settle := func(modify func()) {
			deadline := time.Now().Add(10 * time.Second)
			for cluster.ResourceController().GetActiveResourceGroup("g").GetPriority() != 16 {
				if time.Now().After(deadline) {
					t.Fatal("the controller did not see the new priority in 10s")
				}
				time.Sleep(20 * time.Millisecond)
				modify()
			}
		}
		check(t, cluster, cluster.PD().(controller.ResourceGroupProvider), &rec, settle)
	})
}

// TestResourceControlChargesTheTxnGroup checks that a transaction's own
// group (txn.WithTxnResourceGroupName) wins over the client's default:
// its reads (Get, BatchGet, Scan: client-go's integration test
// TestResourceGroupName) and its prewrite and commit carry the group and
// its priority and are charged to it.
func TestResourceControlChargesTheTxnGroup(t *testing.T) {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	seen := map[transport.Cmd]*kvrpcpb.ResourceControlContext{}
	var mu sync.Mutex
	mock.OnRequest(func(_ uint64, cmd transport.Cmd, req transport.Message) {
		if kctx := cmd.Context(req); kctx != nil {
			mu.Lock()
			seen[cmd] = kctx.GetResourceControlContext()
			mu.Unlock()
		}
	})
	ctx := context.Background()
	g := ruGroup("txng", 1000000, -1)
	g.Priority = 3
	if _, err := mock.PD().(controller.ResourceGroupProvider).AddResourceGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithResourceControl("default"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	client := txn.NewClient(cluster)
	defer client.Close(ctx)

	details := &middleware.RUDetails{}
	dctx := middleware.WithRUDetails(ctx, details)
	tx, err := client.Begin(dctx, txn.WithTxnResourceGroupName("txng"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Get(dctx, []byte("a")); err != nil && !errors.Is(err, kv.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := tx.BatchGet(dctx, [][]byte{[]byte("x"), []byte("y")}); err != nil {
		t.Fatal(err)
	}
	for _, err := range tx.Iter(dctx, []byte("s"), []byte("t")) {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a", "b"} {
		if err := tx.Set([]byte(k), []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(dctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, cmd := range []transport.Cmd{transport.CmdGet, transport.CmdBatchGet, transport.CmdScan, transport.CmdPrewrite, transport.CmdCommit} {
		if rcc := seen[cmd]; rcc.GetResourceGroupName() != "txng" || rcc.GetOverridePriority() != 3 {
			t.Errorf("%s carried %v, want group txng at priority 3", cmd, rcc)
		}
	}
	// A Get is charged its read base cost, Prewrite and Commit their
	// write costs.
	if details.RRU() <= 0 || details.WRU() <= 2*(1+0.7) {
		t.Errorf("the transaction was charged %.3f RRU and %.3f WRU, want a read and two writes", details.RRU(), details.WRU())
	}
}

// TestResourceControlUnknownGroupFailsAtOnce checks that a request in a
// group PD does not know fails without being sent or retried, as
// client-go returns resource-group errors without retrying.
func TestResourceControlUnknownGroupFailsAtOnce(t *testing.T) {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	var attempts atomic.Int32
	count := func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			attempts.Add(1)
			return next.Send(ctx, req)
		})
	}
	var sent atomic.Int32
	mock.OnRequest(func(uint64, transport.Cmd, transport.Message) { sent.Add(1) })
	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
		tikv.WithResourceControl(""), tikv.WithMiddleware(count))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	err = raw.NewClient(cluster).Put(middleware.WithResourceGroup(context.Background(), "nope"), []byte("k"), []byte("v"))
	var rge *middleware.ResourceGroupError
	if !errors.As(err, &rge) || rge.Group != "nope" || errors.Is(err, kv.ErrUndetermined) {
		t.Fatalf("put in an unknown group = %v, want a ResourceGroupError of group nope, not undetermined", err)
	}
	if attempts.Load() != 1 || sent.Load() != 0 {
		t.Fatalf("%d attempts, %d requests reached TiKV; want 1 attempt, none sent", attempts.Load(), sent.Load())
	}
}

// TestResourceControlWaitEndsWithCtx checks, in virtual time, that a write
// waiting for its group's RU gives up when its ctx ends, with an error
// saying it was never sent (so it is not undetermined).
func TestResourceControlWaitEndsWithCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mock := mocktikv.NewCluster()
		defer mock.Close()
		ctx := context.Background()
		if _, err := mock.PD().(controller.ResourceGroupProvider).AddResourceGroup(ctx, ruGroup("slow", 10, 10)); err != nil {
			t.Fatal(err)
		}
		cluster, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithResourceControl("slow"))
		if err != nil {
			t.Fatal(err)
		}
		defer cluster.Close()
		client := raw.NewClient(cluster)
		// The group starts with 10 RU; each 4 KiB put costs 5.7, and the
		// next 10 RU take a second to come.
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		var sent atomic.Int32
		mock.OnRequest(func(uint64, transport.Cmd, transport.Message) { sent.Add(1) })
		value := make([]byte, 4096)
		for i := 0; ; i++ {
			err = client.Put(wctx, fmt.Appendf(nil, "k%d", i), value)
			if err != nil || i == 100 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		var rge *middleware.ResourceGroupError
		if !errors.As(err, &rge) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, kv.ErrNotSent) || errors.Is(err, kv.ErrUndetermined) {
			t.Fatalf("put past the deadline = %v, want a ResourceGroupError wrapping DeadlineExceeded and ErrNotSent", err)
		}
		if n := sent.Load(); n < 1 || n > 2 {
			t.Fatalf("%d puts reached TiKV before the group ran dry, want 1 or 2 (10 RU)", n)
		}
	})
}

// TestResourceControlNeedsAResourceManager checks that Connect refuses
// resource control on a PD client that serves no resource groups.
func TestResourceControlNeedsAResourceManager(t *testing.T) {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	// Only the pdclient.PD methods, not the resource manager's.
	type bare struct{ pdclient.PD }
	_, err := tikv.Connect(context.Background(), nil, tikv.WithPD(bare{mock.PD()}), tikv.WithTransport(mock.Sender()),
		tikv.WithResourceControl("default"))
	if !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("Connect with resource control on a bare PD = %v, want ErrInvalidArgument", err)
	}
}
