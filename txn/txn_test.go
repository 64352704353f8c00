package txn_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// cmdLog is a middleware recording the command of every attempt.
type cmdLog struct {
	mu   sync.Mutex
	cmds []transport.Cmd
	reqs []*transport.Request // every attempt, for tests that read requests
}

func (l *cmdLog) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		l.mu.Lock()
		l.cmds = append(l.cmds, req.Cmd)
		l.reqs = append(l.reqs, req)
		l.mu.Unlock()
		return next.Send(ctx, req)
	})
}

func (l *cmdLog) take() []transport.Cmd {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.cmds
	l.cmds = nil
	return out
}

// newClient connects a txn client to an in-process mocktikv; the client is
// closed (waiting for background commits) when the test ends.
func newClient(t *testing.T, mockOpts []mocktikv.Option, opts ...txn.Option) (*mocktikv.Cluster, *txn.Client, *cmdLog) {
	t.Helper()
	mock := mocktikv.NewCluster(mockOpts...)
	log := &cmdLog{}
	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
		tikv.WithMiddleware(log.middleware))
	if err != nil {
		t.Fatal(err)
	}
	client := txn.NewClient(cluster, opts...)
	t.Cleanup(func() {
		if err := client.Close(context.Background()); err != nil {
			t.Errorf("client close: %v", err)
		}
		cluster.Close()
		mock.Close()
	})
	return mock, client, log
}

