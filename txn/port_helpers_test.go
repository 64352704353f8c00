package txn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn"
)

// portCluster is what the ported client-go integration tests run on: a
// mocktikv cluster, a txn.Client on it, the raw two-phase helpers of
// helpers_test.go (to leave locks no Txn would leave) and a log of the
// commands the client sent.
type portCluster struct {
	*testCluster
	client *txn.Client
	log    *cmdLog
}

// newPortCluster connects a txn.Client to an in-process mocktikv (or over
// gRPC when grpc is set); everything is closed when the test ends, the
// client first so that its background commits finish.
func newPortCluster(t *testing.T, grpc bool, mockOpts []mocktikv.Option, opts ...txn.Option) *portCluster {
	t.Helper()
	var mock *mocktikv.Cluster
	log := &cmdLog{}
	var cluster *tikv.Cluster
	var err error
	if grpc {
		mock = mocktikv.Start(t, mockOpts...)
		cluster, err = tikv.Connect(t.Context(), mock.PDAddrs(), tikv.WithMiddleware(log.middleware))
	} else {
		mock = mocktikv.NewCluster(mockOpts...)
		cluster, err = tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()),
			tikv.WithTransport(mock.Sender()), tikv.WithMiddleware(log.middleware))
	}
	return finishPortCluster(t, grpc, mock, log, cluster, err, opts...)
}

// finishPortCluster completes a portCluster from its connected Cluster
// (err is Connect's): the txn.Client on it, and the cleanup that closes
// the client first (so its background commits finish), then the Cluster,
// then an in-process mock (one served over gRPC is closed by
// mocktikv.Start's cleanup).
func finishPortCluster(t *testing.T, grpc bool, mock *mocktikv.Cluster, log *cmdLog, cluster *tikv.Cluster, err error, opts ...txn.Option) *portCluster {
	t.Helper()
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	client := txn.NewClient(cluster, opts...)
	t.Cleanup(func() {
		if err := client.Close(context.Background()); err != nil {
			t.Errorf("client close: %v", err)
		}
		cluster.Close()
		if !grpc {
			mock.Close()
		}
	})
	return &portCluster{testCluster: newTestCluster(t, mock, cluster), client: client, log: log}
}

// begin starts a transaction or fails the test.
func (p *portCluster) begin(opts ...txn.BeginOption) *txn.Txn {
	p.t.Helper()
	tx, err := p.client.Begin(context.Background(), opts...)
	if err != nil {
		p.t.Fatalf("begin: %v", err)
	}
	return tx
}

// commit sets "k1", "v1", ... in a new transaction and commits it,
// returning the transaction.
func (p *portCluster) commit(pairs ...string) *txn.Txn {
	p.t.Helper()
	tx := p.begin()
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := tx.Set([]byte(pairs[i]), []byte(pairs[i+1])); err != nil {
			p.t.Fatal(err)
		}
	}
	if err := tx.Commit(context.Background()); err != nil {
		p.t.Fatalf("commit: %v", err)
	}
	return tx
}

// get reads key in a new transaction: its value, or "" with ok false when
// it is not found; any other error fails the test.
func (p *portCluster) get(key string) (string, bool) {
	p.t.Helper()
	v, err := p.begin().Get(context.Background(), []byte(key))
	if errors.Is(err, kv.ErrNotFound) {
		return "", false
	}
	if err != nil {
		p.t.Fatalf("get %q: %v", key, err)
	}
	return string(v), true
}

// mustGet fails the test unless key reads want in a new transaction
// ("" meaning not found).
func (p *portCluster) mustGet(key, want string) {
	p.t.Helper()
	v, ok := p.get(key)
	if want == "" && ok {
		p.t.Fatalf("%q = %q, want not found", key, v)
	}
	if want != "" && v != want {
		p.t.Fatalf("%q = %q (found %v), want %q", key, v, ok, want)
	}
}

// lockMin prewrites "k1", "v1", ... (the first key primary) without
// committing, as the committer does: with min_commit_ts = start ts + 1
// (client-go's prewrite), so a reader's status check may push it; the
// helpers' lock leaves min_commit_ts 0, which TiKV never pushes
// (check_txn_status.rs). It returns the start ts.
func (p *portCluster) lockMin(ttl time.Duration, pairs ...string) uint64 {
	p.t.Helper()
	ms := mutations(pairs...)
	start := p.now()
	env := p.cluster.EnvFor(kv.ModeTxn)
	plan := pipeline.Shard(env, prewriteSplit, pipeline.Retry(env, plans.KvPrewrite))
	_, err := plan(context.Background(), &kvrpcpb.PrewriteRequest{
		Mutations: ms, PrimaryLock: ms[0].Key, StartVersion: start, LockTtl: uint64(ttl.Milliseconds()),
		TxnSize: uint64(len(ms)), MinCommitTs: start + 1,
	})
	if err != nil {
		p.t.Fatalf("prewrite: %v", err)
	}
	return start
}

// commitAt commits keys of the transaction startTS at commitTS in one
// request per region (the caller orders primary and secondaries).
func (p *portCluster) commitAt(startTS, commitTS uint64, keys ...string) error {
	env := p.cluster.EnvFor(kv.ModeTxn)
	plan := pipeline.Shard(env, commitSplit, pipeline.Retry(env, plans.KvCommit))
	var ks [][]byte
	for _, k := range keys {
		ks = append(ks, []byte(k))
	}
	_, err := plan(context.Background(), &kvrpcpb.CommitRequest{Keys: ks, StartVersion: startTS, CommitVersion: commitTS})
	return err
}

// lockAsync prewrites "k1", "v1", ... as an async-commit transaction (the
// first key primary, listing the others as its secondaries; one request
// per key, so only the primary's carries the list) without committing, and
// returns its start ts.
func (p *portCluster) lockAsync(ttl time.Duration, pairs ...string) uint64 {
	p.t.Helper()
	ms := mutations(pairs...)
	start := p.now()
	env := p.cluster.EnvFor(kv.ModeTxn)
	plan := pipeline.Shard(env, prewriteSplit, pipeline.Retry(env, plans.KvPrewrite))
	var secondaries [][]byte
	for _, m := range ms[1:] {
		secondaries = append(secondaries, m.Key)
	}
	for i, m := range ms {
		req := &kvrpcpb.PrewriteRequest{
			Mutations: []*kvrpcpb.Mutation{m}, PrimaryLock: ms[0].Key, StartVersion: start,
			LockTtl: uint64(ttl.Milliseconds()), TxnSize: uint64(len(ms)), MinCommitTs: start + 1,
			UseAsyncCommit: true, MaxCommitTs: start + 1<<30,
		}
		if i == 0 {
			req.Secondaries = secondaries
		}
		if _, err := plan(context.Background(), req); err != nil {
			p.t.Fatalf("async prewrite: %v", err)
		}
	}
	return start
}
