package twopc_test

import (
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn/internal/twopc"
)

// Small thresholds, as client-go's test sets them: 500 mutations in a
// region trigger a pre-split into pieces of 5000 bytes. puts' mutations
// are 18 bytes, so 278 of them fill a piece.
var preSplitOpts = twopc.Options{PreSplitKeys: 500, PreSplitSize: 5000}

// regionOf returns the id of the mock's region holding the user key.
func regionOf(f *fixture, key string) uint64 {
	r, _ := f.mock.RegionByKey(codec.EncodeBytes(nil, []byte(key)))
	return r.GetId()
}

// prewrites returns the prewrite requests among es.
func prewrites(es []event) []*kvrpcpb.PrewriteRequest {
	var out []*kvrpcpb.PrewriteRequest
	for _, e := range es {
		if pw, ok := e.msg.(*kvrpcpb.PrewriteRequest); ok {
			out = append(out, pw)
		}
	}
	return out
}

// A transaction with more mutations in one region than the detect
// threshold gets that region split before its prewrite, at every
// PreSplitSize bytes of mutations; the prewrite then routes by the new
// regions at once (no EpochNotMatch round trip) and the commit succeeds.
// Ports client-go integration_tests/ticlient_test.go TestSplitRegionIn2PC
// (its optimistic half; the pessimistic half belongs to the pessimistic
// committer). Run in process and over gRPC.
func TestSplitRegionIn2PC(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "inprocess", true: "grpc"}[grpc], func(t *testing.T) {
			testSplitRegionIn2PC(t, grpc)
		})
	}
}

func testSplitRegionIn2PC(t *testing.T, grpc bool) {
	f := newFixture(t, setup{opts: preSplitOpts, grpc: grpc})
	const n = 600
	if regionOf(f, keyN(0)) != regionOf(f, keyN(n-1)) {
		t.Fatal("keys span regions before the test")
	}
	before := len(f.mock.Regions())
	f.log.take()
	d, err := f.commit(puts(n)...)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if d.PreSplitErr != nil || d.PreSplitRegions != 1 {
		t.Fatalf("pre-split: regions %d, err %v", d.PreSplitRegions, d.PreSplitErr)
	}
	if got := len(f.mock.Regions()); got != before+2 {
		t.Fatalf("regions after = %d, want %d", got, before+2)
	}
	// Split keys at the 278th and 556th mutation (index 277 and 555).
	if a, b, c := regionOf(f, keyN(276)), regionOf(f, keyN(277)), regionOf(f, keyN(555)); a == b || b == c {
		t.Fatalf("split points: regions %d %d %d", a, b, c)
	}
	if regionOf(f, keyN(0)) == regionOf(f, keyN(n-1)) {
		t.Fatal("first and last key still share a region")
	}
	es := f.log.take()
	cmds := names(es)
	lastSplit := slices.Index(cmds, transport.CmdSplitRegion.String())
	firstPrewrite := slices.Index(cmds, transport.CmdPrewrite.String())
	if lastSplit < 0 || firstPrewrite < lastSplit {
		t.Fatalf("split at %d, first prewrite at %d: %v", lastSplit, firstPrewrite, cmds[:min(len(cmds), 5)])
	}
	if got := apis(es, transport.CmdSplitRegion); !slices.Equal(got, []string{"PreSplit"}) {
		t.Fatalf("split attempts %v", got)
	}
	sr := es[lastSplit].msg.(*kvrpcpb.SplitRegionRequest)
	if sr.IsRawKv || len(sr.SplitKeys) != 2 || string(sr.SplitKeys[0]) != keyN(277) || string(sr.SplitKeys[1]) != keyN(555) {
		t.Fatalf("split request keys %q raw %v", sr.SplitKeys, sr.IsRawKv)
	}
	for _, pw := range prewrites(es) {
		if pw.Context.GetIsRetryRequest() {
			t.Fatalf("a prewrite was re-routed after the pre-split: %v", pw.Context)
		}
	}
	if d.PrewriteRegions != 3 {
		t.Fatalf("prewrite regions = %d, want 3", d.PrewriteRegions)
	}
	f.settle()
	for i := range n {
		f.mustGet(keyN(i), valN(i))
	}
}

