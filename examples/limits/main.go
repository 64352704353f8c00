// Command limits shows the client-side limits and request tagging on an
// embedded two-store mocktikv served over gRPC: a client-wide token bucket
// (tikv.WithRateLimit) pacing a burst of reads, a read refused unsent when
// its token would come after its deadline, a per-store bound on attempts in
// flight (tikv.WithStoreTokenLimit, client-go's StoreLimit), and the request
// source TiKV sees (tikv.WithRequestSource, middleware.WithRequestSource).
//
//	go run ./examples/limits
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "limits:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	mock := mocktikv.NewCluster(mocktikv.WithStores(2))
	var mu sync.Mutex
	sources := map[string]int{}
	mock.OnRequest(func(_ uint64, cmd transport.Cmd, msg transport.Message) {
		if cmd == transport.CmdRawGet {
			mu.Lock()
			sources[cmd.Context(msg).GetRequestSource()]++
			mu.Unlock()
		}
	})
	if err := mock.Serve(); err != nil {
		return fmt.Errorf("start mocktikv: %w", err)
	}
	defer mock.Close()
	key := []byte("limits/k")

	// 1. A client-wide token bucket: 200 attempts a second, burst 10.
	paced, err := tikv.Connect(ctx, mock.PDAddrs(),
		tikv.WithRateLimit(middleware.RateLimitConfig{Rate: 200, Burst: 10}),
		tikv.WithRequestSource(middleware.RequestSource{Type: "example"}))
	if err != nil {
		return err
	}
	defer paced.Close()
	client := raw.NewClient(paced)
	if err := client.Put(ctx, key, []byte("v")); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	took, err := readMany(ctx, client, key, 100, 16)
	if err != nil {
		return err
	}
	// 90 of the 100 reads wait for a token, 5ms apart: about 450ms (the
	// check leaves room for the clock readings around the burst).
	fmt.Fprintf(out, "100 reads from 16 goroutines at 200/s (burst 10) took at least 400ms: %t\n", took >= 400*time.Millisecond)

	// A read whose token would come after its deadline is refused at
	// once, without being sent: with one token a second, the second read
	// would wait a second, past its 100ms deadline.
	slowBucket, err := tikv.Connect(ctx, mock.PDAddrs(), tikv.WithRateLimit(middleware.RateLimitConfig{Rate: 1, Burst: 1}))
	if err != nil {
		return err
	}
	defer slowBucket.Close()
	one := raw.NewClient(slowBucket)
	if _, err := one.Get(ctx, key); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = one.Get(short, key)
	cancelShort()
	fmt.Fprintf(out, "read with a 100ms deadline at 1/s: limited %t, not sent %t\n",
		errors.Is(err, middleware.ErrLimited), errors.Is(err, transport.ErrNotSent))

	// 2. At most 4 attempts in flight per store. The store holds every
	// read 50ms, so 40 reads from 16 goroutines need at least ten rounds
	// of four: 500ms (without the limit, three rounds of 16 would do).
	bounded, err := tikv.Connect(ctx, mock.PDAddrs(), tikv.WithStoreTokenLimit(4))
	if err != nil {
		return err
	}
	defer bounded.Close()
	slow := mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawGet, Steps: []mocktikv.Step{
		mocktikv.Always(mocktikv.Delay(50 * time.Millisecond)),
	}})
	gcCtx := middleware.WithRequestSource(ctx, middleware.RequestSource{Internal: true, Type: "gc"})
	took, err = readMany(gcCtx, raw.NewClient(bounded), key, 40, 16)
	slow.Remove()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "40 reads held 50ms each, 4 store tokens, took at least 500ms: %t\n", took >= 500*time.Millisecond)

	// 3. What TiKV saw as each read's request_source.
	mu.Lock()
	fmt.Fprintf(out, "request sources at TiKV: external_example %t, internal_gc %d\n",
		sources["external_example"] >= 100, sources["internal_gc"])
	mu.Unlock()
	return nil
}

// readMany reads key n times from the given number of goroutines and
// returns how long it took.
func readMany(ctx context.Context, client *raw.Client, key []byte, n, goroutines int) (time.Duration, error) {
	start := time.Now()
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range work {
				if _, err := client.Get(ctx, key); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	return time.Since(start), nil
}
