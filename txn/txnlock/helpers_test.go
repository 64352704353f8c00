package txnlock_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/gogo/protobuf/proto"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/txnlock"
)

// sent is one attempt as the recording middleware saw it.
type sent struct {
	cmd transport.Cmd
	msg transport.Message
}

// recorder is a client-wide middleware that logs every attempt.
type recorder struct {
	mu   sync.Mutex
	sent []sent
}

func (r *recorder) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		r.mu.Lock()
		r.sent = append(r.sent, sent{req.Cmd, req.Msg})
		r.mu.Unlock()
		return next.Send(ctx, req)
	})
}

// take returns the attempts of cmd since the last take, forgetting all.
func (r *recorder) take(cmd transport.Cmd) []transport.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []transport.Message
	for _, s := range r.sent {
		if s.cmd == cmd {
			out = append(out, s.msg)
		}
	}
	r.sent = nil
	return out
}

// count returns how many attempts of cmd were sent since the last take.
func (r *recorder) count(cmd transport.Cmd) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.sent {
		if s.cmd == cmd {
			n++
		}
	}
	return n
}

// fixture is a client connected to a mocktikv, with a Resolver on its
// transactional environment and raw Percolator requests sent through
// pipeline plans.
type fixture struct {
	t       *testing.T
	mock    *mocktikv.Cluster
	cluster *tikv.Cluster
	env     *pipeline.Env
	r       *txnlock.Resolver
	rec     *recorder
}

// newInProcess runs on mocktikv's in-process PD and sender: no sockets, so
// it works inside testing/synctest bubbles.
func newInProcess(t *testing.T, mockOpts []mocktikv.Option, opts ...txnlock.Option) *fixture {
	t.Helper()
	mock := mocktikv.NewCluster(mockOpts...)
	rec := &recorder{}
	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()),
		tikv.WithMiddleware(rec.middleware))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		cluster.Close()
		mock.Close()
	})
	return newFixture(t, mock, cluster, rec, opts)
}

// newGRPC serves mocktikv over gRPC on loopback and connects through the
// real PD client and connection pool.
func newGRPC(t *testing.T, mockOpts []mocktikv.Option, opts ...txnlock.Option) *fixture {
	t.Helper()
	mock := mocktikv.Start(t, mockOpts...)
	rec := &recorder{}
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithMiddleware(rec.middleware))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cluster.Close() })
	return newFixture(t, mock, cluster, rec, opts)
}

func newFixture(t *testing.T, mock *mocktikv.Cluster, cluster *tikv.Cluster, rec *recorder, opts []txnlock.Option) *fixture {
	env := cluster.EnvFor(kv.ModeTxn)
	return &fixture{t: t, mock: mock, cluster: cluster, env: env, r: txnlock.New(env, cluster.Oracle(), opts...), rec: rec}
}

// fresh returns a new Resolver on the fixture's environment: an empty
// status cache, as client-go's tests get from store.NewLockResolver().
func (f *fixture) fresh(opts ...txnlock.Option) *txnlock.Resolver {
	return txnlock.New(f.env, f.cluster.Oracle(), opts...)
}

func (f *fixture) ts() uint64 {
	f.t.Helper()
	ts, err := f.cluster.Oracle().Now(context.Background())
	if err != nil {
		f.t.Fatalf("ts: %v", err)
	}
	return ts
}

// txnSpec describes a raw prewrite.
type txnSpec struct {
	primary     string
	keys        []string // mutations (Put key=key)
	ttlMs       uint64
	txnSize     uint64
	async       bool
	secondaries []string // an async-commit primary's list
	minCommitTS uint64
}

func (f *fixture) prewrite(startTS uint64, s txnSpec) {
	f.t.Helper()
	muts := make([]*kvrpcpb.Mutation, len(s.keys))
	for i, k := range s.keys {
		muts[i] = &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(k), Value: []byte("v-" + k)}
	}
	var secs [][]byte
	for _, k := range s.secondaries {
		secs = append(secs, []byte(k))
	}
	req := &kvrpcpb.PrewriteRequest{PrimaryLock: []byte(s.primary), StartVersion: startTS, LockTtl: s.ttlMs,
		TxnSize: s.txnSize, UseAsyncCommit: s.async, Secondaries: secs, Mutations: muts, MinCommitTs: s.minCommitTS}
	if s.async {
		req.MaxCommitTs = math.MaxUint64 >> 2
	}
	plan := pipeline.Shard(f.env, pipeline.ByKeys((*kvrpcpb.PrewriteRequest).GetMutations, (*kvrpcpb.Mutation).GetKey,
		func(r *kvrpcpb.PrewriteRequest, m []*kvrpcpb.Mutation) *kvrpcpb.PrewriteRequest {
			c := *r
			c.Mutations = m
			return &c
		}, pipeline.Limit[*kvrpcpb.Mutation]{}), pipeline.Retry(f.env, plans.KvPrewrite))
	if _, err := plan(context.Background(), req); err != nil {
		f.t.Fatalf("prewrite %v at %d: %v", s.keys, startTS, err)
	}
}

func keyList(keys []string) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k)
	}
	return out
}

