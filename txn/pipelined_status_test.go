package txn_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// broadcastGrace is client-go's broadcastGracePeriod: how long after the
// last lock is resolved a pipelined transaction is announced completed.
const broadcastGrace = 5 * time.Second

// TestPipelinedHeartbeatPushesMinCommitTS: the primary's heartbeat pushes
// its lock's min_commit_ts to the TSO's now (client-go's keepAlive for a
// pipelined transaction), so a reader whose ts is above the start ts but
// below the pushed value passes the lock: it reads without stopping to
// check the transaction's status, which it would have to do against the
// flushed min_commit_ts of start ts + 1. Each successful heartbeat is
// broadcast, and so is the commit; the commit ts is above every pushed
// min commit ts.
func TestPipelinedHeartbeatPushesMinCommitTS(t *testing.T) {
	eachTransport(t, func(t *testing.T, grpc bool) {
		p := newPlCluster(t, grpc)
		ctx := context.Background()
		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{LockTTL: 40 * time.Millisecond}))
		readTS, err := p.client.CurrentTimestamp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Set([]byte("key1"), []byte("value1")); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Flush(ctx, true); err != nil {
			t.Fatal(err)
		}
		if err := tx.FlushWait(ctx); err != nil {
			t.Fatal(err)
		}
		var pushed uint64
		waitFor(t, "a heartbeat pushing min_commit_ts past the reader's ts", func() bool {
			s, ok := p.mock.TxnStatus(tx.StartTS())
			pushed = s.TS
			return ok && s.Kind == mocktikv.TxnCacheOngoing && s.TS > readTS
		})
		checks := p.gate.count(transport.CmdCheckTxnStatus)
		if _, err := p.client.Snapshot(readTS).Get(ctx, []byte("key1")); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("read at %d below the pushed min commit ts %d: %v, want not found", readTS, pushed, err)
		}
		if n := p.gate.count(transport.CmdCheckTxnStatus) - checks; n != 0 {
			t.Fatalf("the reader checked the transaction's status %d times; the pushed lock should not stop it", n)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if tx.CommitTS() <= pushed {
			t.Fatalf("commit ts %d not above the pushed min commit ts %d", tx.CommitTS(), pushed)
		}
		waitFor(t, "the commit broadcast", func() bool {
			s, ok := p.mock.TxnStatus(tx.StartTS())
			return ok && s == mocktikv.TxnCacheState{Kind: mocktikv.TxnCacheCommitted, TS: tx.CommitTS()}
		})
		p.mustRead(map[string]string{"key1": "value1"})
	})
}

