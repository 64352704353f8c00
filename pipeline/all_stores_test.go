package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/transport"
)

var (
	// testFeedback stands for an idempotent store-level read with a
	// Context; it also shows Method.ForStores.
	testFeedback = Method[*kvrpcpb.GetHealthFeedbackRequest, *kvrpcpb.GetHealthFeedbackResponse]{
		Cmd: transport.CmdGetHealthFeedback, Idempotent: true, Read: true,
	}
	// testSafeTS is a store-level read whose messages carry no Context.
	testSafeTS = Method[*kvrpcpb.StoreSafeTSRequest, *kvrpcpb.StoreSafeTSResponse]{
		Cmd: transport.CmdStoreSafeTS, Idempotent: true, Read: true,
	}
	// testDestroyOnce stands for a non-idempotent store-level write.
	testDestroyOnce = Method[*kvrpcpb.UnsafeDestroyRangeRequest, *kvrpcpb.UnsafeDestroyRangeResponse]{
		Cmd: transport.CmdUnsafeDestroyRange,
		Err: func(r *kvrpcpb.UnsafeDestroyRangeResponse) error {
			if r.Error != "" {
				return &kv.ServerError{Cmd: "UnsafeDestroyRange", Msg: r.Error}
			}
			return nil
		},
	}
)

// storeLocator lists a fixed set of stores over the fake cluster's
// Locator, plays the health checks AllStores triggers, and records them.
type storeLocator struct {
	pdclient.Locator
	mu       sync.Mutex
	stores   []*pdclient.Store
	listErrs []error                      // Stores fails with these first
	health   map[uint64]pdclient.Liveness // the client's view before any send
	lastFail map[uint64]error             // Health.LastFailure of unreachable stores
	probe    map[uint64]pdclient.Liveness // what a health check after a failed send finds
	reports  []uint64                     // ReportSendFailure calls, by store
	moved    map[uint64]string            // new addresses, resolved after a send failure
}

func newStoreLocator(n int) *storeLocator {
	l := &storeLocator{
		Locator:  newFakeCluster().env().Locator,
		health:   map[uint64]pdclient.Liveness{},
		lastFail: map[uint64]error{},
		probe:    map[uint64]pdclient.Liveness{},
		moved:    map[uint64]string{},
	}
	// Listed in reverse: AllStores reports in store-id order whatever
	// order a Locator lists them in.
	for i := n; i >= 1; i-- {
		l.stores = append(l.stores, &pdclient.Store{ID: uint64(i), Addr: fmt.Sprintf("tikv-%d:20160", i)})
	}
	return l
}

func (l *storeLocator) Stores(context.Context) ([]*pdclient.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.listErrs) > 0 {
		err := l.listErrs[0]
		l.listErrs = l.listErrs[1:]
		return nil, err
	}
	return slices.Clone(l.stores), nil
}

func (l *storeLocator) Store(_ context.Context, id uint64) (*pdclient.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.stores {
		if s.ID == id {
			if addr, ok := l.moved[id]; ok {
				return &pdclient.Store{ID: id, Addr: addr}, nil
			}
			return s, nil
		}
	}
	return nil, fmt.Errorf("store %d: %w", id, pdclient.ErrStoreTombstone)
}

func (l *storeLocator) StoreHealth(id uint64) pdclient.Health {
	l.mu.Lock()
	defer l.mu.Unlock()
	return pdclient.Health{Liveness: l.health[id], LastFailure: l.lastFail[id]}
}

func (l *storeLocator) ReportSendFailure(_ context.Context, id uint64, _ error) pdclient.Liveness {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reports = append(l.reports, id)
	return l.probe[id]
}

func (l *storeLocator) reported() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reports)
}

// storeScript is a scripted Sender for store-level commands: answer
// decides each attempt; every attempt is recorded.
type storeScript struct {
	mu     sync.Mutex
	sent   []*transport.Request
	answer func(ctx context.Context, req *transport.Request) (*transport.Response, error)
}

