package plans_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.uber.org/goleak"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
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
	return plans.NewRaw(cluster.EnvFor(kv.ModeRaw))
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

// TestRawBatchPutCarriesTTLs: per-pair TTLs stay with their pairs through
// region grouping and batch cutting.
func TestRawBatchPutCarriesTTLs(t *testing.T) {
	c := &capture{}
	rp := newRaw(t, c.mw, mocktikv.WithSplitKeys([]byte("k0700")), mocktikv.WithAPIVersion(kvrpcpb.APIVersion_V1TTL))
	put := &kvrpcpb.RawBatchPutRequest{}
	want := map[string]uint64{}
	for i := range 1500 {
		// Keys in descending order, so that grouping must reorder them.
		k := fmt.Appendf(nil, "k%04d", 1499-i)
		put.Pairs = append(put.Pairs, &kvrpcpb.KvPair{Key: k, Value: []byte("v")})
		put.Ttls = append(put.Ttls, uint64(i%7))
		want[string(k)] = uint64(i % 7)
	}
	if _, err := rp.BatchPut(context.Background(), put); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, m := range c.reqs {
		r := m.(*kvrpcpb.RawBatchPutRequest)
		if len(r.Ttls) != len(r.Pairs) {
			t.Fatalf("batch of %d pairs with %d ttls", len(r.Pairs), len(r.Ttls))
		}
		for i, p := range r.Pairs {
			if r.Ttls[i] != want[string(p.Key)] {
				t.Fatalf("%s sent with ttl %d, want %d", p.Key, r.Ttls[i], want[string(p.Key)])
			}
			seen++
		}
	}
	if seen != 1500 || len(c.reqs) < 4 {
		t.Fatalf("%d pairs in %d batches", seen, len(c.reqs))
	}
	if len(put.Ttls) != 1500 || string(put.Pairs[0].Key) != "k1499" {
		t.Fatal("the caller's request was modified")
	}
}

// TestRawScanPageSizes: a limited scan asks each region for everything it
// still needs (up to RawScanMaxPage), as client-go does; an unlimited one
// pages DefaultPageSize pairs at a time.
func TestRawScanPageSizes(t *testing.T) {
	c := &capture{}
	rp := newRaw(t, c.mw, mocktikv.WithSplitKeys([]byte("k0600")))
	ctx := context.Background()
	put := &kvrpcpb.RawBatchPutRequest{}
	for i := range 1000 {
		put.Pairs = append(put.Pairs, &kvrpcpb.KvPair{Key: fmt.Appendf(nil, "k%04d", i), Value: []byte("v")})
	}
	if _, err := rp.BatchPut(ctx, put); err != nil {
		t.Fatal(err)
	}
	count := func(req *kvrpcpb.RawScanRequest) (int, []uint32) {
		c.reqs = nil
		n := 0
		for _, err := range rp.Scan(ctx, req) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		var limits []uint32
		for _, m := range c.reqs {
			limits = append(limits, m.(*kvrpcpb.RawScanRequest).Limit)
		}
		return n, limits
	}
	if n, limits := count(&kvrpcpb.RawScanRequest{Limit: 900}); n != 900 || fmt.Sprint(limits) != "[900 300]" {
		t.Fatalf("limited scan: %d pairs, page limits %v; want 900 in [900 300]", n, limits)
	}
	if n, limits := count(&kvrpcpb.RawScanRequest{}); n != 1000 || fmt.Sprint(limits) != "[256 256 256 256 256]" {
		t.Fatalf("unlimited scan: %d pairs, page limits %v", n, limits)
	}
}

// TestRawChecksumMergesRegions: one request per region, each clamped to
// its region, merged by XOR and sums; the same result as TiKV would give
// for the range in one region.
func TestRawChecksumMergesRegions(t *testing.T) {
	c := &capture{}
	rp := newRaw(t, c.mw, mocktikv.WithSplitKeys([]byte("b"), []byte("c")))
	ctx := context.Background()
	put := &kvrpcpb.RawBatchPutRequest{}
	want := &kvrpcpb.RawChecksumResponse{}
	table := crc64.MakeTable(crc64.ECMA)
	for _, k := range []string{"a1", "a2", "b1", "c1", "c2", "c3"} {
		put.Pairs = append(put.Pairs, &kvrpcpb.KvPair{Key: []byte(k), Value: []byte("v" + k)})
		if k >= "a2" {
			want.Checksum ^= crc64.Update(crc64.Update(0, table, []byte(k)), table, []byte("v"+k))
			want.TotalKvs++
			want.TotalBytes += uint64(2*len(k) + 1)
		}
	}
	if _, err := rp.BatchPut(ctx, put); err != nil {
		t.Fatal(err)
	}
	c.reqs = nil
	got, err := rp.Checksum(ctx, &kvrpcpb.RawChecksumRequest{Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("a2")}}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Checksum != want.Checksum || got.TotalKvs != want.TotalKvs || got.TotalBytes != want.TotalBytes {
		t.Fatalf("checksum = %v, want %v", got, want)
	}
	var ranges []string
	for _, m := range c.reqs {
		r := m.(*kvrpcpb.RawChecksumRequest).Ranges[0]
		ranges = append(ranges, fmt.Sprintf("%s..%s", r.StartKey, r.EndKey))
	}
	slices.Sort(ranges) // regions answer in parallel
	if fmt.Sprint(ranges) != "[a2..b b..c c..]" {
		t.Fatalf("per-region ranges %v", ranges)
	}
}

