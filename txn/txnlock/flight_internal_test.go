package txnlock

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// TestFlightGroup: concurrent callers of one key share one run; a
// follower stops waiting when its own context ends; a follower whose
// leader gave up only because the leader's context ended runs the work
// itself.
func TestFlightGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g flightGroup
		var runs atomic.Int32
		release := make(chan struct{})
		work := func(ctx context.Context) (any, error) {
			runs.Add(1)
			select {
			case <-release:
				return "done", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}

		// Shared run.
		results := make(chan any, 3)
		for range 3 {
			go func() {
				v, _ := g.do(context.Background(), "k", work)
				results <- v
			}()
		}
		synctest.Wait()
		close(release)
		for range 3 {
			if v := <-results; v != "done" {
				t.Fatalf("result %v", v)
			}
		}
		if runs.Load() != 1 {
			t.Fatalf("%d runs, want 1", runs.Load())
		}

		// A follower's own cancellation.
		runs.Store(0)
		release = make(chan struct{})
		leaderDone := make(chan error, 1)
		go func() {
			_, err := g.do(context.Background(), "k", work)
			leaderDone <- err
		}()
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		followerDone := make(chan error, 1)
		go func() {
			_, err := g.do(ctx, "k", work)
			followerDone <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-followerDone; !errors.Is(err, context.Canceled) {
			t.Fatalf("follower: %v", err)
		}
		close(release)
		if err := <-leaderDone; err != nil {
			t.Fatalf("leader: %v", err)
		}

		// The leader's cancellation is not the follower's.
		runs.Store(0)
		release = make(chan struct{})
		lctx, lcancel := context.WithCancel(context.Background())
		go func() {
			_, err := g.do(lctx, "k", work)
			leaderDone <- err
		}()
		synctest.Wait()
		go func() {
			v, err := g.do(context.Background(), "k", work)
			if err == nil && v != "done" {
				err = errors.New("wrong value")
			}
			followerDone <- err
		}()
		synctest.Wait()
		lcancel()
		if err := <-leaderDone; !errors.Is(err, context.Canceled) {
			t.Fatalf("leader: %v", err)
		}
		synctest.Wait() // the follower runs the work itself
		close(release)
		if err := <-followerDone; err != nil {
			t.Fatalf("follower: %v", err)
		}
		if runs.Load() != 2 {
			t.Fatalf("%d runs, want the follower's own second run", runs.Load())
		}
	})
}