// TestTxnReadsItsOwnWritesAndCommits: a transaction sees its own writes
// (and deletions) over the snapshot, others do not until it commits; a
// later transaction reads the committed values, in point, batch and scan
// reads, forward and reverse.
func TestTxnReadsItsOwnWritesAndCommits(t *testing.T) {
	mock, client, _ := newClient(t, nil)
	if _, err := mock.SplitTxn([]byte("m")); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	t1, err := client.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "n", "z"} {
		if err := t1.Set([]byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := t1.Get(ctx, []byte("n")); err != nil || string(v) != "vn" {
		t.Fatalf("read own write: %q, %v", v, err)
	}
	other, _ := client.Begin(ctx)
	if _, err := other.Get(ctx, []byte("n")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("uncommitted write visible to another txn: %v", err)
	}
	if err := t1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if t1.CommitTS() <= t1.StartTS() || t1.Valid() {
		t.Fatalf("start %d commit %d valid %v", t1.StartTS(), t1.CommitTS(), t1.Valid())
	}
	if _, err := other.Get(ctx, []byte("n")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("a txn that began before the commit sees it: %v", err)
	}

	t2, _ := client.Begin(ctx)
	if err := t2.Delete([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := t2.Set([]byte("b"), []byte("vb")); err != nil {
		t.Fatal(err)
	}
	vals, err := t2.BatchGet(ctx, [][]byte{[]byte("z"), []byte("a"), []byte("b"), []byte("x")})
	if err != nil || string(vals[0]) != "vz" || vals[1] != nil || string(vals[2]) != "vb" || vals[3] != nil {
		t.Fatalf("batch get = %q, %v", vals, err)
	}
	var fwd, rev []string
	for p, err := range t2.Iter(ctx, nil, nil) {
		if err != nil {
			t.Fatal(err)
		}
		fwd = append(fwd, string(p.Key))
	}
	for p, err := range t2.IterReverse(ctx, []byte("zz"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		rev = append(rev, string(p.Key))
	}
	if !slices.Equal(fwd, []string{"b", "n", "z"}) || !slices.Equal(rev, []string{"z", "n", "b"}) {
		t.Fatalf("scans: %v / %v", fwd, rev)
	}
	if err := t2.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := t2.Set([]byte("c"), []byte("x")); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("write after rollback: %v", err)
	}
}

// TestTxnProtocolMinimum: a one-key optimistic commit in one region sends
// one Prewrite and one Commit (with one TSO for the commit ts, after the
// start ts); a read-only transaction sends nothing at commit; an empty
// value is refused before anything is sent.
func TestTxnProtocolMinimum(t *testing.T) {
	_, client, log := newClient(t, nil)
	ctx := t.Context()
	tx, _ := client.Begin(ctx)
	if err := tx.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	log.take()
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if cmds := log.take(); !slices.Equal(cmds, []transport.Cmd{transport.CmdPrewrite, transport.CmdCommit}) {
		t.Fatalf("commit sent %v", cmds)
	}
	if d := tx.CommitDetails(); d.TSOCalls != 1 || d.Keys != 1 {
		t.Fatalf("details %+v", d)
	}
	ro, _ := client.Begin(ctx)
	if v, err := ro.Get(ctx, []byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("get %q %v", v, err)
	}
	log.take()
	if err := ro.Commit(ctx); err != nil || len(log.take()) != 0 {
		t.Fatalf("read-only commit: %v", err)
	}
	empty, _ := client.Begin(ctx)
	if err := empty.Set([]byte("k"), nil); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("empty value: %v", err)
	}
}

// TestTxnWriteConflictAndUpdate: of two transactions writing the same key,
// the later committer gets a retryable write conflict; Update re-runs its
// function until every concurrent increment lands.
func TestTxnWriteConflictAndUpdate(t *testing.T) {
	_, client, _ := newClient(t, nil)
	ctx := t.Context()
	a, _ := client.Begin(ctx)
	b, _ := client.Begin(ctx)
	_ = a.Set([]byte("k"), []byte("a"))
	_ = b.Set([]byte("k"), []byte("b"))
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var wc *kv.WriteConflictError
	if err := b.Commit(ctx); !errors.As(err, &wc) || !errors.Is(err, kv.ErrTxnRetryable) {
		t.Fatalf("second commit: %v, want a retryable write conflict", err)
	}

	const workers, each = 4, 5
	var wg sync.WaitGroup
	runs := make([]int, workers)
	for w := range workers {
		wg.Go(func() {
			for range each {
				err := client.Update(ctx, func(ctx context.Context, tx *txn.Txn) error {
					runs[w]++
					n := 0
					switch v, err := tx.Get(ctx, []byte("counter")); {
					case err == nil:
						n, _ = strconv.Atoi(string(v))
					case !errors.Is(err, kv.ErrNotFound):
						return err
					}
					return tx.Set([]byte("counter"), []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	tx, _ := client.Begin(ctx)
	v, err := tx.Get(ctx, []byte("counter"))
	if err != nil || string(v) != strconv.Itoa(workers*each) {
		t.Fatalf("counter = %q, %v; want %d", v, err, workers*each)
	}
	t.Logf("function runs per worker: %v", runs)

	boom := errors.New("not retryable")
	if err := client.Update(ctx, func(context.Context, *txn.Txn) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Update with a failing function: %v", err)
	}
}

// TestCloseWaitsForSecondaries: a commit across regions returns once the
// primary is committed; Close waits for the secondaries, after which no
// lock of the transaction is left and every key reads back.
func TestCloseWaitsForSecondaries(t *testing.T) {
	cluster := connectInProcess(t, mocktikv.WithTxnSplitKeys([]byte("c"), []byte("f"), []byte("i"))).cluster
	client := txn.NewClient(cluster)
	tx, _ := client.Begin(t.Context())
	keys := []string{"a", "d", "g", "j"}
	for _, k := range keys {
		_ = tx.Set([]byte(k), []byte("v"+k))
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := client.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Begin(t.Context()); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("Begin after Close: %v", err)
	}
	reader := txn.NewClient(cluster)
	defer reader.Close(context.Background())
	ts, _ := reader.CurrentTimestamp(t.Context())
	// A reader that met a lock would resolve it; scan for locks directly.
	if locks := scanLocks(t, cluster, ts); len(locks) != 0 {
		t.Fatalf("locks left after Close: %v", locks)
	}
	for _, k := range keys {
		if v, err := reader.Snapshot(ts).Get(t.Context(), []byte(k)); err != nil || string(v) != "v"+k {
			t.Fatalf("%s = %q, %v", k, v, err)
		}
	}
}

// scanLocks returns every lock with a start ts at or below maxTS, over all
// regions (KvScanLock through a plan).
func scanLocks(t *testing.T, cluster *tikv.Cluster, maxTS uint64) []*kvrpcpb.LockInfo {
	t.Helper()
	env := cluster.EnvFor(kv.ModeTxn)
	plan := pipeline.Collect(pipeline.Shard(env, pipeline.ByRange(
		func(r *kvrpcpb.ScanLockRequest) ([]byte, []byte) { return r.StartKey, r.EndKey },
		func(r *kvrpcpb.ScanLockRequest, start, end []byte) *kvrpcpb.ScanLockRequest {
			cp := *r
			cp.StartKey, cp.EndKey = start, end
			return &cp
		}), pipeline.Retry(env, plans.KvScanLock)), (*kvrpcpb.ScanLockResponse).GetLocks)
	locks, err := plan(t.Context(), &kvrpcpb.ScanLockRequest{MaxVersion: maxTS, Limit: 1024})
	if err != nil {
		t.Fatal(err)
	}
	return locks
}

// TestRawSplitRegionIsAProtocolError: under API v1 a region split at a raw
// key cannot route transactional keys; the read fails at once with an
// error wrapping kv.ErrProtocol instead of retrying PD until the budget
// ends.
func TestRawSplitRegionIsAProtocolError(t *testing.T) {
	mock, client, _ := newClient(t, nil)
	if _, err := mock.Split([]byte("m")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	tx, err := client.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Get(ctx, []byte("z")); !errors.Is(err, kv.ErrProtocol) || ctx.Err() != nil {
		t.Fatalf("get across a raw-split region: %v (ctx %v)", err, ctx.Err())
	}
}

// TestCloseWithCommitsInFlight: Close while transactions commit: every
// commit either succeeded (and its writes read back, secondaries
// included, once Close returned) or failed with kv.ErrClosed; Begin after
// Close fails; nothing keeps running (goleak checks the package).
func TestCloseWithCommitsInFlight(t *testing.T) {
	cluster := connectInProcess(t, mocktikv.WithTxnSplitKeys([]byte("c"), []byte("f"), []byte("i"))).cluster
	client := txn.NewClient(cluster)
	ctx := t.Context()
	var mu sync.Mutex
	var committed [][]byte
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				tx, err := client.Begin(ctx)
				if errors.Is(err, kv.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				// Four keys over four regions: secondaries run in the background.
				suffix := strconv.Itoa(w*1000 + i)
				keys := [][]byte{[]byte("a" + suffix), []byte("d" + suffix), []byte("g" + suffix), []byte("j" + suffix)}
				for _, k := range keys {
					_ = tx.Set(k, []byte("v"))
				}
				err = tx.Commit(ctx)
				if errors.Is(err, kv.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed = append(committed, keys...)
				mu.Unlock()
				select {
				case started <- struct{}{}:
				default:
				}
			}
		})
	}
	for range 8 {
		<-started
	}
	if err := client.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	reader := txn.NewClient(cluster)
	defer reader.Close(context.Background())
	ts, _ := reader.CurrentTimestamp(ctx)
	if locks := scanLocks(t, cluster, ts); len(locks) != 0 {
		t.Fatalf("%d locks left after Close", len(locks))
	}
	vals, err := reader.Snapshot(ts).BatchGet(ctx, committed)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if string(v) != "v" {
			t.Fatalf("committed key %q reads %q", committed[i], v)
		}
	}
	t.Logf("%d keys committed before Close", len(committed))
}
