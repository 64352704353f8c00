package twopc_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// event is one step of the protocol as the tests see it: an attempt (by
// command) or an oracle call ("TSO").
type event struct {
	what   string
	api    string // the logical call's name (pipeline.Named)
	msg    transport.Message
	err    error
	region uint64
}

// log records attempts (a client-wide middleware) and oracle calls in the
// order they happen.
type log struct {
	mu     sync.Mutex
	events []event
	// after, when set, runs after each attempt (set it before the
	// attempts it should see start).
	after atomic.Pointer[func(req *transport.Request)]
}

func (l *log) add(e event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *log) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		resp, err := next.Send(ctx, req)
		l.add(event{what: req.Cmd.String(), api: req.Call.API, msg: req.Msg, err: err, region: req.Target.RegionID})
		if after := l.after.Load(); after != nil {
			(*after)(req)
		}
		return resp, err
	})
}

// take returns the events so far and forgets them.
func (l *log) take() []event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

func (l *log) count(what string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.what == what {
			n++
		}
	}
	return n
}

// apis returns the call names of the attempts of cmd.
func apis(es []event, cmd transport.Cmd) []string {
	var out []string
	for _, e := range es {
		if e.what == cmd.String() {
			out = append(out, e.api)
		}
	}
	return out
}

func names(es []event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.what
	}
	return out
}

// loggedOracle is the cluster's oracle, logging each call.
type loggedOracle struct {
	next  twopc.Oracle
	log   *log
	calls atomic.Int32
	// fail, when set, fails every call with it.
	fail atomic.Pointer[error]
}

func (o *loggedOracle) Now(ctx context.Context) (uint64, error) {
	o.calls.Add(1)
	o.log.add(event{what: "TSO"})
	if err := o.fail.Load(); err != nil {
		return 0, *err
	}
	return o.next.Now(ctx)
}

// countingResolver settles every lock it is given by rolling its
// transaction back on that key (as a resolver does for an expired lock),
// and counts the calls.
type countingResolver struct {
	rollback pipeline.Plan[*kvrpcpb.BatchRollbackRequest, *kvrpcpb.BatchRollbackResponse]
	calls    atomic.Int32
	locks    atomic.Int32
}

func newCountingResolver(env *pipeline.Env) *countingResolver {
	return &countingResolver{rollback: pipeline.Single(pipeline.Shard(env,
		pipeline.ByKey(func(r *kvrpcpb.BatchRollbackRequest) []byte { return r.Keys[0] }),
		pipeline.Retry(env, plans.KvBatchRollback)))}
}

func (r *countingResolver) ResolveLocks(ctx context.Context, _ uint64, locks []*kv.Lock) (pipeline.ResolveResult, error) {
	r.calls.Add(1)
	for _, l := range locks {
		r.locks.Add(1)
		if _, err := r.rollback(ctx, &kvrpcpb.BatchRollbackRequest{StartVersion: l.StartTS, Keys: [][]byte{l.Key}}); err != nil {
			return pipeline.ResolveResult{}, err
		}
	}
	return pipeline.ResolveResult{}, nil
}

// fixture is a cluster, a committer on it and the tools to look at what
// happened.
type fixture struct {
	t         testing.TB
	mock      *mocktikv.Cluster
	cluster   *tikv.Cluster
	env       *pipeline.Env
	log       *log
	oracle    *loggedOracle
	group     *twopc.Group
	committer *twopc.Committer
	resolver  *countingResolver
	groupErrs atomic.Int32
}

type setup struct {
	grpc      bool
	splits    []string // txn split keys
	opts      twopc.Options
	noResolve bool
	budget    time.Duration
}

