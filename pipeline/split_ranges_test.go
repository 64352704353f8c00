package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// batchScanRanges routes RawBatchScan requests by their ranges.
var batchScanRanges = ByKeyRanges(
	func(r *kvrpcpb.RawBatchScanRequest) []*kvrpcpb.KeyRange { return r.Ranges },
	func(r *kvrpcpb.RawBatchScanRequest, pieces []*kvrpcpb.KeyRange) *kvrpcpb.RawBatchScanRequest {
		c := *r
		c.Ranges = pieces
		return &c
	})

// keyRanges builds ranges from "start,end" strings.
func keyRanges(spec ...string) []*kvrpcpb.KeyRange {
	var out []*kvrpcpb.KeyRange
	for _, s := range spec {
		start, end, _ := strings.Cut(s, ",")
		out = append(out, &kvrpcpb.KeyRange{StartKey: []byte(start), EndKey: []byte(end)})
	}
	return out
}

// describePieces renders routed pieces as "region:[s,e)[s,e) ...".
func describePieces(t *testing.T, split Splitter[*kvrpcpb.RawBatchScanRequest], loc pdclient.Locator, req *kvrpcpb.RawBatchScanRequest) ([]string, error) {
	t.Helper()
	var got []string
	for piece, err := range split(context.Background(), loc, req) {
		if err != nil {
			return got, err
		}
		got = append(got, fmt.Sprintf("%d:%s", piece.Region.ID(), rangesString(piece.Req.Ranges)))
	}
	return got, nil
}

func rangesString(rs []*kvrpcpb.KeyRange) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "[%s,%s)", r.StartKey, r.EndKey)
	}
	return b.String()
}

func TestByRangesCutsAndGroupsByRegion(t *testing.T) {
	// Regions: 1 = [,d), 2 = [d,m), 3 = [m,).
	loc := newFakeCluster("d", "m").env().Locator
	for _, tc := range []struct {
		name   string
		ranges []string
		want   []string
	}{
		{"one range in one region", []string{"e,f"}, []string{"2:[e,f)"}},
		{"unsorted ranges come out in key order, grouped per region",
			[]string{"x,", "g,h", "b,e", "a,b"},
			[]string{"1:[a,b)[b,d)", "2:[d,e)[g,h)", "3:[x,)"}},
		{"a range across every region", []string{"c,p"}, []string{"1:[c,d)", "2:[d,m)", "3:[m,p)"}},
		{"empty end runs to the end of the key space", []string{"k,"}, []string{"2:[k,m)", "3:[m,)"}},
		{"the whole key space", []string{","}, []string{"1:[,d)", "2:[d,m)", "3:[m,)"}},
		{"a range ending at a region boundary", []string{"d,m", "a,b"}, []string{"1:[a,b)", "2:[d,m)"}},
		{"empty ranges hold no key and are dropped", []string{"e,e", "a,b"}, []string{"1:[a,b)"}},
		{"no ranges, no pieces", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &kvrpcpb.RawBatchScanRequest{Ranges: keyRanges(tc.ranges...), EachLimit: 7}
			before := rangesString(req.Ranges)
			got, err := describePieces(t, batchScanRanges, loc, req)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("pieces = %v, want %v", got, tc.want)
			}
			if after := rangesString(req.Ranges); after != before {
				t.Errorf("caller's ranges changed from %s to %s", before, after)
			}
		})
	}
}

func TestByRangesRefusesOverlapAndReversedRanges(t *testing.T) {
	loc := newFakeCluster("d", "m").env().Locator
	for _, tc := range []struct {
		name          string
		ranges        []string
		first, second string // the overlap reported; empty for a reversed range
	}{
		{"overlap across regions", []string{"e,p", "a,f"}, "[a,f)", "[e,p)"},
		{"unbounded range followed by another", []string{"b,", "x,y"}, "[b,)", "[x,y)"},
		{"same start", []string{"a,c", "a,b"}, "[a,c)", "[a,b)"},
		{"reversed range", []string{"a,b", "f,e"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := describePieces(t, batchScanRanges, loc, &kvrpcpb.RawBatchScanRequest{Ranges: keyRanges(tc.ranges...)})
			if len(got) != 0 {
				t.Errorf("pieces %v yielded before the refusal", got)
			}
			if !errors.Is(err, kv.ErrInvalidArgument) {
				t.Fatalf("err = %v, want kv.ErrInvalidArgument", err)
			}
			var oe *OverlappingRangesError
			if tc.first == "" {
				if errors.As(err, &oe) {
					t.Fatalf("reversed range reported as an overlap: %v", err)
				}
				return
			}
			if !errors.As(err, &oe) {
				t.Fatalf("err = %v, want *OverlappingRangesError", err)
			}
			first := fmt.Sprintf("[%s,%s)", oe.First[0], oe.First[1])
			second := fmt.Sprintf("[%s,%s)", oe.Second[0], oe.Second[1])
			if first != tc.first || second != tc.second {
				t.Errorf("overlap reported as %s and %s, want %s and %s", first, second, tc.first, tc.second)
			}
		})
	}
}

