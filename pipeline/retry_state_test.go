package pipeline

import (
	"context"
	"errors"
	"fmt"
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

// attemptInfo describes each send as "region:attempt", with "r" when the
// request was marked is_retry_request.
func attemptInfo(reqs []*transport.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		s := fmt.Sprintf("%d:%d", r.Target.RegionID, r.Attempt)
		if r.Cmd.Context(r.Msg).GetIsRetryRequest() {
			s += "r"
		}
		out[i] = s
	}
	return out
}

// TestShardAttemptNumbersGrowAcrossReroute: the pieces a stale piece is
// re-split into continue its attempt numbering (and are marked as retries),
// while pieces that were routed right start from 0.
func TestShardAttemptNumbersGrowAcrossReroute(t *testing.T) {
	c := newFakeCluster("d", "m")
	env, _, _ := c.cachedEnv(t)
	env.Concurrency = 1 // sends in key order
	plan := Shard(env, batchGetSplit(Limit[[]byte]{}), Retry(env, testBatchGet))
	req := &kvrpcpb.RawBatchGetRequest{Keys: keysOf("a", "e", "g", "n")}
	if _, err := plan(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	c.truth.Split("f", 9)
	c.rec.Reset()
	if _, err := plan(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := []string{"1:0", "2:0", "2:1r", "9:1r", "3:0"}
	if got := attemptInfo(c.rec.Requests()); !slices.Equal(got, want) {
		t.Fatalf("attempts = %v, want %v", got, want)
	}
}

// TestStreamAttemptNumbersGrowAcrossReroute: a page re-sent after its
// region split continues the page's attempt numbering.
func TestStreamAttemptNumbersGrowAcrossReroute(t *testing.T) {
	c := newFakeCluster()
	c.truth.KV().Put("a", "v")
	c.truth.KV().Put("z", "v")
	env, _, _ := c.cachedEnv(t)
	if got := scanAll(t, env, &kvrpcpb.RawScanRequest{}, 0); len(got) != 2 {
		t.Fatalf("warm-up scan got %v", got)
	}
	c.truth.Split("m", 5)
	c.rec.Reset()
	if got := scanAll(t, env, &kvrpcpb.RawScanRequest{}, 0); !slices.Equal(got, []string{"a", "z"}) {
		t.Fatalf("scan got %v", got)
	}
	got := attemptInfo(c.rec.Requests())
	if len(got) != 3 || got[0] != "1:0" || got[1] != "1:1r" {
		t.Fatalf("attempts = %v, want the stale page as 1:0, then re-sent as 1:1r, then region 5", got)
	}
}

// TestShardOneBackoffBudgetAcrossReroutes: a piece that keeps waiting
// inside Retry (MaxTimestampNotSynced) and being re-routed (EpochNotMatch
// without current regions) spends one backoff budget: each policy's delay
// keeps growing from one Retry to the next, attempt numbers keep
// counting, and the request gives up within Env.BackoffBudget.
func TestShardOneBackoffBudgetAcrossReroutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		var at []time.Time
		c.tikv.Always(nil, func(_ context.Context, req *transport.Request, _ transport.Sender) (*transport.Response, error) {
			at = append(at, time.Now())
			if len(at)%2 == 1 {
				return pipelinetest.RegionErrorResponse(req.Cmd, &errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}), nil
			}
			return pipelinetest.RegionErrorResponse(req.Cmd, &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}), nil
		})
		env, _, _ := c.cachedEnv(t)
		env.BackoffBudget = time.Second
		env.MaxResplits = 1000
		start := time.Now()
		_, err := getPlan(env)(context.Background(), &kvrpcpb.RawGetRequest{Key: []byte("k")})
		var ex *kv.BackoffExhaustedError
		if !errors.As(err, &ex) {
			t.Fatalf("err = %v, want the budget exhausted", err)
		}
		if elapsed := time.Since(start); elapsed > env.BackoffBudget {
			t.Fatalf("gave up after %v, past the %v budget", elapsed, env.BackoffBudget)
		}
		// maxTsNotSynced and regionMiss both start at 2ms and double: one
		// backoffer across the re-routes makes the waits 2, 2, 4, 4, 8, 8ms.
		var gaps []time.Duration
		for i := 1; i < len(at) && i <= 6; i++ {
			gaps = append(gaps, at[i].Sub(at[i-1]))
		}
		ms := time.Millisecond
		if want := []time.Duration{2 * ms, 2 * ms, 4 * ms, 4 * ms, 8 * ms, 8 * ms}; !slices.Equal(gaps, want) {
			t.Fatalf("waits between sends = %v, want %v", gaps, want)
		}
		for i, s := range c.rec.Requests() {
			if s.Attempt != i {
				t.Fatalf("send %d has Attempt %d: numbering restarted on a re-route", i, s.Attempt)
			}
		}
	})
}

