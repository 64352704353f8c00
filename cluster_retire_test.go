package tikv

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/plans"
)

// A store that comes back at another address: once the client learns the
// new address from PD, its connections to the old one are closed instead of
// reconnecting there for ever (issue #8, bug 8).
func TestMovedStoreOldAddressIsClosed(t *testing.T) {
	mock := mocktikv.Start(t, mocktikv.WithStores(2))
	c, err := Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := plans.NewRaw(c.EnvFor(kv.ModeRaw))
	if _, err := p.Put(t.Context(), &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	_, leader := mock.RegionByKey([]byte("k"))
	old := mock.StoreAddr(leader.GetStoreId())
	if !slices.Contains(c.pool.Addrs(), old) {
		t.Fatalf("pool addresses %v: want a connection to the leader's %s", c.pool.Addrs(), old)
	}
	if err := mock.StopStore(leader.GetStoreId()); err != nil {
		t.Fatal(err)
	}
	if err := mock.SetStoreAddress(leader.GetStoreId(), "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	// A read fails against the stopped store; the failure re-resolves the
	// store from PD, which names the new address.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, _ = p.Get(ctx, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	if slices.Contains(c.pool.Addrs(), old) {
		t.Fatalf("pool addresses %v: the store's old address %s is still connected", c.pool.Addrs(), old)
	}
}
