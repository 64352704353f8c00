package integration_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/middleware"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// attempt is what a recording interceptor saw of one attempt.
type attempt struct {
	cmd     transport.Cmd
	call    uint64
	attempt int
	failed  bool // the attempt returned an error or a region error
}

// recorder is a user interceptor that records every attempt through it.
type recorder struct {
	mu   sync.Mutex
	seen []attempt
}

func (r *recorder) middleware() transport.Middleware {
	return func(next transport.Sender) transport.Sender {
		return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			resp, err := next.Send(ctx, req)
			failed := err != nil
			if resp != nil {
				if re, ok := resp.Msg.(interface{ GetRegionError() *errorpb.Error }); ok && re.GetRegionError() != nil {
					failed = true
				}
			}
			r.mu.Lock()
			r.seen = append(r.seen, attempt{req.Cmd, req.Call.ID, req.Attempt, failed})
			r.mu.Unlock()
			return resp, err
		})
	}
}

func (r *recorder) attempts() []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

func (r *recorder) cmds() []transport.Cmd {
	var out []transport.Cmd
	for _, a := range r.attempts() {
		out = append(out, a.cmd)
	}
	return out
}

// TestInterceptorSeesEveryCall: a client-wide middleware (tikv.WithMiddleware)
// and a per-call interceptor (middleware.WithInterceptors) both see every
// attempt a call makes, raw and transactional, and only the calls whose
// context carries the interceptor reach the latter.
func TestInterceptorSeesEveryCall(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := e.ctx()
	var wide, perCall recorder
	cluster := e.connect(tikv.WithMiddleware(wide.middleware()))
	rc := raw.NewClient(cluster)
	callCtx := middleware.WithInterceptors(ctx, perCall.middleware())

	k := e.rawKey("intercepted")
	if err := rc.Put(callCtx, k, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Get(callCtx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Get(ctx, k); err != nil { // not through perCall
		t.Fatal(err)
	}
	if got, want := perCall.cmds(), []transport.Cmd{transport.CmdRawPut, transport.CmdRawGet}; !slices.Equal(got, want) {
		t.Fatalf("per-call interceptor saw %v, want %v", got, want)
	}
	if got, want := wide.cmds(), []transport.Cmd{transport.CmdRawPut, transport.CmdRawGet, transport.CmdRawGet}; !slices.Equal(got, want) {
		t.Fatalf("client-wide middleware saw %v, want %v", got, want)
	}

	// A two-phase commit: a prewrite and a commit, both seen.
	perCall = recorder{}
	tc := txn.NewClient(cluster)
	defer tc.Close(ctx)
	e.usedTxn = true
	tx, err := tc.Begin(callCtx, txn.WithAsyncCommit(false), txn.WithOnePC(false))
	if err != nil {
		t.Fatal(err)
	}
	_ = tx.Set(e.txnKey("intercepted"), []byte("v"))
	if err := tx.Commit(callCtx); err != nil {
		t.Fatal(err)
	}
	got := perCall.cmds()
	if !slices.Contains(got, transport.CmdPrewrite) || !slices.Contains(got, transport.CmdCommit) {
		t.Fatalf("per-call interceptor saw %v during a two-phase commit, want a Prewrite and a Commit", got)
	}
}

// TestInterceptorSeesRetries: an interceptor sees every attempt of a call,
// the failed ones too: the mock answers the first two RawPut attempts with
// RegionNotFound (the client reloads the region from PD and resends), and
// the interceptor sees attempts 0, 1 and 2 of one call, the first two
// failed. Mock-only: it injects the faults.
func TestInterceptorSeesRetries(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m := e.needMock("injects RegionNotFound")
	ctx := e.ctx()
	k := e.rawKey("retried")
	m.Inject(mocktikv.Fault{
		Cmd: transport.CmdRawPut, Key: k,
		Steps: []mocktikv.Step{mocktikv.Times(2, mocktikv.RegionError(&errorpb.Error{
			Message: "region not found", RegionNotFound: &errorpb.RegionNotFound{},
		}))},
	})
	var r recorder
	if err := e.raw().Put(middleware.WithInterceptors(ctx, r.middleware()), k, []byte("v")); err != nil {
		t.Fatalf("Put through two RegionNotFound: %v", err)
	}
	got := r.attempts()
	if len(got) != 3 {
		t.Fatalf("interceptor saw %+v, want 3 attempts", got)
	}
	for i, a := range got {
		if a.cmd != transport.CmdRawPut || a.attempt != i || a.call != got[0].call || a.failed != (i < 2) {
			t.Errorf("attempt %d seen as %+v", i, a)
		}
	}
}

// TestTxnLostCommitResponseIsUndetermined: when the answer to the primary's
// commit is lost after TiKV applied it, Commit fails with
// kv.ErrUndetermined, never success nor a plain failure, and the data is
// in fact committed. Mock-only: it injects the lost response.
func TestTxnLostCommitResponseIsUndetermined(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m := e.needMock("loses a commit response")
	ctx, c := e.ctx(), e.txn()
	k := e.txnKey("lost")
	m.Inject(mocktikv.Fault{
		Cmd: transport.CmdCommit, Key: k,
		Steps: []mocktikv.Step{mocktikv.Always(mocktikv.LoseResponse(status.Error(codes.Unavailable, "injected: connection lost")))},
	})
	tx, err := c.Begin(ctx, txn.WithAsyncCommit(false), txn.WithOnePC(false))
	if err != nil {
		t.Fatal(err)
	}
	_ = tx.Set(k, []byte("v"))
	// The client resends the commit while no answer settles it; the
	// caller's deadline ends the wait.
	commitCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err = tx.Commit(commitCtx)
	if !errors.Is(err, kv.ErrUndetermined) {
		t.Fatalf("Commit with its answer lost: %v, want kv.ErrUndetermined", err)
	}
	if v := latest(t, ctx, c, k); string(v) != "v" {
		t.Fatalf("the commit TiKV applied reads %q", v)
	}
}