// Only the region over the threshold is split: the other region of the
// same transaction is left alone.
func TestPreSplitOnlyLargeRegion(t *testing.T) {
	f := newFixture(t, setup{opts: preSplitOpts, splits: []string{keyN(300)}})
	small, large := regionOf(f, keyN(0)), regionOf(f, keyN(300))
	before := len(f.mock.Regions())
	f.log.take()
	d, err := f.commit(puts(900)...) // 300 in the first region, 600 in the second
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if d.PreSplitErr != nil || d.PreSplitRegions != 1 {
		t.Fatalf("pre-split: regions %d, err %v", d.PreSplitRegions, d.PreSplitErr)
	}
	var splitRegions []uint64
	for _, e := range f.log.take() {
		if e.what == transport.CmdSplitRegion.String() {
			splitRegions = append(splitRegions, e.region)
		}
	}
	if !slices.Equal(splitRegions, []uint64{large}) {
		t.Fatalf("split sent to regions %v, want [%d] (small region %d)", splitRegions, large, small)
	}
	if got := len(f.mock.Regions()); got != before+2 {
		t.Fatalf("regions after = %d, want %d", got, before+2)
	}
	if regionOf(f, keyN(0)) != small || regionOf(f, keyN(299)) != small {
		t.Fatal("the small region changed")
	}
	f.settle()
	for _, i := range []int{0, 299, 300, 577, 578, 899} {
		f.mustGet(keyN(i), valN(i))
	}
}

// A pre-split that TiKV refuses does not fail the commit: the failure is
// reported in the details and the prewrite goes on with the old layout
// (client-go's preSplitRegion logs the error and returns false).
func TestPreSplitFailureStillCommits(t *testing.T) {
	f := newFixture(t, setup{opts: preSplitOpts})
	f.mock.Inject(mocktikv.Fault{Cmd: transport.CmdSplitRegion, Steps: []mocktikv.Step{
		mocktikv.Always(mocktikv.KeyError(&kvrpcpb.KeyError{Abort: "split refused"})),
	}})
	before := len(f.mock.Regions())
	f.log.take()
	const n = 600
	d, err := f.commit(puts(n)...)
	if err != nil {
		t.Fatalf("commit: %v", err)
	}
	if d.PreSplitErr == nil || d.PreSplitRegions != 0 {
		t.Fatalf("pre-split: regions %d, err %v; want a failure", d.PreSplitRegions, d.PreSplitErr)
	}
	if f.log.count(transport.CmdSplitRegion.String()) == 0 {
		t.Fatal("no SplitRegion was sent")
	}
	if got := len(f.mock.Regions()); got != before {
		t.Fatalf("regions after = %d, want %d", got, before)
	}
	if d.PrewriteRegions != 1 {
		t.Fatalf("prewrite regions = %d, want 1", d.PrewriteRegions)
	}
	f.settle()
	for i := range n {
		f.mustGet(keyN(i), valN(i))
	}
}

// Below the detect threshold, or with the pre-split turned off, or with
// enough mutations whose bytes stay under one piece, no SplitRegion is
// sent.
func TestNoPreSplitBelowThreshold(t *testing.T) {
	cases := []struct {
		name string
		opts twopc.Options
		n    int
	}{
		{"fewer keys than PreSplitKeys", preSplitOpts, 499},
		{"pre-split off", twopc.Options{PreSplitKeys: -1, PreSplitSize: 5000}, 600},
		{"bytes under PreSplitSize", twopc.Options{PreSplitKeys: 500, PreSplitSize: 600 * 18}, 599},
		{"defaults", twopc.Options{}, 600},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, setup{opts: tc.opts})
			before := len(f.mock.Regions())
			f.log.take()
			d, err := f.commit(puts(tc.n)...)
			if err != nil {
				t.Fatalf("commit: %v", err)
			}
			if got := f.log.count(transport.CmdSplitRegion.String()); got != 0 {
				t.Fatalf("%d SplitRegion sent", got)
			}
			if f.log.count(transport.CmdPrewrite.String()) == 0 {
				t.Fatal("no prewrite recorded")
			}
			if d.PreSplitRegions != 0 || d.PreSplitErr != nil || len(f.mock.Regions()) != before {
				t.Fatalf("pre-split: regions %d, err %v, cluster regions %d", d.PreSplitRegions, d.PreSplitErr, len(f.mock.Regions()))
			}
			f.settle()
			f.mustGet(keyN(tc.n-1), valN(tc.n-1))
		})
	}
}