func (f *fixture) commit(startTS, commitTS uint64, keys ...string) {
	f.t.Helper()
	plan := pipeline.Shard(f.env, byKeys(func(r *kvrpcpb.CommitRequest) *[][]byte { return &r.Keys }),
		pipeline.Retry(f.env, plans.KvCommit))
	if _, err := plan(context.Background(), &kvrpcpb.CommitRequest{StartVersion: startTS, CommitVersion: commitTS, Keys: keyList(keys)}); err != nil {
		f.t.Fatalf("commit %v: %v", keys, err)
	}
}

func (f *fixture) rollback(startTS uint64, keys ...string) {
	f.t.Helper()
	plan := pipeline.Shard(f.env, byKeys(func(r *kvrpcpb.BatchRollbackRequest) *[][]byte { return &r.Keys }),
		pipeline.Retry(f.env, plans.KvBatchRollback))
	if _, err := plan(context.Background(), &kvrpcpb.BatchRollbackRequest{StartVersion: startTS, Keys: keyList(keys)}); err != nil {
		f.t.Fatalf("rollback %v: %v", keys, err)
	}
}

func (f *fixture) pessimisticLock(startTS, forUpdateTS, ttlMs uint64, primary string, keys ...string) {
	f.t.Helper()
	muts := make([]*kvrpcpb.Mutation, len(keys))
	for i, k := range keys {
		muts[i] = &kvrpcpb.Mutation{Op: kvrpcpb.Op_PessimisticLock, Key: []byte(k)}
	}
	plan := pipeline.Shard(f.env, pipeline.ByKeys((*kvrpcpb.PessimisticLockRequest).GetMutations, (*kvrpcpb.Mutation).GetKey,
		func(r *kvrpcpb.PessimisticLockRequest, m []*kvrpcpb.Mutation) *kvrpcpb.PessimisticLockRequest {
			c := *r
			c.Mutations = m
			return &c
		}, pipeline.Limit[*kvrpcpb.Mutation]{}), pipeline.Retry(f.env, plans.KvPessimisticLock))
	if _, err := plan(context.Background(), &kvrpcpb.PessimisticLockRequest{PrimaryLock: []byte(primary), StartVersion: startTS,
		ForUpdateTs: forUpdateTS, LockTtl: ttlMs, Mutations: muts, WaitTimeout: -1}); err != nil {
		f.t.Fatalf("pessimistic lock %v: %v", keys, err)
	}
}

// byKeys splits a request with a Keys field by region.
func byKeys[Req any](field func(Req) *[][]byte) pipeline.Splitter[Req] {
	return pipeline.ByKeys(func(r Req) [][]byte { return *field(r) }, func(k []byte) []byte { return k },
		func(r Req, keys [][]byte) Req {
			c := clone(r)
			*field(c) = keys
			return c
		}, pipeline.Limit[[]byte]{})
}

func clone[Req any](r Req) Req {
	return any(proto.Clone(any(r).(proto.Message))).(Req)
}

// lockOn returns the lock on key, nil when there is none.
func (f *fixture) lockOn(key string) *kv.Lock {
	f.t.Helper()
	plan := pipeline.Single(pipeline.Shard(f.env, pipeline.ByKey((*kvrpcpb.ScanLockRequest).GetStartKey),
		pipeline.Retry(f.env, plans.KvScanLock)))
	resp, err := plan(context.Background(), &kvrpcpb.ScanLockRequest{MaxVersion: math.MaxUint64,
		StartKey: []byte(key), EndKey: append([]byte(key), 0), Limit: 1})
	if err != nil {
		f.t.Fatalf("scan lock %q: %v", key, err)
	}
	if len(resp.Locks) == 0 {
		return nil
	}
	return plans.LockFromInfo(resp.Locks[0])
}

func (f *fixture) mustLock(key string) *kv.Lock {
	f.t.Helper()
	l := f.lockOn(key)
	if l == nil {
		f.t.Fatalf("no lock on %q", key)
	}
	return l
}

// get reads key at ts: its value (nil when not found) and commit ts, or
// the read's error (a *kv.LockedError when locked).
func (f *fixture) get(key string, ts uint64) ([]byte, uint64, error) {
	f.t.Helper()
	plan := pipeline.Single(pipeline.Shard(f.env, pipeline.ByKey((*kvrpcpb.GetRequest).GetKey),
		pipeline.Retry(f.env, plans.KvGet)))
	resp, err := plan(context.Background(), &kvrpcpb.GetRequest{Key: []byte(key), Version: ts, NeedCommitTs: true})
	if err != nil {
		return nil, 0, err
	}
	if resp.NotFound {
		return nil, resp.CommitTs, nil
	}
	return resp.Value, resp.CommitTs, nil
}

// mustRead reads key at a fresh ts and wants no lock in the way.
func (f *fixture) mustRead(key string) ([]byte, uint64) {
	f.t.Helper()
	v, c, err := f.get(key, f.ts())
	if err != nil {
		f.t.Fatalf("read %q: %v", key, err)
	}
	return v, c
}

func (f *fixture) resolve(caller uint64, opts txnlock.Options, locks ...*kv.Lock) pipeline.ResolveResult {
	f.t.Helper()
	res, err := f.r.ResolveLocksWith(context.Background(), caller, locks, opts)
	if err != nil {
		f.t.Fatalf("resolve: %v", err)
	}
	return res
}

func isLocked(err error) bool {
	var le *kv.LockedError
	return errors.As(err, &le)
}
