package pipeline

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

var testScan = Method[*kvrpcpb.RawScanRequest, *kvrpcpb.RawScanResponse]{
	Cmd: transport.CmdRawScan, Idempotent: true, Read: true,
}

// testScanCursor maps the cursor onto RawScan as TiKV reads it: reverse
// scans take start_key as the upper bound.
var testScanCursor = Cursor[*kvrpcpb.RawScanRequest, *kvrpcpb.RawScanResponse]{
	Bounds: func(r *kvrpcpb.RawScanRequest) ([]byte, []byte, bool, int) {
		if r.Reverse {
			return r.EndKey, r.StartKey, true, int(r.Limit)
		}
		return r.StartKey, r.EndKey, false, int(r.Limit)
	},
	With: func(r *kvrpcpb.RawScanRequest, lower, upper []byte, limit int) *kvrpcpb.RawScanRequest {
		c := *r
		if c.Reverse {
			c.StartKey, c.EndKey = upper, lower
		} else {
			c.StartKey, c.EndKey = lower, upper
		}
		c.Limit = uint32(limit)
		return &c
	},
	Count: func(r *kvrpcpb.RawScanResponse) int { return len(r.Kvs) },
	Last:  func(r *kvrpcpb.RawScanResponse) []byte { return r.Kvs[len(r.Kvs)-1].Key },
}

func scanAll(t *testing.T, env *Env, req *kvrpcpb.RawScanRequest, stopAfter int) []string {
	t.Helper()
	stream := Stream(env, testScanCursor, Retry(env, testScan), PageSize(3))
	var got []string
	for p, err := range Flatten(stream(context.Background(), req), (*kvrpcpb.RawScanResponse).GetKvs) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(p.Key))
		if stopAfter > 0 && len(got) == stopAfter {
			break
		}
	}
	return got
}

