package txn_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/transport"
)

// countingInterceptor records, per interceptor name, the attempts that
// began and ended through it, as client-go's MockInterceptorManager does.
type countingInterceptor struct {
	mu         sync.Mutex
	begin, end int
	log        []string
}

func (c *countingInterceptor) named(name string) transport.Middleware {
	return func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			c.mu.Lock()
			c.begin++
			c.mu.Unlock()
			resp, err := next.Send(ctx, req)
			c.mu.Lock()
			c.end++
			c.log = append(c.log, name)
			c.mu.Unlock()
			return resp, err
		})
	}
}

func (c *countingInterceptor) take() (begin, end int, log []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	begin, end, log = c.begin, c.end, c.log
	c.begin, c.end, c.log = 0, 0, nil
	return begin, end, log
}

// TestPortInterceptor ports client-go's TestInterceptor
// (integration_tests/interceptor_test.go): an interceptor attached to a
// transaction's calls (client-go's Txn.SetRPCInterceptor; here the ctx
// interceptor of middleware.WithNamedInterceptor, which every attempt of
// the call passes through) sees a one-key commit's two RPCs (prewrite and
// commit of the primary) and a Get's one, each begun and ended once.
// Both transports.
func TestPortInterceptor(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		counts := &countingInterceptor{}

		tx := p.begin()
		setAll(t, tx, "~interceptor/KEY-1", "VALUE-1")
		ctx := middleware.WithNamedInterceptor(context.Background(), "INTERCEPTOR-1", counts.named("INTERCEPTOR-1"))
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if begin, end, log := counts.take(); begin != 2 || end != 2 || len(log) != 2 || log[0] != "INTERCEPTOR-1" || log[1] != "INTERCEPTOR-1" {
			t.Fatalf("commit: began %d, ended %d, log %v; want 2, 2, [INTERCEPTOR-1 INTERCEPTOR-1]", begin, end, log)
		}

		tx = p.begin()
		ctx = middleware.WithNamedInterceptor(context.Background(), "INTERCEPTOR-2", counts.named("INTERCEPTOR-2"))
		v, err := tx.Get(ctx, []byte("~interceptor/KEY-1"))
		if err != nil || string(v) != "VALUE-1" {
			t.Fatalf("get = %q, %v", v, err)
		}
		if begin, end, log := counts.take(); begin != 1 || end != 1 || len(log) != 1 || log[0] != "INTERCEPTOR-2" {
			t.Fatalf("get: began %d, ended %d, log %v; want 1, 1, [INTERCEPTOR-2]", begin, end, log)
		}
		_ = tx.Rollback()
	})
}
