package gc_test

import (
	"context"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// cluster is a connection to a mocktikv, in-process or over gRPC.
type cluster struct {
	t    *testing.T
	mock *mocktikv.Cluster
	c    *tikv.Cluster
}

func connect(t *testing.T, grpc bool, splits ...string) *cluster {
	t.Helper()
	var mock *mocktikv.Cluster
	var c *tikv.Cluster
	var err error
	if grpc {
		mock = mocktikv.Start(t)
		c, err = tikv.Connect(t.Context(), mock.PDAddrs())
	} else {
		mock = mocktikv.NewCluster()
		c, err = tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
	}
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		if !grpc {
			mock.Close()
		}
	})
	for _, s := range splits {
		if _, err := mock.SplitTxn([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	return &cluster{t: t, mock: mock, c: c}
}

func (c *cluster) env() *pipeline.Env { return c.c.EnvFor(kv.ModeTxn) }

func (c *cluster) now() uint64 {
	c.t.Helper()
	ts, err := c.c.Oracle().Now(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	return ts
}

var prewriteSplit = pipeline.ByKeys((*kvrpcpb.PrewriteRequest).GetMutations, (*kvrpcpb.Mutation).GetKey,
	func(r *kvrpcpb.PrewriteRequest, ms []*kvrpcpb.Mutation) *kvrpcpb.PrewriteRequest {
		c := *r
		c.Mutations = ms
		return &c
	}, pipeline.Limit[*kvrpcpb.Mutation]{Keys: 256})

var commitSplit = pipeline.ByKeys((*kvrpcpb.CommitRequest).GetKeys, func(k []byte) []byte { return k },
	func(r *kvrpcpb.CommitRequest, keys [][]byte) *kvrpcpb.CommitRequest {
		c := *r
		c.Keys = keys
		return &c
	}, pipeline.Limit[[]byte]{Keys: 256})

// lock prewrites "k1", "v1", ... ("" deletes) with the first key as
// primary and a TTL of an hour, and returns the start ts.
func (c *cluster) lock(pairs ...string) (uint64, [][]byte) {
	c.t.Helper()
	var ms []*kvrpcpb.Mutation
	var keys [][]byte
	for i := 0; i+1 < len(pairs); i += 2 {
		m := &kvrpcpb.Mutation{Op: kvrpcpb.Op_Put, Key: []byte(pairs[i]), Value: []byte(pairs[i+1])}
		if pairs[i+1] == "" {
			m.Op, m.Value = kvrpcpb.Op_Del, nil
		}
		ms = append(ms, m)
		keys = append(keys, m.Key)
	}
	start := c.now()
	plan := pipeline.Shard(c.env(), prewriteSplit, pipeline.Retry(c.env(), plans.KvPrewrite))
	if _, err := plan(context.Background(), &kvrpcpb.PrewriteRequest{Mutations: ms, PrimaryLock: ms[0].Key,
		StartVersion: start, LockTtl: uint64(time.Hour.Milliseconds()), TxnSize: uint64(len(ms))}); err != nil {
		c.t.Fatalf("prewrite: %v", err)
	}
	return start, keys
}

// commit commits keys of the transaction start at a fresh ts.
func (c *cluster) commit(start uint64, keys ...[]byte) uint64 {
	c.t.Helper()
	ts := c.now()
	plan := pipeline.Shard(c.env(), commitSplit, pipeline.Retry(c.env(), plans.KvCommit))
	if _, err := plan(context.Background(), &kvrpcpb.CommitRequest{Keys: keys, StartVersion: start, CommitVersion: ts}); err != nil {
		c.t.Fatalf("commit: %v", err)
	}
	return ts
}

// write commits the pairs in one transaction and returns the commit ts.
func (c *cluster) write(pairs ...string) uint64 {
	c.t.Helper()
	start, keys := c.lock(pairs...)
	ts := c.commit(start, keys[:1]...)
	if len(keys) > 1 {
		c.commit(start, keys[1:]...)
	}
	return ts
}

// mvcc reads key's MVCC versions through TiKV's debug RPC MvccGetByKey.
func (c *cluster) mvcc(key string) *kvrpcpb.MvccInfo {
	c.t.Helper()
	plan := pipeline.Single(pipeline.Shard(c.env(), pipeline.ByKey((*kvrpcpb.MvccGetByKeyRequest).GetKey),
		pipeline.Retry(c.env(), plans.MvccGetByKey)))
	resp, err := plan(context.Background(), &kvrpcpb.MvccGetByKeyRequest{Key: []byte(key)})
	if err != nil {
		c.t.Fatalf("mvcc %q: %v", key, err)
	}
	return resp.GetInfo()
}