func (s *storeScript) Send(ctx context.Context, req *transport.Request) (*transport.Response, error) {
	s.mu.Lock()
	s.sent = append(s.sent, req)
	s.mu.Unlock()
	return s.answer(ctx, req)
}

// to returns the attempts sent to store id, in order.
func (s *storeScript) to(id uint64) []*transport.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*transport.Request
	for _, r := range s.sent {
		if r.Target.StoreID == id {
			out = append(out, r)
		}
	}
	return out
}

func (s *storeScript) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sent)
}

func storesEnv(l *storeLocator, s *storeScript) *Env {
	env := newFakeCluster().env()
	env.Locator, env.Sender = l, s
	return env
}

func feedbackFrom(req *transport.Request) (*transport.Response, error) {
	return &transport.Response{Msg: &kvrpcpb.GetHealthFeedbackResponse{
		HealthFeedback: &kvrpcpb.HealthFeedback{StoreId: req.Target.StoreID},
	}}, nil
}

func storeIDs[Resp any](rs []StoreResult[Resp]) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.Store.ID)
	}
	return out
}

func TestAllStoresReachesEveryStore(t *testing.T) {
	loc := newStoreLocator(4)
	script := &storeScript{answer: func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		return feedbackFrom(req)
	}}
	env := storesEnv(loc, script)
	env.ReadTimeout = 3 * time.Second
	req := &kvrpcpb.GetHealthFeedbackRequest{Context: &kvrpcpb.Context{RequestSource: "external_gc"}}
	results, err := AllStores(env, testFeedback)(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := storeIDs(results); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("results for stores %v, want [1 2 3 4]", got)
	}
	for _, r := range results {
		if r.Err != nil || r.Resp.GetHealthFeedback().GetStoreId() != r.Store.ID {
			t.Errorf("store %d: resp %v, err %v", r.Store.ID, r.Resp, r.Err)
		}
		sent := script.to(r.Store.ID)
		if len(sent) != 1 {
			t.Fatalf("store %d: %d attempts, want 1", r.Store.ID, len(sent))
		}
		a := sent[0]
		if a.Target.Addr != r.Store.Addr || a.Target.RegionID != 0 || a.Target.Peer != nil || a.Attempt != 0 || a.Timeout != 3*time.Second {
			t.Errorf("store %d: attempt %+v, want addressed to the store alone with the read timeout", r.Store.ID, a)
		}
		rctx := a.Msg.(*kvrpcpb.GetHealthFeedbackRequest).Context
		if rctx == req.Context || rctx.RequestSource != "external_gc" || rctx.IsRetryRequest || rctx.RegionId != 0 || rctx.Peer != nil {
			t.Errorf("store %d: attempt context %v: want a copy of the caller's, routing nothing", r.Store.ID, rctx)
		}
	}
	if req.Context.IsRetryRequest || req.Context.RequestSource != "external_gc" {
		t.Errorf("caller's context modified: %v", req.Context)
	}
}

// TestAllStoresCommandWithoutContext: GetStoreSafeTS carries no Context;
// the caller's message goes as it is.
func TestAllStoresCommandWithoutContext(t *testing.T) {
	loc := newStoreLocator(2)
	script := &storeScript{answer: func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		return &transport.Response{Msg: &kvrpcpb.StoreSafeTSResponse{SafeTs: 100 + req.Target.StoreID}}, nil
	}}
	req := &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{}}
	results, err := AllStores(storesEnv(loc, script), testSafeTS)(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil || r.Resp.SafeTs != 100+r.Store.ID {
			t.Errorf("store %d: safe ts %d, err %v", r.Store.ID, r.Resp.GetSafeTs(), r.Err)
		}
		if sent := script.to(r.Store.ID); len(sent) != 1 || sent[0].Msg != transport.Message(req) {
			t.Errorf("store %d: sent %v, want the caller's message once", r.Store.ID, sent)
		}
	}
}

