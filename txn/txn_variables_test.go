package txn_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// notSynced is a region error the client retries after a short
// MaxTSNotSynced backoff (2ms).
var notSynced = mocktikv.RegionError(&errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}})

// prewriteHolds matches a prewrite that carries key.
func prewriteHolds(key string) func(uint64, transport.Cmd, transport.Message) bool {
	return func(_ uint64, _ transport.Cmd, req transport.Message) bool {
		return slices.ContainsFunc(req.(*kvrpcpb.PrewriteRequest).GetMutations(),
			func(m *kvrpcpb.Mutation) bool { return bytes.Equal(m.Key, []byte(key)) })
	}
}

// TestKillBeforePrewrite: a transaction whose kill flag is raised before
// Commit sends no prewrite and fails with the signal (client-go checks
// the flag at the start of the prewrite action); the rollback of its keys
// is still queued, as after any failed prewrite, and runs although the flag
// is up (the Cleanup half of client-go's TestUninterruptibleAction). Its
// reads stop too. Ports client-go's TestKillSignal (2pc_test.go).
func TestKillBeforePrewrite(t *testing.T) {
	p := newPortCluster(t, false, nil)
	p.commit("r", "old")
	var flag atomic.Uint32
	tx := p.begin(txn.WithKillSignal(&flag))
	if err := tx.Set([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	flag.Store(5)
	if _, err := tx.Get(t.Context(), []byte("r")); !errors.Is(err, kv.ErrQueryInterrupted) {
		t.Fatalf("read after the kill: %v, want interrupted", err)
	}
	p.log.take()
	err := tx.Commit(t.Context())
	var qi *kv.QueryInterruptedError
	if !errors.As(err, &qi) || qi.Signal != 5 || !errors.Is(err, kv.ErrQueryInterrupted) {
		t.Fatalf("commit after the kill: %v, want interrupted with signal 5", err)
	}
	if cmds := p.log.take(); slices.Contains(cmds, transport.CmdPrewrite) {
		t.Fatalf("commit sent %v after the kill", cmds)
	}
	if d := tx.CommitDetails(); !d.RollbackQueued || d.PrewriteRPCs != 0 {
		t.Fatalf("details %+v, want a rollback queued and no prewrite", d)
	}
	if err := p.client.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if locks := scanLocks(t, p.cluster, p.now()); len(locks) != 0 {
		t.Fatalf("locks left: %v", locks)
	}
}

// TestKillDuringPrewrite: a flag raised while the prewrite runs stops the
// batch still retrying (after its backoff sleep) and the commit fails
// with the signal; the rollback leaves no lock behind, whichever batches
// were written. The batch of "z" meets a region error, and the flag is
// raised as that batch arrives.
func TestKillDuringPrewrite(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			if _, err := p.mock.SplitTxn([]byte("m")); err != nil {
				t.Fatal(err)
			}
			var flag atomic.Uint32
			raise := prewriteHolds("z")
			p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite,
				Match: func(s uint64, c transport.Cmd, req transport.Message) bool {
					if raise(s, c, req) {
						flag.Store(7)
						return true
					}
					return false
				},
				Steps: []mocktikv.Step{mocktikv.Times(1, notSynced)}})
			tx := p.begin(txn.WithKillSignal(&flag))
			for _, k := range []string{"a", "z"} {
				if err := tx.Set([]byte(k), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			err := tx.Commit(t.Context())
			var qi *kv.QueryInterruptedError
			if !errors.As(err, &qi) || qi.Signal != 7 {
				t.Fatalf("commit: %v, want interrupted with signal 7", err)
			}
			if err := p.client.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if locks := scanLocks(t, p.cluster, p.now()); len(locks) != 0 {
				t.Fatalf("locks left: %v", locks)
			}
			if !tx.CommitDetails().RollbackQueued {
				t.Fatal("no rollback queued")
			}
		})
	}
}

