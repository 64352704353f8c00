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
	"github.com/tikvgo/tikv/pipeline/backoff"
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

func TestClassifyRegionError(t *testing.T) {
	leader := &metapb.Peer{Id: 2, StoreId: 2}
	cases := []struct {
		name string
		err  *errorpb.Error
		want regionDecision
	}{
		{"NotLeader with hint", &errorpb.Error{NotLeader: &errorpb.NotLeader{Leader: leader}}, regionDecision{action: switchLeader}},
		{"NotLeader without hint", &errorpb.Error{NotLeader: &errorpb.NotLeader{}}, regionDecision{action: reloadRegion, policy: backoff.RegionScheduling, invalidate: true}},
		{"EpochNotMatch", &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{}}, regionDecision{action: epochChanged}},
		{"RegionNotFound", &errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{}}, regionDecision{action: resplit, invalidate: true}},
		{"KeyNotInRegion", &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{}}, regionDecision{action: resplit, invalidate: true}},
		{"MismatchPeerId", &errorpb.Error{MismatchPeerId: &errorpb.MismatchPeerId{}}, regionDecision{action: resplit, invalidate: true}},
		{"StoreNotMatch", &errorpb.Error{StoreNotMatch: &errorpb.StoreNotMatch{}}, regionDecision{action: resplit, invalidate: true, storeChanged: true}},
		{"BucketVersionNotMatch", &errorpb.Error{BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{}}, regionDecision{action: resplit}},
		{"ServerIsBusy", &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{}}, regionDecision{action: retrySame, policy: backoff.ServerBusy}},
		{"StaleCommand", &errorpb.Error{StaleCommand: &errorpb.StaleCommand{}}, regionDecision{action: retrySame, policy: backoff.StaleCmd}},
		{"MaxTimestampNotSynced", &errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}}, regionDecision{action: retrySame, policy: backoff.MaxTSNotSynced}},
		{"RegionNotInitialized", &errorpb.Error{RegionNotInitialized: &errorpb.RegionNotInitialized{}}, regionDecision{action: retrySame, policy: backoff.RegionNotInitialized}},
		{"ReadIndexNotReady", &errorpb.Error{ReadIndexNotReady: &errorpb.ReadIndexNotReady{}}, regionDecision{action: retrySame, policy: backoff.RegionScheduling}},
		{"ProposalInMergingMode", &errorpb.Error{ProposalInMergingMode: &errorpb.ProposalInMergingMode{}}, regionDecision{action: retrySame, policy: backoff.RegionScheduling}},
		{"DiskFull", &errorpb.Error{DiskFull: &errorpb.DiskFull{}}, regionDecision{action: retrySame, policy: backoff.DiskFull}},
		{"DataIsNotReady", &errorpb.Error{DataIsNotReady: &errorpb.DataIsNotReady{}}, regionDecision{action: retrySame, policy: backoff.RegionMiss}},
		{"RecoveryInProgress", &errorpb.Error{RecoveryInProgress: &errorpb.RecoveryInProgress{}}, regionDecision{action: reloadRegion, policy: backoff.RegionRecoveryInProgress, invalidate: true}},
		{"IsWitness", &errorpb.Error{IsWitness: &errorpb.IsWitness{}}, regionDecision{action: reloadRegion, policy: backoff.IsWitness, invalidate: true}},
		{"RaftEntryTooLarge", &errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}, regionDecision{action: fatal}},
		{"FlashbackInProgress", &errorpb.Error{FlashbackInProgress: &errorpb.FlashbackInProgress{}}, regionDecision{action: fatal}},
		{"FlashbackNotPrepared", &errorpb.Error{FlashbackNotPrepared: &errorpb.FlashbackNotPrepared{}}, regionDecision{action: fatal}},
		{"UndeterminedResult", &errorpb.Error{UndeterminedResult: &errorpb.UndeterminedResult{}}, regionDecision{action: fatal}},
		{"unknown", &errorpb.Error{Message: "something new"}, regionDecision{action: resplit, policy: backoff.RegionMiss, invalidate: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyRegionError(tc.err); got != tc.want {
				t.Fatalf("classify = %+v, want %+v", got, tc.want)
			}
			if kind := kv.RegionErrorKind(tc.err); tc.name != "unknown" && kind != tc.name[:len(kind)] {
				t.Fatalf("RegionErrorKind = %q for %s", kind, tc.name)
			}
		})
	}
}

func TestDispatchServerBusyBacksOffThenSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.data["k"] = "v"
		busy := 2
		c.hook = func(req *transport.Request) (*transport.Response, error, bool) {
			if busy == 0 {
				return nil, nil, false
			}
			busy--
			return regionErr(req.Cmd, &errorpb.Error{ServerIsBusy: &errorpb.ServerIsBusy{Reason: "test"}}), nil, true
		}
		step := Dispatch(c.env(), testGet)
		r, _ := c.Locate(context.Background(), []byte("k"))
		start := time.Now()
		resp, err := step(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		if err != nil || string(resp.Value) != "v" {
			t.Fatalf("step = %v, %v", resp, err)
		}
		// ServerBusy: 2s then 4s with equal jitter: [1s,2s) + [2s,4s).
		if slept := time.Since(start); slept < 3*time.Second || slept >= 6*time.Second {
			t.Fatalf("slept %v, want within [3s, 6s)", slept)
		}
		sends := c.sent()
		if len(sends) != 3 {
			t.Fatalf("%d attempts, want 3", len(sends))
		}
		for i, s := range sends {
			if got := s.Cmd.Context(s.Msg).GetIsRetryRequest(); got != (i > 0) || s.Attempt != i {
				t.Fatalf("attempt %d: IsRetryRequest=%v Attempt=%d", i, got, s.Attempt)
			}
		}
	})
}

func TestDispatchFillsContextOnACopy(t *testing.T) {
	c := newFakeCluster("m")
	step := Dispatch(c.env(), testGet)
	r, _ := c.Locate(context.Background(), []byte("x"))
	callerCtx := &kvrpcpb.Context{Priority: kvrpcpb.CommandPri_High, RequestSource: "test"}
	req := &kvrpcpb.RawGetRequest{Context: callerCtx, Key: []byte("x")}
	if _, err := step(context.Background(), r, req); err != nil {
		t.Fatal(err)
	}
	if req.Context != callerCtx || callerCtx.RegionId != 0 || callerCtx.Peer != nil {
		t.Fatalf("caller's request was modified: %+v", req.Context)
	}
	sent := c.sent()[0]
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

func TestDispatchUnknownOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		wire := errors.New("connection reset")
		c.hook = func(*transport.Request) (*transport.Response, error, bool) { return nil, wire, true }
		r, _ := c.Locate(context.Background(), []byte("k"))
		_, err := Dispatch(c.env(), testPutOnce)(context.Background(), r, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")})
		if !errors.Is(err, kv.ErrUndetermined) || !errors.Is(err, wire) {
			t.Fatalf("non-idempotent send failure = %v, want ErrUndetermined wrapping the cause", err)
		}
		if n := len(c.sent()); n != 1 {
			t.Fatalf("non-idempotent command sent %d times after an unknown outcome", n)
		}
	})
}

func TestDispatchRetriesNotSentEvenIfNotIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		fails := 1
		c.hook = func(*transport.Request) (*transport.Response, error, bool) {
			if fails == 0 {
				return nil, nil, false
			}
			fails--
			return nil, transport.ErrNotSent, true
		}
		r, _ := c.Locate(context.Background(), []byte("k"))
		if _, err := Dispatch(c.env(), testPutOnce)(context.Background(), r, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
			t.Fatalf("put after a not-sent failure: %v", err)
		}
		if c.data["k"] != "v" || len(c.storeFails) != 1 {
			t.Fatalf("data=%v storeFails=%v", c.data, c.storeFails)
		}
	})
}

