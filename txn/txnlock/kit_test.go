package txnlock_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// fakeOracle answers Now with now (or err) and UntilExpired from left,
// by lock ts (zero when absent: expired).
type fakeOracle struct {
	now  uint64
	err  error
	left map[uint64]time.Duration
}

func (o fakeOracle) Now(context.Context) (uint64, error) { return o.now, o.err }

func (o fakeOracle) UntilExpired(lockTS, _ uint64) time.Duration { return o.left[lockTS] }

// kit is a Resolver on the pipeline test kit: a scripted TiKV with
// regions split at "m", recording every attempt.
type kit struct {
	tikv *pipelinetest.Sender
	rec  *pipelinetest.Recorder
	env  *pipeline.Env
}

func newKit() *kit {
	c := pipelinetest.NewCluster(pipelinetest.WithSplits("m"))
	tikv, rec := pipelinetest.NewSender(c), pipelinetest.NewRecorder()
	return &kit{tikv: tikv, rec: rec, env: &pipeline.Env{Locator: pipelinetest.NewLocator(c), Sender: transport.Chain(tikv, rec.Middleware())}}
}

func (k *kit) count(cmd transport.Cmd) int { return len(k.rec.Filter(pipelinetest.ForCmd(cmd))) }

// asyncPrimary scripts CheckTxnStatus to answer "alive" with an
// async-commit primary lock listing secondaries a and x (two regions).
func (k *kit) asyncPrimary(start, minCommit uint64) {
	k.tikv.Always(pipelinetest.ForCmd(transport.CmdCheckTxnStatus), pipelinetest.Reply(&kvrpcpb.CheckTxnStatusResponse{
		LockTtl: 1, LockInfo: &kvrpcpb.LockInfo{PrimaryLock: []byte("p"), Key: []byte("p"), LockVersion: start, LockTtl: 1,
			UseAsyncCommit: true, MinCommitTs: minCommit, Secondaries: [][]byte{[]byte("a"), []byte("x")}},
	}))
}

// secondaries scripts CheckSecondaryLocks to answer per key: commit ts
// for a key in commits (not locked), an async-commit lock otherwise.
func (k *kit) secondaries(start uint64, commits map[string]uint64, minCommit uint64) {
	k.tikv.Always(pipelinetest.ForCmd(transport.CmdCheckSecondaryLocks), func(_ context.Context, req *transport.Request, _ transport.Sender) (*transport.Response, error) {
		resp := &kvrpcpb.CheckSecondaryLocksResponse{}
		for _, key := range req.Msg.(*kvrpcpb.CheckSecondaryLocksRequest).Keys {
			if c, ok := commits[string(key)]; ok {
				return &transport.Response{Msg: &kvrpcpb.CheckSecondaryLocksResponse{CommitTs: c}}, nil
			}
			resp.Locks = append(resp.Locks, &kvrpcpb.LockInfo{Key: key, PrimaryLock: []byte("p"), LockVersion: start,
				UseAsyncCommit: true, MinCommitTs: minCommit})
		}
		return &transport.Response{Msg: resp}, nil
	})
	k.tikv.Always(pipelinetest.ForCmd(transport.CmdResolveLock), pipelinetest.Reply(&kvrpcpb.ResolveLockResponse{}))
}

// TestAsyncCommitContradictorySecondaries: secondaries that report two
// different commit ts, or a commit below the locks' min commit ts, are a
// protocol violation: the resolution fails with *txnlock.AsyncCommitError
// and resolves nothing (client-go's asyncResolveData.addKeys).
func TestAsyncCommitContradictorySecondaries(t *testing.T) {
	const start = 100
	lock := &kv.Lock{Key: []byte("a"), Primary: []byte("p"), StartTS: start, TTL: time.Millisecond, UseAsyncCommit: true, Type: kvrpcpb.Op_Put}
	for _, tc := range []struct {
		name    string
		commits map[string]uint64
	}{
		{"two commit ts", map[string]uint64{"a": 110, "x": 120}},
		{"commit below min commit ts", map[string]uint64{"x": 105}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKit()
			k.asyncPrimary(start, 108)
			k.secondaries(start, tc.commits, 108)
			r := txnlock.New(k.env, fakeOracle{now: 200})
			_, err := r.ResolveLocks(context.Background(), 0, []*kv.Lock{lock})
			var ace *txnlock.AsyncCommitError
			if !errors.As(err, &ace) || ace.StartTS != start {
				t.Fatalf("error %v, want an AsyncCommitError", err)
			}
			if n := k.count(transport.CmdResolveLock); n != 0 {
				t.Fatalf("%d ResolveLock sent after a contradiction", n)
			}
		})
	}
}

