package otelkv

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// clientSpan are the start options of the calls' and attempts' spans,
// built once rather than per span.
var clientSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// AttemptSpanName is the name of an attempt's span: the RPC's gRPC method,
// "tikvpb.Tikv/KvGet", as OTel's RPC conventions name client spans. It
// sets the attempt apart from its call's span, named after the API.
func AttemptSpanName(c transport.Cmd) string { return strings.TrimPrefix(c.FullMethod(), "/") }

// traceAttempts is the Tracing middleware: one span per attempt, a child of
// the span in ctx (the call's, which the observer put there at Start).
func (t *Telemetry) traceAttempts(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		if st := stateOf(ctx); st != nil && st.span != nil && !st.span.IsRecording() {
			// The call was sampled out: its attempts follow its decision
			// (as OTel's default parent-based sampler would decide) without
			// opening spans that would record nothing, which costs a sampled-out
			// call nothing per attempt. Its trace id still goes to TiKV.
			t.stampTraceID(ctx, req, st.span)
			return next.Send(ctx, req)
		}
		ctx, span := t.tracer.Start(ctx, AttemptSpanName(req.Cmd), clientSpan...)
		if !span.IsRecording() {
			// A sampled-out or no-op span: nothing to describe. Its trace
			// id, when valid, still goes to TiKV.
			t.stampTraceID(ctx, req, span)
			resp, err := next.Send(ctx, req)
			span.End()
			return resp, err
		}
		attrs := t.attemptAttrs(req)
		span.SetAttributes(*attrs...)
		attrPool.Put(attrs)
		t.stampTraceID(ctx, req, span)
		resp, err := next.Send(ctx, req)
		switch {
		case err != nil:
			span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
			span.SetStatus(codes.Error, err.Error())
		case resp != nil:
			if re := regionError(resp.Msg); re != nil {
				kind := kv.RegionErrorKind(re)
				span.SetAttributes(KeyRegionError.String(kind), semconv.ErrorTypeKey.String(kind))
				span.SetStatus(codes.Error, kind)
			} else if name, attrs, ok := lockResolution(req, resp); ok {
				// Lock resolution is its own event on the call's span, so
				// that the call shows why it waited.
				call := trace.SpanFromContext(ctx)
				if st := stateOf(ctx); st != nil && st.span != nil {
					call = st.span
				}
				call.AddEvent(name, trace.WithAttributes(attrs...))
			}
		}
		span.End()
		return resp, err
	})
}

// attrPool recycles the attribute slices calls and attempts are described
// with: the span copies them, so one slice serves span after span.
var attrPool = sync.Pool{New: func() any { s := make([]attribute.KeyValue, 0, 16); return &s }}

// attemptAttrs returns the attributes of an attempt's span in a slice of
// attrPool's, which the caller gives back once the span has copied them.
func (t *Telemetry) attemptAttrs(req *transport.Request) *[]attribute.KeyValue {
	rctx := req.Cmd.Context(req.Msg)
	buf := attrPool.Get().(*[]attribute.KeyValue)
	attrs := append((*buf)[:0], t.attrs.server.get(req.Target.Addr)...)
	attrs = append(attrs, dbSystem, semconv.DBOperationName(req.Cmd.String()),
		KeyStoreID.Int64(int64(req.Target.StoreID)), KeyAttempt.Int(req.Attempt),
		KeyBatchable.Bool(req.Cmd.Batchable()))
	if req.Target.RegionID != 0 {
		attrs = append(attrs, KeyRegionID.Int64(int64(req.Target.RegionID)), KeyPiece.Int(req.Piece),
			KeyPeerRole.String(peerRole(rctx, req.Target.Peer)))
	}
	if req.Target.ForwardedHost != "" {
		attrs = append(attrs, KeyForwardedHost.String(req.Target.ForwardedHost), KeyProxyStoreID.Int64(int64(req.Target.ProxyStoreID)))
	}
	if rctx != nil && (rctx.GetReplicaRead() || rctx.GetStaleRead()) {
		attrs = append(attrs, KeyReplicaRead.Bool(rctx.GetReplicaRead()), KeyStaleRead.Bool(rctx.GetStaleRead()))
	}
	*buf = attrs
	return buf
}

// stampTraceID writes the attempt's trace id into its kvrpcpb.Context, which
// the middleware contract lets it own (transport package doc), so that TiKV
// can log the request under it (kvrpcpb.Context.trace_id). The bytes are
// the call's copy when the attempt is in the call's trace (the usual case),
// so that attempts do not each allocate one; they are only read.
func (t *Telemetry) stampTraceID(ctx context.Context, req *transport.Request, span trace.Span) {
	sc := span.SpanContext()
	if !sc.HasTraceID() {
		return
	}
	rctx := req.Cmd.Context(req.Msg)
	if rctx == nil {
		return
	}
	id := sc.TraceID()
	if st := stateOf(ctx); st != nil && st.traceID == id {
		rctx.TraceId = st.traceID[:]
		return
	}
	rctx.TraceId = append([]byte(nil), id[:]...)
}