func TestAllStoresFilter(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep func(*pdclient.Store) bool
		want []uint64
	}{
		{"even ids", func(s *pdclient.Store) bool { return s.ID%2 == 0 }, []uint64{2, 4}},
		{"TiKV stores only", TiKVStores, []uint64{1, 2, 4}},
		{"none", func(*pdclient.Store) bool { return false }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := newStoreLocator(4)
			for _, s := range loc.stores {
				if s.ID == 3 {
					s.Labels = []*metapb.StoreLabel{{Key: "engine", Value: "tiflash"}}
				}
			}
			script := &storeScript{answer: func(_ context.Context, req *transport.Request) (*transport.Response, error) {
				return feedbackFrom(req)
			}}
			results, err := AllStores(storesEnv(loc, script), testFeedback, StoreFilter(tc.keep))(context.Background(), &kvrpcpb.GetHealthFeedbackRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if got := storeIDs(results); !slices.Equal(got, tc.want) {
				t.Errorf("results for stores %v, want %v", got, tc.want)
			}
			if n := script.count(); n != len(tc.want) {
				t.Errorf("%d requests sent, want %d", n, len(tc.want))
			}
		})
	}
}

// TestAllStoresFailureDoesNotCancelOthers: store 2 keeps failing until its
// backoff budget is spent; the others, still answering long after that,
// are not cancelled, and the call succeeds with store 2's error in its
// result.
func TestAllStoresFailureDoesNotCancelOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loc := newStoreLocator(3)
		start := time.Now()
		var lastFailure time.Duration
		script := &storeScript{answer: func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
			if req.Target.StoreID == 2 {
				lastFailure = time.Since(start)
				return nil, errors.New("connection reset")
			}
			time.Sleep(time.Minute)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return feedbackFrom(req)
		}}
		env := storesEnv(loc, script)
		env.BackoffBudget = 2 * time.Second
		results, err := AllStores(env, testFeedback)(context.Background(), &kvrpcpb.GetHealthFeedbackRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if lastFailure >= time.Minute {
			t.Fatalf("store 2 failed last at %v: the test needs it done before the others answer", lastFailure)
		}
		for _, r := range results {
			if r.Store.ID == 2 {
				var be *kv.BackoffExhaustedError
				if !errors.As(r.Err, &be) || be.Policy != "tikvRPC" {
					t.Errorf("store 2: err %v, want the TiKVRPC budget exhausted", r.Err)
				}
				continue
			}
			if r.Err != nil || r.Resp.GetHealthFeedback().GetStoreId() != r.Store.ID {
				t.Errorf("store %d: resp %v, err %v: want its answer", r.Store.ID, r.Resp, r.Err)
			}
		}
		sent := script.to(2)
		if len(sent) < 2 {
			t.Fatalf("%d attempts to store 2, want retries", len(sent))
		}
		for i, a := range sent {
			rctx := a.Msg.(*kvrpcpb.GetHealthFeedbackRequest).Context
			if a.Attempt != i || rctx.IsRetryRequest != (i > 0) {
				t.Errorf("attempt %d to store 2: Attempt %d, is_retry_request %v", i, a.Attempt, rctx.IsRetryRequest)
			}
		}
		if got := loc.reported(); len(got) != len(sent) || slices.ContainsFunc(got, func(id uint64) bool { return id != 2 }) {
			t.Errorf("send failures reported for stores %v, want store 2 once per attempt (%d)", got, len(sent))
		}
	})
}

