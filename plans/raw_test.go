package plans_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.uber.org/goleak"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// capture records the raw batch requests that reach the transport.
type capture struct {
	mu   sync.Mutex
	reqs []transport.Message
}

func (c *capture) mw(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		c.mu.Lock()
		c.reqs = append(c.reqs, req.Msg)
		c.mu.Unlock()
		return next.Send(ctx, req)
	})
}

func newRaw(t *testing.T, mw transport.Middleware, opts ...mocktikv.Option) *plans.Raw {
	t.Helper()
	mock := mocktikv.NewCluster(opts...)
	cluster, err := tikv.Connect(context.Background(), nil,
		tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithMiddleware(mw))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cluster.Close()
		mock.Close()
	})
	return plans.NewRaw(cluster.Env())
}

// TestRawBatchLimits checks client-go's batch limits: at most 512 keys per
// RPC, and at most 16 KiB of keys and values per batch put.
func TestRawBatchLimits(t *testing.T) {
	c := &capture{}
	rp := newRaw(t, c.mw, mocktikv.WithSplitKeys([]byte("k1000")))
	ctx := context.Background()

	put := &kvrpcpb.RawBatchPutRequest{}
	var keys [][]byte
	for i := range 2000 {
		k := fmt.Appendf(nil, "k%04d", i)
		keys = append(keys, k)
		put.Pairs = append(put.Pairs, &kvrpcpb.KvPair{Key: k, Value: bytes.Repeat([]byte{'v'}, 20)})
	}
	// One pair far above the byte cap still goes, alone.
	put.Pairs = append(put.Pairs, &kvrpcpb.KvPair{Key: []byte("k9999"), Value: bytes.Repeat([]byte{'x'}, 20<<10)})
	if _, err := rp.BatchPut(ctx, put); err != nil {
		t.Fatal(err)
	}
	pairs := 0
	for _, m := range c.reqs {
		r := m.(*kvrpcpb.RawBatchPutRequest)
		size := 0
		for _, p := range r.Pairs {
			size += len(p.Key) + len(p.Value)
		}
		if len(r.Pairs) > plans.RawBatchPairCount || (size > plans.RawBatchPutSize && len(r.Pairs) > 1) {
			t.Fatalf("batch put of %d pairs, %d bytes exceeds the limits", len(r.Pairs), size)
		}
		pairs += len(r.Pairs)
	}
	if pairs != 2001 {
		t.Fatalf("%d pairs sent, want 2001", pairs)
	}

	c.reqs = nil
	got, err := rp.BatchGet(ctx, &kvrpcpb.RawBatchGetRequest{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2000 {
		t.Fatalf("BatchGet returned %d pairs", len(got))
	}
	for _, m := range c.reqs {
		if n := len(m.(*kvrpcpb.RawBatchGetRequest).Keys); n > plans.RawBatchPairCount {
			t.Fatalf("batch get of %d keys", n)
		}
	}
	if len(c.reqs) != 4 {
		t.Fatalf("%d batch gets for 2000 keys in 2 regions, want 4", len(c.reqs))
	}
}

// TestRawScanMapsReverseBounds checks that reverse scans reach TiKV with
// start_key as the upper bound, clamped to each region.
func TestRawScanMapsReverseBounds(t *testing.T) {
	c := &capture{}
	rp := newRaw(t, c.mw, mocktikv.WithSplitKeys([]byte("m")))
	ctx := context.Background()
	for _, k := range []string{"a", "n", "x"} {
		if _, err := rp.Put(ctx, &kvrpcpb.RawPutRequest{Key: []byte(k), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	c.reqs = nil
	var got []string
	for p, err := range rp.Scan(ctx, &kvrpcpb.RawScanRequest{StartKey: []byte("z"), EndKey: []byte("b"), Reverse: true}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(p.Key))
	}
	if fmt.Sprint(got) != "[x n]" {
		t.Fatalf("reverse scan = %v", got)
	}
	var bounds []string
	for _, m := range c.reqs {
		r := m.(*kvrpcpb.RawScanRequest)
		bounds = append(bounds, fmt.Sprintf("%s..%s", r.StartKey, r.EndKey))
	}
	if fmt.Sprint(bounds) != "[z..m m..b]" {
		t.Fatalf("pages = %v, want [z..m m..b]", bounds)
	}
}
