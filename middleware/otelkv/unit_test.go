package otelkv_test

import (
	"context"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tikvgo/tikv/middleware/otelkv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/transport"
)

// unitKit is a Telemetry on the in-memory SDK with its chain ending in
// answer, for tests that script TiKV's responses.
type unitKit struct {
	*kit
	tel    *otelkv.Telemetry
	sender transport.Sender
}

func newUnitKit(t *testing.T, answer func(req *transport.Request) transport.Message) *unitKit {
	k := &kit{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(k.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(k.reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	tel, err := otelkv.New(tp, mp)
	if err != nil {
		t.Fatal(err)
	}
	terminal := transport.SenderFunc(func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		return &transport.Response{Msg: answer(req)}, nil
	})
	return &unitKit{kit: k, tel: tel, sender: transport.Chain(terminal, tel.Tracing(), tel.Metrics())}
}

// call runs one logical call named api that sends reqs.
func (u *unitKit) call(t *testing.T, api string, id uint64, reqs ...*transport.Request) {
	t.Helper()
	c := observe.Call{API: api, ID: id}
	ctx := observe.Begin(context.Background(), u.tel.Observer(), c)
	for _, r := range reqs {
		r.Call = c
		if _, err := u.sender.Send(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	observe.Finish(ctx, nil)
}

// TestCommitProtocol: the commit duration is labelled by the protocol the
// prewrite used: one phase when TiKV answered a one_pc_commit_ts, async
// commit when the prewrite asked for it and TiKV gave a min_commit_ts
// (TiKV's prewrite.rs answers 0 when it fell back to 2PC), 2PC otherwise.
func TestCommitProtocol(t *testing.T) {
	u := newUnitKit(t, func(req *transport.Request) transport.Message {
		pr := req.Msg.(*kvrpcpb.PrewriteRequest)
		switch {
		case pr.TryOnePc:
			return &kvrpcpb.PrewriteResponse{OnePcCommitTs: 20}
		case pr.UseAsyncCommit && pr.PrimaryLock[0] == 'f':
			return &kvrpcpb.PrewriteResponse{} // fell back to 2PC
		case pr.UseAsyncCommit:
			return &kvrpcpb.PrewriteResponse{MinCommitTs: 20}
		}
		return &kvrpcpb.PrewriteResponse{}
	})
	prewrite := func(m *kvrpcpb.PrewriteRequest) *transport.Request {
		m.Context = &kvrpcpb.Context{}
		return &transport.Request{Cmd: transport.CmdPrewrite, Msg: m, Target: transport.Target{StoreID: 1, Addr: "s1:20160", RegionID: 2}}
	}
	u.call(t, otelkv.APITxnCommit, 1, prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte("p")}))
	u.call(t, otelkv.APITxnCommit, 2, prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte("p"), UseAsyncCommit: true}))
	u.call(t, otelkv.APITxnCommit, 3, prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte("f"), UseAsyncCommit: true}))
	u.call(t, otelkv.APITxnCommit, 4, prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte("p"), TryOnePc: true}))
	u.call(t, "TxnGet", 5, prewrite(&kvrpcpb.PrewriteRequest{PrimaryLock: []byte("p"), TryOnePc: true}))
	data := u.collect(t)
	for protocol, want := range map[string]uint64{"2pc": 2, "async_commit": 1, "1pc": 1} {
		if n := histCount(t, data, otelkv.MetricCommitDuration, otelkv.KeyTxnProtocol.String(protocol)); n != want {
			t.Errorf("%s commits: %d, want %d", protocol, n, want)
		}
	}
}

