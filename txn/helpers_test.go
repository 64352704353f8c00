package txn_test

import (
	"context"
	"fmt"
	"slices"
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
)

// testCluster is a mocktikv cluster with a client connection to it and a
// transactional environment whose sender records every request.
type testCluster struct {
	t       *testing.T
	mock    *mocktikv.Cluster
	cluster *tikv.Cluster
	env     *pipeline.Env
	rec     *recorder
}

// connectInProcess runs the client on mocktikv's in-process PD and sender.
func connectInProcess(t *testing.T, opts ...mocktikv.Option) *testCluster {
	t.Helper()
	mock := mocktikv.NewCluster(opts...)
	cluster, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		cluster.Close()
		mock.Close()
	})
	return newTestCluster(t, mock, cluster)
}

// connectGRPC serves mocktikv over gRPC on loopback and connects to it
// through the real PD client and transport.
func connectGRPC(t *testing.T, opts ...mocktikv.Option) *testCluster {
	t.Helper()
	mock := mocktikv.Start(t, opts...)
	cluster, err := tikv.Connect(t.Context(), mock.PDAddrs())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cluster.Close() })
	return newTestCluster(t, mock, cluster)
}

func newTestCluster(t *testing.T, mock *mocktikv.Cluster, cluster *tikv.Cluster) *testCluster {
	env := *cluster.EnvFor(kv.ModeTxn)
	rec := &recorder{}
	next := env.Sender
	env.Sender = transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		rec.note(req)
		return next.Send(ctx, req)
	})
	return &testCluster{t: t, mock: mock, cluster: cluster, env: &env, rec: rec}
}

// recorder keeps the requests a test cluster sent.
type recorder struct {
	mu   sync.Mutex
	reqs []*transport.Request
}

func (r *recorder) note(req *transport.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
}

// count returns how many requests of cmd were sent.
func (r *recorder) count(cmd transport.Cmd) int {
	return len(r.sent(cmd))
}

// sent returns the requests of cmd sent so far.
func (r *recorder) sent(cmd transport.Cmd) []*transport.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*transport.Request
	for _, q := range r.reqs {
		if q.Cmd == cmd {
			out = append(out, q)
		}
	}
	return out
}

// reset forgets the requests sent so far.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

// now returns a fresh timestamp from the cluster's oracle.
func (c *testCluster) now() uint64 {
	c.t.Helper()
	ts, err := c.cluster.Oracle().Now(context.Background())
	if err != nil {
		c.t.Fatalf("tso: %v", err)
	}
	return ts
}

// Test-only two-phase writes, straight through plans (the committer is
// package twopc's).
var (
	prewriteSplit = pipeline.ByKeys((*kvrpcpb.PrewriteRequest).GetMutations, (*kvrpcpb.Mutation).GetKey,
		func(r *kvrpcpb.PrewriteRequest, ms []*kvrpcpb.Mutation) *kvrpcpb.PrewriteRequest {
			c := *r
			c.Mutations = ms
			return &c
		}, pipeline.Limit[*kvrpcpb.Mutation]{Keys: 256})
	commitSplit = pipeline.ByKeys((*kvrpcpb.CommitRequest).GetKeys, func(k []byte) []byte { return k },
		func(r *kvrpcpb.CommitRequest, keys [][]byte) *kvrpcpb.CommitRequest {
			c := *r
			c.Keys = keys
			return &c
		}, pipeline.Limit[[]byte]{Keys: 256})
	rollbackSplit = pipeline.ByKeys((*kvrpcpb.BatchRollbackRequest).GetKeys, func(k []byte) []byte { return k },
		func(r *kvrpcpb.BatchRollbackRequest, keys [][]byte) *kvrpcpb.BatchRollbackRequest {
			c := *r
			c.Keys = keys
			return &c
		}, pipeline.Limit[[]byte]{Keys: 256})
)

// mutations turns "k1", "v1", "k2", "v2", ... into Put mutations; an
// empty value is a Delete.
func mutations(pairs ...string) []*kvrpcpb.Mutation {
	ms := make([]*kvrpcpb.Mutation, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		m := &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(pairs[i]), Value: []byte(pairs[i+1])}
		if pairs[i+1] == "" {
			m.Op, m.Value = kvrpcpb.Op_Del, nil
		}
		ms = append(ms, m)
	}
	return ms
}

// prewrite locks the mutations' keys for a transaction starting now, with
// the first key as primary, and returns its start ts.
func (c *testCluster) prewrite(ttl time.Duration, ms []*kvrpcpb.Mutation) uint64 {
	c.t.Helper()
	start := c.now()
	plan := pipeline.Shard(c.cluster.EnvFor(kv.ModeTxn), prewriteSplit, pipeline.Retry(c.cluster.EnvFor(kv.ModeTxn), plans.KvPrewrite))
	_, err := plan(context.Background(), &kvrpcpb.PrewriteRequest{
		Mutations: ms, PrimaryLock: ms[0].Key, StartVersion: start, LockTtl: uint64(ttl.Milliseconds()),
		TxnSize: uint64(len(ms)),
	})
	if err != nil {
		c.t.Fatalf("prewrite: %v", err)
	}
	return start
}

