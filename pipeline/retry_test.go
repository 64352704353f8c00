package pipeline

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

var (
	testGet = Method[*kvrpcpb.RawGetRequest, *kvrpcpb.RawGetResponse]{
		Cmd: transport.CmdRawGet, Idempotent: true, Read: true,
		Err: func(r *kvrpcpb.RawGetResponse) error {
			if r.Error != "" {
				return &kv.ServerError{Cmd: "RawGet", Msg: r.Error}
			}
			return nil
		},
	}
	// testPutOnce stands for a non-idempotent write (like CAS).
	testPutOnce = Method[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse]{Cmd: transport.CmdRawPut}
)

// TestRegionErrorTable checks Retry's handling of each TiKV region error
// (client-go's onRegionError with a replica selector, core inventory §2b):
// whether it retries in the region, re-routes the piece, or fails; whether
// it waits; and whether it drops the cached region. Each error is answered
// once, then the fake TiKV serves normally.
func TestRegionErrorTable(t *testing.T) {
	const (
		retried    = "retried"
		rerouted   = "rerouted"
		fatalErr   = "fatal"
		undetermin = "undetermined"
	)
	cases := []struct {
		name        string
		err         *errorpb.Error
		outcome     string
		slept       bool
		invalidated bool
	}{
		{"NotLeader without leader", &errorpb.Error{NotLeader: &errorpb.NotLeader{}}, retried, true, false},
		{"NotLeader naming a foreign peer", &errorpb.Error{NotLeader: &errorpb.NotLeader{Leader: &metapb.Peer{Id: 99, StoreId: 9}}}, rerouted, false, true},
		{"EpochNotMatch", &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}, rerouted, false, true},
		{"RegionNotFound from the leader", &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}}, rerouted, false, true},
		{"KeyNotInRegion", &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{}}, rerouted, false, true},
		{"MismatchPeerId", &errorpb.Error{MismatchPeerId: &errorpb.MismatchPeerId{}}, rerouted, false, true},
		{"StoreNotMatch", &errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{}}, rerouted, false, true},
		{"BucketVersionNotMatch", &errorpb.Error{BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{}}, rerouted, false, false},
		{"ServerIsBusy", &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{}}, retried, true, false},
		{"StaleCommand", &errorpb.Error{StaleCommand: &errorpb.StaleCommand{}}, retried, false, false},
		{"MaxTimestampNotSynced", &errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}, retried, true, false},
		{"RegionNotInitialized", &errorpb.Error{RegionNotInitialized: &errorpb.RegionNotInitialized{}}, retried, true, false},
		{"ReadIndexNotReady", &errorpb.Error{ReadIndexNotReady: &errorpb.ReadIndexNotReady{}}, retried, true, false},
		{"ProposalInMergingMode", &errorpb.Error{ProposalInMergingMode: &errorpb.ProposalInMergingMode{}}, retried, true, false},
		{"DiskFull", &errorpb.Error{DiskFull: &errorpb.DiskFull{}}, retried, true, false},
		{"DataIsNotReady", &errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{}}, retried, false, false},
		{"RecoveryInProgress", &errorpb.Error{RecoveryInProgress: &errorpb.RecoveryInProgress{}}, rerouted, true, true},
		{"IsWitness", &errorpb.Error{IsWitness: &errorpb.IsWitness{}}, rerouted, true, true},
		{"RaftEntryTooLarge", &errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}, fatalErr, false, false},
		{"FlashbackInProgress", &errorpb.Error{FlashbackInProgress: &errorpb.FlashbackInProgress{}}, fatalErr, false, false},
		{"FlashbackNotPrepared", &errorpb.Error{FlashbackNotPrepared: &errorpb.FlashbackNotPrepared{}}, fatalErr, false, false},
		{"invalid max_ts update", &errorpb.Error{Message: "invalid max_ts update"}, fatalErr, false, false},
		{"UndeterminedResult", &errorpb.Error{UndeterminedResult: &errorpb.UndeterminedResult{}}, undetermin, false, false},
		{"unknown", &errorpb.Error{Message: "something new"}, retried, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newFakeCluster()
				c.truth.KV().Put("k", "v")
				c.tikv.Script(nil, pipelinetest.RegionError(tc.err))
				r, _ := c.Locate(context.Background(), []byte("k"))
				start := time.Now()
				resp, err := Retry(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
				var re *kv.RegionError
				got := ""
				switch {
				case err == nil && string(resp.GetValue()) == "v":
					got = retried
				case errors.Is(err, kv.ErrUndetermined):
					got = undetermin
				case errors.As(err, &re) && re.Fatal:
					got = fatalErr
				case errors.As(err, &re):
					got = rerouted
				default:
					t.Fatalf("unexpected result %v, %v", resp, err)
				}
				if got != tc.outcome {
					t.Fatalf("outcome = %s (%v), want %s", got, err, tc.outcome)
				}
				if slept := time.Since(start) > 0; slept != tc.slept {
					t.Fatalf("slept %v, want sleeping: %v", time.Since(start), tc.slept)
				}
				if inv := len(c.Invalidated()) > 0; inv != tc.invalidated {
					t.Fatalf("invalidated %v, want %v", c.Invalidated(), tc.invalidated)
				}
			})
		})
	}
}

func TestRetryServerBusyBacksOffThenSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.truth.KV().Put("k", "v")
		busy := pipelinetest.RegionError(&errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "test"}})
		c.tikv.Script(nil, busy, busy)
		step := Retry(c.env(), testGet)
		r, _ := c.Locate(context.Background(), []byte("k"))
		start := time.Now()
		resp, err := step(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		if err != nil || string(resp.Value) != "v" {
			t.Fatalf("step = %v, %v", resp, err)
		}
		// ServerBusy: 2s then 4s with equal jitter: [1s,2s) + [2s,4s); the
		// probe and the return to the leader take no wait.
		if slept := time.Since(start); slept < 3*time.Second || slept >= 6*time.Second {
			t.Fatalf("slept %v, want within [3s, 6s)", slept)
		}
		// Two ServerIsBusy(0) from the cached leader make it suspect
		// (client-go#2028): the third attempt probes the follower with a
		// leader read, which names the real leader, and the fourth succeeds
		// there.
		sends := c.rec.Requests()
		if len(sends) != 4 || sends[2].Target.StoreID != 2 || sends[3].Target.StoreID != 1 {
			t.Fatalf("attempts went to %v, want stores 1, 1, 2, 1", storesOf(sends))
		}
		for i, s := range sends {
			if got := s.Cmd.Context(s.Msg).GetIsRetryRequest(); got != (i > 0) || s.Attempt != i {
				t.Fatalf("attempt %d: IsRetryRequest=%v Attempt=%d", i, got, s.Attempt)
			}
		}
	})
}

func TestRetryFillsContextOnACopy(t *testing.T) {
	c := newFakeCluster("m")
	step := Retry(c.env(), testGet)
	r, _ := c.Locate(context.Background(), []byte("x"))
	callerCtx := &kvrpcpb.Context{Priority: kvrpcpb.CommandPri_High, RequestSource: "test"}
	req := &kvrpcpb.RawGetRequest{Context: callerCtx, Key: []byte("x")}
	if _, err := step(context.Background(), r, req); err != nil {
		t.Fatal(err)
	}
	if req.Context != callerCtx || callerCtx.RegionId != 0 || callerCtx.Peer != nil {
		t.Fatalf("caller's request was modified: %+v", req.Context)
	}
	sent := c.rec.Requests()[0]
	got := sent.Cmd.Context(sent.Msg)
	if got.RegionId != r.ID() || got.Peer.GetStoreId() != 1 || got.RegionEpoch.GetVersion() != 1 ||
		got.Priority != kvrpcpb.CommandPri_High || got.RequestSource != "test" {
		t.Fatalf("attempt context = %+v", got)
	}
	if sent.Target.StoreID != 1 || sent.Target.Addr != "store1" || sent.Target.RegionID != r.ID() {
		t.Fatalf("target = %+v", sent.Target)
	}
	if sent.Timeout != DefaultReadTimeout {
		t.Fatalf("read timeout = %v", sent.Timeout)
	}
}

func TestRetryUnknownOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		wire := errors.New("connection reset")
		c.tikv.Always(nil, pipelinetest.Fail(wire))
		r, _ := c.Locate(context.Background(), []byte("k"))
		_, err := Retry(c.env(), testPutOnce)(context.Background(), r, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")})
		if !errors.Is(err, kv.ErrUndetermined) || !errors.Is(err, wire) {
			t.Fatalf("non-idempotent send failure = %v, want ErrUndetermined wrapping the cause", err)
		}
		if n := len(c.rec.Requests()); n != 1 {
			t.Fatalf("non-idempotent command sent %d times after an unknown outcome", n)
		}
		// Routing feedback comes first: without the store's health check a
		// dead leader stays the first choice of every later call (issue #8,
		// bug 2: a CAS-only workload never failed over).
		if len(c.SendFailures()) != 1 {
			t.Fatalf("%d health checks after the failed send, want 1", len(c.SendFailures()))
		}
	})
}