// TestLockResolution: a ResolveLock attempt is a lock resolution, counted
// by outcome (TiKV commits the locks at commit_version, or rolls them back
// when it is 0; a key error is a failure) and shown as an event on the call
// that ran into the lock; so is a CheckTxnStatus that rolled the owner back
// or pushed its min_commit_ts, but not one that found it alive (NoAction),
// nor other commands.
func TestLockResolution(t *testing.T) {
	u := newUnitKit(t, func(req *transport.Request) transport.Message {
		if req.Cmd == transport.CmdResolveLock && req.Msg.(*kvrpcpb.ResolveLockRequest).StartVersion == 99 {
			return &kvrpcpb.ResolveLockResponse{Error: &kvrpcpb.KeyError{Abort: "no"}}
		}
		if req.Cmd == transport.CmdCheckTxnStatus {
			return &kvrpcpb.CheckTxnStatusResponse{Action: kvrpcpb.Action(req.Msg.(*kvrpcpb.CheckTxnStatusRequest).LockTs)}
		}
		return req.Cmd.NewResponse()
	})
	resolve := func(start, commit uint64) *transport.Request {
		return &transport.Request{Cmd: transport.CmdResolveLock, Target: transport.Target{StoreID: 1, Addr: "s1:20160", RegionID: 2},
			Msg: &kvrpcpb.ResolveLockRequest{Context: &kvrpcpb.Context{}, StartVersion: start, CommitVersion: commit}}
	}
	get := &transport.Request{Cmd: transport.CmdGet, Target: transport.Target{StoreID: 1, Addr: "s1:20160", RegionID: 2},
		Msg: &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}}}
	status := func(action kvrpcpb.Action) *transport.Request {
		return &transport.Request{Cmd: transport.CmdCheckTxnStatus, Target: transport.Target{StoreID: 1, Addr: "s1:20160", RegionID: 2},
			Msg: &kvrpcpb.CheckTxnStatusRequest{Context: &kvrpcpb.Context{}, LockTs: uint64(action)}}
	}
	u.call(t, "TxnGet", 1, get, status(kvrpcpb.Action_NoAction), resolve(10, 11), resolve(12, 0), resolve(99, 0),
		status(kvrpcpb.Action_TTLExpireRollback), status(kvrpcpb.Action_MinCommitTSPushed))

	call := u.only(t, "TxnGet")
	if got, want := eventNames(call), slices.Repeat([]string{"lock-resolution"}, 5); !slices.Equal(got, want) {
		t.Fatalf("call events %q, want %q", got, want)
	}
	var outcomes []string
	for _, e := range call.Events() {
		v, _ := attr2(e.Attributes, otelkv.KeyLockOutcome)
		outcomes = append(outcomes, v.AsString())
	}
	if want := []string{"committed", "rolled_back", "failed", "rolled_back", "pushed"}; !slices.Equal(outcomes, want) {
		t.Fatalf("outcomes %q, want %q", outcomes, want)
	}
	data := u.collect(t)
	for o, want := range map[string]int64{"committed": 1, "rolled_back": 2, "failed": 1, "pushed": 1} {
		if n := sum(t, data, otelkv.MetricLockResolutions, otelkv.KeyLockOutcome.String(o)); n != want {
			t.Errorf("%s resolutions: %d, want %d", o, n, want)
		}
	}
	if n := sum(t, data, otelkv.MetricLockResolutions); n != 5 {
		t.Errorf("resolutions: %d, want 5 (the Get and the status check finding the owner alive are none)", n)
	}
}

// TestNothingConfigured: without providers, or with OTel's no-op ones, the
// Telemetry has nothing to install, so the cluster's chain and observer
// stay as they were.
func TestNothingConfigured(t *testing.T) {
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
		mp   metric.MeterProvider
	}{
		{"nil", nil, nil},
		{"noop", tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()},
	} {
		tel, err := otelkv.New(c.tp, c.mp)
		if err != nil {
			t.Fatal(err)
		}
		if tel.Observer() != nil || tel.Tracing() != nil || tel.Metrics() != nil {
			t.Fatalf("%s providers install something", c.name)
		}
	}
}

// TestSampledOutCallOpensNoAttemptSpans: when the sampler drops a call, its
// attempts open no spans at all (a child would follow its parent's decision
// under OTel's default parent-based sampler anyway), so a sampled-out call
// costs nothing per attempt; TiKV still receives the call's trace id.
func TestSampledOutCallOpensNoAttemptSpans(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tel, err := otelkv.New(tp, nil)
	if err != nil {
		t.Fatal(err)
	}
	var stamped [][]byte
	var spanIDs []trace.SpanID
	terminal := transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		stamped = append(stamped, slices.Clone(req.Cmd.Context(req.Msg).GetTraceId()))
		spanIDs = append(spanIDs, trace.SpanFromContext(ctx).SpanContext().SpanID())
		return &transport.Response{Msg: &kvrpcpb.RawGetResponse{}}, nil
	})
	sender := transport.Chain(terminal, tel.Tracing())
	c := observe.Call{API: "RawGet", ID: 7}
	ctx := observe.Begin(context.Background(), tel.Observer(), c)
	callTrace := trace.SpanFromContext(ctx).SpanContext().TraceID()
	if !callTrace.IsValid() {
		t.Fatal("the sampled-out call has no trace id")
	}
	for attempt := 1; attempt <= 2; attempt++ {
		req := &transport.Request{Cmd: transport.CmdRawGet, Msg: &kvrpcpb.RawGetRequest{Context: &kvrpcpb.Context{}}, Call: c, Attempt: attempt}
		if _, err := sender.Send(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	observe.Finish(ctx, nil)
	if n := len(spans.Started()); n != 0 {
		t.Fatalf("%d spans started and recorded, want none", n)
	}
	if len(stamped) != 2 {
		t.Fatalf("%d attempts reached the transport, want 2", len(stamped))
	}
	callSpan := trace.SpanFromContext(ctx).SpanContext().SpanID()
	for i, id := range stamped {
		if string(id) != string(callTrace[:]) {
			t.Errorf("attempt %d carried trace id %x, want the call's %x", i+1, id, callTrace[:])
		}
		if spanIDs[i] != callSpan {
			t.Errorf("attempt %d ran under span %s, want the call's own %s (no attempt span)", i+1, spanIDs[i], callSpan)
		}
	}
}
