package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

// testBatchPutOnce stands for a non-idempotent batch write.
var testBatchPutOnce = Method[*kvrpcpb.RawBatchPutRequest, *kvrpcpb.RawBatchPutResponse]{Cmd: transport.CmdRawBatchPut}

type batchPutError = ShardError[*kvrpcpb.RawBatchPutRequest, *kvrpcpb.RawBatchPutResponse]

func batchPutPlan(env *Env, opts ...ShardOption) Plan[*kvrpcpb.RawBatchPutRequest, []Part[*kvrpcpb.RawBatchPutRequest, *kvrpcpb.RawBatchPutResponse]] {
	split := ByKeys((*kvrpcpb.RawBatchPutRequest).GetPairs, (*kvrpcpb.KvPair).GetKey,
		func(r *kvrpcpb.RawBatchPutRequest, pairs []*kvrpcpb.KvPair) *kvrpcpb.RawBatchPutRequest {
			c := *r
			c.Pairs = pairs
			return &c
		}, Limit[*kvrpcpb.KvPair]{})
	return Shard(env, split, Retry(env, testBatchPutOnce), opts...)
}

func putReq(keys ...string) *kvrpcpb.RawBatchPutRequest {
	req := &kvrpcpb.RawBatchPutRequest{}
	for _, k := range keys {
		req.Pairs = append(req.Pairs, &kvrpcpb.KvPair{Key: []byte(k), Value: []byte("v" + k)})
	}
	return req
}

// pieceStates describes a ShardError's pieces as "region:state".
func pieceStates(e *batchPutError) []string {
	var out []string
	for _, p := range e.Pieces {
		out = append(out, fmt.Sprintf("%d:%s", p.Region.ID(), p.State))
	}
	return out
}

// TestShardPieceOutcomes: a 3-piece write, one piece at a time, in which
// one piece fails: the *ShardError reports each piece in key order (done
// before the failure, the failure as failed or undetermined, not run
// after), errors.Is(err, kv.ErrUndetermined) exactly when a piece is
// undetermined, and errors.Is(err, kv.ErrNotSent) only when no piece may
// have reached TiKV.
func TestShardPieceOutcomes(t *testing.T) {
	wire := errors.New("connection reset")
	notSent := fmt.Errorf("%w: %w", transport.ErrNotSent, kv.ErrClosed)
	tooLarge := &errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}
	cases := []struct {
		name         string
		failRegion   uint64
		answer       pipelinetest.Answer
		want         []string
		undetermined bool
		notSent      bool
		written      []string
	}{
		{
			name: "sent and lost", failRegion: 2,
			answer: pipelinetest.Fail(wire),
			want:   []string{"1:done", "2:undetermined", "3:not run"}, undetermined: true,
			written: []string{"a"},
		},
		{
			name: "rejected", failRegion: 2,
			answer:  pipelinetest.RegionError(tooLarge),
			want:    []string{"1:done", "2:failed", "3:not run"},
			written: []string{"a"},
		},
		{
			name: "not sent after a piece applied", failRegion: 2,
			answer:  pipelinetest.Fail(notSent),
			want:    []string{"1:done", "2:failed", "3:not run"},
			written: []string{"a"},
		},
		{
			name: "nothing sent", failRegion: 1,
			answer: pipelinetest.Fail(notSent),
			want:   []string{"1:failed", "2:not run", "3:not run"}, notSent: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster("d", "m")
			c.tikv.Always(pipelinetest.ForRegion(tc.failRegion), tc.answer)
			env := c.env()
			env.Concurrency = 1 // pieces run in key order, one at a time
			_, err := batchPutPlan(env)(context.Background(), putReq("a", "e", "n"))
			var se *batchPutError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want a *ShardError", err, err)
			}
			if got := pieceStates(se); !slices.Equal(got, tc.want) {
				t.Fatalf("pieces = %v, want %v", got, tc.want)
			}
			for i, p := range se.Pieces {
				if k := string(p.Req.Pairs[0].Key); k != []string{"a", "e", "n"}[i] {
					t.Fatalf("piece %d carries key %q", i, k)
				}
				if (p.Err != nil) != (p.State == PieceFailed || p.State == PieceUndetermined) {
					t.Fatalf("piece %d: state %s with error %v", i, p.State, p.Err)
				}
				if p.State == PieceDone && p.Resp == nil {
					t.Fatalf("piece %d done without its response", i)
				}
			}
			if got := errors.Is(err, kv.ErrUndetermined); got != tc.undetermined {
				t.Fatalf("errors.Is(err, ErrUndetermined) = %v, want %v (err: %v)", got, tc.undetermined, err)
			}
			if got := errors.Is(err, kv.ErrNotSent); got != tc.notSent {
				t.Fatalf("errors.Is(err, ErrNotSent) = %v, want %v (err: %v)", got, tc.notSent, err)
			}
			if se.First() != se.Pieces[tc.failRegion-1].Err {
				t.Fatalf("First() = %v, want the failed piece's error", se.First())
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "of 3 pieces") {
				t.Fatalf("error message %q: want one line naming the piece count", msg)
			}
			if written := c.truth.KV().Keys(); !slices.Equal(written, tc.written) {
				t.Fatalf("keys written = %v, want %v", written, tc.written)
			}
		})
	}
}

