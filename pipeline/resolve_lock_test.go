package pipeline

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline/pipelinetest"
	"github.com/tikvgo/tikv/transport"
)

// kvGetLocked is KvGet with a key-error mapper that reports locks, as
// plans.KeyErr does (plans imports pipeline, so it is spelled out here).
var kvGetLocked = Method[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse]{
	Cmd: transport.CmdGet, Idempotent: true, Read: true,
	Err: func(r *kvrpcpb.GetResponse) error {
		if l := r.GetError().GetLocked(); l != nil {
			return &kv.LockedError{Locks: []*kv.Lock{{Key: l.Key, Primary: l.PrimaryLock, StartTS: l.LockVersion}}}
		}
		return nil
	},
}

// scriptedResolver answers ResolveLocks from a list, recording its calls.
type scriptedResolver struct {
	mu      sync.Mutex
	answers []ResolveResult
	err     error
	calls   [][]uint64 // lock start ts per call
	callers []uint64
}

func (r *scriptedResolver) ResolveLocks(_ context.Context, caller uint64, locks []*kv.Lock) (ResolveResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ts []uint64
	for _, l := range locks {
		ts = append(ts, l.StartTS)
	}
	r.calls, r.callers = append(r.calls, ts), append(r.callers, caller)
	if r.err != nil {
		return ResolveResult{}, r.err
	}
	res := r.answers[0]
	if len(r.answers) > 1 {
		r.answers = r.answers[1:]
	}
	return res, nil
}

func lockedReply(startTS uint64) pipelinetest.Answer {
	return pipelinetest.Reply(&kvrpcpb.GetResponse{Error: &kvrpcpb.KeyError{Locked: &kvrpcpb.LockInfo{
		Key: []byte("k"), PrimaryLock: []byte("p"), LockVersion: startTS, LockTtl: 3000,
	}}})
}

func getStep(env *Env, r LockResolver, opts ...ResolveLockOption) Step[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse] {
	return ResolveLocks(env, r, (*kvrpcpb.GetRequest).GetVersion,
		func(req *kvrpcpb.GetRequest, res ResolveResult) *kvrpcpb.GetRequest {
			cp := *req
			ctx := *req.GetContext()
			ctx.ResolvedLocks = append(slices.Clone(ctx.ResolvedLocks), res.Resolved...)
			ctx.CommittedLocks = append(slices.Clone(ctx.CommittedLocks), res.Committed...)
			cp.Context = &ctx
			return &cp
		}, Retry(env, kvGetLocked), opts...)
}

// TestResolveLocksSettledLockResendsAtOnce: a read that meets a lock the
// resolver settles is sent again at once (no sleep), carrying the resolved
// transaction in Context.resolved_locks; the caller's ts reaches the
// resolver; the caller's request is untouched.
func TestResolveLocksSettledLockResendsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.tikv.Script(pipelinetest.ForCmd(transport.CmdGet), lockedReply(5),
			pipelinetest.Reply(&kvrpcpb.GetResponse{Value: []byte("v")}))
		r := &scriptedResolver{answers: []ResolveResult{{Resolved: []uint64{5}}}}
		env := c.env()
		region, _ := c.Locate(context.Background(), []byte("k"))
		req := &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k"), Version: 10}
		start := time.Now()
		resp, err := getStep(env, r, ForReads())(context.Background(), region, req)
		if err != nil || string(resp.GetValue()) != "v" {
			t.Fatalf("get = %v, %v", resp, err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("slept %v before resending after every lock was settled", time.Since(start))
		}
		sent := c.rec.Requests()
		if len(sent) != 2 || !slices.Equal(sent[1].Cmd.Context(sent[1].Msg).GetResolvedLocks(), []uint64{5}) {
			t.Fatalf("attempts %d, second's resolved locks %v", len(sent), sent[len(sent)-1].Cmd.Context(sent[len(sent)-1].Msg).GetResolvedLocks())
		}
		if len(req.GetContext().GetResolvedLocks()) != 0 || r.callers[0] != 10 || !slices.Equal(r.calls[0], []uint64{5}) {
			t.Fatalf("caller's request %v; resolver called by %v with %v", req.GetContext(), r.callers, r.calls)
		}
	})
}