func TestStreamPagesAcrossRegions(t *testing.T) {
	c := newFakeCluster("e", "j")
	var all []string
	for ch := 'a'; ch <= 'o'; ch++ {
		c.truth.KV().Put(string(ch), "v")
		all = append(all, string(ch))
	}
	rev := slices.Clone(all)
	slices.Reverse(rev)
	for _, tc := range []struct {
		name string
		req  *kvrpcpb.RawScanRequest
		want []string
	}{
		{"forward all", &kvrpcpb.RawScanRequest{}, all},
		{"forward bounded", &kvrpcpb.RawScanRequest{StartKey: []byte("c"), EndKey: []byte("l")}, all[2:11]},
		{"forward limit", &kvrpcpb.RawScanRequest{StartKey: []byte("b"), Limit: 7}, all[1:8]},
		{"reverse all", &kvrpcpb.RawScanRequest{Reverse: true}, rev},
		{"reverse bounded", &kvrpcpb.RawScanRequest{Reverse: true, StartKey: []byte("l"), EndKey: []byte("c")}, rev[4:13]},
		{"reverse limit", &kvrpcpb.RawScanRequest{Reverse: true, StartKey: []byte("k"), Limit: 4}, []string{"j", "i", "h", "g"}},
		{"empty range", &kvrpcpb.RawScanRequest{StartKey: []byte("f"), EndKey: []byte("f")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scanAll(t, c.env(), tc.req, 0); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	// Every page went to one region, within its bounds.
	for _, s := range c.rec.Requests() {
		m := s.Msg.(*kvrpcpb.RawScanRequest)
		if m.Limit == 0 || m.Limit > 3 {
			t.Fatalf("page limit %d, want 1..3", m.Limit)
		}
	}
}

func TestStreamBreakStopsRequests(t *testing.T) {
	c := newFakeCluster("e", "j")
	for ch := 'a'; ch <= 'o'; ch++ {
		c.truth.KV().Put(string(ch), "v")
	}
	got := scanAll(t, c.env(), &kvrpcpb.RawScanRequest{}, 2)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("got %v", got)
	}
	if n := len(c.rec.Requests()); n != 1 {
		t.Fatalf("breaking after the first page sent %d requests, want 1", n)
	}
}

func TestFlattenStopsAtError(t *testing.T) {
	c := newFakeCluster()
	c.tikv.Always(nil, pipelinetest.NotSent("wire"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stream := Stream(c.env(), testScanCursor, Retry(c.env(), testScan))
	n := 0
	for _, err := range Flatten(stream(ctx, &kvrpcpb.RawScanRequest{}), (*kvrpcpb.RawScanResponse).GetKvs) {
		n++
		if err == nil {
			t.Fatal("want an error")
		}
	}
	if n != 1 {
		t.Fatalf("sequence yielded %d times after an error, want 1", n)
	}
}

// TestStreamPageThatDoesNotAdvance: a full page whose last key does not move
// the scan past its position (a server bug) ends the sequence with
// kv.ErrProtocol after that one page, instead of paging forever.
func TestStreamPageThatDoesNotAdvance(t *testing.T) {
	kvs := func(keys ...string) *kvrpcpb.RawScanResponse {
		resp := &kvrpcpb.RawScanResponse{}
		for _, k := range keys {
			resp.Kvs = append(resp.Kvs, &kvrpcpb.KvPair{Key: []byte(k), Value: []byte("v")})
		}
		return resp
	}
	for _, tc := range []struct {
		name string
		req  *kvrpcpb.RawScanRequest
		page *kvrpcpb.RawScanResponse
	}{
		{"forward, last key below the start", &kvrpcpb.RawScanRequest{StartKey: []byte("c")}, kvs("a", "b", "b")},
		{"forward, last key past the range", &kvrpcpb.RawScanRequest{StartKey: []byte("c"), EndKey: []byte("f")}, kvs("d", "e", "g")},
		{"reverse, last key above the start", &kvrpcpb.RawScanRequest{Reverse: true, StartKey: []byte("m")}, kvs("z", "y", "x")},
		{"reverse, last key below the range", &kvrpcpb.RawScanRequest{Reverse: true, StartKey: []byte("m"), EndKey: []byte("f")}, kvs("h", "g", "a")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster()
			c.tikv.Always(nil, pipelinetest.Reply(tc.page))
			stream := Stream(c.env(), testScanCursor, Retry(c.env(), testScan), PageSize(3))
			var parts, errs int
			var last error
			for _, err := range stream(context.Background(), tc.req) {
				if err != nil {
					errs++
					last = err
					continue
				}
				parts++
			}
			if errs != 1 || !errors.Is(last, kv.ErrProtocol) {
				t.Fatalf("%d errors, last %v; want one wrapping kv.ErrProtocol", errs, last)
			}
			if parts != 1 || len(c.rec.Requests()) != 1 {
				t.Fatalf("%d parts after %d sends, want the one page sent and yielded", parts, len(c.rec.Requests()))
			}
		})
	}
}

// TestStreamBudgetAndResplitsPerPosition: each page of a scan has a backoff
// budget and a re-split allowance of its own (as client-go gives each
// scanner batch its own backoffer): two regions that each need most of the
// budget, or each need every allowed re-split, are scanned, where one
// budget for the whole scan would have given up.
func TestStreamBudgetAndResplitsPerPosition(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  *errorpb.Error
		elapsed time.Duration
	}{
		// maxTsNotSynced waits 2, 4, ..., 256ms: 510ms per position.
		{"budget", &errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}, 2 * 510 * time.Millisecond},
		// Each fake EpochNotMatch re-splits after a regionMiss wait of 2,
		// 4, ... ms.
		{"re-splits", &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}, 2 * 510 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newFakeCluster("m")
				c.truth.KV().Put("a", "va")
				c.truth.KV().Put("z", "vz")
				const errorsPerRegion = 8
				for _, region := range []uint64{1, 2} {
					c.tikv.Script(pipelinetest.ForRegion(region), slices.Repeat([]pipelinetest.Answer{pipelinetest.RegionError(tc.answer)}, errorsPerRegion)...)
				}
				env := c.env()
				env.BackoffBudget = time.Second
				env.MaxResplits = errorsPerRegion
				start := time.Now()
				if got := scanAll(t, env, &kvrpcpb.RawScanRequest{}, 0); !slices.Equal(got, []string{"a", "z"}) {
					t.Fatalf("scan got %v", got)
				}
				if elapsed := time.Since(start); elapsed != tc.elapsed {
					t.Fatalf("scan took %v, want %v", elapsed, tc.elapsed)
				}
			})
		})
	}
}