// TestShardSinglePieceFailsWithItsOwnError: a request of one piece is not
// wrapped in a ShardError.
func TestShardSinglePieceFailsWithItsOwnError(t *testing.T) {
	c := newFakeCluster("d", "m")
	c.tikv.Always(nil, pipelinetest.Fail(fmt.Errorf("%w: %w", transport.ErrNotSent, kv.ErrClosed)))
	_, err := batchPutPlan(c.env())(context.Background(), putReq("e"))
	var se *batchPutError
	if errors.As(err, &se) || !errors.Is(err, kv.ErrClosed) || !errors.Is(err, kv.ErrNotSent) {
		t.Fatalf("err = %v (%T), want the piece's own not-sent error", err, err)
	}
}

// TestShardCancelsInFlightUnlessFinishInFlight: once a piece fails, a
// sibling in flight is cancelled by default (a write cut off in flight is
// undetermined); with FinishInFlight it runs to completion and its outcome
// is known. Either way the call reports the failure that stopped it, not
// the cancellation it caused.
func TestShardCancelsInFlightUnlessFinishInFlight(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []ShardOption
		want    []string
		waited  time.Duration
		written bool
	}{
		{"default", nil, []string{"1:undetermined", "2:failed"}, 0, false},
		{"FinishInFlight", []ShardOption{FinishInFlight()}, []string{"1:done", "2:failed"}, time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newFakeCluster("m")
				tooLarge := &errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}
				inFlight := make(chan struct{})
				c.tikv.Always(pipelinetest.ForRegion(2), func(ctx context.Context, req *transport.Request, _ transport.Sender) (*transport.Response, error) {
					<-inFlight // fail only once region 1's piece is on the wire
					return pipelinetest.RegionErrorResponse(req.Cmd, tooLarge), nil
				})
				c.tikv.Always(pipelinetest.ForRegion(1), func(ctx context.Context, req *transport.Request, next transport.Sender) (*transport.Response, error) {
					close(inFlight)
					// Region 1's store takes a second to answer.
					select {
					case <-ctx.Done():
						return nil, ctx.Err()
					case <-time.After(time.Second):
						return next.Send(ctx, req)
					}
				})
				env := c.env()
				start := time.Now()
				_, err := batchPutPlan(env, tc.opts...)(context.Background(), putReq("a", "n"))
				var se *batchPutError
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want a *ShardError", err)
				}
				if got := pieceStates(se); !slices.Equal(got, tc.want) {
					t.Fatalf("pieces = %v, want %v", got, tc.want)
				}
				var re *kv.RegionError
				if !errors.As(se.First(), &re) || re.Err.GetRaftEntryTooLarge() == nil {
					t.Fatalf("First() = %v, want the RaftEntryTooLarge that stopped the call", se.First())
				}
				if waited := time.Since(start); waited != tc.waited {
					t.Fatalf("returned after %v, want %v", waited, tc.waited)
				}
				if _, ok := c.truth.KV().Get("a"); ok != tc.written {
					t.Fatalf("key a written: %v, want %v", ok, tc.written)
				}
			})
		})
	}
}

// TestShardErrorReportsLeafPieces: when a stale piece is re-split and one
// of its children fails, the *ShardError lists the leaf pieces in key
// order, each with the region it was last routed to; the stale piece
// itself is not one of them.
func TestShardErrorReportsLeafPieces(t *testing.T) {
	c := newFakeCluster("d")
	env, _, _ := c.cachedEnv(t)
	env.Concurrency = 1
	plan := batchPutPlan(env)
	if _, err := plan(context.Background(), putReq("a", "e", "g")); err != nil {
		t.Fatal(err) // warm the cache
	}
	c.truth.Split("f", 9) // region 2 [d,) -> [d,f) + 9 [f,)
	c.tikv.Always(pipelinetest.ForRegion(9), pipelinetest.RegionError(&errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}))
	_, err := plan(context.Background(), putReq("a", "e", "g"))
	var se *batchPutError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *ShardError", err)
	}
	if got, want := pieceStates(se), []string{"1:done", "2:done", "9:failed"}; !slices.Equal(got, want) {
		t.Fatalf("pieces = %v, want %v", got, want)
	}
	for i, k := range []string{"a", "e", "g"} {
		if p := se.Pieces[i]; len(p.Req.Pairs) != 1 || string(p.Req.Pairs[0].Key) != k || !p.Region.Contains([]byte(k)) {
			t.Fatalf("piece %d = region %v with %v, want key %q", i, p.Region, p.Req.Pairs, k)
		}
	}
}