func TestDispatchFatalErrors(t *testing.T) {
	for _, tc := range []struct {
		err          *errorpb.Error
		undetermined bool
	}{
		{&errorpb.Error{RaftEntryTooLarge: &errorpb.RaftEntryTooLarge{}}, false},
		{&errorpb.Error{UndeterminedResult: &errorpb.UndeterminedResult{}}, true},
	} {
		c := newFakeCluster()
		c.hook = func(req *transport.Request) (*transport.Response, error, bool) {
			return regionErr(req.Cmd, tc.err), nil, true
		}
		r, _ := c.Locate(context.Background(), []byte("k"))
		_, err := Dispatch(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		var re *kv.RegionError
		if !errors.As(err, &re) || !re.Fatal || errors.Is(err, kv.ErrUndetermined) != tc.undetermined {
			t.Fatalf("%s: err = %v", kv.RegionErrorKind(tc.err), err)
		}
		if len(c.sent()) != 1 {
			t.Fatalf("fatal error retried")
		}
	}
}

func TestDispatchInBodyError(t *testing.T) {
	c := newFakeCluster()
	c.hook = func(*transport.Request) (*transport.Response, error, bool) {
		return &transport.Response{Msg: &kvrpcpb.RawGetResponse{Error: "bad cf"}}, nil, true
	}
	r, _ := c.Locate(context.Background(), []byte("k"))
	_, err := Dispatch(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	var se *kv.ServerError
	if !errors.As(err, &se) || se.Msg != "bad cf" {
		t.Fatalf("err = %v, want *kv.ServerError", err)
	}
}

func TestDispatchStopsOnCanceledContext(t *testing.T) {
	c := newFakeCluster()
	r, _ := c.Locate(context.Background(), []byte("k"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Dispatch(c.env(), testGet)(ctx, r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	if !errors.Is(err, context.Canceled) || len(c.sent()) != 0 {
		t.Fatalf("err = %v after %d sends; want Canceled and nothing sent", err, len(c.sent()))
	}
}

func TestDispatchLeaderHintOutsideRegionResplits(t *testing.T) {
	c := newFakeCluster()
	c.hook = func(req *transport.Request) (*transport.Response, error, bool) {
		return regionErr(req.Cmd, &errorpb.Error{NotLeader: &errorpb.NotLeader{Leader: &metapb.Peer{Id: 99, StoreId: 9}}}), nil, true
	}
	r, _ := c.Locate(context.Background(), []byte("k"))
	_, err := Dispatch(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	var re *kv.RegionError
	if !errors.As(err, &re) || re.Fatal || len(c.invalidated) == 0 {
		t.Fatalf("err = %v, invalidated %v: want a re-split signal and an invalidated region", err, c.invalidated)
	}
}

func TestDispatchFollowsLeaderHints(t *testing.T) {
	c := newFakeCluster()
	c.data["k"] = "v"
	c.hook = func(req *transport.Request) (*transport.Response, error, bool) {
		if req.Target.StoreID == 1 {
			return regionErr(req.Cmd, &errorpb.Error{NotLeader: &errorpb.NotLeader{Leader: &metapb.Peer{Id: 12, StoreId: 2}}}), nil, true
		}
		return nil, nil, false
	}
	r, _ := c.Locate(context.Background(), []byte("k"))
	resp, err := Dispatch(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	if err != nil || string(resp.Value) != "v" {
		t.Fatalf("Get = %v, %v", resp, err)
	}
	sends := c.sent()
	if len(sends) != 2 || sends[1].Target.StoreID != 2 {
		t.Fatalf("attempts went to %v", sends)
	}
}

func TestDispatchDiskFullReportsRegionErrorWhenExhausted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.hook = func(req *transport.Request) (*transport.Response, error, bool) {
			return regionErr(req.Cmd, &errorpb.Error{DiskFull: &errorpb.DiskFull{StoreId: []uint64{1}}}), nil, true
		}
		r, _ := c.Locate(context.Background(), []byte("k"))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := Dispatch(c.env(), testGet)(ctx, r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		var re *kv.RegionError
		if !errors.As(err, &re) || re.Err.GetDiskFull() == nil {
			t.Fatalf("err = %v, want the DiskFull region error", err)
		}
	})
}

func TestDispatchDoesNotRetryClosedTransport(t *testing.T) {
	c := newFakeCluster()
	c.hook = func(*transport.Request) (*transport.Response, error, bool) {
		return nil, fmt.Errorf("%w: %w", transport.ErrNotSent, kv.ErrClosed), true
	}
	r, _ := c.Locate(context.Background(), []byte("k"))
	_, err := Dispatch(c.env(), testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	if !errors.Is(err, kv.ErrClosed) || len(c.sent()) != 1 {
		t.Fatalf("err = %v after %d sends; want ErrClosed at once", err, len(c.sent()))
	}
}

func TestDispatchGivesUpWithinBudgetWithoutDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.hook = func(*transport.Request) (*transport.Response, error, bool) { return nil, transport.ErrNotSent, true }
		env := c.env()
		env.BackoffBudget = 5 * time.Second
		r, _ := c.Locate(context.Background(), []byte("k"))
		start := time.Now()
		_, err := Dispatch(env, testGet)(context.Background(), r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		var ex *kv.BackoffExhaustedError
		if !errors.As(err, &ex) || ex.Policy != "tikvRPC" || !errors.Is(err, transport.ErrNotSent) {
			t.Fatalf("err = %v", err)
		}
		if slept := time.Since(start); slept > 5*time.Second {
			t.Fatalf("slept %v past the 5s budget", slept)
		}
	})
}
