// Command breaker shows the per-store circuit breaker (tikv.WithCircuitBreaker)
// and rate-limited request logging (tikv.WithRequestLogging) on an embedded
// three-store mocktikv served over gRPC: it stops the store that leads a
// key's region, watches the store's breaker open, reads from a follower
// while it is down, shows an attempt at the store refused unsent, starts the
// store again and watches the breaker close.
//
//	go run ./examples/breaker
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "breaker:", err)
		os.Exit(1)
	}
}

// lockedWriter serialises writes: the breaker's state callback and the
// logger write from the client's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func run(w io.Writer) error {
	out := &lockedWriter{w: w}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	mock := mocktikv.NewCluster(mocktikv.WithStores(3))
	if err := mock.Serve(); err != nil {
		return fmt.Errorf("start mocktikv: %w", err)
	}
	defer mock.Close()

	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{
		// Drop the time so that the output reads the same on every run.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	cluster, err := tikv.Connect(ctx, mock.PDAddrs(),
		tikv.WithCircuitBreaker(middleware.BreakerConfig{
			Failures:    3,
			OpenTimeout: 500 * time.Millisecond,
			OnStateChange: func(store uint64, from, to middleware.BreakerState) {
				fmt.Fprintf(out, "store %d breaker: %v -> %v\n", store, from, to)
			},
		}),
		tikv.WithRequestLogging(middleware.LoggingConfig{Logger: logger, Every: time.Minute}),
	)
	if err != nil {
		return err
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)
	breaker := cluster.CircuitBreaker()

	key := []byte("breaker/k")
	if err := client.Put(ctx, key, []byte("v1")); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	region, leader := mock.RegionByKey(key)
	down := leader.GetStoreId()
	fmt.Fprintf(out, "region %d is led by store %d; stopping it\n", region.GetId(), down)
	if err := mock.StopStore(down); err != nil {
		return err
	}

	// A leader read fails against the stopped store; its failed send and
	// the health checks that follow open the breaker.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = client.Get(short, key)
	cancelShort()
	fmt.Fprintf(out, "leader read with the store down failed: %t\n", err != nil)
	if err := waitFor(ctx, breaker, down, middleware.BreakerOpen); err != nil {
		return err
	}

	// An attempt aimed at the store is refused without being sent.
	store, err := cluster.RegionCacheFor(kv.ModeRaw).Store(ctx, down)
	if err != nil {
		return err
	}
	_, err = cluster.Sender().Send(ctx, &transport.Request{
		Cmd:    transport.CmdRawGet,
		Msg:    transport.CmdRawGet.NewRequest(),
		Target: transport.Target{StoreID: down, Addr: store.Addr, RegionID: region.GetId(), Peer: leader},
	})
	var open *middleware.BreakerOpenError
	fmt.Fprintf(out, "attempt at store %d refused by its breaker: %t, not sent: %t\n",
		down, errors.As(err, &open), errors.Is(err, transport.ErrNotSent))

	// Follower reads go to a live replica.
	v, err := client.Get(ctx, key, raw.ReplicaRead(kv.ReplicaReadFollower))
	if err != nil {
		return fmt.Errorf("follower read: %w", err)
	}
	fmt.Fprintf(out, "follower read while the store is down: %q\n", v)

	fmt.Fprintf(out, "starting store %d again\n", down)
	if err := mock.StartStore(down); err != nil {
		return err
	}
	if err := waitFor(ctx, breaker, down, middleware.BreakerClosed); err != nil {
		return err
	}
	for {
		v, err = client.Get(ctx, key)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("leader read after the restart: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(out, "leader read after the restart: %q\n", v)
	return nil
}

// waitFor polls until the store's breaker is in state want.
func waitFor(ctx context.Context, b *middleware.CircuitBreaker, store uint64, want middleware.BreakerState) error {
	for b.State(store) != want {
		select {
		case <-ctx.Done():
			return fmt.Errorf("store %d breaker is %v, want %v: %w", store, b.State(store), want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
