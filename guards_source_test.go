package tikv_test

import (
	"context"
	"sync"
	"testing"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// TestRequestSourceReachesTiKV: the request_source TiKV receives is the
// call's own (raw.RequestSource), else the context's
// (middleware.WithRequestSource), else the client's default
// (tikv.WithRequestSource), in client-go's "internal_"/"external_" form.
func TestRequestSourceReachesTiKV(t *testing.T) {
	mock := mocktikv.NewCluster(mocktikv.WithStores(1))
	defer mock.Close()
	var mu sync.Mutex
	var seen []string
	mock.OnRequest(func(_ uint64, cmd transport.Cmd, msg transport.Message) {
		if cmd == transport.CmdRawGet {
			mu.Lock()
			seen = append(seen, cmd.Context(msg).GetRequestSource())
			mu.Unlock()
		}
	})
	cluster, client := connectGuarded(t, mock, tikv.WithRequestSource(middleware.RequestSource{Type: "app"}))
	defer cluster.Close()
	ctx := context.Background()
	key := []byte("k")
	if err := client.Put(ctx, key, []byte("v")); err != nil {
		t.Fatal(err)
	}
	gcCtx := middleware.WithRequestSource(ctx, middleware.RequestSource{Internal: true, Type: "gc"})
	for _, c := range []struct {
		ctx  context.Context
		opts []raw.CallOption
	}{
		{ctx, nil},
		{gcCtx, nil},
		{gcCtx, []raw.CallOption{raw.RequestSource("external_mine")}},
	} {
		if _, err := client.Get(c.ctx, key, c.opts...); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"external_app", "internal_gc", "external_mine"}
	if len(seen) != len(want) {
		t.Fatalf("request sources %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("request sources %q, want %q", seen, want)
		}
	}
}
