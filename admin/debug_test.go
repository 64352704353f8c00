package admin_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/admin"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestRegionProperties: Client.RegionProperties (client-go's
// CmdDebugGetRegionProperties) reaches the region's leader store through
// debugpb.Debug/GetRegionProperties and returns TiKV's property names
// with the MVCC statistics of what the transactions wrote, in process and
// over gRPC.
func TestRegionProperties(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		c := connect(t, grpc)
		ctx := context.Background()
		c.put(t, "a", "b", "c")
		c.put(t, "a")
		err := c.txn.Update(ctx, func(ctx context.Context, tx *txn.Txn) error { return tx.Delete([]byte("b")) })
		if err != nil {
			t.Fatal(err)
		}

		r, err := c.admin.RegionByKey(ctx, []byte("a"))
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var servedBy []uint64
		c.mock.OnRequest(func(store uint64, cmd transport.Cmd, _ transport.Message) {
			if cmd.FullMethod() == "/debugpb.Debug/GetRegionProperties" {
				mu.Lock()
				servedBy = append(servedBy, store)
				mu.Unlock()
			}
		})
		props, err := c.admin.RegionProperties(ctx, r.ID())
		if err != nil {
			t.Fatal(err)
		}
		meta, leader := c.mock.RegionByID(r.ID())
		mu.Lock()
		if len(servedBy) != 1 || servedBy[0] != leader.StoreId {
			t.Errorf("served by stores %v, want only the leader's store %d", servedBy, leader.StoreId)
		}
		mu.Unlock()
		want := map[string]string{
			"mvcc.num_rows":         "3",
			"mvcc.num_versions":     "5", // a: two puts; b: put, delete; c: put
			"mvcc.num_puts":         "4",
			"mvcc.num_deletes":      "1",
			"mvcc.max_row_versions": "2",
			"region.start_key":      hex.EncodeToString(meta.StartKey),
			"region.end_key":        hex.EncodeToString(meta.EndKey),
		}
		for name, w := range want {
			if got := props[name]; got != w {
				t.Errorf("%s = %q, want %q (all: %v)", name, got, w, props)
			}
		}
		minTS, err1 := strconv.ParseUint(props["mvcc.min_ts"], 10, 64)
		maxTS, err2 := strconv.ParseUint(props["mvcc.max_ts"], 10, 64)
		if err1 != nil || err2 != nil || minTS == 0 || minTS >= maxTS {
			t.Errorf("mvcc.min_ts %q, mvcc.max_ts %q: want 0 < min < max", props["mvcc.min_ts"], props["mvcc.max_ts"])
		}
	})
}

// TestRegionPropertiesUnknownRegion: a region PD does not know fails
// before anything is sent.
func TestRegionPropertiesUnknownRegion(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		c := connect(t, grpc)
		sent := false
		var mu sync.Mutex
		c.mock.OnRequest(func(uint64, transport.Cmd, transport.Message) { mu.Lock(); sent = true; mu.Unlock() })
		if _, err := c.admin.RegionProperties(context.Background(), 987654); err == nil {
			t.Fatal("no error for an unknown region")
		}
		mu.Lock()
		defer mu.Unlock()
		if sent {
			t.Error("a request reached a store")
		}
	})
}

// TestRegionPropertiesRefusedInKeyspace: under API v2 the keyspace layer
// refuses the command before it is sent, since its answer (the region's
// boundaries and statistics) cannot be confined to the client's keyspace.
func TestRegionPropertiesRefusedInKeyspace(t *testing.T) {
	mock := mocktikv.NewCluster(mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2), mocktikv.WithKeyspace("ks"))
	defer mock.Close()
	ctx := context.Background()
	c, err := tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithKeyspace("ks"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := admin.New(c)
	r, err := a.RegionByKey(ctx, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.RegionProperties(ctx, r.ID())
	if !errors.Is(err, middleware.ErrRefusedInKeyspace) || !errors.Is(err, transport.ErrNotSent) {
		t.Fatalf("err = %v, want a refusal in the keyspace, not sent", err)
	}
}
