package otelkv_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/tikvgo/tikv/middleware/otelkv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

var (
	dbSystem   = semconv.DBSystemNameKey.String("tikv")
	opRawGet   = semconv.DBOperationName("RawGet")
	getAttempt = otelkv.AttemptSpanName(transport.CmdRawGet)
)

// TestRawGetReroutedSpanTree: a raw Get whose first attempt finds its
// region gone (RegionNotFound) is one call span, RawGet, with two attempt
// spans as children (attempt 0 answered RegionNotFound, attempt 1 served)
// and, in order, the events of the re-route on the call span (a split
// into one piece is not one): the region-miss backoff, the cache miss, the cache load and the
// re-split; the region reload from PD is a child span. Each attempt
// carried its trace id to TiKV. The metrics show the call, both attempts
// by outcome, the backoff, the cache miss and the invalidation.
// In-process and over gRPC.
//
// Also ports client-go's TestTraceIDContext (trace/trace_test.go): the
// trace id the call's context carries reaches TiKV in every attempt's
// kvrpcpb.Context.trace_id. (Ours is the OpenTelemetry span's trace id,
// not a bare id stored in the context.)
func TestRawGetReroutedSpanTree(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			k, opts := newKit(t)
			mock, cluster := m.connect(t, nil, opts...)
			client := raw.NewClient(cluster)
			ctx := t.Context()
			if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			r, leader := mock.RegionByKey([]byte("k"))
			mock.Inject(mocktikv.Fault{Cmd: transport.CmdRawGet, Steps: []mocktikv.Step{
				mocktikv.Times(1, mocktikv.RegionError(&errorpb.Error{RegionNotFound: &errorpb.RegionNotFound{RegionId: r.GetId()}})),
			}})
			k.spans.Reset()
			if got, err := client.Get(ctx, []byte("k")); err != nil || string(got) != "v" {
				t.Fatalf("Get = %q, %v", got, err)
			}

			call := k.only(t, "RawGet")
			if call.Parent().IsValid() {
				t.Fatalf("call span has parent %v, want a root", call.Parent())
			}
			if v, _ := attr(call, semconv.DBOperationNameKey); v.AsString() != "RawGet" {
				t.Fatalf("call span db.operation.name = %v", v)
			}
			if v, _ := attr(call, semconv.DBSystemNameKey); v.AsString() != "tikv" {
				t.Fatalf("call span db.system.name = %v", v)
			}
			if call.Status().Code == codes.Error {
				t.Fatalf("call span status %v, want unset", call.Status())
			}
			wantEvents := []string{"backoff", "cache-miss", "cache-load", "resplit"}
			if got := eventNames(call); !slices.Equal(got, wantEvents) {
				t.Fatalf("call events %q, want %q", got, wantEvents)
			}
			if v, _ := attr2(call.Events()[0].Attributes, otelkv.KeyBackoff); v.AsString() != "regionMiss" {
				t.Fatalf("backoff event kind %v, want regionMiss", v)
			}
			if v, _ := attr2(call.Events()[0].Attributes, semconv.ErrorTypeKey); v.AsString() != "RegionNotFound" {
				t.Fatalf("backoff event cause %v, want RegionNotFound", v.Emit())
			}
			kids := k.children(call)
			if got, want := names(kids), []string{getAttempt, "PD GetRegion", getAttempt}; !slices.Equal(got, want) {
				t.Fatalf("children of the call %q, want %q", got, want)
			}
			first, second := kids[0], kids[2]
			for i, a := range []struct {
				span    interface{ Attributes() []attribute.KeyValue }
				attempt int64
			}{{first, 0}, {second, 1}} {
				attrs := attribute.NewSet(a.span.Attributes()...)
				for _, want := range []attribute.KeyValue{dbSystem, opRawGet, otelkv.KeyAttempt.Int64(a.attempt),
					otelkv.KeyStoreID.Int64(int64(leader.GetStoreId())), otelkv.KeyRegionID.Int64(int64(r.GetId())),
					otelkv.KeyPeerRole.String("leader"), otelkv.KeyBatchable.Bool(true)} {
					if v, ok := attrs.Value(want.Key); !ok || v != want.Value {
						t.Fatalf("attempt %d: %s = %v, want %v", i, want.Key, v.Emit(), want.Value.Emit())
					}
				}
				if _, ok := attrs.Value(semconv.ServerAddressKey); !ok {
					t.Fatalf("attempt %d has no server.address", i)
				}
			}
			if v, _ := attr(first, semconv.ErrorTypeKey); v.AsString() != "RegionNotFound" {
				t.Fatalf("first attempt error.type = %v, want RegionNotFound", v.Emit())
			}
			if _, ok := attr(second, semconv.ErrorTypeKey); ok {
				t.Fatal("second attempt has an error.type")
			}
			if m.name == "grpc" {
				if v, ok := attr(first, semconv.ServerPortKey); !ok || v.AsInt64() == 0 {
					t.Fatalf("attempt server.port = %v", v.Emit())
				}
			}
			k.mu.Lock()
			ids := slices.Clone(k.traceIDs[transport.CmdRawGet])
			k.mu.Unlock()
			if len(ids) != 2 || !bytes.Equal(ids[0], traceIDOf(call)) || !bytes.Equal(ids[1], traceIDOf(call)) {
				t.Fatalf("trace ids sent to TiKV %x, want two of %x", ids, traceIDOf(call))
			}

			data := k.collect(t)
			if n := histCount(t, data, otelkv.MetricOperationDuration, dbSystem, opRawGet); n != 1 {
				t.Fatalf("operation duration RawGet: %d points, want 1", n)
			}
			store := otelkv.KeyStoreID.Int64(int64(leader.GetStoreId()))
			if n := histCount(t, data, otelkv.MetricAttemptDuration, opRawGet, store, semconv.ErrorTypeKey.String("RegionNotFound")); n != 1 {
				t.Fatalf("RegionNotFound attempts: %d, want 1", n)
			}
			if n := withoutKey(t, data, otelkv.MetricAttemptDuration, semconv.ErrorTypeKey, opRawGet, store); n != 1 {
				t.Fatalf("successful RawGet attempts: %d, want 1", n)
			}
			if n := histCount(t, data, otelkv.MetricBackoffSleep, otelkv.KeyBackoff.String("regionMiss")); n != 1 {
				t.Fatalf("regionMiss backoffs: %d, want 1", n)
			}
			if n := sum(t, data, otelkv.MetricCacheInvalidated, otelkv.KeyRegionError.String("RegionNotFound")); n != 1 {
				t.Fatalf("invalidations: %d, want 1", n)
			}
			if n := sum(t, data, otelkv.MetricCacheMisses, otelkv.KeyCacheKind.String("region")); n < 2 {
				t.Fatalf("region cache misses: %d, want the Put's and the Get's", n)
			}
			if n := histCount(t, data, otelkv.MetricPDDuration, otelkv.KeyPDMethod.String("GetRegion")); n < 2 {
				t.Fatalf("PD GetRegion calls: %d, want at least 2", n)
			}
			if n := sum(t, data, otelkv.MetricAttemptsInFlight); n != 0 {
				t.Fatalf("attempts in flight after the calls: %d", n)
			}
		})
	}
}

