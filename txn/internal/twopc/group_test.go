package twopc_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

func secondaryCommit(_ uint64, _ transport.Cmd, req transport.Message) bool {
	c, ok := req.(*kvrpcpb.CommitRequest)
	return ok && c.CommitRole == kvrpcpb.CommitRole_Secondary
}

// ports client-go integration_tests/2pc_test.go TestContextCancel2: Commit
// returns once the primary is committed; the secondaries are committed in
// the background, on the Group, which the caller's context does not stop
// and whose Close waits for them.
func TestSecondariesCommittedBeforeGroupClose(t *testing.T) {
	synctest.Test(t, testSecondariesCommittedBeforeGroupClose)
}

func testSecondariesCommittedBeforeGroupClose(t *testing.T) {
	f := newFixture(t, setup{splits: []string{"m"}})
	gate := mocktikv.NewGate()
	defer gate.Open()
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Match: secondaryCommit, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.Block(gate)),
	}})
	ctx, cancel := context.WithCancel(context.Background())
	d, err := f.committer.Commit(ctx, twopc.Request{StartTS: f.ts(), Mutations: []twopc.Mutation{put("a", "1"), put("z", "2")}})
	cancel()
	if err != nil || !d.SecondariesQueued || d.SecondaryKeys != 1 {
		t.Fatalf("commit = %v, details %+v", err, d)
	}
	<-gate.Arrived()
	if l := f.locks(); len(l) != 1 || string(l[0].Key) != "z" {
		t.Fatalf("locks while the secondary commit is held: %v", l)
	}
	closed := make(chan error, 1)
	go func() { closed <- f.group.Close(context.Background()) }()
	synctest.Wait() // Close is blocked for good, unless it returned
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the secondary's commit finished", err)
	default:
	}
	gate.Open()
	if err := <-closed; err != nil {
		t.Fatalf("close: %v", err)
	}
	if l := f.locks(); len(l) != 0 {
		t.Fatalf("locks left after Close: %v", l)
	}
	if s := f.group.Stats(); s.Started != 1 || s.Failed != 0 {
		t.Fatalf("group stats %+v", s)
	}
	// A closed Group takes no more work: a commit still commits its
	// primary and leaves the secondaries to readers.
	d, err = f.commit(put("b", "3"), put("y", "4"))
	if err != nil || d.SecondariesQueued {
		t.Fatalf("commit after Close = %v, details %+v", err, d)
	}
	f.mustGet("b", "3")
	if v, err := f.get("y", 0); !errors.Is(err, kv.ErrKeyLocked) {
		t.Fatalf("y = %q, %v; want its lock, left to a resolver", v, err)
	}
}

// A Group closed with a context that ends first cancels its tasks, waits
// for them and reports their failures to the hook, not to any caller.
func TestGroupCloseCancelsTasks(t *testing.T) {
	var reported []error
	g := twopc.NewGroup(context.Background(), func(err error) { reported = append(reported, err) })
	started := make(chan struct{})
	if err := g.Go(func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("close = %v, want the deadline", err)
	}
	if s := g.Stats(); s.Started != 1 || s.Failed != 1 || len(reported) != 1 || !errors.Is(reported[0], context.Canceled) {
		t.Fatalf("stats %+v, reported %v", s, reported)
	}
	if err := g.Go(func(context.Context) error { return nil }); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("Go after Close = %v, want ErrClosed", err)
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

// Wait returns once the running tasks end, and when nothing runs at once.
func TestGroupWait(t *testing.T) {
	g := twopc.NewGroup(context.Background(), nil)
	defer g.Close(context.Background())
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	done := false
	_ = g.Go(func(context.Context) error {
		<-release
		done = true
		return nil
	})
	close(release)
	if err := g.Wait(context.Background()); err != nil || !done {
		t.Fatalf("wait = %v, task done %v", err, done)
	}
}

// Cancelling the Group's parent context stops its tasks.
func TestGroupStopsOnParent(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	g := twopc.NewGroup(parent, nil)
	started := make(chan struct{})
	_ = g.Go(func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	<-started
	cancel()
	if err := g.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	if s := g.Stats(); s.Failed != 1 {
		t.Fatalf("stats %+v", s)
	}
}