// TestAllStoresRetriesNotSentOnTheSameStore: a send that never left is
// reported, backed off under TiKVRPC and sent again to the same store
// (at its new address once the Locator resolves one), even for a command
// that is not idempotent.
func TestAllStoresRetriesNotSentOnTheSameStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loc := newStoreLocator(2)
		failures := 0
		script := &storeScript{answer: func(_ context.Context, req *transport.Request) (*transport.Response, error) {
			if req.Target.StoreID == 1 && failures < 2 {
				failures++
				loc.mu.Lock()
				loc.moved[1] = "tikv-1b:20160"
				loc.mu.Unlock()
				return nil, fmt.Errorf("%w: dial refused", transport.ErrNotSent)
			}
			return &transport.Response{Msg: &kvrpcpb.UnsafeDestroyRangeResponse{}}, nil
		}}
		env := storesEnv(loc, script)
		env.WriteTimeout = 7 * time.Second
		start := time.Now()
		results, err := AllStores(env, testDestroyOnce)(context.Background(),
			&kvrpcpb.UnsafeDestroyRangeRequest{StartKey: []byte("a"), EndKey: []byte("b")})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r.Err != nil {
				t.Errorf("store %d: %v", r.Store.ID, r.Err)
			}
		}
		sent := script.to(1)
		if len(sent) != 3 {
			t.Fatalf("%d attempts to store 1, want 3", len(sent))
		}
		for i, a := range sent {
			wantAddr := "tikv-1b:20160"
			if i == 0 {
				wantAddr = "tikv-1:20160"
			}
			rctx := a.Msg.(*kvrpcpb.UnsafeDestroyRangeRequest).Context
			if a.Attempt != i || rctx.IsRetryRequest != (i > 0) || a.Target.Addr != wantAddr || a.Timeout != 7*time.Second {
				t.Errorf("attempt %d: Attempt %d, retry flag %v, addr %s, timeout %v", i, a.Attempt, rctx.IsRetryRequest, a.Target.Addr, a.Timeout)
			}
		}
		if got := loc.reported(); !slices.Equal(got, []uint64{1, 1}) {
			t.Errorf("send failures reported for %v, want [1 1]", got)
		}
		// TiKVRPC's equal jitter: the first wait is 50-100ms, the second
		// 100-200ms.
		if slept := time.Since(start); slept < 150*time.Millisecond || slept > 300*time.Millisecond {
			t.Errorf("call took %v, want two TiKVRPC backoffs (150-300ms)", slept)
		}
	})
}

// TestAllStoresUnknownOutcome: a write that may have reached a store is
// not sent to it again when not idempotent. When idempotent it is, and a
// later failure (here: the store found down) is still reported
// undetermined, since the first attempt may have applied. Other stores are
// unaffected.
func TestAllStoresUnknownOutcome(t *testing.T) {
	idempotent := testDestroyOnce
	idempotent.Idempotent = true
	for _, tc := range []struct {
		name     string
		m        Method[*kvrpcpb.UnsafeDestroyRangeRequest, *kvrpcpb.UnsafeDestroyRangeResponse]
		attempts int
	}{
		{"not idempotent: never resent", testDestroyOnce, 1},
		{"idempotent: resent, still undetermined", idempotent, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				loc := newStoreLocator(3)
				script := &storeScript{answer: func(_ context.Context, req *transport.Request) (*transport.Response, error) {
					if req.Target.StoreID != 2 {
						return &transport.Response{Msg: &kvrpcpb.UnsafeDestroyRangeResponse{}}, nil
					}
					if req.Attempt == 0 {
						return nil, errors.New("connection reset after the request was written")
					}
					loc.mu.Lock()
					loc.probe[2] = pdclient.Unreachable
					loc.mu.Unlock()
					return nil, fmt.Errorf("%w: dial refused", transport.ErrNotSent)
				}}
				results, err := AllStores(storesEnv(loc, script), tc.m)(context.Background(),
					&kvrpcpb.UnsafeDestroyRangeRequest{StartKey: []byte("a"), EndKey: []byte("b")})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range results {
					if r.Store.ID != 2 && r.Err != nil {
						t.Errorf("store %d: %v", r.Store.ID, r.Err)
					}
				}
				if !errors.Is(results[1].Err, kv.ErrUndetermined) {
					t.Errorf("store 2: err %v, want kv.ErrUndetermined", results[1].Err)
				}
				if n := len(script.to(2)); n != tc.attempts {
					t.Errorf("%d attempts to store 2, want %d", n, tc.attempts)
				}
			})
		})
	}
}