// measureAttempts is the Metrics middleware.
func (t *Telemetry) measureAttempts(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		in, attrs := t.in, t.attrs
		flight := attrs.point(setKey{kind: setInFlight, cmd: req.Cmd, store: req.Target.StoreID}).add
		in.inFlight.Add(ctx, 1, flight...)
		start := time.Now()
		resp, err := next.Send(ctx, req)
		d := time.Since(start).Seconds()
		in.inFlight.Add(ctx, -1, flight...)
		var et string
		switch {
		case err != nil:
			et = errorType(err)
		case resp != nil:
			if re := regionError(resp.Msg); re != nil {
				et = kv.RegionErrorKind(re)
				if routing(re) {
					in.invalidations.Add(ctx, 1, attrs.point(setKey{kind: setInvalidation, name: et, store: req.Target.StoreID}).add...)
				}
			} else {
				t.noteCommit(ctx, req, resp)
				if _, kvs, ok := lockResolution(req, resp); ok {
					in.lockResolutions.Add(ctx, 1, attrs.point(setKey{kind: setLock, name: kvs[0].Value.AsString(), cmd: req.Cmd}).add...)
				}
			}
		}
		in.attemptDuration.Record(ctx, d, attrs.point(setKey{kind: setAttempt, cmd: req.Cmd, store: req.Target.StoreID, errType: et}).rec...)
		return resp, err
	})
}

// noteCommit records, on the call, which commit protocol its prewrite
// used: one phase when TiKV committed it at once (one_pc_commit_ts), async
// commit when the prewrite asked for it (TiKV's prewrite.rs falls back to
// 2PC by answering min_commit_ts 0).
func (t *Telemetry) noteCommit(ctx context.Context, req *transport.Request, resp *transport.Response) {
	if req.Cmd != transport.CmdPrewrite {
		return
	}
	st := stateOf(ctx)
	if st == nil || st.call.API != APITxnCommit {
		return
	}
	pr, ok1 := req.Msg.(*kvrpcpb.PrewriteRequest)
	pw, ok2 := resp.Msg.(*kvrpcpb.PrewriteResponse)
	if !ok1 || !ok2 || len(pw.GetErrors()) > 0 {
		return
	}
	switch {
	case pw.GetOnePcCommitTs() != 0:
		st.protocol.Store(uint32(protocol1PC))
	case pr.GetUseAsyncCommit() && pw.GetMinCommitTs() != 0:
		st.protocol.CompareAndSwap(uint32(protocol2PC), uint32(protocolAsyncCommit))
	}
}

// routing reports whether a region error corrects the client's routing,
// so that the region cache drops or updates the region: NotLeader (a new
// leader), EpochNotMatch, RegionNotFound, KeyNotInRegion, StoreNotMatch.
// ServerIsBusy and the like leave the cache as it is.
func routing(re *errorpb.Error) bool {
	return re.GetNotLeader() != nil || re.GetEpochNotMatch() != nil || re.GetRegionNotFound() != nil ||
		re.GetKeyNotInRegion() != nil || re.GetStoreNotMatch() != nil
}

// lockResolution describes an attempt that resolved another
// transaction's lock: the event name for the call's span and its
// attributes, the first being the outcome. Two commands do (TiKV's
// txn/commands): CheckTxnStatus on a lock's primary rolls an expired or
// missing transaction back (TTLExpireRollback, LockNotExistRollback,
// TTLExpirePessimisticRollback) or pushes a live one's min_commit_ts past
// the reader (MinCommitTSPushed); ResolveLock then commits the
// transaction's other locks in a region at commit_version, or rolls them
// back when it is 0. A status check that only finds the owner alive or
// committed resolves nothing by itself.
func lockResolution(req *transport.Request, resp *transport.Response) (string, []attribute.KeyValue, bool) {
	var outcome string
	var startTS uint64
	switch req.Cmd {
	case transport.CmdCheckTxnStatus:
		r, ok := resp.Msg.(*kvrpcpb.CheckTxnStatusResponse)
		if !ok || r.GetError() != nil {
			return "", nil, false
		}
		switch r.GetAction() {
		case kvrpcpb.Action_TTLExpireRollback, kvrpcpb.Action_LockNotExistRollback, kvrpcpb.Action_TTLExpirePessimisticRollback:
			outcome = "rolled_back"
		case kvrpcpb.Action_MinCommitTSPushed:
			outcome = "pushed"
		default:
			return "", nil, false
		}
		if m, ok := req.Msg.(*kvrpcpb.CheckTxnStatusRequest); ok {
			startTS = m.GetLockTs()
		}
	case transport.CmdResolveLock:
		rl, ok := req.Msg.(*kvrpcpb.ResolveLockRequest)
		if !ok {
			return "", nil, false
		}
		startTS, outcome = rl.GetStartVersion(), "rolled_back"
		if rl.GetCommitVersion() != 0 {
			outcome = "committed"
		}
		if r, ok := resp.Msg.(*kvrpcpb.ResolveLockResponse); ok && r.GetError() != nil {
			outcome = "failed"
		}
	default:
		return "", nil, false
	}
	return "lock-resolution", []attribute.KeyValue{KeyLockOutcome.String(outcome),
		semconv.DBOperationName(req.Cmd.String()), attribute.Int64("tikv.lock.txn_start_ts", int64(startTS)),
		KeyRegionID.Int64(int64(req.Target.RegionID))}, true
}
