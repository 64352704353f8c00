package admin_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/pdpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/admin"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

type cluster struct {
	mock  *mocktikv.Cluster
	c     *tikv.Cluster
	admin *admin.Client
	txn   *txn.Client
}

func connect(t *testing.T, grpc bool) *cluster {
	t.Helper()
	var mock *mocktikv.Cluster
	var c *tikv.Cluster
	var err error
	if grpc {
		mock = mocktikv.Start(t, mocktikv.WithStores(3))
		c, err = tikv.Connect(t.Context(), mock.PDAddrs())
	} else {
		mock = mocktikv.NewCluster(mocktikv.WithStores(3))
		c, err = tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	}
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	tc := txn.NewClient(c)
	t.Cleanup(func() {
		tc.Close(context.Background())
		c.Close()
		if !grpc {
			mock.Close()
		}
	})
	return &cluster{mock: mock, c: c, admin: admin.New(c), txn: tc}
}

func bothWays(t *testing.T, f func(t *testing.T, grpc bool)) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) { f(t, grpc) })
	}
}

func (c *cluster) put(t *testing.T, keys ...string) {
	t.Helper()
	err := c.txn.Update(context.Background(), func(ctx context.Context, tx *txn.Txn) error {
		for _, k := range keys {
			if err := tx.Set([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// present returns which of keys a fresh transaction reads.
func (c *cluster) present(t *testing.T, keys ...string) []string {
	t.Helper()
	tx, err := c.txn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got, err := tx.BatchGet(context.Background(), func() [][]byte {
		var out [][]byte
		for _, k := range keys {
			out = append(out, []byte(k))
		}
		return out
	}())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, k := range keys {
		if got[i] != nil {
			out = append(out, k)
		}
	}
	return out
}

// TestUnsafeDestroyRange (client-go's KVStore.UnsafeDestroyRange): the
// request reaches each of the three stores once and the range's keys are
// gone while the keys around it stay; a store that answers an error is
// named in a *admin.StoresFailedError; TiKV's refusal of an empty bound
// comes back from every store.
func TestUnsafeDestroyRange(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		c := connect(t, grpc)
		ctx := context.Background()
		c.put(t, "a", "b", "b1", "c", "d")
		sent := c.mock.Inject(mocktikv.Fault{Cmd: transport.CmdUnsafeDestroyRange, Steps: []mocktikv.Step{mocktikv.Times(3, mocktikv.Pass())}})
		if err := c.admin.UnsafeDestroyRange(ctx, []byte("b"), []byte("d")); err != nil {
			t.Fatal(err)
		}
		if sent.Hits() != 3 {
			t.Fatalf("sent to %d stores, want 3", sent.Hits())
		}
		if got := c.present(t, "a", "b", "b1", "c", "d"); !slices.Equal(got, []string{"a", "d"}) {
			t.Fatalf("keys left %v, want [a d]", got)
		}

		c.mock.Inject(mocktikv.Fault{Cmd: transport.CmdUnsafeDestroyRange, Store: 2, Steps: []mocktikv.Step{mocktikv.Times(1,
			mocktikv.Respond(func(transport.Message) transport.Message {
				return &kvrpcpb.UnsafeDestroyRangeResponse{Error: "disk on fire"}
			}))}})
		err := c.admin.UnsafeDestroyRange(ctx, []byte("x"), []byte("y"))
		var sf *admin.StoresFailedError
		if !errors.As(err, &sf) || len(sf.Failed) != 1 || sf.Failed[2] == nil || sf.Total != 3 {
			t.Fatalf("one failing store: %v, want store 2 of 3 named", err)
		}

		err = c.admin.UnsafeDestroyRange(ctx, nil, []byte("y"))
		if !errors.As(err, &sf) || len(sf.Failed) != 3 {
			t.Fatalf("empty start: %v, want every store's refusal", err)
		}
	})
}

// TestSplitScatterAndQueries (client-go's KVStore.SplitRegions with
// scatter and WaitScatterRegionFinish; RegionCache lookups; PD stores):
// splitting at b and c creates two regions, which PD scatters; the wait
// reports each; the regions are found by key and id with the new
// boundaries; a key already at a boundary splits nothing; the stores are
// listed with their labels.
func TestSplitScatterAndQueries(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		c := connect(t, grpc)
		ctx := context.Background()
		c.put(t, "a", "b", "c")
		ids, err := c.admin.SplitRegions(ctx, [][]byte{[]byte("b"), []byte("c")}, true)
		if err != nil || len(ids) != 2 {
			t.Fatalf("split: %v, %v; want 2 new regions", ids, err)
		}
		var done []int
		if err := c.admin.WaitScatterFinish(ctx, ids, func(d, total int) { done = append(done, d*10+total) }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(done, []int{12, 22}) {
			t.Fatalf("progress %v, want 1/2 then 2/2", done)
		}
		for _, id := range ids {
			op, err := c.mock.PD().GetOperator(ctx, id)
			if err != nil || string(op.GetDesc()) != "scatter-region" || op.GetStatus() != pdpb.OperatorStatus_SUCCESS {
				t.Fatalf("region %d operator %v, %v; want a finished scatter", id, op, err)
			}
		}
		for _, k := range []string{"b", "c"} {
			r, err := c.admin.RegionByKey(ctx, []byte(k))
			if err != nil || string(r.StartKey()) != k {
				t.Fatalf("region of %q: %v, %v; want one starting there", k, r, err)
			}
			byID, err := c.admin.RegionByID(ctx, r.ID())
			if err != nil || byID.ID() != r.ID() || string(byID.StartKey()) != k {
				t.Fatalf("region %d by id: %v, %v", r.ID(), byID, err)
			}
		}
		rs, err := c.admin.Regions(ctx, nil, nil, 0)
		if err != nil || len(rs) != 3 {
			t.Fatalf("regions %v, %v; want 3", rs, err)
		}
		again, err := c.admin.SplitRegions(ctx, [][]byte{[]byte("b")}, false)
		if err != nil || len(again) != 0 {
			t.Fatalf("split at a boundary: %v, %v; want nothing new", again, err)
		}
		if got := c.present(t, "a", "b", "c"); len(got) != 3 {
			t.Fatalf("keys after the split: %v", got)
		}

		if err := c.mock.SetStoreLabels(2, map[string]string{"zone": "z2"}); err != nil {
			t.Fatal(err)
		}
		stores, err := c.admin.Stores(ctx)
		if err != nil || len(stores) != 3 {
			t.Fatalf("stores %v, %v; want 3", stores, err)
		}
		s2, err := c.admin.Store(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range s2.Labels {
			if l.Key == "zone" && l.Value == "z2" {
				return
			}
		}
		t.Fatalf("store 2 labels %v, want zone=z2", s2.Labels)
	})
}

// TestSplitRawKeySpace: in the raw key space (admin.WithKeyMode) the
// split key is a raw key (the request sets is_raw_kv) and the new region
// starts exactly there.
func TestSplitRawKeySpace(t *testing.T) {
	c := connect(t, false)
	ctx := context.Background()
	a := admin.New(c.c, admin.WithKeyMode(kv.ModeRaw))
	ids, err := a.SplitRegions(ctx, [][]byte{[]byte("raw-m")}, false)
	if err != nil || len(ids) != 1 {
		t.Fatalf("split: %v, %v; want one new region", ids, err)
	}
	r, err := a.RegionByKey(ctx, []byte("raw-m"))
	if err != nil || string(r.StartKey()) != "raw-m" {
		t.Fatalf("raw region of raw-m: %v, %v", r, err)
	}
	prev, err := a.RegionByKey(ctx, []byte("raw-a"))
	if err != nil || prev.ID() != ids[0] || string(prev.EndKey()) != "raw-m" {
		t.Fatalf("region before the split key: %v, %v; want the new region %d ending at raw-m", prev, err, ids[0])
	}
}