// commitKeys commits a prewritten transaction's keys at a fresh ts, the
// primary first, and returns the commit ts.
func (c *testCluster) commitKeys(start uint64, keys [][]byte) uint64 {
	c.t.Helper()
	commit := c.now()
	env := c.cluster.EnvFor(kv.ModeTxn)
	plan := pipeline.Shard(env, commitSplit, pipeline.Retry(env, plans.KvCommit))
	for _, batch := range [][][]byte{keys[:1], keys[1:]} {
		if len(batch) == 0 {
			continue
		}
		if _, err := plan(context.Background(), &kvrpcpb.CommitRequest{Keys: batch, StartVersion: start, CommitVersion: commit}); err != nil {
			c.t.Fatalf("commit: %v", err)
		}
	}
	return commit
}

// rollback rolls a prewritten transaction's keys back.
func (c *testCluster) rollback(start uint64, keys ...string) {
	c.t.Helper()
	env := c.cluster.EnvFor(kv.ModeTxn)
	plan := pipeline.Shard(env, rollbackSplit, pipeline.Retry(env, plans.KvBatchRollback))
	var ks [][]byte
	for _, k := range keys {
		ks = append(ks, []byte(k))
	}
	if _, err := plan(context.Background(), &kvrpcpb.BatchRollbackRequest{Keys: ks, StartVersion: start}); err != nil {
		c.t.Fatalf("rollback: %v", err)
	}
}

// write commits "k1", "v1", ... in one transaction ("" deletes) and
// returns its commit ts.
func (c *testCluster) write(pairs ...string) uint64 {
	c.t.Helper()
	ms := mutations(pairs...)
	start := c.prewrite(time.Minute, ms)
	keys := make([][]byte, len(ms))
	for i, m := range ms {
		keys[i] = m.Key
	}
	return c.commitKeys(start, keys)
}

// lock prewrites "k1", "v1", ... without committing, leaving locks that
// live for ttl, and returns the transaction's start ts.
func (c *testCluster) lock(ttl time.Duration, pairs ...string) uint64 {
	c.t.Helper()
	return c.prewrite(ttl, mutations(pairs...))
}

// rowKey and rowValue name the rows of the scan tests.
func rowKey(i int) string   { return fmt.Sprintf("row%05d", i) }
func rowValue(i int) string { return fmt.Sprintf("value%05d", i) }

// rows returns "row00000", "value00000", ... for n rows.
func rows(n int) []string {
	var out []string
	for i := range n {
		out = append(out, rowKey(i), rowValue(i))
	}
	return out
}

// fakeResolver is a pipeline.LockResolver that decides each lock by a
// test's rule and records what it was asked.
type fakeResolver struct {
	decide func(call int, l *kv.Lock) outcome

	mu       sync.Mutex
	calls    int
	callerTS []uint64
	locks    []*kv.Lock
}

// outcome is what fakeResolver says of one lock.
type outcome struct {
	live      time.Duration
	committed bool // else rolled back (when not live)
	err       error
}

func (f *fakeResolver) ResolveLocks(_ context.Context, callerStartTS uint64, locks []*kv.Lock) (pipeline.ResolveResult, error) {
	f.mu.Lock()
	f.calls++
	call := f.calls
	f.callerTS = append(f.callerTS, callerStartTS)
	f.locks = append(f.locks, locks...)
	f.mu.Unlock()
	var res pipeline.ResolveResult
	for _, l := range locks {
		o := f.decide(call, l)
		switch {
		case o.err != nil:
			return pipeline.ResolveResult{}, o.err
		case o.live > 0:
			if res.Live == 0 || o.live < res.Live {
				res.Live = o.live
			}
		case o.committed:
			if !slices.Contains(res.Committed, l.StartTS) {
				res.Committed = append(res.Committed, l.StartTS)
			}
		default:
			if !slices.Contains(res.Resolved, l.StartTS) {
				res.Resolved = append(res.Resolved, l.StartTS)
			}
		}
	}
	return res, nil
}

// seen returns how many calls were made and the start ts of the locks
// passed, in order.
func (f *fakeResolver) seen() (calls int, lockTS []uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.locks {
		lockTS = append(lockTS, l.StartTS)
	}
	return f.calls, lockTS
}

// rollBackAll is a resolver rule: every lock's transaction rolled back.
func rollBackAll(int, *kv.Lock) outcome { return outcome{} }

// commitAll is a resolver rule: every lock's transaction committed
// before the reader's ts.
func commitAll(int, *kv.Lock) outcome { return outcome{committed: true} }

// collect ranges over a scan and returns its pairs as "k=v" strings, or
// the first error.
func collect(seq func(func(kv.KeyValue, error) bool)) ([]string, error) {
	var out []string
	for p, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, string(p.Key)+"="+string(p.Value))
	}
	return out, nil
}

// expectRows returns "row00000=value00000", ... for rows [from, to), in
// that order (descending when from > to).
func expectRows(from, to int, keyOnly bool) []string {
	var out []string
	step := 1
	if from > to {
		step = -1
	}
	for i := from; i != to; i += step {
		if keyOnly {
			out = append(out, rowKey(i)+"=")
		} else {
			out = append(out, rowKey(i)+"="+rowValue(i))
		}
	}
	return out
}
