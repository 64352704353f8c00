package txn_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

func plKey(i int) []byte { return []byte(fmt.Sprintf("pl%04d", i)) }

// TestPipelinedManyRegions: a pipelined transaction of many keys, flushed
// in several generations across several regions, commits; every key is
// readable afterwards and no lock is left once the background resolution
// ended. The primary alone was committed by KvCommit.
func TestPipelinedManyRegions(t *testing.T) {
	eachTransport(t, func(t *testing.T, grpc bool) {
		p := newPlCluster(t, grpc)
		ctx := context.Background()
		for _, s := range []int{250, 500, 750} {
			if _, err := p.mock.SplitTxn(plKey(s)); err != nil {
				t.Fatal(err)
			}
		}
		tx := p.begin(txn.WithPipelined(smallFlush(100)))
		want := map[string]string{}
		for i := range 1000 {
			if err := tx.Set(plKey(i), []byte(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
			want[string(plKey(i))] = strconv.Itoa(i)
			if (i+1)%100 == 0 {
				// No flush in flight at the next threshold: the buffer
				// is flushed every 100 keys.
				if err := tx.FlushWait(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if g := tx.Generation(); g != 10 {
			t.Fatalf("generation %d, want 10", g)
		}
		commits := p.gate.count(transport.CmdCommit)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if d := tx.CommitDetails(); d.Keys != 1000 || d.CommitTS == 0 || !d.SecondariesQueued {
			t.Fatalf("commit details: %+v", d)
		}
		if n := p.gate.count(transport.CmdCommit) - commits; n != 1 {
			t.Fatalf("%d KvCommit sent, want 1 (the primary)", n)
		}
		if err := p.client.WaitBackground(ctx); err != nil {
			t.Fatal(err)
		}
		if p.client.BackgroundError() != nil {
			t.Fatalf("background: %v", p.client.BackgroundError())
		}
		if p.gate.count(transport.CmdResolveLock) < 4 {
			t.Fatalf("%d KvResolveLock sent, want one per region (4)", p.gate.count(transport.CmdResolveLock))
		}
		if locks := p.locksOf(tx.StartTS()); len(locks) != 0 {
			t.Fatalf("%d locks left", len(locks))
		}
		p.mustRead(want)
	})
}

// TestPipelinedCrashAfterPrimary: the primary is committed, then the
// client is closed while the background resolution is held: Close cancels
// it, the secondaries stay locked, and another client's readers still
// read the committed values, resolving through the primary.
func TestPipelinedCrashAfterPrimary(t *testing.T) {
	eachTransport(t, func(t *testing.T, grpc bool) {
		p := newPlCluster(t, grpc)
		ctx := context.Background()
		if _, err := p.mock.SplitTxn(plKey(50)); err != nil {
			t.Fatal(err)
		}
		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
		want := setRows(t, tx, 100)
		held, release := p.gate.holdCmd(transport.CmdResolveLock)
		defer release()
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		<-held
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		p.closedByTest = true
		if err := p.client.Close(cctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("close: %v, want the resolution cut short", err)
		}
		if n := len(p.locksOf(tx.StartTS())); n != 99 {
			t.Fatalf("%d locks left, want the 99 secondaries", n)
		}
		release()
		readers := txn.NewClient(p.cluster)
		defer func() { _ = readers.Close(ctx) }()
		r, err := readers.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			got, err := r.Get(ctx, []byte(k))
			if err != nil || string(got) != v {
				t.Fatalf("read %q: %q, %v; want %q", k, got, err, v)
			}
		}
	})
}

// TestPipelinedMisuse: a pipelined transaction refuses async commit, 1PC,
// pessimistic locking, iterators and LockKeys with *txn.PipelinedUnsupportedError, and bad
// options with kv.ErrInvalidArgument.
func TestPipelinedMisuse(t *testing.T) {
	p := newPlCluster(t, false)
	ctx := context.Background()
	var unsupported *txn.PipelinedUnsupportedError
	for _, o := range []txn.BeginOption{txn.WithAsyncCommit(true), txn.WithOnePC(true), txn.WithPessimistic()} {
		if _, err := p.client.Begin(ctx, o, txn.WithPipelined(txn.PipelinedOptions{})); !errors.As(err, &unsupported) {
			t.Fatalf("begin: %v, want *PipelinedUnsupportedError", err)
		}
	}
	if _, err := p.client.Begin(ctx, txn.WithPipelined(txn.PipelinedOptions{WriteThrottleRatio: 1})); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("ratio 1: %v", err)
	}
	tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
	for _, err := range tx.Iter(ctx, nil, nil) {
		if !errors.As(err, &unsupported) {
			t.Fatalf("iter: %v", err)
		}
	}
	for _, err := range tx.IterReverse(ctx, nil, nil) {
		if !errors.As(err, &unsupported) {
			t.Fatalf("iter reverse: %v", err)
		}
	}
	if err := tx.LockKeys(ctx, nil, []byte("k")); !errors.As(err, &unsupported) {
		t.Fatalf("lock keys: %v", err)
	}
	if _, err := p.begin().Flush(ctx, true); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("flush of an optimistic txn: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestPipelinedWriteConflict: a pipelined transaction whose flush meets a
// write committed after its start fails with a write conflict at Commit,
// and its flushed locks are rolled back.
func TestPipelinedWriteConflict(t *testing.T) {
	p := newPlCluster(t, false)
	ctx := context.Background()
	tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
	if err := p.client.Update(ctx, func(ctx context.Context, o *txn.Txn) error { return o.Set([]byte("b"), []byte("other")) }); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := tx.Set([]byte(k), []byte("mine")); err != nil {
			t.Fatal(err)
		}
	}
	err := tx.Commit(ctx)
	if !errors.Is(err, kv.ErrWriteConflict) {
		t.Fatalf("commit: %v, want a write conflict", err)
	}
	if err := p.client.WaitBackground(ctx); err != nil {
		t.Fatal(err)
	}
	if locks := p.locksOf(tx.StartTS()); len(locks) != 0 {
		t.Fatalf("locks left: %v", locks)
	}
	p.mustRead(map[string]string{"a": "", "b": "other", "c": ""})
}

// TestPipelinedHeartbeatKeepsPrimaryAlive: while a flush is held for many
// times the lock TTL, the heartbeat keeps the primary alive: another
// writer's resolver that meets it finds it alive and leaves it, and the
// transaction then commits. Without heartbeats the primary would have
// expired, the resolver would roll it back, and the commit would fail
// with TxnLockNotFound.
func TestPipelinedHeartbeatKeepsPrimaryAlive(t *testing.T) {
	p := newPlCluster(t, false)
	ctx := context.Background()
	const ttl = 50 * time.Millisecond
	tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{LockTTL: ttl}))
	if err := tx.Set([]byte("key1"), []byte("value1")); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := tx.FlushWait(ctx); err != nil {
		t.Fatal(err)
	}
	held, release := p.gate.holdCmd(transport.CmdFlush)
	defer release()
	if err := tx.Set([]byte("key2"), []byte("value2")); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	<-held
	time.Sleep(6 * ttl) // the flushed TTL is long past
	writerTS, err := p.client.CurrentTimestamp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lock := &kv.Lock{Key: []byte("key1"), Primary: []byte("key1"), StartTS: tx.StartTS(), TTL: ttl,
		TxnSize: math.MaxUint64, Type: kvrpcpb.Op_Put}
	res, err := p.client.Resolver().ResolveLocks(ctx, writerTS, []*kv.Lock{lock})
	if err != nil {
		t.Fatal(err)
	}
	if res.Live == 0 {
		t.Fatalf("resolver: %+v, want the primary alive", res)
	}
	release()
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit after a flush held %v: %v", 6*ttl, err)
	}
	p.mustRead(map[string]string{"key1": "value1", "key2": "value2"})
}

// TestPipelinedCommitUndetermined: the primary's commit applied but its
// answer was lost: Commit returns kv.ErrUndetermined, rolls nothing back,
// and readers find the transaction committed through the primary.
func TestPipelinedCommitUndetermined(t *testing.T) {
	eachTransport(t, func(t *testing.T, grpc bool) {
		p := newPlCluster(t, grpc)
		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
		for _, k := range []string{"a", "b", "c"} {
			if err := tx.Set([]byte(k), []byte(k+"1")); err != nil {
				t.Fatal(err)
			}
		}
		h := p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Steps: []mocktikv.Step{
			mocktikv.Always(mocktikv.LoseResponse(status.Error(codes.Unavailable, "response lost"))),
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := tx.Commit(ctx)
		cancel()
		if !errors.Is(err, kv.ErrUndetermined) {
			t.Fatalf("commit: %v, want undetermined", err)
		}
		if d := tx.CommitDetails(); d.RollbackQueued || d.SecondariesQueued {
			t.Fatalf("an undetermined commit queued work: %+v", d)
		}
		h.Remove()
		p.mustRead(map[string]string{"a": "a1", "b": "b1", "c": "c1"})
	})
}

// TestPipelinedAbandonedStopsOnClose: a pipelined transaction left without
// Commit or Rollback keeps its heartbeat running until the client's Close,
// which stops it (and goleak checks nothing else is left).
func TestPipelinedAbandonedStopsOnClose(t *testing.T) {
	p := newPlCluster(t, false)
	ctx := context.Background()
	tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{LockTTL: 100 * time.Millisecond}))
	if err := tx.Set([]byte("key1"), []byte("value1")); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := tx.FlushWait(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the heartbeat to run", tx.PipelinedHeartbeatRunning)
	if err := p.client.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if tx.PipelinedHeartbeatRunning() {
		t.Fatalf("the heartbeat outlived Close")
	}
	if err := tx.Set([]byte("key2"), []byte("value2")); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := tx.FlushWait(ctx); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("flush after Close: %v, want kv.ErrClosed", err)
	}
}