// A request whose time ran out in the client's own queue (a BatchCommands
// stream's) was never sent and says nothing about the store: it is retried
// without a health check against the store (issue #8, bug 14).
func TestRetryQueueTimeoutIsNotHeldAgainstTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.tikv.Script(nil, pipelinetest.Fail(fmt.Errorf("%w: queued for a BatchCommands stream: %w", transport.ErrNotSent, context.DeadlineExceeded)))
		r, _ := c.Locate(context.Background(), []byte("k"))
		if _, err := Retry(c.env(), testPutOnce)(context.Background(), r, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
			t.Fatalf("put after a queue timeout: %v", err)
		}
		if v, _ := c.truth.KV().Get("k"); v != "v" || len(c.SendFailures()) != 0 {
			t.Fatalf("k=%q probes=%d: want the put applied with no health check", v, len(c.SendFailures()))
		}
	})
}

func TestRetryRetriesNotSentEvenIfNotIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.tikv.Script(nil, pipelinetest.Fail(transport.ErrNotSent))
		r, _ := c.Locate(context.Background(), []byte("k"))
		if _, err := Retry(c.env(), testPutOnce)(context.Background(), r, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
			t.Fatalf("put after a not-sent failure: %v", err)
		}
		if v, _ := c.truth.KV().Get("k"); v != "v" || len(c.SendFailures()) != 1 {
			t.Fatalf("k=%q probes=%d: want the put applied after one health check", v, len(c.SendFailures()))
		}
	})
}

func TestRetryFatalErrors(t *testing.T) {
	for _, tc := range []struct {
		err          *errorpb.Error
		undetermined bool
	}{
		{&errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}, false},
		{&errorpb.Error{UndeterminedResult: &errorpb.UndeterminedResult{}}, true},
	} {
		c := newFakeCluster()
		c.tikv.Always(nil, pipelinetest.RegionError(tc.err))
		r, _ := c.Locate(context.Background(), []byte("k"))
		_, err := Retry(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		var re *kv.RegionError
		if !errors.As(err, &re) || !re.Fatal || errors.Is(err, kv.ErrUndetermined) != tc.undetermined {
			t.Fatalf("%s: err = %v", kv.RegionErrorKind(tc.err), err)
		}
		if len(c.rec.Requests()) != 1 {
			t.Fatalf("fatal error retried")
		}
	}
}

