package pipeline

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

// notSynced is a region error Retry waits for under MaxTSNotSynced, a
// policy without jitter (2ms doubling to a 500ms cap), so that a budget
// allows an exact number of waits.
var notSynced = pipelinetest.RegionError(&errorpb.Error{MaxTimestampNotSynced: &errorpb.MaxTimestampNotSynced{}})

// TestBackoffWeightScalesBudget: the weight of the kv.Variables in the
// context scales the request's budget by weight/2 (client-go's
// BackOffWeight multiplies its budgets; its default 2 is in ours). With a
// 1s budget, MaxTSNotSynced waits 2+4+...+256 = 510ms, then 500ms each:
// the default weight allows 8 waits (a 9th would reach 1010ms), weight 4
// (2s) allows 10, weight 1 (500ms) 7. The listener hears every wait.
func TestBackoffWeightScalesBudget(t *testing.T) {
	for _, tc := range []struct {
		weight int
		waits  int
		slept  time.Duration
	}{
		{0, 8, 510 * time.Millisecond},
		{2, 8, 510 * time.Millisecond},
		{4, 10, 1510 * time.Millisecond},
		{1, 7, 254 * time.Millisecond},
	} {
		synctest.Test(t, func(t *testing.T) {
			c := newFakeCluster()
			c.tikv.Always(nil, notSynced)
			env := c.env()
			env.BackoffBudget = time.Second
			var waits atomic.Int32
			ctx := WithBackoffListener(context.Background(), func(e observe.Event) {
				if e.Kind != observe.Backoff || e.Backoff != "maxTsNotSynced" {
					t.Errorf("event %+v", e)
				}
				waits.Add(1)
			})
			ctx = WithVariables(ctx, kv.Variables{BackoffWeight: tc.weight})
			r, _ := c.Locate(ctx, []byte("k"))
			start := time.Now()
			_, err := Retry(env, testGet)(ctx, r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
			var be *kv.BackoffExhaustedError
			if !errors.As(err, &be) {
				t.Fatalf("weight %d: err %v, want the budget exhausted", tc.weight, err)
			}
			slept := time.Since(start)
			if int(waits.Load()) != tc.waits || slept != tc.slept || be.Slept != tc.slept {
				t.Fatalf("weight %d: %d waits over %v (error says %v), want %d over %v", tc.weight, waits.Load(), slept, be.Slept, tc.waits, tc.slept)
			}
		})
	}
}

// testCommit stands for a command a kill flag does not stop (Commit).
var testCommit = Method[*kvrpcpb.CommitRequest, *kvrpcpb.CommitResponse]{Cmd: transport.CmdCommit}

// TestKillFlagBeforeAttempt: with the flag raised, an interruptible
// command is not sent and fails with the signal; Commit is sent as usual
// (client-go's IsInterruptible).
func TestKillFlagBeforeAttempt(t *testing.T) {
	c := newFakeCluster()
	c.tikv.Always(pipelinetest.ForCmd(transport.CmdCommit), pipelinetest.Reply(&kvrpcpb.CommitResponse{CommitVersion: 7}))
	var flag atomic.Uint32
	flag.Store(3)
	ctx := WithVariables(context.Background(), kv.Variables{Killed: &flag})
	r, _ := c.Locate(ctx, []byte("k"))

	_, err := Retry(c.env(), testGet)(ctx, r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
	var qi *kv.QueryInterruptedError
	if !errors.As(err, &qi) || qi.Signal != 3 || !errors.Is(err, kv.ErrQueryInterrupted) {
		t.Fatalf("get with the flag raised: %v, want signal 3", err)
	}
	if n := len(c.rec.Requests()); n != 0 {
		t.Fatalf("%d attempts sent after the kill", n)
	}
	resp, err := Retry(c.env(), testCommit)(ctx, r, &kvrpcpb.CommitRequest{Keys: [][]byte{[]byte("k")}})
	if err != nil || resp.GetCommitVersion() != 7 {
		t.Fatalf("commit with the flag raised = %v, %v; want it sent", resp, err)
	}
	flag.Store(0)
	if _, err := Retry(c.env(), testGet)(ctx, r, &kvrpcpb.RawGetRequest{Key: []byte("k")}); err != nil {
		t.Fatalf("get after the flag was reset: %v", err)
	}
}

// TestKillFlagAfterBackoff: a flag raised while a retry sleeps ends the
// retry once the sleep is over (client-go's Backoffer checks it after
// every sleep), with no further attempt.
func TestKillFlagAfterBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.tikv.Always(nil, notSynced)
		var flag atomic.Uint32
		ctx := WithVariables(context.Background(), kv.Variables{Killed: &flag})
		ctx = WithBackoffListener(ctx, func(observe.Event) { flag.Store(9) })
		r, _ := c.Locate(ctx, []byte("k"))
		_, err := Retry(c.env(), testGet)(ctx, r, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		var qi *kv.QueryInterruptedError
		if !errors.As(err, &qi) || qi.Signal != 9 {
			t.Fatalf("err %v, want interrupted with signal 9", err)
		}
		if n := len(c.rec.Requests()); n != 1 {
			t.Fatalf("%d attempts, want only the one before the sleep", n)
		}
	})
}

// TestLockFastBackoffBase: a read that met a live lock first waits the
// base the kv.Variables give (client-go's BackoffLockFast), under the
// txnLockFast policy with equal jitter: [base/2, base).
func TestLockFastBackoffBase(t *testing.T) {
	for _, base := range []time.Duration{0, 200 * time.Millisecond} {
		synctest.Test(t, func(t *testing.T) {
			c := newFakeCluster()
			c.tikv.Script(pipelinetest.ForCmd(transport.CmdGet), lockedReply(5),
				pipelinetest.Reply(&kvrpcpb.GetResponse{Value: []byte("v")}))
			r := &scriptedResolver{answers: []ResolveResult{{Live: 3 * time.Second}}}
			var sleeps []time.Duration
			ctx := WithBackoffListener(context.Background(), func(e observe.Event) {
				if e.Backoff != "txnLockFast" {
					t.Errorf("backoff %q, want txnLockFast", e.Backoff)
				}
				sleeps = append(sleeps, e.Sleep)
			})
			ctx = WithVariables(ctx, kv.Variables{LockFastBackoff: base})
			region, _ := c.Locate(ctx, []byte("k"))
			resp, err := getStep(c.env(), r, ForReads())(ctx, region,
				&kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k"), Version: 10})
			if err != nil || string(resp.GetValue()) != "v" {
				t.Fatalf("get = %v, %v", resp, err)
			}
			want := base
			if want == 0 {
				want = kv.DefaultLockFastBackoff
			}
			if len(sleeps) != 1 || sleeps[0] < want/2 || sleeps[0] >= want {
				t.Fatalf("base %v: slept %v, want one wait in [%v, %v)", base, sleeps, want/2, want)
			}
		})
	}
}