// TestAsyncCommitVerdictFromScriptedSecondaries: all secondaries locked
// commits at the largest min commit ts (the primary's 108, a lock's 115);
// one committed secondary decides the commit ts; the verdict is sent in
// every ResolveLock, primary included.
func TestAsyncCommitVerdictFromScriptedSecondaries(t *testing.T) {
	const start = 100
	lock := &kv.Lock{Key: []byte("a"), Primary: []byte("p"), StartTS: start, TTL: time.Millisecond, UseAsyncCommit: true, Type: kvrpcpb.Op_Put}
	for _, tc := range []struct {
		name       string
		commits    map[string]uint64
		want       uint64
		wantKeys   int
		secMinComm uint64
	}{
		{"all locked", nil, 115, 3, 115},
		{"one committed", map[string]uint64{"x": 130}, 130, 2, 110},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKit()
			k.asyncPrimary(start, 108)
			k.secondaries(start, tc.commits, tc.secMinComm)
			r := txnlock.New(k.env, fakeOracle{now: 200})
			if _, err := r.ResolveLocks(context.Background(), 0, []*kv.Lock{lock}); err != nil {
				t.Fatal(err)
			}
			keys := 0
			for _, req := range k.rec.Filter(pipelinetest.ForCmd(transport.CmdResolveLock)) {
				rl := req.Msg.(*kvrpcpb.ResolveLockRequest)
				if rl.CommitVersion != tc.want {
					t.Fatalf("ResolveLock %v, want commit %d", rl, tc.want)
				}
				keys += len(rl.Keys)
			}
			if keys != tc.wantKeys {
				t.Fatalf("%d keys resolved, want %d", keys, tc.wantKeys)
			}
			s, err := r.GetTxnStatus(context.Background(), start, []byte("p"), 0, 0, false)
			if err != nil || s.CommitTS != tc.want {
				t.Fatalf("cached verdict %v, %v", s, err)
			}
		})
	}
}

// TestLiveIsTheEarliestExpiry: with several live locks, Live is the
// shortest time any of them has left (client-go's txnExpireTime).
func TestLiveIsTheEarliestExpiry(t *testing.T) {
	k := newKit()
	k.tikv.Always(pipelinetest.ForCmd(transport.CmdCheckTxnStatus), pipelinetest.Reply(&kvrpcpb.CheckTxnStatusResponse{LockTtl: 3000}))
	r := txnlock.New(k.env, fakeOracle{now: 200, left: map[uint64]time.Duration{10: 3 * time.Second, 20: 700 * time.Millisecond, 30: 2 * time.Second}})
	var locks []*kv.Lock
	for _, ts := range []uint64{10, 20, 30} {
		locks = append(locks, &kv.Lock{Key: []byte("k"), Primary: []byte("p"), StartTS: ts, TTL: 3 * time.Second, Type: kvrpcpb.Op_Put})
	}
	res, err := r.ResolveLocks(context.Background(), 0, locks)
	if err != nil || res.Live != 700*time.Millisecond {
		t.Fatalf("result %+v, %v; want live 700ms", res, err)
	}
	if n := k.count(transport.CmdResolveLock); n != 0 {
		t.Fatalf("%d ResolveLock for live locks", n)
	}
}

// TestOracleFailure: without a current ts nothing can be judged: the
// resolution fails with the oracle's error and sends nothing.
func TestOracleFailure(t *testing.T) {
	k := newKit()
	boom := errors.New("pd unreachable")
	r := txnlock.New(k.env, fakeOracle{err: boom})
	_, err := r.ResolveLocks(context.Background(), 0, []*kv.Lock{{Key: []byte("k"), Primary: []byte("p"), StartTS: 1, TTL: time.Second}})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if k.rec.Len() != 0 {
		t.Fatalf("%d attempts sent", k.rec.Len())
	}
}

// TestStatusCheckSendFailureRetried: a status check whose send failed
// with an unknown outcome is sent again (KvCheckTxnStatus is idempotent)
// and its answer used.
func TestStatusCheckSendFailureRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKit()
		k.tikv.Script(pipelinetest.ForCmd(transport.CmdCheckTxnStatus), pipelinetest.Fail(errors.New("connection reset")),
			pipelinetest.Reply(&kvrpcpb.CheckTxnStatusResponse{CommitVersion: 50}))
		k.tikv.Always(pipelinetest.ForCmd(transport.CmdResolveLock), pipelinetest.Reply(&kvrpcpb.ResolveLockResponse{}))
		r := txnlock.New(k.env, fakeOracle{now: 200})
		res, err := r.ResolveLocks(context.Background(), 100, []*kv.Lock{{Key: []byte("k"), Primary: []byte("p"), StartTS: 1, TTL: time.Second, Type: kvrpcpb.Op_Put}})
		if err != nil || len(res.Committed) != 1 || res.Committed[0] != 1 {
			t.Fatalf("result %+v, %v", res, err)
		}
		if n := k.count(transport.CmdCheckTxnStatus); n != 2 {
			t.Fatalf("%d status checks, want the failed one resent", n)
		}
	})
}
