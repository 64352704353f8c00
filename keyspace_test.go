package tikv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

// Minimal transactional methods for the keyspace tests (the txn client
// comes later): write with prewrite + commit, read with get and scan.
var (
	txnPrewrite = pipeline.Method[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse]{Cmd: transport.CmdPrewrite, Idempotent: true}
	txnCommit   = pipeline.Method[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse]{Cmd: transport.CmdCommit}
	txnGet      = pipeline.Method[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse]{Cmd: transport.CmdGet, Idempotent: true, Read: true}
	txnScan     = pipeline.Method[*kvrpcpb.ScanRequest, *kvrpcpb.ScanResponse]{Cmd: transport.CmdScan, Idempotent: true, Read: true}
)

// txnWrite commits one key in a one-key transaction.
func txnWrite(t *testing.T, c *tikv.Cluster, key, value string) {
	t.Helper()
	ctx := context.Background()
	env := c.EnvFor(kv.ModeTxn)
	start, err := c.Oracle().Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := env.Locator.Locate(ctx, []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	pw, err := pipeline.Retry(env, txnPrewrite)(ctx, r, &kvrpcpb.PrewriteRequest{
		Mutations:    []*kvrpcpb.Mutation{{Op: kvrpcpb.Op_Put, Key: []byte(key), Value: []byte(value)}},
		PrimaryLock:  []byte(key),
		StartVersion: start,
		LockTtl:      3000,
	})
	if err != nil || len(pw.Errors) > 0 {
		t.Fatalf("prewrite %q: %v %v", key, err, pw.GetErrors())
	}
	commit, _ := c.Oracle().Now(ctx)
	cr, err := pipeline.Retry(env, txnCommit)(ctx, r, &kvrpcpb.CommitRequest{Keys: [][]byte{[]byte(key)}, StartVersion: start, CommitVersion: commit})
	if err != nil || cr.Error != nil {
		t.Fatalf("commit %q: %v %v", key, err, cr.GetError())
	}
}

func txnRead(t *testing.T, c *tikv.Cluster, key string) (string, bool) {
	t.Helper()
	ctx := context.Background()
	env := c.EnvFor(kv.ModeTxn)
	ts, _ := c.Oracle().Now(ctx)
	r, err := env.Locator.Locate(ctx, []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := pipeline.Retry(env, txnGet)(ctx, r, &kvrpcpb.GetRequest{Key: []byte(key), Version: ts})
	if err != nil || resp.Error != nil {
		t.Fatalf("get %q: %v %v", key, err, resp.GetError())
	}
	return string(resp.Value), !resp.NotFound
}

// txnScanAll reads every key of the keyspace's transactional key space.
func txnScanAll(t *testing.T, c *tikv.Cluster) []string {
	t.Helper()
	ctx := context.Background()
	env := c.EnvFor(kv.ModeTxn)
	ts, _ := c.Oracle().Now(ctx)
	scan := pipeline.Stream(env, pipeline.Cursor[*kvrpcpb.ScanRequest, *kvrpcpb.ScanResponse]{
		Bounds: func(r *kvrpcpb.ScanRequest) ([]byte, []byte, bool, int) { return r.StartKey, r.EndKey, false, 0 },
		With: func(r *kvrpcpb.ScanRequest, lo, hi []byte, limit int) *kvrpcpb.ScanRequest {
			return &kvrpcpb.ScanRequest{StartKey: lo, EndKey: hi, Limit: uint32(limit), Version: ts}
		},
		Count: func(r *kvrpcpb.ScanResponse) int { return len(r.Pairs) },
		Last:  func(r *kvrpcpb.ScanResponse) []byte { return r.Pairs[len(r.Pairs)-1].Key },
	}, pipeline.Retry(env, txnScan))
	var keys []string
	for p, err := range pipeline.Flatten(scan(ctx, &kvrpcpb.ScanRequest{}), (*kvrpcpb.ScanResponse).GetPairs) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, string(p.Key))
	}
	return keys
}

