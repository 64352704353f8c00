package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/backoff"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

var testBatchGet = Method[*kvrpcpb.RawBatchGetRequest, *kvrpcpb.RawBatchGetResponse]{
	Cmd: transport.CmdRawBatchGet, Idempotent: true, Read: true,
}

func batchGetSplit(lim Limit[[]byte]) Splitter[*kvrpcpb.RawBatchGetRequest] {
	return ByKeys((*kvrpcpb.RawBatchGetRequest).GetKeys, func(k []byte) []byte { return k },
		func(r *kvrpcpb.RawBatchGetRequest, keys [][]byte) *kvrpcpb.RawBatchGetRequest {
			c := *r
			c.Keys = keys
			return &c
		}, lim)
}

func keysOf(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestByKeysGroupsByRegionWithinLimits(t *testing.T) {
	c := newFakeCluster("d", "m")
	split := batchGetSplit(Limit[[]byte]{Keys: 2, Bytes: 5, Size: func(k []byte) int { return len(k) }})
	req := &kvrpcpb.RawBatchGetRequest{Keys: keysOf("z", "a", "n", "b", "c", "eeeeeee", "f")}
	var got []string
	for piece, err := range split(context.Background(), c, req) {
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, k := range piece.Req.Keys {
			if !piece.Region.Contains(k) {
				t.Fatalf("key %q routed to %v", k, piece.Region)
			}
			ks = append(ks, string(k))
		}
		got = append(got, fmt.Sprintf("%d:%s", piece.Region.ID(), strings.Join(ks, ",")))
	}
	// Region 1 [,d): a,b,c cut at 2 keys. Region 2 [d,m): "eeeeeee" is
	// over the byte cap and goes alone. Region 3 [m,): n,z.
	want := []string{"1:a,b", "1:c", "2:eeeeeee", "2:f", "3:n,z"}
	if !slices.Equal(got, want) {
		t.Fatalf("pieces = %v, want %v", got, want)
	}
	if len(req.Keys) != 7 || string(req.Keys[0]) != "z" {
		t.Fatalf("splitter modified the request: %q", req.Keys)
	}
}

func TestByRangeClampsToRegions(t *testing.T) {
	c := newFakeCluster("d", "m")
	split := ByRange(
		func(r *kvrpcpb.RawDeleteRangeRequest) ([]byte, []byte) { return r.StartKey, r.EndKey },
		func(r *kvrpcpb.RawDeleteRangeRequest, s, e []byte) *kvrpcpb.RawDeleteRangeRequest {
			c := *r
			c.StartKey, c.EndKey = s, e
			return &c
		})
	for _, tc := range []struct {
		start, end string
		want       []string
	}{
		{"b", "p", []string{"[b,d)", "[d,m)", "[m,p)"}},
		{"e", "f", []string{"[e,f)"}},
		{"", "", []string{"[,d)", "[d,m)", "[m,)"}},
		{"d", "m", []string{"[d,m)"}},
	} {
		var got []string
		for piece, err := range split(context.Background(), c, &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte(tc.start), EndKey: []byte(tc.end)}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("[%s,%s)", piece.Req.StartKey, piece.Req.EndKey))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("ByRange(%q,%q) = %v, want %v", tc.start, tc.end, got, tc.want)
		}
	}
}

func TestShardGivesUpAfterMaxResplits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.tikv.Always(nil, pipelinetest.RegionError(&errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}}))
		env := c.env()
		env.MaxResplits = 3
		plan := Shard(env, batchGetSplit(Limit[[]byte]{}), Retry(env, testBatchGet))
		_, err := plan(context.Background(), &kvrpcpb.RawBatchGetRequest{Keys: keysOf("a")})
		var re *kv.RegionError
		if !errors.As(err, &re) || re.Err.GetRegionNotFound() == nil {
			t.Fatalf("err = %v, want the RegionNotFound that kept coming back", err)
		}
		if n := len(c.rec.Requests()); n != 4 {
			t.Fatalf("%d sends, want 1 + 3 re-splits", n)
		}
	})
}

func TestShardFirstErrorCancelsOthers(t *testing.T) {
	c := newFakeCluster("d", "m")
	boom := errors.New("boom")
	step := func(ctx context.Context, r *pdclient.Region, req *kvrpcpb.RawBatchGetRequest) (*kvrpcpb.RawBatchGetResponse, error) {
		if r.ID() == 2 {
			return nil, boom
		}
		<-ctx.Done() // the others wait until canceled
		return nil, ctx.Err()
	}
	plan := Shard(c.env(), batchGetSplit(Limit[[]byte]{}), step)
	_, err := plan(context.Background(), &kvrpcpb.RawBatchGetRequest{Keys: keysOf("a", "e", "n")})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}

func TestSingleRejectsManyParts(t *testing.T) {
	c := newFakeCluster("d")
	plan := Single(Shard(c.env(), batchGetSplit(Limit[[]byte]{}), Retry(c.env(), testBatchGet)))
	if _, err := plan(context.Background(), &kvrpcpb.RawBatchGetRequest{Keys: keysOf("a", "e")}); err == nil {
		t.Fatal("Single over two regions returned no error")
	}
	if _, err := plan(context.Background(), &kvrpcpb.RawBatchGetRequest{Keys: keysOf("a")}); err != nil {
		t.Fatal(err)
	}
}

// TestResplitWaitRules ports client-go's TestMayBackoffForRegionError: a
// real EpochNotMatch (with current regions) is re-split at once; a fake one
// and other region errors wait RegionMiss first, and fail when the context
// is done.
func TestResplitWaitRules(t *testing.T) {
	other := errors.New("other")
	if err := resplitWait(context.Background(), nil, other, 0, 3); !errors.Is(err, other) {
		t.Fatalf("non-region error must pass through, got %v", err)
	}
	fatalErr := &kv.RegionError{Err: &errorpb.Error{}, Fatal: true}
	if err := resplitWait(context.Background(), nil, fatalErr, 0, 3); err != fatalErr {
		t.Fatalf("fatal region error must pass through, got %v", err)
	}
	real := &kv.RegionError{Err: &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: []*metapb.Region{{Id: 1}}}}}
	bo := backoff.New()
	if err := resplitWait(context.Background(), &retryState{bo: bo}, real, 0, 3); err != nil || bo.Slept() != 0 {
		t.Fatalf("real EpochNotMatch must re-split at once, got %v after %v", err, bo.Slept())
	}
	if err := resplitWait(context.Background(), nil, real, 3, 3); err == nil || !errors.Is(err, real) {
		t.Fatalf("past the budget: got %v", err)
	}
	for _, e := range []*errorpb.Error{
		{EpochNotMatch: &errorpb.EpochNotMatch{}},
		{NotLeader: &errorpb.NotLeader{}},
		{ServerIsBusy: &errorpb.ServerIsBusy{}},
		{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}},
	} {
		re := &kv.RegionError{Err: e}
		bo := backoff.New()
		if err := resplitWait(context.Background(), &retryState{bo: bo}, re, 0, 3); err != nil || bo.Slept() == 0 {
			t.Fatalf("%s: err %v, slept %v; want a RegionMiss wait", kv.RegionErrorKind(e), err, bo.Slept())
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := resplitWait(ctx, &retryState{bo: backoff.New()}, re, 0, 3); !errors.Is(err, re) || !errors.Is(err, context.Canceled) {
			t.Fatalf("%s with a canceled context: %v", kv.RegionErrorKind(e), err)
		}
	}
}