// TestKillAfterPrewriteCommits: a flag raised once the prewrite is done
// does not stop the commit of the primary, not even its retries after a
// backoff: the transaction commits (kill is for the interruptible steps;
// leaving a prewritten transaction half done only leaves locks for
// others). The commit details record the commit's backoff. Ports the
// Commit half of client-go's TestUninterruptibleAction (2pc_test.go).
func TestKillAfterPrewriteCommits(t *testing.T) {
	p := newPortCluster(t, false, nil)
	var flag atomic.Uint32
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite,
		Match: func(uint64, transport.Cmd, transport.Message) bool { flag.Store(2); return true },
		Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Pass())}})
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit, Steps: []mocktikv.Step{mocktikv.Times(1, notSynced)}})
	tx := p.begin(txn.WithKillSignal(&flag))
	if err := tx.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatalf("commit after a kill during the prewrite: %v", err)
	}
	if flag.Load() != 2 {
		t.Fatal("the flag was never raised")
	}
	d := tx.CommitDetails()
	if d.CommitRPCs != 2 || d.CommitBackoff <= 0 || !slices.Equal(d.CommitBackoffKinds, []string{"maxTsNotSynced"}) {
		t.Fatalf("commit rpcs %d, backoff %v %v; want 2 and one maxTsNotSynced wait", d.CommitRPCs, d.CommitBackoff, d.CommitBackoffKinds)
	}
	p.mustGet("k", "v")
}

// TestVariablesReachRequests: a transaction's variables (backoff weight,
// lock-fast base, kill flag) are in the context of its reads' and
// prewrite's attempts (pipeline.VariablesFrom, as a middleware sees
// them); the primary's commit carries them without the kill flag.
func TestVariablesReachRequests(t *testing.T) {
	mock := mocktikv.NewCluster()
	defer mock.Close()
	var mu sync.Mutex
	seen := map[transport.Cmd]kv.Variables{}
	mw := func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			mu.Lock()
			seen[req.Cmd] = pipeline.VariablesFrom(ctx)
			mu.Unlock()
			return next.Send(ctx, req)
		})
	}
	cluster, err := tikv.Connect(t.Context(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithMiddleware(mw))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	client := txn.NewClient(cluster)
	defer client.Close(context.Background())

	var flag atomic.Uint32
	tx, err := client.Begin(t.Context(), txn.WithBackoffWeight(6), txn.WithLockFastBackoff(42*time.Millisecond), txn.WithKillSignal(&flag))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Get(t.Context(), []byte("r")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatal(err)
	}
	if err := tx.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := kv.Variables{BackoffWeight: 6, LockFastBackoff: 42 * time.Millisecond, Killed: &flag}
	for _, cmd := range []transport.Cmd{transport.CmdGet, transport.CmdPrewrite} {
		if seen[cmd] != want {
			t.Errorf("%s carried %+v, want %+v", cmd, seen[cmd], want)
		}
	}
	want.Killed = nil
	if seen[transport.CmdCommit] != want {
		t.Errorf("Commit carried %+v, want %+v (no kill flag)", seen[transport.CmdCommit], want)
	}
}

// TestKillDoesNotStopPessimisticRollback ports the PessimisticRollback half
// of client-go's TestUninterruptibleAction (2pc_test.go): a pessimistic
// transaction whose kill flag is raised after LockKeys still rolls its
// locks back (KvPessimisticRollback is not interruptible), leaving none.
// Both transports.
func TestKillDoesNotStopPessimisticRollback(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		p := newPortCluster(t, grpc, nil)
		var flag atomic.Uint32
		tx := p.beginPessimistic(txn.WithKillSignal(&flag))
		mustLock(t, tx, &txn.LockCtx{Wait: txn.LockNoWait}, "k2")
		flag.Store(2)
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := p.client.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if locks := scanLocks(t, p.cluster, p.now()); len(locks) != 0 {
			t.Fatalf("locks left after a rollback with the kill flag up: %v", locks)
		}
	})
}
