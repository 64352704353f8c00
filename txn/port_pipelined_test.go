package txn_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestPortPipelinedAndFlush ports client-go
// integration_tests/pipelined_memdb_test.go TestPipelinedAndFlush: the
// buffer is flushed exactly when it reaches MinFlushKeys keys; the
// transaction reads its own writes, flushed or not, another transaction
// does not see them until the commit, and sees all of them after it.
func TestPortPipelinedAndFlush(t *testing.T) {
	eachTransport(t, func(t *testing.T, grpc bool) {
		p := newPlCluster(t, grpc)
		ctx := context.Background()
		const n = 20
		tx := p.begin(txn.WithPipelined(smallFlush(n)))
		other := p.begin()
		if !tx.IsPipelined() || other.IsPipelined() {
			t.Fatalf("IsPipelined: %v, %v", tx.IsPipelined(), other.IsPipelined())
		}
		for i := range n {
			if err := tx.Set(plKey(i), []byte(strconv.Itoa(i))); err != nil {
				t.Fatalf("set %d: %v", i, err)
			}
			wantGen := uint64(0)
			if i == n-1 {
				wantGen = 1
			}
			if g := tx.Generation(); g != wantGen {
				t.Fatalf("after key %d: generation %d, want %d", i, g, wantGen)
			}
			if v, err := tx.Get(ctx, plKey(i)); err != nil || string(v) != strconv.Itoa(i) {
				t.Fatalf("own read %d: %q, %v", i, v, err)
			}
			if _, err := other.Get(ctx, plKey(i)); !isNotFound(err) {
				t.Fatalf("other read %d: %v, want not found", i, err)
			}
		}
		if err := tx.FlushWait(ctx); err != nil {
			t.Fatalf("flush wait: %v", err)
		}
		// Flushed: read back through KvBufferBatchGet.
		before := p.gate.count(transport.CmdBufferBatchGet)
		if v, err := tx.Get(ctx, plKey(3)); err != nil || string(v) != "3" {
			t.Fatalf("read of a flushed key: %q, %v", v, err)
		}
		if p.gate.count(transport.CmdBufferBatchGet) != before+1 {
			t.Fatalf("a flushed key is read with one KvBufferBatchGet")
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("commit: %v", err)
		}
		want := map[string]string{}
		for i := range n {
			want[string(plKey(i))] = strconv.Itoa(i)
		}
		p.mustRead(want)
	})
}