// TestPipelinedBroadcastTxnStatus follows a pipelined transaction's
// BroadcastTxnStatus requests in virtual time on a three-store cluster
// (client-go's keepAlive, commitFlushedMutations and resolveFlushedLocks):
// none before the first heartbeat; after each heartbeat, every store is
// told the min commit ts it pushed, which grows; after the commit, every
// store is told the commit ts; once every lock is resolved and the grace
// period passed, every store is told the transaction completed, and the
// cache forgets it as an ongoing transaction.
func TestPipelinedBroadcastTxnStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlCluster(t, false, mocktikv.WithStores(3))
		ctx := context.Background()
		const ttl = 2 * time.Second
		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{LockTTL: ttl}))
		start := tx.StartTS()
		flushOne(t, tx, "key1")
		synctest.Wait()
		if b := p.gate.broadcasts(); len(b) != 0 {
			t.Fatalf("broadcasts before the first heartbeat: %v", b)
		}

		var lastMin uint64
		for beat := 1; beat <= 2; beat++ {
			time.Sleep(ttl / 2)
			synctest.Wait()
			got := p.gate.broadcasts()[3*(beat-1):]
			st := onEachStore(t, p, got)
			if st.StartTs != start || st.CommitTs != 0 || st.RolledBack || st.IsCompleted || st.MinCommitTs <= max(start, lastMin) {
				t.Fatalf("heartbeat %d broadcast %v; want an ongoing status above %d", beat, st, max(start, lastMin))
			}
			lastMin = st.MinCommitTs
		}
		if s, _ := p.mock.TxnStatus(start); s != (mocktikv.TxnCacheState{Kind: mocktikv.TxnCacheOngoing, TS: lastMin}) {
			t.Fatalf("cache %+v, want ongoing at %d", s, lastMin)
		}

		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		st := onEachStore(t, p, p.gate.broadcasts()[6:])
		if st.CommitTs != tx.CommitTS() || st.MinCommitTs != lastMin || st.RolledBack || st.IsCompleted {
			t.Fatalf("commit broadcast %v; want commit ts %d, min commit ts %d", st, tx.CommitTS(), lastMin)
		}
		time.Sleep(broadcastGrace - time.Millisecond)
		synctest.Wait()
		if n := len(p.gate.broadcasts()); n != 9 {
			t.Fatalf("%d broadcasts before the grace period ended, want 9", n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		st = onEachStore(t, p, p.gate.broadcasts()[9:])
		if st.CommitTs != tx.CommitTS() || st.MinCommitTs != 0 || st.RolledBack || !st.IsCompleted {
			t.Fatalf("completion broadcast %v", st)
		}
		if s, _ := p.mock.TxnStatus(start); s != (mocktikv.TxnCacheState{Kind: mocktikv.TxnCacheCommitted, TS: tx.CommitTS()}) {
			t.Fatalf("cache after completion %+v", s)
		}
	})
}

// TestPipelinedRollbackBroadcast: a rollback is broadcast at once (client-go's
// KVTxn.Rollback), as completed when nothing was flushed; otherwise the
// completion follows the resolution of the flushed locks and the grace
// period.
func TestPipelinedRollbackBroadcast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlCluster(t, false, mocktikv.WithStores(2))
		empty := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
		if err := empty.Rollback(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		st := onEachStore(t, p, p.gate.broadcasts())
		if st.StartTs != empty.StartTS() || !st.RolledBack || !st.IsCompleted {
			t.Fatalf("rollback of a transaction that flushed nothing: %v", st)
		}

		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
		flushOne(t, tx, "key1")
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		st = onEachStore(t, p, p.gate.broadcasts()[2:])
		if st.StartTs != tx.StartTS() || !st.RolledBack || st.IsCompleted {
			t.Fatalf("rollback broadcast %v, want rolled back, not completed", st)
		}
		if locks := p.locksOf(tx.StartTS()); len(locks) != 0 {
			t.Fatalf("locks left after the rollback: %v", locks)
		}
		time.Sleep(broadcastGrace)
		synctest.Wait()
		st = onEachStore(t, p, p.gate.broadcasts()[4:])
		if st.StartTs != tx.StartTS() || !st.RolledBack || !st.IsCompleted {
			t.Fatalf("completion broadcast %v", st)
		}
		if s, _ := p.mock.TxnStatus(tx.StartTS()); s.Kind != mocktikv.TxnCacheRolledBack {
			t.Fatalf("cache %+v, want rolled back", s)
		}
	})
}