// TestRawGetFollowsNotLeader: after a leader transfer the Get's first
// attempt is answered NotLeader by the old leader's store and the second
// goes to the new leader, with no backoff: two attempt spans under one
// call, on two stores, with the new store's address loaded from PD between
// them, and the invalidation counted by its kind.
func TestRawGetFollowsNotLeader(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			k, opts := newKit(t)
			mock, cluster := m.connect(t, []mocktikv.Option{mocktikv.WithStores(3)}, opts...)
			client := raw.NewClient(cluster)
			ctx := t.Context()
			if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
				t.Fatal(err)
			}
			r, leader := mock.RegionByKey([]byte("k"))
			var target uint64
			for _, id := range mock.StoreIDs() {
				if id != leader.GetStoreId() {
					target = id
					break
				}
			}
			if err := mock.TransferLeader(r.GetId(), target); err != nil {
				t.Fatal(err)
			}
			k.spans.Reset()
			if got, err := client.Get(ctx, []byte("k")); err != nil || string(got) != "v" {
				t.Fatalf("Get = %q, %v", got, err)
			}
			call := k.only(t, "RawGet")
			kids := k.children(call)
			// The new leader's store was never resolved: its address is
			// loaded from PD between the attempts.
			if got, want := names(kids), []string{getAttempt, "PD GetStore", getAttempt}; !slices.Equal(got, want) {
				t.Fatalf("children %q, want %q", got, want)
			}
			kids = slices.Delete(kids, 1, 2)
			if v, _ := attr(kids[0], otelkv.KeyRegionError); v.AsString() != "NotLeader" {
				t.Fatalf("first attempt region error %v, want NotLeader", v.Emit())
			}
			for i, want := range []uint64{leader.GetStoreId(), target} {
				if v, _ := attr(kids[i], otelkv.KeyStoreID); v.AsInt64() != int64(want) {
					t.Fatalf("attempt %d went to store %v, want %d", i, v.Emit(), want)
				}
			}
			if slices.Contains(eventNames(call), "backoff") {
				t.Fatalf("following a leader hint backed off: events %q", eventNames(call))
			}
			data := k.collect(t)
			if n := sum(t, data, otelkv.MetricCacheInvalidated, otelkv.KeyRegionError.String("NotLeader"),
				otelkv.KeyStoreID.Int64(int64(leader.GetStoreId()))); n != 1 {
				t.Fatalf("NotLeader invalidations: %d, want 1", n)
			}
		})
	}
}

func attr2(kvs []attribute.KeyValue, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}
