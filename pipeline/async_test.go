package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
)

// group is a Spawner like tikv.Cluster.Go: close cancels and waits.
type group struct {
	mu     sync.Mutex
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newGroup() *group {
	ctx, cancel := context.WithCancel(context.Background())
	return &group{ctx: ctx, cancel: cancel}
}

func (g *group) Go(f func(ctx context.Context)) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return kv.ErrClosed
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
	return nil
}

func (g *group) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

// blockingPlan answers req+1 once release is closed, or fails with its
// ctx's error.
func blockingPlan(started chan<- struct{}, release <-chan struct{}) pipeline.Plan[int, int] {
	return func(ctx context.Context, req int) (int, error) {
		started <- struct{}{}
		select {
		case <-release:
			return req + 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// TestStartRunsThePlanAsynchronously: Start returns before the plan ends,
// and the Future then holds its result; the callback form runs its
// callback once, on a RunLoop when wrapped with OnExecutor.
func TestStartRunsThePlanAsynchronously(t *testing.T) {
	g := newGroup()
	defer g.close()
	started, release := make(chan struct{}, 1), make(chan struct{})
	f := pipeline.Start(g, context.Background(), blockingPlan(started, release), 41)
	<-started
	select {
	case <-f.Done():
		t.Fatal("done before the plan answered")
	default:
	}
	close(release)
	v, err := f.Result()
	require.NoError(t, err)
	require.Equal(t, 42, v)

	var loop transport.RunLoop
	calls := 0
	pipeline.Go(g, context.Background(), blockingPlan(started, release), 1, transport.OnExecutor(&loop, func(v int, err error) {
		calls++
		require.NoError(t, err)
		require.Equal(t, 2, v)
	}))
	n, err := loop.Exec(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, 1, calls)
}

// TestStartCancellation: a ctx already done sends nothing (the plan never
// runs; the error wraps ErrNotSent); cancelling ctx or closing the Spawner
// stops a running plan; a closed Spawner refuses.
func TestStartCancellation(t *testing.T) {
	g := newGroup()
	started, release := make(chan struct{}, 1), make(chan struct{})
	plan := blockingPlan(started, release)

	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := pipeline.Start(g, done, plan, 0).Result()
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, transport.ErrNotSent)
	require.Empty(t, started, "the plan never ran")

	ctx, cancel := context.WithCancel(context.Background())
	f := pipeline.Start(g, ctx, plan, 0)
	<-started
	cancel()
	_, err = f.Result()
	require.ErrorIs(t, err, context.Canceled)

	f = pipeline.Start(g, context.Background(), plan, 0)
	<-started
	wctx, wcancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer wcancel()
	_, err = f.Wait(wctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "Wait gives up; the plan goes on")
	g.close()
	_, err = f.Result()
	require.ErrorIs(t, err, context.Canceled, "closing the Spawner stops the plan")

	_, err = pipeline.Start(g, context.Background(), plan, 0).Result()
	require.ErrorIs(t, err, kv.ErrClosed)
	require.ErrorIs(t, err, transport.ErrNotSent)
	require.False(t, errors.Is(err, context.Canceled))
}
