package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
)

// TestShardEachRunsEveryPiece: where Shard stops at the first failure
// (the pieces after it "not run"), ShardEach runs every piece and reports
// each one's outcome, in key order, with a nil call error; the pieces
// after the failed one did write.
func TestShardEachRunsEveryPiece(t *testing.T) {
	wire := errors.New("connection reset")
	tooLarge := &errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}
	c := newFakeCluster("d", "h", "m")
	script := func(c *fakeCluster) {
		c.tikv.Always(pipelinetest.ForRegion(2), pipelinetest.Fail(wire))
		c.tikv.Always(pipelinetest.ForRegion(3), pipelinetest.RegionError(tooLarge))
	}
	script(c)
	env := c.env()
	env.Concurrency = 1 // pieces in key order, one at a time: Shard would stop at region 2
	split := ByKeys((*kvrpcpb.RawBatchPutRequest).GetPairs, (*kvrpcpb.KvPair).GetKey,
		func(r *kvrpcpb.RawBatchPutRequest, pairs []*kvrpcpb.KvPair) *kvrpcpb.RawBatchPutRequest {
			c := *r
			c.Pairs = pairs
			return &c
		}, Limit[*kvrpcpb.KvPair]{})
	req := putReq("a", "e", "i", "n")

	_, err := Shard(env, split, Retry(env, testBatchPutOnce))(context.Background(), req)
	var se *batchPutError
	if !errors.As(err, &se) || !slices.Equal(pieceStates(se), []string{"1:done", "2:undetermined", "3:not run", "4:not run"}) {
		t.Fatalf("Shard: %v", err)
	}

	c2 := newFakeCluster("d", "h", "m")
	script(c2)
	env2 := c2.env()
	env2.Concurrency = 1
	out, err := ShardEach(env2, split, Retry(env2, testBatchPutOnce))(context.Background(), req)
	if err != nil {
		t.Fatalf("ShardEach returned a call error: %v", err)
	}
	var got []string
	for _, p := range out {
		got = append(got, fmt.Sprintf("%d:%s:%s", p.Region.ID(), p.Req.Pairs[0].Key, p.State))
	}
	want := []string{"1:a:done", "2:e:undetermined", "3:i:failed", "4:n:done"}
	if !slices.Equal(got, want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}
	if !errors.Is(out[1].Err, kv.ErrUndetermined) || out[0].Resp == nil || out[3].Resp == nil {
		t.Fatalf("outcome details: %+v", out)
	}
	v, ok := c2.truth.KV().Get("n")
	if !ok || v != "vn" {
		t.Fatalf("the piece after the failures did not write: %q %v", v, ok)
	}
}