// scanFirst runs a one-page scan over env and returns its first error.
func scanFirst(env *Env) error {
	stream := Stream(env, testScanCursor, Retry(env, testScan))
	for _, err := range stream(context.Background(), &kvrpcpb.RawScanRequest{}) {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestLocateRetriedUnderPDRPC: when the region cache cannot reach PD (its
// own retries give up after about two seconds), Shard and Stream wait under
// the PDRPC policy and locate again, as long as the budget lasts: a PD down
// for five seconds is ridden out, and a budget too small for one PDRPC wait
// gives up naming the PD failure.
func TestLocateRetriedUnderPDRPC(t *testing.T) {
	runs := []struct {
		name string
		run  func(env *Env) error
	}{
		{"Shard", func(env *Env) error {
			_, err := getPlan(env)(context.Background(), &kvrpcpb.RawGetRequest{Key: []byte("k")})
			return err
		}},
		{"Stream", scanFirst},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newFakeCluster()
				env, pd, _ := c.cachedEnv(t)
				start := time.Now()
				pd.FailRegionLookupsUntil(start.Add(5 * time.Second))
				if err := r.run(env); err != nil {
					t.Fatalf("with PD down for 5s: %v", err)
				}
				if elapsed := time.Since(start); elapsed < 5*time.Second {
					t.Fatalf("succeeded after %v, before PD came back", elapsed)
				}
				if len(c.rec.Requests()) != 1 {
					t.Fatalf("%d sends, want 1", len(c.rec.Requests()))
				}
			})
			synctest.Test(t, func(t *testing.T) {
				c := newFakeCluster()
				env, pd, _ := c.cachedEnv(t)
				env.BackoffBudget = 100 * time.Millisecond // below PDRPC's first wait
				pd.FailRegionLookupsUntil(time.Now().Add(time.Hour))
				err := r.run(env)
				var ex *kv.BackoffExhaustedError
				if !errors.As(err, &ex) || ex.Policy != "pdRPC" || !errors.Is(err, pipelinetest.ErrPDUnavailable) {
					t.Fatalf("err = %v, want the pdRPC budget exhausted on the PD failure", err)
				}
			})
		})
	}
}

// TestMaybeAppliedCarriedAcrossReroute: an idempotent write whose first
// attempt was lost on the wire (it may have applied) is retried, re-routed,
// and then rejected: the rejection is reported as kv.ErrUndetermined, not as
// a plain failure, because the lost attempt may have taken effect.
func TestMaybeAppliedCarriedAcrossReroute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		wire := errors.New("connection reset")
		c.tikv.Script(nil, pipelinetest.Fail(wire), pipelinetest.RegionError(&errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}))
		c.tikv.Always(nil, pipelinetest.RegionError(&errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}))
		env, _, _ := c.cachedEnv(t)
		put := Method[*kvrpcpb.RawBatchPutRequest, *kvrpcpb.RawBatchPutResponse]{Cmd: transport.CmdRawBatchPut, Idempotent: true}
		split := ByKeys((*kvrpcpb.RawBatchPutRequest).GetPairs, (*kvrpcpb.KvPair).GetKey,
			func(r *kvrpcpb.RawBatchPutRequest, pairs []*kvrpcpb.KvPair) *kvrpcpb.RawBatchPutRequest {
				c := *r
				c.Pairs = pairs
				return &c
			}, Limit[*kvrpcpb.KvPair]{})
		_, err := Shard(env, split, Retry(env, put))(context.Background(), putReq("k"))
		var re *kv.RegionError
		if !errors.Is(err, kv.ErrUndetermined) || !errors.As(err, &re) || re.Err.GetRaftEntryTooLarge() == nil {
			t.Fatalf("err = %v, want ErrUndetermined carrying the final RaftEntryTooLarge", err)
		}
		if got := attemptInfo(c.rec.Requests()); !slices.Equal(got, []string{"1:0", "1:1r", "1:2r"}) {
			t.Fatalf("attempts = %v", got)
		}
	})
}

// TestShardReSplitChildrenInheritSpentBudget: the pieces a stale piece is
// re-split into each get a copy of the budget the piece had left, not a
// fresh one: after a parent spent 510ms of a 1s budget, a child whose next
// wait (500ms) would pass the budget gives up at once.
func TestShardReSplitChildrenInheritSpentBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		env, _, _ := c.cachedEnv(t)
		env.BackoffBudget = time.Second
		plan := Shard(env, batchGetSplit(Limit[[]byte]{}), Retry(env, testBatchGet))
		req := &kvrpcpb.RawBatchGetRequest{Keys: keysOf("a", "z")}
		if _, err := plan(context.Background(), req); err != nil {
			t.Fatal(err) // warm the cache
		}
		c.truth.Split("m", 5)
		c.rec.Reset()
		maxTS := pipelinetest.RegionError(&errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}})
		// Eight MaxTimestampNotSynced, then the stale region's own answer
		// (EpochNotMatch naming both halves), then MaxTimestampNotSynced
		// for ever.
		c.tikv.Script(nil, maxTS, maxTS, maxTS, maxTS, maxTS, maxTS, maxTS, maxTS, pipelinetest.Serve())
		c.tikv.Always(nil, maxTS)
		start := time.Now()
		_, err := plan(context.Background(), req)
		var ex *kv.BackoffExhaustedError
		if !errors.As(err, &ex) || ex.Policy != "maxTsNotSynced" {
			t.Fatalf("err = %v, want the maxTsNotSynced budget exhausted", err)
		}
		// The parent waited 2+4+...+256ms = 510ms before its ninth send.
		if elapsed := time.Since(start); elapsed != 510*time.Millisecond {
			t.Fatalf("gave up after %v, want 510ms: a child started a fresh budget", elapsed)
		}
		// Nine sends to the stale region, then at most one per child (the
		// first child to give up cancels the other).
		perRegion := map[uint64]int{}
		for _, s := range c.rec.Requests() {
			perRegion[s.Target.RegionID]++
		}
		if n := perRegion[1] + perRegion[5]; n < 10 || n > 11 || perRegion[5] > 1 || perRegion[1] > 10 {
			t.Fatalf("sends per region = %v, want 9 to region 1, then at most one per child", perRegion)
		}
	})
}