func newFixture(t testing.TB, s setup) *fixture {
	t.Helper()
	f := &fixture{t: t, log: &log{}}
	var mockOpts []mocktikv.Option
	if len(s.splits) > 0 {
		keys := make([][]byte, len(s.splits))
		for i, k := range s.splits {
			keys[i] = []byte(k)
		}
		mockOpts = append(mockOpts, mocktikv.WithTxnSplitKeys(keys...))
	}
	opts := []tikv.Option{tikv.WithMiddleware(f.log.middleware)}
	var err error
	if s.grpc {
		f.mock = mocktikv.Start(t, mockOpts...)
		f.cluster, err = tikv.Connect(context.Background(), f.mock.PDAddrs(), opts...)
	} else {
		f.mock = mocktikv.NewCluster(mockOpts...)
		opts = append([]tikv.Option{tikv.WithPD(f.mock.PD()), tikv.WithTransport(f.mock.Sender())}, opts...)
		f.cluster, err = tikv.Connect(context.Background(), nil, opts...)
	}
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	f.env = f.cluster.EnvFor(kv.ModeTxn)
	if s.budget != 0 {
		f.env.BackoffBudget = s.budget
	}
	f.oracle = &loggedOracle{next: f.cluster.Oracle(), log: f.log}
	f.group = twopc.NewGroup(context.Background(), func(error) { f.groupErrs.Add(1) })
	cfg := twopc.Config{Env: f.env, Oracle: f.oracle, Group: f.group, PD: f.cluster.PD(), Options: s.opts}
	if !s.noResolve {
		f.resolver = newCountingResolver(f.env)
		cfg.Resolver = f.resolver
	}
	f.committer, err = twopc.New(cfg)
	if err != nil {
		t.Fatalf("new committer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.group.Close(ctx); err != nil {
			t.Errorf("close group: %v", err)
		}
		f.cluster.Close()
		if !s.grpc {
			f.mock.Close()
		}
	})
	return f
}

func (f *fixture) ts() uint64 {
	f.t.Helper()
	ts, err := f.cluster.Oracle().Now(context.Background())
	if err != nil {
		f.t.Fatalf("tso: %v", err)
	}
	return ts
}

// commit commits muts in a transaction starting now.
func (f *fixture) commit(muts ...twopc.Mutation) (twopc.CommitDetails, error) {
	return f.committer.Commit(context.Background(), twopc.Request{StartTS: f.ts(), Mutations: muts})
}

// settle waits for the Group's background work.
func (f *fixture) settle() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.group.Wait(ctx); err != nil {
		f.t.Fatalf("wait for background work: %v", err)
	}
}

// get reads key at ts, or at a fresh ts when ts is 0.
func (f *fixture) get(key string, ts uint64) ([]byte, error) {
	if ts == 0 {
		ts = f.ts()
	}
	plan := pipeline.Single(pipeline.Shard(f.env, pipeline.ByKey((*kvrpcpb.GetRequest).GetKey), pipeline.Retry(f.env, plans.KvGet)))
	resp, err := plan(context.Background(), &kvrpcpb.GetRequest{Key: []byte(key), Version: ts})
	if err != nil {
		return nil, err
	}
	if resp.NotFound {
		return nil, nil
	}
	return resp.Value, nil
}

func (f *fixture) mustGet(key, want string) {
	f.t.Helper()
	v, err := f.get(key, 0)
	if err != nil {
		f.t.Fatalf("get %q: %v", key, err)
	}
	if string(v) != want {
		f.t.Fatalf("get %q = %q, want %q", key, v, want)
	}
}

// locks returns every lock in the key space, at any version.
func (f *fixture) locks() []*kvrpcpb.LockInfo {
	f.t.Helper()
	plan := pipeline.Collect(pipeline.Shard(f.env,
		pipeline.ByRange(func(r *kvrpcpb.ScanLockRequest) ([]byte, []byte) { return r.StartKey, r.EndKey },
			func(r *kvrpcpb.ScanLockRequest, start, end []byte) *kvrpcpb.ScanLockRequest {
				c := *r
				c.StartKey, c.EndKey = start, end
				return &c
			}),
		pipeline.Retry(f.env, plans.KvScanLock)), (*kvrpcpb.ScanLockResponse).GetLocks)
	locks, err := plan(context.Background(), &kvrpcpb.ScanLockRequest{MaxVersion: ^uint64(0) >> 1, Limit: 10000})
	if err != nil {
		f.t.Fatalf("scan locks: %v", err)
	}
	return locks
}

func put(k, v string) twopc.Mutation {
	return twopc.Mutation{Key: []byte(k), Value: []byte(v), Op: kvrpcpb.Op_Put}
}

func keyN(i int) string { return fmt.Sprintf("key%05d", i) }
func valN(i int) string { return fmt.Sprintf("value%05d", i) }

func puts(n int) []twopc.Mutation {
	out := make([]twopc.Mutation, n)
	for i := range out {
		out[i] = put(keyN(i), valN(i))
	}
	return out
}
