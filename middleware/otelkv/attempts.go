package otelkv

import (
	"context"
	"strings"
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

// attemptStart are the span options every attempt shares.
var attemptStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// AttemptSpanName is the name of an attempt's span: the RPC's gRPC method,
// "tikvpb.Tikv/KvGet", as OTel's RPC conventions name client spans. It
// sets the attempt apart from its call's span, named after the API.
func AttemptSpanName(c transport.Cmd) string { return strings.TrimPrefix(c.FullMethod(), "/") }

// traceAttempts is the Tracing middleware: one span per attempt, a child of
// the span in ctx (the call's, which the observer put there at Start).
func (t *Telemetry) traceAttempts(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		ctx, span := t.tracer.Start(ctx, AttemptSpanName(req.Cmd), attemptStart...)
		if !span.IsRecording() {
			// A sampled-out or no-op span: nothing to describe. Its trace
			// id, when valid, still goes to TiKV.
			t.stampTraceID(req, span)
			resp, err := next.Send(ctx, req)
			span.End()
			return resp, err
		}
		rctx := req.Cmd.Context(req.Msg)
		span.SetAttributes(t.attrs.server.get(req.Target.Addr)...)
		span.SetAttributes(dbSystem, semconv.DBOperationName(req.Cmd.String()),
			KeyStoreID.Int64(int64(req.Target.StoreID)), KeyAttempt.Int(req.Attempt),
			KeyBatchable.Bool(req.Cmd.Batchable()))
		if req.Target.RegionID != 0 {
			span.SetAttributes(KeyRegionID.Int64(int64(req.Target.RegionID)), KeyPiece.Int(req.Piece),
				KeyPeerRole.String(peerRole(rctx, req.Target.Peer)))
		}
		if rctx != nil && (rctx.GetReplicaRead() || rctx.GetStaleRead()) {
			span.SetAttributes(KeyReplicaRead.Bool(rctx.GetReplicaRead()), KeyStaleRead.Bool(rctx.GetStaleRead()))
		}
		t.stampTraceID(req, span)
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

// stampTraceID writes the attempt's trace id into its kvrpcpb.Context, which
// the middleware contract lets it own (transport package doc), so that TiKV
// can log the request under it (kvrpcpb.Context.trace_id).
func (t *Telemetry) stampTraceID(req *transport.Request, span trace.Span) {
	sc := span.SpanContext()
	if !sc.HasTraceID() {
		return
	}
	if rctx := req.Cmd.Context(req.Msg); rctx != nil {
		id := sc.TraceID()
		rctx.TraceId = id[:]
	}
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
					in.lockResolutions.Add(ctx, 1, attrs.point(setKey{kind: setLock, name: kvs[0].Value.AsString()}).add...)
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

// lockResolution describes a successful ResolveLock attempt: the event
// name for the call's span and its attributes, the first being the
// outcome (TiKV's ResolveLock commits the transaction's locks at
// commit_version, or rolls them back when it is 0).
func lockResolution(req *transport.Request, resp *transport.Response) (string, []attribute.KeyValue, bool) {
	if req.Cmd != transport.CmdResolveLock {
		return "", nil, false
	}
	rl, ok := req.Msg.(*kvrpcpb.ResolveLockRequest)
	if !ok {
		return "", nil, false
	}
	outcome := "rolled_back"
	if rl.GetCommitVersion() != 0 {
		outcome = "committed"
	}
	if r, ok := resp.Msg.(*kvrpcpb.ResolveLockResponse); ok && r.GetError() != nil {
		outcome = "failed"
	}
	return "lock-resolution", []attribute.KeyValue{KeyLockOutcome.String(outcome),
		attribute.Int64("tikv.lock.txn_start_ts", int64(rl.GetStartVersion())), KeyRegionID.Int64(int64(req.Target.RegionID))}, true
}