// TestAllStoresUnreachableStore: a store known unreachable is not sent to
// and not waited for; one found unreachable by the health check after a
// failed send is not retried. Either is a failed result, never skipped.
func TestAllStoresUnreachableStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loc := newStoreLocator(3)
		down := errors.New("connection refused")
		loc.health[3] = pdclient.Unreachable
		loc.lastFail[3] = down
		loc.probe[2] = pdclient.Unreachable
		script := &storeScript{answer: func(_ context.Context, req *transport.Request) (*transport.Response, error) {
			if req.Target.StoreID == 2 {
				return nil, fmt.Errorf("%w: dial refused", transport.ErrNotSent)
			}
			return feedbackFrom(req)
		}}
		start := time.Now()
		results, err := AllStores(storesEnv(loc, script), testFeedback)(context.Background(), &kvrpcpb.GetHealthFeedbackRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := storeIDs(results); !slices.Equal(got, []uint64{1, 2, 3}) {
			t.Fatalf("results for %v, want every store", got)
		}
		if results[0].Err != nil {
			t.Errorf("store 1: %v", results[0].Err)
		}
		for _, r := range results[1:] {
			var ue *kv.StoreUnreachableError
			if !errors.As(r.Err, &ue) || ue.StoreID != r.Store.ID {
				t.Errorf("store %d: err %v, want *kv.StoreUnreachableError for it", r.Store.ID, r.Err)
			}
		}
		if !errors.Is(results[2].Err, down) {
			t.Errorf("store 3: err %v, want the last failure the Locator kept", results[2].Err)
		}
		if n2, n3 := len(script.to(2)), len(script.to(3)); n2 != 1 || n3 != 0 {
			t.Errorf("attempts: store 2 %d (want 1), store 3 %d (want 0)", n2, n3)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("call took %v, want no backoff at all", d)
		}
	})
}

// TestAllStoresContextCancelStopsCall: cancelling ends the attempts in
// flight, starts no more, and fails the call with the context's error.
func TestAllStoresContextCancelStopsCall(t *testing.T) {
	loc := newStoreLocator(4)
	arrived := make(chan struct{}, 4)
	script := &storeScript{answer: func(ctx context.Context, _ *transport.Request) (*transport.Response, error) {
		arrived <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	env := storesEnv(loc, script)
	env.Concurrency = 2
	ctx, cancel := context.WithCancel(context.Background())
	type outcome struct {
		results []StoreResult[*kvrpcpb.GetHealthFeedbackResponse]
		err     error
	}
	done := make(chan outcome)
	go func() {
		r, err := AllStores(env, testFeedback)(ctx, &kvrpcpb.GetHealthFeedbackRequest{})
		done <- outcome{r, err}
	}()
	<-arrived
	<-arrived
	cancel()
	out := <-done
	if !errors.Is(out.err, context.Canceled) {
		t.Fatalf("call err %v, want context.Canceled", out.err)
	}
	if got := storeIDs(out.results); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("results for %v, want every store", got)
	}
	for _, r := range out.results {
		if !errors.Is(r.Err, context.Canceled) {
			t.Errorf("store %d: err %v, want context.Canceled", r.Store.ID, r.Err)
		}
	}
	if n := script.count(); n != 2 {
		t.Errorf("%d attempts sent, want 2: none after the cancel", n)
	}
}

// TestAllStoresConcurrencyBound: at most Env.Concurrency stores are served
// at once.
func TestAllStoresConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loc := newStoreLocator(5)
		var mu sync.Mutex
		inFlight, most := 0, 0
		script := &storeScript{answer: func(_ context.Context, req *transport.Request) (*transport.Response, error) {
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			time.Sleep(time.Second)
			mu.Lock()
			inFlight--
			mu.Unlock()
			return feedbackFrom(req)
		}}
		env := storesEnv(loc, script)
		env.Concurrency = 2
		start := time.Now()
		if _, err := AllStores(env, testFeedback)(context.Background(), &kvrpcpb.GetHealthFeedbackRequest{}); err != nil {
			t.Fatal(err)
		}
		if most != 2 || time.Since(start) != 3*time.Second {
			t.Errorf("%d stores at once, %v in all; want 2 at once, 3s", most, time.Since(start))
		}
	})
}