func TestRetryInBodyError(t *testing.T) {
	c := newFakeCluster()
	c.tikv.Always(nil, pipelinetest.Reply(&kvrpcpb.RawGetResponse{Error: "bad cf"}))
	r, _ := c.Locate(context.Background(), []byte("k"))
	_, err := Retry(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	var se *kv.ServerError
	if !errors.As(err, &se) || se.Msg != "bad cf" {
		t.Fatalf("err = %v, want *kv.ServerError", err)
	}
}

func TestRetryStopsOnCanceledContext(t *testing.T) {
	c := newFakeCluster()
	r, _ := c.Locate(context.Background(), []byte("k"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Retry(c.env(), testGet)(ctx, r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	if !errors.Is(err, context.Canceled) || len(c.rec.Requests()) != 0 {
		t.Fatalf("err = %v after %d sends; want Canceled and nothing sent", err, len(c.rec.Requests()))
	}
}

func TestRetryLeaderHintOutsideRegionResplits(t *testing.T) {
	c := newFakeCluster()
	c.tikv.Always(nil, pipelinetest.RegionError(&errorpb.Error{NotLeader: &errorpb.NotLeader{Leader: &metapb.Peer{Id: 99, StoreId: 9}}}))
	r, _ := c.Locate(context.Background(), []byte("k"))
	_, err := Retry(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	var re *kv.RegionError
	if !errors.As(err, &re) || re.Fatal || len(c.Invalidated()) == 0 {
		t.Fatalf("err = %v, invalidated %v: want a re-split signal and an invalidated region", err, c.Invalidated())
	}
}

func TestRetryFollowsLeaderHints(t *testing.T) {
	c := newFakeCluster()
	c.truth.KV().Put("k", "v")
	r, _ := c.Locate(context.Background(), []byte("k"))
	c.truth.MoveLeader("k", 2) // the cache still says store 1
	resp, err := Retry(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	if err != nil || string(resp.Value) != "v" {
		t.Fatalf("Get = %v, %v", resp, err)
	}
	if got := storesOf(c.rec.Requests()); fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("attempts went to %v, want [1 2]", got)
	}
}

func TestRetryLeaderHintPingPongBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		// Each store names the other as leader, forever.
		c.tikv.Always(nil, func(_ context.Context, req *transport.Request, _ transport.Sender) (*transport.Response, error) {
			other := c.truth.RegionByID(req.Target.RegionID).PeerOnStore(3 - req.Target.StoreID)
			return pipelinetest.RegionErrorResponse(req.Cmd, &errorpb.Error{NotLeader: &errorpb.NotLeader{Leader: other}}), nil
		})
		env := c.env()
		env.BackoffBudget = 2 * time.Second
		r, _ := c.Locate(context.Background(), []byte("k"))
		_, err := Retry(env, testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		var ex *kv.BackoffExhaustedError
		if !errors.As(err, &ex) || ex.Policy != "regionScheduling" {
			t.Fatalf("err = %v, want the regionScheduling budget exhausted", err)
		}
	})
}

func storesOf(reqs []*transport.Request) []uint64 {
	out := make([]uint64, len(reqs))
	for i, r := range reqs {
		out[i] = r.Target.StoreID
	}
	return out
}

func TestRetryDiskFullReportsRegionErrorWhenExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.tikv.Always(nil, pipelinetest.RegionError(&errorpb.Error{DiskFull: &errorpb.DiskFull{StoreId: []uint64{1}}}))
		r, _ := c.Locate(context.Background(), []byte("k"))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := Retry(c.env(), testGet)(ctx, r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		var re *kv.RegionError
		if !errors.As(err, &re) || re.Err.GetDiskFull() == nil {
			t.Fatalf("err = %v, want the DiskFull region error", err)
		}
	})
}

func TestRetryDoesNotRetryClosedTransport(t *testing.T) {
	c := newFakeCluster()
	c.tikv.Always(nil, pipelinetest.Fail(fmt.Errorf("%w: %w", transport.ErrNotSent, kv.ErrClosed)))
	r, _ := c.Locate(context.Background(), []byte("k"))
	_, err := Retry(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	if !errors.Is(err, kv.ErrClosed) || len(c.rec.Requests()) != 1 {
		t.Fatalf("err = %v after %d sends; want ErrClosed at once", err, len(c.rec.Requests()))
	}
}

func TestRetryGivesUpWithinBudgetWithoutDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.tikv.Always(nil, pipelinetest.Fail(transport.ErrNotSent))
		env := c.env()
		env.BackoffBudget = 5 * time.Second
		r, _ := c.Locate(context.Background(), []byte("k"))
		start := time.Now()
		_, err := Retry(env, testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		var ex *kv.BackoffExhaustedError
		if !errors.As(err, &ex) || ex.Policy != "tikvRPC" || !errors.Is(err, transport.ErrNotSent) {
			t.Fatalf("err = %v", err)
		}
		if slept := time.Since(start); slept > 5*time.Second {
			t.Fatalf("slept %v past the 5s budget", slept)
		}
	})
}

// TestRetryCanceledMidSendIsUndetermined: a non-idempotent command whose
// caller's context ends while it is in flight may have applied: it must be
// reported as undetermined, not as a plain context error.
func TestRetryCanceledMidSendIsUndetermined(t *testing.T) {
	c := newFakeCluster()
	ctx, cancel := context.WithCancel(context.Background())
	c.tikv.Always(nil, func(context.Context, *transport.Request, transport.Sender) (*transport.Response, error) {
		cancel() // the caller gives up while the request is on the wire
		return nil, context.Canceled
	})
	r, _ := c.Locate(context.Background(), []byte("k"))
	_, err := Retry(c.env(), testPutOnce)(ctx, r, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")})
	if !errors.Is(err, kv.ErrUndetermined) {
		t.Fatalf("err = %v, want ErrUndetermined", err)
	}
	// An idempotent read in the same situation reports the context error.
	ctx2, cancel2 := context.WithCancel(context.Background())
	c.tikv.ClearScript()
	c.tikv.Always(nil, func(context.Context, *transport.Request, transport.Sender) (*transport.Response, error) {
		cancel2()
		return nil, context.Canceled
	})
	_, err = Retry(c.env(), testGet)(ctx2, r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	if !errors.Is(err, context.Canceled) || errors.Is(err, kv.ErrUndetermined) {
		t.Fatalf("read err = %v", err)
	}
}