// TestByRangesClipsOnlyCutRanges: a range that fits in its region reaches
// with as the caller's own value (its other fields intact); one cut at a
// boundary is built by clip from it.
func TestByRangesClipsOnlyCutRanges(t *testing.T) {
	type tagged struct {
		start, end string
		tag        int
	}
	var clipped []string
	split := ByRanges(
		func(rs []*tagged) []*tagged { return rs },
		func(r *tagged) ([]byte, []byte) { return []byte(r.start), []byte(r.end) },
		func(r *tagged, s, e []byte) *tagged {
			clipped = append(clipped, r.start+","+r.end)
			return &tagged{start: string(s), end: string(e), tag: r.tag}
		},
		func(_ []*tagged, pieces []*tagged) []*tagged { return pieces })
	whole := &tagged{start: "e", end: "f", tag: 1}
	cut := &tagged{start: "g", end: "p", tag: 2}
	var got []*tagged
	for piece, err := range split(context.Background(), newFakeCluster("d", "m").env().Locator, []*tagged{cut, whole}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, piece.Req...)
	}
	if len(got) != 3 || got[0] != whole {
		t.Fatalf("pieces %v: want the uncut range itself first", got)
	}
	if *got[1] != (tagged{"g", "m", 2}) || *got[2] != (tagged{"m", "p", 2}) {
		t.Errorf("cut pieces %v %v, want [g,m) and [m,p) tagged 2", *got[1], *got[2])
	}
	if !slices.Equal(clipped, []string{"g,p", "g,p"}) {
		t.Errorf("clip called for %v, want only the range crossing a boundary", clipped)
	}
}

// TestByRangesStopsWhenConsumerStops: breaking out of the sequence locates
// no further region.
func TestByRangesStopsWhenConsumerStops(t *testing.T) {
	loc := &countingLocator{Locator: newFakeCluster("d", "m").env().Locator}
	for range batchScanRanges(context.Background(), loc, &kvrpcpb.RawBatchScanRequest{Ranges: keyRanges("a,b", "e,f", "x,y")}) {
		break
	}
	// The first piece is complete, and yielded, as soon as a range outside
	// its region comes up: that range's region is never looked up.
	if n := loc.locates(); n != 1 {
		t.Errorf("%d Locate calls, want 1", n)
	}
}

type countingLocator struct {
	pdclient.Locator
	mu sync.Mutex
	n  int
}

func (l *countingLocator) Locate(ctx context.Context, key []byte) (*pdclient.Region, error) {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
	return l.Locator.Locate(ctx, key)
}

func (l *countingLocator) locates() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// TestByRangesInShard: Shard sends one request per region, answers in key
// order; a piece whose routing went stale is split again by ByRanges and
// only it is sent again.
func TestByRangesInShard(t *testing.T) {
	env := newFakeCluster("d", "m").env()
	var mu sync.Mutex
	var sent []string
	stale := true
	step := func(_ context.Context, r *pdclient.Region, req *kvrpcpb.RawBatchScanRequest) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		desc := fmt.Sprintf("%d:%s", r.ID(), rangesString(req.Ranges))
		sent = append(sent, desc)
		if r.ID() == 2 && stale {
			stale = false
			return "", &kv.RegionError{RegionID: r.ID(), Cause: errors.New("stale routing")}
		}
		return desc, nil
	}
	parts, err := Shard(env, batchScanRanges, step)(context.Background(),
		&kvrpcpb.RawBatchScanRequest{Ranges: keyRanges("x,", "b,f", "g,h")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range parts {
		got = append(got, p.Resp)
	}
	if want := []string{"1:[b,d)", "2:[d,f)[g,h)", "3:[x,)"}; !slices.Equal(got, want) {
		t.Errorf("parts %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(strings.Join(sent, " "), "2:[d,f)[g,h)"); n != 2 || len(sent) != 4 {
		t.Errorf("sent %v: want the stale piece twice and the others once", sent)
	}
}

// TestByRangesRefusalIsNotRetried: Shard returns the splitter's refusal at
// once, without the PD backoff it uses for a routing failure.
func TestByRangesRefusalIsNotRetried(t *testing.T) {
	env := newFakeCluster("d").env()
	calls := 0
	step := func(context.Context, *pdclient.Region, *kvrpcpb.RawBatchScanRequest) (int, error) {
		calls++
		return 0, nil
	}
	_, err := Shard(env, batchScanRanges, step)(context.Background(),
		&kvrpcpb.RawBatchScanRequest{Ranges: keyRanges("a,c", "b,e")})
	var oe *OverlappingRangesError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v, want *OverlappingRangesError", err)
	}
	var be *kv.BackoffExhaustedError
	if errors.As(err, &be) || calls != 0 {
		t.Errorf("err = %v after %d sends: want the refusal itself, nothing sent", err, calls)
	}
}