// TestKeyspacesAreIsolated: two clients of one API v2 cluster in keyspaces
// "a" and "b" write the same keys, raw and transactional; each sees only
// its own, scans of the whole key space included, over gRPC and in-process.
func TestKeyspacesAreIsolated(t *testing.T) {
	for _, transportName := range []string{"grpc", "in-process"} {
		t.Run(transportName, func(t *testing.T) {
			mock := mocktikv.NewCluster(mocktikv.WithStores(2), mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2),
				mocktikv.WithKeyspace("a"), mocktikv.WithKeyspace("b"))
			t.Cleanup(mock.Close)
			connect := func(ks string) *tikv.Cluster {
				var (
					c   *tikv.Cluster
					err error
				)
				if transportName == "grpc" {
					if len(mock.PDAddrs()) == 0 {
						if err := mock.Serve(); err != nil {
							t.Fatal(err)
						}
					}
					c, err = tikv.Connect(context.Background(), mock.PDAddrs(), tikv.WithKeyspace(ks))
				} else {
					c, err = tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithKeyspace(ks))
				}
				if err != nil {
					t.Fatalf("connect to keyspace %s: %v", ks, err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			a, b := connect("a"), connect("b")
			if a.KeyspaceID() == b.KeyspaceID() || a.APIVersion() != kvrpcpb.APIVersion_V2 {
				t.Fatalf("keyspace ids %d and %d, version %s", a.KeyspaceID(), b.KeyspaceID(), a.APIVersion())
			}
			ra, rb := raw.NewClient(a), raw.NewClient(b)
			ctx := context.Background()
			for i := range 20 {
				k := []byte(fmt.Sprintf("k%02d", i))
				if err := ra.Put(ctx, k, []byte("from-a")); err != nil {
					t.Fatal(err)
				}
				if i%2 == 0 {
					if err := rb.Put(ctx, k, []byte("from-b")); err != nil {
						t.Fatal(err)
					}
				}
			}
			if v, err := rb.Get(ctx, []byte("k01")); !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("keyspace b sees a's raw key: %q, %v", v, err)
			}
			if v, err := rb.Get(ctx, []byte("k02")); err != nil || string(v) != "from-b" {
				t.Fatalf("b's own raw key = %q, %v", v, err)
			}
			count := func(c *raw.Client, want string) int {
				n := 0
				for p, err := range c.Scan(ctx, nil, nil, 0) {
					if err != nil {
						t.Fatal(err)
					}
					if string(p.Value) != want {
						t.Fatalf("scan of keyspace returned %q=%q", p.Key, p.Value)
					}
					n++
				}
				return n
			}
			if na, nb := count(ra, "from-a"), count(rb, "from-b"); na != 20 || nb != 10 {
				t.Fatalf("raw scans saw %d and %d keys, want 20 and 10", na, nb)
			}
			// Deleting everything in b leaves a alone.
			if err := rb.DeleteRange(ctx, nil, nil); err != nil {
				t.Fatal(err)
			}
			if na, nb := count(ra, "from-a"), count(rb, "from-b"); na != 20 || nb != 0 {
				t.Fatalf("after b's DeleteRange: %d and %d keys", na, nb)
			}

			// Transactional keys.
			txnWrite(t, a, "t1", "a1")
			txnWrite(t, b, "t2", "b2")
			if _, found := txnRead(t, b, "t1"); found {
				t.Fatal("keyspace b reads a's transactional key")
			}
			if v, found := txnRead(t, a, "t1"); !found || v != "a1" {
				t.Fatalf("a's own txn key = %q, %v", v, found)
			}
			if got := txnScanAll(t, a); !slices.Equal(got, []string{"t1"}) {
				t.Fatalf("a's txn scan = %v", got)
			}
			if got := txnScanAll(t, b); !slices.Equal(got, []string{"t2"}) {
				t.Fatalf("b's txn scan = %v", got)
			}
			// Raw and txn key spaces of one keyspace do not mix either.
			if _, err := ra.Get(ctx, []byte("t1")); !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("raw client reads a txn key: %v", err)
			}
			// Region boundaries the client sees are clamped to the keyspace.
			regions, err := a.RegionCacheFor(kv.ModeRaw).LoadRange(ctx, nil, nil, 0)
			if err != nil || len(regions) == 0 || len(regions[0].StartKey()) != 0 || len(regions[len(regions)-1].EndKey()) != 0 {
				t.Fatalf("keyspace regions: %v, %v", regions, err)
			}
			for _, r := range regions {
				if bytes.HasPrefix(r.StartKey(), []byte{'r'}) && len(r.StartKey()) >= 4 {
					t.Fatalf("region key %q still carries a prefix", r.StartKey())
				}
			}
		})
	}
}

func TestKeyspaceErrors(t *testing.T) {
	mock := mocktikv.NewCluster(mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V2))
	defer mock.Close()
	if _, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithKeyspace("nope")); err == nil {
		t.Fatal("connected to an unknown keyspace")
	}
	if _, err := tikv.Connect(context.Background(), nil, tikv.WithPD(mock.PD()), tikv.WithAPIVersion(kvrpcpb.APIVersion_V1TTL)); !errors.Is(err, kv.ErrInvalidArgument) {
		t.Fatalf("V1TTL client: %v", err)
	}
	var _ pdclient.PD = mock.PD()
}
