package txn_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
)

// TestPortIsRetryRequestFlagWithRegionError ports client-go
// integration_tests/prewrite_test.go TestIsRetryRequestFlagWithRegionError
// (scenario S37) through the public Txn: a two-key transaction (a, z) in
// one region; its first prewrite is applied but the response is lost; the
// resend is held and the region split at h meanwhile, so it meets
// EpochNotMatch and is split again by region. Four prewrites reach TiKV,
// flagged as retries all but the first, and the commit succeeds.
func TestPortIsRetryRequestFlagWithRegionError(t *testing.T) {
	p := newPortCluster(t, false, nil)
	gate := mocktikv.NewGate()
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdPrewrite, Steps: []mocktikv.Step{
		mocktikv.Times(1, mocktikv.LoseResponse(status.Error(codes.Unavailable, "response lost"))),
		mocktikv.Times(1, mocktikv.Block(gate)),
	}})
	var mu sync.Mutex
	var retries []bool
	p.mock.OnRequest(func(_ uint64, cmd transport.Cmd, req transport.Message) {
		if cmd == transport.CmdPrewrite {
			mu.Lock()
			retries = append(retries, req.(*kvrpcpb.PrewriteRequest).GetContext().GetIsRetryRequest())
			mu.Unlock()
		}
	})
	tx := p.begin()
	_ = tx.Set([]byte("a"), []byte("a1"))
	_ = tx.Set([]byte("z"), []byte("z1"))
	done := make(chan error, 1)
	go func() { done <- tx.Commit(context.Background()) }()
	<-gate.Arrived()
	if _, err := p.mock.SplitTxn([]byte("h")); err != nil {
		t.Fatal(err)
	}
	gate.Open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(retries, []bool{false, true, true, true}) {
		t.Fatalf("prewrite is_retry_request flags %v, want [false true true true]", retries)
	}
	p.mustGet("a", "a1")
	p.mustGet("z", "z1")
}

// TestPortSplitBatchGet ports client-go integration_tests/split_test.go
// TestSplitBatchGet and the lock variant of TestBatchGetUsingAsyncAPI
// (scenario S38a): after a split the client's region cache does not know,
// a transaction's BatchGet of a, b, c regroups the keys by the new regions
// and returns every value, the committed one for a key under another
// transaction's live lock.
func TestPortSplitBatchGet(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := shortCtx(t)
	p.commit("a", "a0", "b", "b0", "c", "c0")
	p.mustGet("a", "a0") // the client caches the one region
	if _, err := p.mock.SplitTxn([]byte("b")); err != nil {
		t.Fatal(err)
	}
	p.lockMin(time.Minute, "a", "a1")
	vals, err := p.begin().BatchGet(ctx, [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	if err != nil || string(vals[0]) != "a0" || string(vals[1]) != "b0" || string(vals[2]) != "c0" {
		t.Fatalf("batch get after a split = %q, %v", vals, err)
	}
}

// TestPortServerIsBusyRetried ports client-go
// integration_tests/store_test.go TestFailBusyServerKV (scenario
// S38c): one ServerIsBusy answer to a transaction's Get is retried
// transparently.
func TestPortServerIsBusyRetried(t *testing.T) {
	p := newPortCluster(t, false, nil)
	busy := &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "test"}}
	p.commit("k", "v")
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.RegionError(busy))}})
	p.log.take()
	p.mustGet("k", "v")
	if gets := countCmd(p.log.take(), transport.CmdGet); gets != 2 {
		t.Fatalf("%d Get attempts, want 2 (the busy one and its retry)", gets)
	}
}

// TestPortOverGRPC runs ported scenarios over gRPC on loopback through the
// real PD client and transport: S09's leftover locks met by every kind of
// read, and S04's non-overlapping concurrent writers.
func TestPortOverGRPC(t *testing.T) {
	p := newPortCluster(t, true, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("b"), []byte("d"), []byte("m"))})
	alphabetLocks(p)
	ctx := shortCtx(t)
	tx := p.begin()
	for ch := byte('a'); ch <= 'z'; ch++ {
		if v, err := tx.Get(ctx, []byte{ch}); err != nil || string(v) != string(ch) {
			t.Fatalf("%c = %q, %v", ch, v, err)
		}
	}
	scanAlphabet(t, tx.Iter(ctx, []byte("a"), nil), false)

	var mu sync.Mutex
	var writes []span
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 5 {
				w := setWithRetry(t, p, "counter", "v")
				mu.Lock()
				writes = append(writes, w)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortFunc(writes, func(a, b span) int { return int64Cmp(a.start, b.start) })
	for i := range len(writes) - 1 {
		if writes[i].commit >= writes[i+1].start {
			t.Fatalf("writes overlap: %v", writes)
		}
	}
}

// TestPortStaleEpochWithPDDown ports client-go integration_tests/split_test.go
// TestStaleEpoch (scenario S38b): after a split the client's cache does
// not know, with PD refusing every region lookup, Get of a key on each side
// of the split still succeeds: the EpochNotMatch answer carries the new
// regions, and the client routes by them without asking PD. In-process and
// over gRPC.
func TestPortStaleEpochWithPDDown(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			p.commit("a", "a0", "c", "c0")
			ctx := shortCtx(t)
			p.mustGet("a", "a0") // the client caches the one region
			if _, err := p.mock.SplitTxn([]byte("b")); err != nil {
				t.Fatal(err)
			}
			down := status.Error(codes.Unavailable, "test: PD region service down")
			for _, m := range []string{"QueryRegion", "BatchScanRegions"} {
				p.mock.FailPD(m, down, 1<<20)
			}
			t.Cleanup(p.mock.ClearPDFaults)
			tx := p.begin() // TSO still answers; only region lookups fail
			p.log.take()
			for _, k := range []string{"a", "c"} {
				if v, err := tx.Get(ctx, []byte(k)); err != nil || string(v) != k+"0" {
					t.Fatalf("Get(%s) with PD down = %q, %v", k, v, err)
				}
			}
			if gets := countCmd(p.log.take(), transport.CmdGet); gets < 2 || gets > 3 {
				t.Fatalf("%d Get attempts, want 2 or 3 (one stale-epoch answer at most)", gets)
			}
		})
	}
}