// TestPortPipelinedMemDBBufferGet ports client-go TestPipelinedMemDBBufferGet:
// a forced flush after every write; every key reads back.
func TestPortPipelinedMemDBBufferGet(t *testing.T) {
	p := newPlCluster(t, false)
	ctx := context.Background()
	tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
	for i := range 100 {
		if err := tx.Set(plKey(i), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if flushed, err := tx.Flush(ctx, true); err != nil || !flushed {
			t.Fatalf("flush %d: %v, %v", i, flushed, err)
		}
	}
	if tx.Generation() != 100 {
		t.Fatalf("generation %d, want 100", tx.Generation())
	}
	for i := range 100 {
		if v, err := tx.Get(ctx, plKey(i)); err != nil || string(v) != strconv.Itoa(i) {
			t.Fatalf("read %d: %q, %v", i, v, err)
		}
	}
	if err := tx.FlushWait(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestPortPipelinedFlushBlock ports client-go TestPipelinedFlushBlock: one
// generation is in flight at a time; with generation 1's Flush RPC held, a
// second forced flush blocks (a synctest bubble makes the blocked state
// certain) and returns once the first is let through.
func TestPortPipelinedFlushBlock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlCluster(t, false)
		ctx := context.Background()
		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
		if err := tx.Set([]byte("key1"), []byte("value1")); err != nil {
			t.Fatal(err)
		}
		held, release := p.gate.holdCmd(transport.CmdFlush)
		defer release()
		if flushed, err := tx.Flush(ctx, true); err != nil || !flushed {
			t.Fatalf("flush 1: %v, %v", flushed, err)
		}
		<-held // generation 1's Flush RPC is held
		// The generation in flight is read from its buffer (client-go's
		// TestPipelinedFlushGet), without asking TiKV.
		if v, err := tx.Get(ctx, []byte("key1")); err != nil || string(v) != "value1" || p.gate.count(transport.CmdBufferBatchGet) != 0 {
			t.Fatalf("read of the flushing generation: %q, %v, %d remote reads", v, err, p.gate.count(transport.CmdBufferBatchGet))
		}
		if err := tx.Set([]byte("key2"), []byte("value2")); err != nil {
			t.Fatal(err)
		}
		returned := make(chan error, 1)
		go func() {
			flushed, err := tx.Flush(ctx, true)
			if err == nil && !flushed {
				err = errors.New("not flushed")
			}
			returned <- err
		}()
		synctest.Wait()
		select {
		case err := <-returned:
			t.Fatalf("the second flush returned (%v) while the first was in flight", err)
		default:
		}
		release()
		if err := <-returned; err != nil {
			t.Fatalf("flush 2: %v", err)
		}
		if err := tx.FlushWait(ctx); err != nil {
			t.Fatal(err)
		}
		if tx.Generation() != 2 {
			t.Fatalf("generation %d, want 2", tx.Generation())
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := p.client.WaitBackground(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPortPipelinedSkipFlushedLock ports client-go
// TestPipelinedSkipFlushedLock: the transaction's snapshot passes its own
// flushed lock (it reads the committed data: nothing), and the write is
// visible to a later transaction once committed.
func TestPortPipelinedSkipFlushedLock(t *testing.T) {
	eachTransport(t, func(t *testing.T, grpc bool) {
		p := newPlCluster(t, grpc)
		ctx := context.Background()
		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
		if err := tx.Set([]byte("key1"), []byte("value1")); err != nil {
			t.Fatal(err)
		}
		if flushed, err := tx.Flush(ctx, true); err != nil || !flushed {
			t.Fatalf("flush: %v, %v", flushed, err)
		}
		if err := tx.FlushWait(ctx); err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := tx.Snapshot().Get(rctx, []byte("key1")); !isNotFound(err) {
			t.Fatalf("snapshot read past the own lock: %v, want not found", err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		p.mustRead(map[string]string{"key1": "value1"})
	})
}

// TestPortPipelinedCommit ports client-go TestPipelinedCommit: the commit
// leaves every lock but the primary's (client-go's pipelinedSkipResolveLock
// failpoint), a region splits the key range, and readers still read every
// value, resolving the locks from the committed primary.
func TestPortPipelinedCommit(t *testing.T) {
	eachTransport(t, func(t *testing.T, grpc bool) {
		p := newPlCluster(t, grpc)
		ctx := context.Background()
		tx := p.begin(txn.WithPipelinedSkipResolve(txn.PipelinedOptions{}))
		want := setRows(t, tx, 100)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(p.locksOf(tx.StartTS())); n != 99 {
			t.Fatalf("%d locks left after the commit, want the 99 secondaries", n)
		}
		if _, err := p.mock.SplitTxn(plKey(50)); err != nil {
			t.Fatal(err)
		}
		p.mustRead(want)
	})
}

// TestPortPipelinedRollback ports client-go TestPipelinedRollback: a
// rollback after a flush removes every flushed lock and writes nothing.
func TestPortPipelinedRollback(t *testing.T) {
	eachTransport(t, func(t *testing.T, grpc bool) {
		p := newPlCluster(t, grpc)
		ctx := context.Background()
		if _, err := p.mock.SplitTxn(plKey(50)); err != nil {
			t.Fatal(err)
		}
		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
		want := setRows(t, tx, 100)
		for k := range want {
			want[k] = "" // rolled back: nothing to read
		}
		if _, err := tx.Flush(ctx, true); err != nil {
			t.Fatal(err)
		}
		if err := tx.FlushWait(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(p.locksOf(tx.StartTS())); n != 100 {
			t.Fatalf("%d locks flushed, want 100", n)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := p.client.WaitBackground(ctx); err != nil {
			t.Fatal(err)
		}
		if locks := p.locksOf(tx.StartTS()); len(locks) != 0 {
			t.Fatalf("locks left after the rollback: %v", locks)
		}
		if p.client.BackgroundError() != nil {
			t.Fatalf("background: %v", p.client.BackgroundError())
		}
		p.mustRead(want)
	})
}

// TestPortPipelinedPrefetch ports client-go TestPipelinedPrefetch: what
// BatchGet read from the flushed buffer is cached until the next flush
// (no second KvBufferBatchGet for those keys), a flushed delete reads as
// absent, and keys the transaction never wrote are read from the snapshot.
func TestPortPipelinedPrefetch(t *testing.T) {
	p := newPlCluster(t, false)
	ctx := context.Background()
	tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
	var even, odd [][]byte
	for i := range 100 {
		if err := tx.Set(plKey(i), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			even = append(even, plKey(i))
		} else {
			odd = append(odd, plKey(i))
		}
	}
	if _, err := tx.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := tx.FlushWait(ctx); err != nil {
		t.Fatal(err)
	}
	vals, err := tx.BatchGet(ctx, even)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if string(v) != strconv.Itoa(2*i) {
			t.Fatalf("batch get %q = %q", even[i], v)
		}
	}
	remote := func() int { return p.gate.count(transport.CmdBufferBatchGet) }
	n := remote()
	for i, k := range even {
		if v, err := tx.Get(ctx, k); err != nil || string(v) != strconv.Itoa(2*i) {
			t.Fatalf("cached read %q: %q, %v", k, v, err)
		}
	}
	if remote() != n {
		t.Fatalf("prefetched keys were read again from TiKV's buffer")
	}
	if _, err := tx.Get(ctx, odd[0]); err != nil || remote() != n+1 {
		t.Fatalf("a key not prefetched is read from TiKV's buffer: %v, %d requests", err, remote()-n)
	}
	if _, err := tx.Flush(ctx, true); err != nil { // nothing to flush, but the cache goes
		t.Fatal(err)
	}
	if _, err := tx.Get(ctx, even[0]); err != nil || remote() != n+2 {
		t.Fatalf("the cache survived a Flush call: %v", err)
	}
	if err := tx.Delete(plKey(99)); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := tx.FlushWait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Get(ctx, plKey(99)); !isNotFound(err) {
		t.Fatalf("a flushed delete: %v, want not found", err)
	}
	if _, err := tx.Get(ctx, plKey(100)); !isNotFound(err) {
		t.Fatalf("a key never written: %v, want not found", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// A new transaction reads the committed values from the snapshot; a
	// pipelined one that flushed nothing sends no KvBufferBatchGet.
	tx = p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
	n = remote()
	if err := tx.Set(plKey(100), []byte("100")); err != nil {
		t.Fatal(err)
	}
	vals, err = tx.BatchGet(ctx, [][]byte{plKey(98), plKey(99), plKey(100), plKey(101)})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%q", vals); got != `["98" "" "100" ""]` {
		t.Fatalf("batch get: %s", got)
	}
	if remote() != n {
		t.Fatalf("a transaction that flushed nothing read TiKV's buffer")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestPortPipelinedDMLFailedByPKRollback ports client-go
// TestPipelinedDMLFailedByPKRollback: once another transaction rolled the
// primary back, the heartbeat stops and the next flush fails.
func TestPortPipelinedDMLFailedByPKRollback(t *testing.T) {
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
	if string(tx.PipelinedPrimary()) != "key1" {
		t.Fatalf("primary %q", tx.PipelinedPrimary())
	}
	waitFor(t, "the heartbeat to run", tx.PipelinedHeartbeatRunning)
	// Another transaction resolves the primary: rolled back (client-go
	// uses BatchResolveLocks; KvBatchRollback leaves the same record).
	env := newTestCluster(t, p.mock, p.cluster)
	env.rollback(tx.StartTS(), "key1")
	waitFor(t, "the heartbeat to stop", func() bool { return !tx.PipelinedHeartbeatRunning() })
	if err := tx.Set([]byte("key2"), []byte("value2")); err != nil {
		t.Fatal(err)
	}
	if flushed, err := tx.Flush(ctx, true); err != nil || !flushed {
		t.Fatalf("flush: %v, %v", flushed, err)
	}
	var stopped *txn.PipelinedHeartbeatStoppedError
	if err := tx.FlushWait(ctx); !errors.As(err, &stopped) {
		t.Fatalf("flush wait: %v, want *PipelinedHeartbeatStoppedError", err)
	}
	if err := tx.Commit(ctx); !errors.As(err, &stopped) {
		t.Fatalf("commit: %v, want the flush failure", err)
	}
}

// TestPortPipelinedDMLFailedByPKMaxTTLExceeded ports client-go
// TestPipelinedDMLFailedByPKMaxTTLExceeded: the heartbeat stops once the
// transaction is older than MaxTTL, and the next flush fails.
func TestPortPipelinedDMLFailedByPKMaxTTLExceeded(t *testing.T) {
	p := newPlCluster(t, false)
	ctx := context.Background()
	tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{LockTTL: 100 * time.Millisecond, MaxTTL: 200 * time.Millisecond}))
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
	waitFor(t, "the heartbeat to stop", func() bool { return !tx.PipelinedHeartbeatRunning() })
	if err := tx.Set([]byte("key2"), []byte("value2")); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	var stopped *txn.PipelinedHeartbeatStoppedError
	if err := tx.FlushWait(ctx); !errors.As(err, &stopped) {
		t.Fatalf("flush wait: %v, want *PipelinedHeartbeatStoppedError", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestPortPipelinedFlushSize ports client-go internal/unionstore
// TestPipelinedFlushSize: Len and Size count the keys and bytes of every
// generation, flushed or not, and a final flush changes neither.
func TestPortPipelinedFlushSize(t *testing.T) {
	p := newPlCluster(t, false)
	ctx := context.Background()
	tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
	if !tx.IsReadOnly() {
		t.Fatalf("a new transaction is not read-only")
	}
	keys, size := 0, 0
	for round := range 2 {
		for i := range 50 {
			k, v := plKey(round*50+i), []byte(strconv.Itoa(i))
			if err := tx.Set(k, v); err != nil {
				t.Fatal(err)
			}
			keys, size = keys+1, size+len(k)+len(v)
			if tx.Len() != keys || tx.Size() != size {
				t.Fatalf("len %d size %d, want %d %d", tx.Len(), tx.Size(), keys, size)
			}
		}
		if flushed, err := tx.Flush(ctx, true); err != nil || !flushed {
			t.Fatalf("flush: %v, %v", flushed, err)
		}
		if tx.Len() != keys || tx.Size() != size || tx.IsReadOnly() {
			t.Fatalf("after flush: len %d size %d read-only %v, want %d %d false", tx.Len(), tx.Size(), tx.IsReadOnly(), keys, size)
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
}

// TestPortResolveLockRace ports client-go TestResolveLockRace (run it with
// -race): the primary's commit fails (client-go's pipelinedCommitFail
// failpoint; here TiKV answers the commit with an abort), so the client
// rolls the flushed locks back by range in the background while another
// party sends its own ResolveLock rollbacks, cancelled at varying points.
// Every lock is gone at the end and nothing was written.
func TestPortResolveLockRace(t *testing.T) {
	p := newPlCluster(t, false)
	if _, err := p.mock.SplitTxn(plKey(50)); err != nil {
		t.Fatal(err)
	}
	h := p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Steps: []mocktikv.Step{
		mocktikv.Always(mocktikv.KeyError(&kvrpcpb.KeyError{Abort: "pipelined commit failed"})),
	}})
	defer h.Remove()
	env := p.cluster.EnvFor(kv.ModeTxn)
	resolve := pipeline.ShardEach(env, pipeline.ByRange(
		func(r *kvrpcpb.ResolveLockRequest) ([]byte, []byte) { return plKey(0), plKey(100) },
		func(r *kvrpcpb.ResolveLockRequest, _, _ []byte) *kvrpcpb.ResolveLockRequest { return r }),
		pipeline.Retry(env, plans.KvResolveLock))
	for i := range 20 {
		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
		for j := range 100 {
			if err := tx.Set(plKey(j), []byte(strconv.Itoa(j))); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(context.Background()); err == nil || errors.Is(err, kv.ErrUndetermined) || !tx.CommitDetails().RollbackQueued {
			t.Fatalf("round %d: commit = %v, rollback queued %v; want a failure and a rollback", i, err, tx.CommitDetails().RollbackQueued)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*100*time.Microsecond)
		_, _ = resolve(ctx, &kvrpcpb.ResolveLockRequest{StartVersion: tx.StartTS()})
		cancel()
		if err := p.client.WaitBackground(context.Background()); err != nil {
			t.Fatal(err)
		}
		if locks := p.locksOf(tx.StartTS()); len(locks) != 0 {
			t.Fatalf("round %d: locks left: %v", i, locks)
		}
	}
	p.mustRead(map[string]string{string(plKey(0)): "", string(plKey(99)): ""})
}