// TestPipelinedBatchGetWithCommitTS: a pipelined transaction's
// BatchGetWithCommitTS returns the commit ts of the values read from the
// snapshot, and 0 for its own writes, buffered or flushed (client-go's
// BufferBatchGetter over the pipelined buffer with kv.WithReturnCommitTS).
func TestPipelinedBatchGetWithCommitTS(t *testing.T) {
	eachTransport(t, func(t *testing.T, grpc bool) {
		p := newPlCluster(t, grpc)
		ctx := context.Background()
		w := p.begin()
		for _, k := range []string{"a", "b"} {
			if err := w.Set([]byte(k), []byte(k+"0")); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
		flushOne(t, tx, "b") // b: flushed
		if err := tx.Set([]byte("c"), []byte("c1")); err != nil {
			t.Fatal(err)
		}
		got, err := tx.BatchGetWithCommitTS(ctx, [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")})
		if err != nil {
			t.Fatal(err)
		}
		want := []txn.ValueEntry{{Value: []byte("a0"), CommitTS: w.CommitTS()}, {Value: []byte("b")}, {Value: []byte("c1")}, {}}
		if !slices.EqualFunc(got, want, func(x, y txn.ValueEntry) bool { return string(x.Value) == string(y.Value) && x.CommitTS == y.CommitTS }) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		vals, err := tx.BatchGet(ctx, [][]byte{[]byte("a"), []byte("b")})
		if err != nil || string(vals[0]) != "a0" || string(vals[1]) != "b" {
			t.Fatalf("batch get: %q, %v", vals, err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
	})
}

// flushOne writes key (its value is the key) and flushes it as a
// generation of its own.
func flushOne(t *testing.T, tx *txn.Txn, key string) {
	t.Helper()
	ctx := context.Background()
	if err := tx.Set([]byte(key), []byte(key)); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := tx.FlushWait(ctx); err != nil {
		t.Fatal(err)
	}
}

// onEachStore checks that sent is one status per store of the cluster,
// the same one, and returns it.
func onEachStore(t *testing.T, p *plCluster, sent []sentStatus) *kvrpcpb.TxnStatus {
	t.Helper()
	stores := p.mock.StoreIDs()
	if len(sent) != len(stores) {
		t.Fatalf("%d statuses sent, want one to each of %d stores: %v", len(sent), len(stores), sent)
	}
	var got []uint64
	for _, s := range sent {
		got = append(got, s.store)
		if !protoEqualStatus(s.status, sent[0].status) {
			t.Fatalf("stores told different statuses: %v", sent)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, stores) {
		t.Fatalf("statuses sent to stores %v, want %v", got, stores)
	}
	return sent[0].status
}

func protoEqualStatus(a, b *kvrpcpb.TxnStatus) bool {
	return a.StartTs == b.StartTs && a.MinCommitTs == b.MinCommitTs && a.CommitTs == b.CommitTs &&
		a.RolledBack == b.RolledBack && a.IsCompleted == b.IsCompleted
}

// TestPipelinedFailedCommitBroadcast: a commit that fails after locks were
// flushed (here the last flush meets a newer committed write) broadcasts
// the rollback before resolving the locks, and the completion after
// (client-go's twoPhaseCommitter.cleanup for a pipelined transaction).
func TestPipelinedFailedCommitBroadcast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPlCluster(t, false)
		ctx := context.Background()
		tx := p.begin(txn.WithPipelined(txn.PipelinedOptions{}))
		flushOne(t, tx, "key1")
		w := p.begin()
		if err := w.Set([]byte("key2"), []byte("other")); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := tx.Set([]byte("key2"), []byte("mine")); err != nil {
			t.Fatal(err)
		}
		var conflict *kv.WriteConflictError
		if err := tx.Commit(ctx); !errors.As(err, &conflict) {
			t.Fatalf("commit: %v, want a write conflict", err)
		}
		synctest.Wait()
		st := onEachStore(t, p, p.gate.broadcasts())
		if st.StartTs != tx.StartTS() || !st.RolledBack || st.IsCompleted || st.CommitTs != 0 {
			t.Fatalf("rollback broadcast %v", st)
		}
		if locks := p.locksOf(tx.StartTS()); len(locks) != 0 {
			t.Fatalf("locks left after the failed commit: %v", locks)
		}
		time.Sleep(broadcastGrace)
		synctest.Wait()
		st = onEachStore(t, p, p.gate.broadcasts()[1:])
		if !st.RolledBack || !st.IsCompleted {
			t.Fatalf("completion broadcast %v", st)
		}
		p.mustRead(map[string]string{"key1": "", "key2": "other"})
	})
}