// TestRawWritesAreNotIdempotent: the descriptors tell Retry to resend
// only reads after an attempt whose outcome is unknown; a raw write resent
// then could undo another client's acknowledged write (issue #8).
func TestRawWritesAreNotIdempotent(t *testing.T) {
	for name, idem := range map[string]bool{
		"RawPut": plans.RawPut.Idempotent, "RawBatchPut": plans.RawBatchPut.Idempotent,
		"RawDelete": plans.RawDelete.Idempotent, "RawBatchDelete": plans.RawBatchDelete.Idempotent,
		"RawDeleteRange": plans.RawDeleteRange.Idempotent, "RawCompareAndSwap": plans.RawCompareAndSwap.Idempotent,
	} {
		if idem {
			t.Errorf("%s is marked idempotent", name)
		}
	}
	for name, idem := range map[string]bool{
		"RawGet": plans.RawGet.Idempotent, "RawBatchGet": plans.RawBatchGet.Idempotent,
		"RawScan": plans.RawScan.Idempotent, "RawGetKeyTTL": plans.RawGetKeyTTL.Idempotent, "RawChecksum": plans.RawChecksum.Idempotent,
	} {
		if !idem {
			t.Errorf("%s is not marked idempotent", name)
		}
	}
}

// TestRawPlansRejectBadRequests: the compiled plans are public API; a
// request they cannot send fails with kv.ErrInvalidArgument before anything
// is sent, never with a panic (issue #8, bug 13: BatchPut indexed Ttls
// without checking its length).
func TestRawPlansRejectBadRequests(t *testing.T) {
	var sent atomic.Int64
	count := func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			sent.Add(1)
			return next.Send(ctx, req)
		})
	}
	p := newRaw(t, count)
	ctx := context.Background()
	pair := &kvrpcpb.KvPair{Key: []byte("k"), Value: []byte("v")}
	cases := map[string]func() error{
		"Get nil":       func() error { _, err := p.Get(ctx, nil); return err },
		"Get empty key": func() error { _, err := p.Get(ctx, &kvrpcpb.RawGetRequest{}); return err },
		"BatchGet empty key": func() error {
			_, err := p.BatchGet(ctx, &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte("a"), nil}})
			return err
		},
		"Put empty key": func() error { _, err := p.Put(ctx, &kvrpcpb.RawPutRequest{Value: []byte("v")}); return err },
		"BatchPut short ttls": func() error {
			_, err := p.BatchPut(ctx, &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{pair, pair}, Ttls: []uint64{1}})
			return err
		},
		"BatchPut nil pair": func() error {
			_, err := p.BatchPut(ctx, &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{nil}})
			return err
		},
		"Delete nil": func() error { _, err := p.Delete(ctx, nil); return err },
		"BatchDelete empty": func() error {
			_, err := p.BatchDelete(ctx, &kvrpcpb.RawBatchDeleteRequest{Keys: [][]byte{nil}})
			return err
		},
		"DeleteRange inverted": func() error {
			_, err := p.DeleteRange(ctx, &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("b"), EndKey: []byte("a")})
			return err
		},
		"GetKeyTTL empty key": func() error { _, err := p.GetKeyTTL(ctx, &kvrpcpb.RawGetKeyTTLRequest{}); return err },
		"CAS empty key":       func() error { _, err := p.CompareAndSwap(ctx, &kvrpcpb.RawCASRequest{}); return err },
		"Checksum no range":   func() error { _, err := p.Checksum(ctx, &kvrpcpb.RawChecksumRequest{}); return err },
		"Scan inverted": func() error {
			for _, err := range p.Scan(ctx, &kvrpcpb.RawScanRequest{StartKey: []byte("b"), EndKey: []byte("a")}) {
				return err
			}
			return nil
		},
	}
	for name, call := range cases {
		if err := call(); !errors.Is(err, kv.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want kv.ErrInvalidArgument", name, err)
		}
	}
	if n := sent.Load(); n != 0 {
		t.Fatalf("%d requests were sent for invalid input", n)
	}
}