// TestAllStoresListingStores: listing is retried under PDRPC while it
// fails, and a listing that never succeeds fails the whole call.
func TestAllStoresListingStores(t *testing.T) {
	pdDown := errors.New("PD unavailable")
	synctest.Test(t, func(t *testing.T) {
		loc := newStoreLocator(2)
		loc.listErrs = []error{pdDown, pdDown}
		script := &storeScript{answer: func(_ context.Context, req *transport.Request) (*transport.Response, error) {
			return feedbackFrom(req)
		}}
		start := time.Now()
		results, err := AllStores(storesEnv(loc, script), testFeedback)(context.Background(), &kvrpcpb.GetHealthFeedbackRequest{})
		if err != nil || len(results) != 2 {
			t.Fatalf("results %v, err %v: want both stores after the retries", results, err)
		}
		// PDRPC's equal jitter: 250-500ms, then 500-1000ms.
		if d := time.Since(start); d < 750*time.Millisecond {
			t.Errorf("listed after %v, want two PDRPC backoffs first", d)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		loc := newStoreLocator(2)
		for range 100 {
			loc.listErrs = append(loc.listErrs, pdDown)
		}
		script := &storeScript{answer: func(_ context.Context, req *transport.Request) (*transport.Response, error) {
			return feedbackFrom(req)
		}}
		env := storesEnv(loc, script)
		env.BackoffBudget = 2 * time.Second
		results, err := AllStores(env, testFeedback)(context.Background(), &kvrpcpb.GetHealthFeedbackRequest{})
		var be *kv.BackoffExhaustedError
		if !errors.Is(err, pdDown) || !errors.As(err, &be) || results != nil {
			t.Errorf("results %v, err %v: want the call to fail with the listing's cause", results, err)
		}
		if n := script.count(); n != 0 {
			t.Errorf("%d requests sent without a store list", n)
		}
	})
}

// TestAllStoresResponseErrors: the command's Err mapper fails a store (its
// response kept); a region error, which TiKV never sets on store-level
// responses, fails the store without a retry.
func TestAllStoresResponseErrors(t *testing.T) {
	loc := newStoreLocator(3)
	script := &storeScript{answer: func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		switch req.Target.StoreID {
		case 2:
			return &transport.Response{Msg: &kvrpcpb.UnsafeDestroyRangeResponse{Error: "engine busy"}}, nil
		case 3:
			return &transport.Response{Msg: &kvrpcpb.UnsafeDestroyRangeResponse{RegionError: &errorpb.Error{Message: "TiKV is Closing"}}}, nil
		}
		return &transport.Response{Msg: &kvrpcpb.UnsafeDestroyRangeResponse{}}, nil
	}}
	results, err := AllStores(storesEnv(loc, script), testDestroyOnce)(context.Background(),
		&kvrpcpb.UnsafeDestroyRangeRequest{StartKey: []byte("a"), EndKey: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Err != nil {
		t.Errorf("store 1: %v", results[0].Err)
	}
	var se *kv.ServerError
	if !errors.As(results[1].Err, &se) || se.Msg != "engine busy" || results[1].Resp.GetError() != "engine busy" {
		t.Errorf("store 2: resp %v, err %v: want the mapper's error and the response", results[1].Resp, results[1].Err)
	}
	var re *kv.RegionError
	if !errors.As(results[2].Err, &re) || !re.Fatal {
		t.Errorf("store 3: err %v, want a fatal *kv.RegionError", results[2].Err)
	}
	if n := len(script.to(3)); n != 1 {
		t.Errorf("%d attempts to store 3, want 1", n)
	}
}

func TestAllStoresRefusesAnUnknownCommand(t *testing.T) {
	bad := Method[*kvrpcpb.StoreSafeTSRequest, *kvrpcpb.StoreSafeTSResponse]{}
	script := &storeScript{}
	_, err := AllStores(storesEnv(newStoreLocator(1), script), bad)(context.Background(), &kvrpcpb.StoreSafeTSRequest{})
	if !errors.Is(err, kv.ErrInvalidArgument) || script.count() != 0 {
		t.Errorf("err %v after %d sends, want kv.ErrInvalidArgument and nothing sent", err, script.count())
	}
}