// TestResolveLocksLiveLockWaits: a live lock is waited for under the
// read policy, no longer than it has to live, then the read goes through;
// a write waits under TxnLock.
func TestResolveLocksLiveLockWaits(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []ResolveLockOption
		max  time.Duration
	}{
		{"read", []ResolveLockOption{ForReads()}, 50 * time.Millisecond},
		{"write", nil, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := newFakeCluster()
				c.tikv.Script(pipelinetest.ForCmd(transport.CmdGet), lockedReply(5), lockedReply(5),
					pipelinetest.Reply(&kvrpcpb.GetResponse{Value: []byte("v")}))
				r := &scriptedResolver{answers: []ResolveResult{{Live: 50 * time.Millisecond}}}
				env := c.env()
				region, _ := c.Locate(context.Background(), []byte("k"))
				start := time.Now()
				resp, err := getStep(env, r, tc.opts...)(context.Background(), region,
					&kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k"), Version: 10})
				if err != nil || string(resp.GetValue()) != "v" {
					t.Fatalf("get = %v, %v", resp, err)
				}
				if slept := time.Since(start); slept == 0 || slept > 2*tc.max {
					t.Fatalf("slept %v for two live-lock waits; want > 0 and each at most %v", slept, tc.max)
				}
				if len(r.calls) != 2 {
					t.Fatalf("resolver called %d times", len(r.calls))
				}
			})
		})
	}
}

// TestResolveLocksGivesUpWithTheBudget: a lock that never goes away ends
// the call when the piece's budget is spent, with the LockedError as the
// cause; a resolver failure ends it at once; other errors pass through.
func TestResolveLocksGivesUpWithTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newFakeCluster()
		c.tikv.Always(pipelinetest.ForCmd(transport.CmdGet), lockedReply(5))
		env := c.env()
		env.BackoffBudget = time.Second
		region, _ := c.Locate(context.Background(), []byte("k"))
		req := &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k"), Version: 10}
		_, err := getStep(env, &scriptedResolver{answers: []ResolveResult{{Live: time.Hour}}})(context.Background(), region, req)
		var be *kv.BackoffExhaustedError
		if !errors.As(err, &be) || !errors.Is(err, kv.ErrKeyLocked) {
			t.Fatalf("err = %v, want backoff exhausted on a locked key", err)
		}
		// Settled every time, yet locked every time: it still backs off.
		_, err = getStep(env, &scriptedResolver{answers: []ResolveResult{{}}})(context.Background(), region, req)
		if !errors.As(err, &be) {
			t.Fatalf("err = %v, want backoff exhausted", err)
		}
		boom := errors.New("pd down")
		_, err = getStep(env, &scriptedResolver{err: boom})(context.Background(), region, req)
		if !errors.Is(err, boom) {
			t.Fatalf("resolver failure: %v", err)
		}
	})
}

// writingResolver resolves by sending a write whose response is lost (as
// a KvResolveLock can), then reports every lock settled.
type writingResolver struct {
	env  *Env
	step Step[*kvrpcpb.RawPutRequest, *kvrpcpb.RawPutResponse]
	c    *fakeCluster
	err  error
}

func (r *writingResolver) ResolveLocks(ctx context.Context, _ uint64, _ []*kv.Lock) (ResolveResult, error) {
	region, _ := r.c.Locate(ctx, []byte("k"))
	_, r.err = r.step(ctx, region, &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("v")})
	return ResolveResult{}, nil
}

// TestResolverWritesDoNotTaintThePiece: a resolver's own write whose
// outcome is unknown does not make the reading piece's later failure
// undetermined; the read's ordinary error comes back as it is.
func TestResolverWritesDoNotTaintThePiece(t *testing.T) {
	c := newFakeCluster()
	lost := errors.New("connection reset after send")
	c.tikv.Script(pipelinetest.ForCmd(transport.CmdRawPut), pipelinetest.Fail(lost))
	c.tikv.Script(pipelinetest.ForCmd(transport.CmdGet), lockedReply(5),
		pipelinetest.Reply(&kvrpcpb.GetResponse{Error: &kvrpcpb.KeyError{Abort: "x"}}))
	env := c.env()
	abortErr := errors.New("aborted")
	m := kvGetLocked
	m.Err = func(r *kvrpcpb.GetResponse) error {
		if r.GetError().GetAbort() != "" {
			return abortErr
		}
		return kvGetLocked.Err(r)
	}
	r := &writingResolver{env: env, step: Retry(env, testPutOnce), c: c}
	region, _ := c.Locate(context.Background(), []byte("k"))
	_, err := ResolveLocks(env, r, (*kvrpcpb.GetRequest).GetVersion, nil, Retry(env, m), ForReads())(
		context.Background(), region, &kvrpcpb.GetRequest{Key: []byte("k"), Version: 10})
	if !errors.Is(r.err, kv.ErrUndetermined) {
		t.Fatalf("the resolver's lost write: %v, want undetermined", r.err)
	}
	if !errors.Is(err, abortErr) || errors.Is(err, kv.ErrUndetermined) {
		t.Fatalf("read error = %v, want the abort, not undetermined", err)
	}
}
