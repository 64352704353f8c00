package mocktikv

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// rawEnv drives one cluster's raw commands through the in-process Sender the
// way a client of the cluster's API version does: requests say the version
// clients use with it (V1 for a V1TTL store) and go to the leader of the
// region holding the key's stored form.
type rawEnv struct {
	t   *testing.T
	c   *Cluster
	req kvrpcpb.APIVersion
}

// newRawEnv builds a cluster of storage version api with opts.
func newRawEnv(t *testing.T, api kvrpcpb.APIVersion, opts ...Option) *rawEnv {
	c := NewCluster(append([]Option{WithAPIVersion(api)}, opts...)...)
	req := api
	if api == kvrpcpb.APIVersion_V1TTL {
		req = kvrpcpb.APIVersion_V1
	}
	return &rawEnv{t: t, c: c, req: req}
}

// storageVersions are the three storage API versions a TiKV can run.
var storageVersions = []kvrpcpb.APIVersion{kvrpcpb.APIVersion_V1, kvrpcpb.APIVersion_V1TTL, kvrpcpb.APIVersion_V2}

// key makes a user key for the env: under V2 raw keys carry the prefix of
// keyspace 1 ('r', 0, 0, 1).
func (e *rawEnv) key(k string) string {
	if e.c.APIVersion() == kvrpcpb.APIVersion_V2 {
		return "r\x00\x00\x01" + k
	}
	return k
}

// keyEnd is the exclusive end of the env's key space: "" (unbounded) for V1
// and V1TTL, the next keyspace's prefix under V2 (which refuses open ends).
func (e *rawEnv) keyEnd() string {
	if e.c.APIVersion() == kvrpcpb.APIVersion_V2 {
		return "r\x00\x00\x02"
	}
	return ""
}

// ctx is the Context for the region holding user key k.
func (e *rawEnv) ctx(k string) *kvrpcpb.Context {
	r, leader := e.c.RegionByKey(e.c.engine.storedKey([]byte(k)))
	return &kvrpcpb.Context{RegionId: r.Id, RegionEpoch: r.RegionEpoch, Peer: leader, ApiVersion: e.req}
}

// call sends msg with its Context set to rctx to the store rctx names,
// failing the test on a transport error.
func call[Resp transport.Message](e *rawEnv, cmd transport.Cmd, rctx *kvrpcpb.Context, msg transport.Message) Resp {
	e.t.Helper()
	return callOn[Resp](e, rctx.GetPeer().GetStoreId(), cmd, rctx, msg)
}

// callOn is call delivering to store storeID, whatever rctx says.
func callOn[Resp transport.Message](e *rawEnv, storeID uint64, cmd transport.Cmd, rctx *kvrpcpb.Context, msg transport.Message) Resp {
	e.t.Helper()
	req := &transport.Request{
		Cmd:    cmd,
		Msg:    cmd.WithContext(msg, rctx),
		Target: transport.Target{StoreID: storeID, RegionID: rctx.GetRegionId(), Peer: rctx.GetPeer()},
	}
	resp, err := e.c.Sender().Send(context.Background(), req)
	if err != nil {
		e.t.Fatalf("%s: %v", cmd, err)
	}
	return resp.Msg.(Resp)
}

// at sends msg to the region holding user key k.
func at[Resp transport.Message](e *rawEnv, cmd transport.Cmd, k string, msg transport.Message) Resp {
	e.t.Helper()
	return call[Resp](e, cmd, e.ctx(k), msg)
}

func (e *rawEnv) put(k, v string, ttl uint64) {
	e.t.Helper()
	r := at[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, k, &kvrpcpb.RawPutRequest{Key: []byte(k), Value: []byte(v), Ttl: ttl})
	if r.RegionError != nil || r.Error != "" {
		e.t.Fatalf("put %q: %v", k, r)
	}
}

func (e *rawEnv) del(k string) {
	e.t.Helper()
	r := at[*kvrpcpb.RawDeleteResponse](e, transport.CmdRawDelete, k, &kvrpcpb.RawDeleteRequest{Key: []byte(k)})
	if r.RegionError != nil || r.Error != "" {
		e.t.Fatalf("delete %q: %v", k, r)
	}
}

// get returns k's value and whether it exists.
func (e *rawEnv) get(k string) (string, bool) {
	e.t.Helper()
	r := at[*kvrpcpb.RawGetResponse](e, transport.CmdRawGet, k, &kvrpcpb.RawGetRequest{Key: []byte(k)})
	if r.RegionError != nil || r.Error != "" {
		e.t.Fatalf("get %q: %v", k, r)
	}
	return string(r.Value), !r.NotFound
}

// scan scans [start, end) of the region holding start and renders the
// pairs as "k=v".
func (e *rawEnv) scan(start, end string) []string {
	e.t.Helper()
	r := at[*kvrpcpb.RawScanResponse](e, transport.CmdRawScan, start, &kvrpcpb.RawScanRequest{
		StartKey: []byte(start), EndKey: []byte(end), Limit: 1000,
	})
	if r.RegionError != nil {
		e.t.Fatalf("scan %q..%q: %v", start, end, r.RegionError)
	}
	return pairStrings(e.t, r.Kvs)
}

// ttl returns RawGetKeyTTL's answer for k: the ttl and whether k was found.
func (e *rawEnv) ttl(k string) (uint64, bool) {
	e.t.Helper()
	r := at[*kvrpcpb.RawGetKeyTTLResponse](e, transport.CmdRawGetKeyTTL, k, &kvrpcpb.RawGetKeyTTLRequest{Key: []byte(k)})
	if r.RegionError != nil || r.Error != "" {
		e.t.Fatalf("get ttl %q: %v", k, r)
	}
	return r.Ttl, !r.NotFound
}

// pairStrings renders pairs as "k=v", failing on an error pair.
func pairStrings(t *testing.T, kvs []*kvrpcpb.KvPair) []string {
	t.Helper()
	var out []string
	for _, kv := range kvs {
		if kv.Error != nil {
			t.Fatalf("error pair: %v", kv.Error)
		}
		out = append(out, string(kv.Key)+"="+string(kv.Value))
	}
	return out
}

// onlyErrorPair returns the abort message of a response that is a single
// keyless error pair, failing otherwise.
func onlyErrorPair(t *testing.T, kvs []*kvrpcpb.KvPair) string {
	t.Helper()
	if len(kvs) != 1 || kvs[0].Error == nil || len(kvs[0].Key) != 0 {
		t.Fatalf("want one keyless error pair, got %v", kvs)
	}
	return kvs[0].Error.Abort
}

// wantKeyNotInRegion fails unless e is a KeyNotInRegion for key in region
// regionID.
func wantKeyNotInRegion(t *testing.T, e *errorpb.Error, key []byte, regionID uint64) {
	t.Helper()
	if e.GetKeyNotInRegion() == nil {
		t.Fatalf("want KeyNotInRegion, got %v", e)
	}
	eqBytes(t, e.KeyNotInRegion.Key, key, "KeyNotInRegion.key")
	eq(t, e.KeyNotInRegion.RegionId, regionID, "KeyNotInRegion.region_id")
	if e.Message == "" {
		t.Fatal("KeyNotInRegion without message")
	}
}

// rawErrorOf returns the failure a raw response reports outside
// region_error, or "": the string error field, or, for the commands that
// have none, the abort of the first error pair.
func rawErrorOf(t *testing.T, resp transport.Message) string {
	t.Helper()
	var pairs []*kvrpcpb.KvPair
	switch r := resp.(type) {
	case *kvrpcpb.RawBatchGetResponse:
		pairs = r.Pairs
	case *kvrpcpb.RawScanResponse:
		pairs = r.Kvs
	case *kvrpcpb.RawBatchScanResponse:
		pairs = r.Kvs
	case interface{ GetError() string }:
		return r.GetError()
	default:
		t.Fatalf("%T has no error field", resp)
	}
	for _, p := range pairs {
		if p.Error != nil {
			return p.Error.Abort
		}
	}
	return ""
}

// regionErrorOf returns a raw response's region error.
func regionErrorOf(resp transport.Message) *errorpb.Error {
	if r, ok := resp.(interface{ GetRegionError() *errorpb.Error }); ok {
		return r.GetRegionError()
	}
	return nil
}

// rawCmdCase is one raw command with a request for user key k (ranges
// [k, end)), used by the tables that run every command.
type rawCmdCase struct {
	name string
	cmd  transport.Cmd
	req  func(k, end string) transport.Message
}

// rawCommands lists every raw command, each named by TiKV's CommandKind.
func rawCommands() []rawCmdCase {
	kr := func(k, end string) []*kvrpcpb.KeyRange {
		return []*kvrpcpb.KeyRange{{StartKey: []byte(k), EndKey: []byte(end)}}
	}
	return []rawCmdCase{
		{"raw_get", transport.CmdRawGet, func(k, _ string) transport.Message { return &kvrpcpb.RawGetRequest{Key: []byte(k)} }},
		{"raw_batch_get", transport.CmdRawBatchGet, func(k, _ string) transport.Message {
			return &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte(k)}}
		}},
		{"raw_put", transport.CmdRawPut, func(k, _ string) transport.Message {
			return &kvrpcpb.RawPutRequest{Key: []byte(k), Value: []byte("v")}
		}},
		{"raw_atomic_store", transport.CmdRawPut, func(k, _ string) transport.Message {
			return &kvrpcpb.RawPutRequest{Key: []byte(k), Value: []byte("v"), ForCas: true}
		}},
		{"raw_batch_put", transport.CmdRawBatchPut, func(k, _ string) transport.Message {
			return &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte(k), Value: []byte("v")}}}
		}},
		{"raw_delete", transport.CmdRawDelete, func(k, _ string) transport.Message { return &kvrpcpb.RawDeleteRequest{Key: []byte(k)} }},
		{"raw_batch_delete", transport.CmdRawBatchDelete, func(k, _ string) transport.Message {
			return &kvrpcpb.RawBatchDeleteRequest{Keys: [][]byte{[]byte(k)}}
		}},
		{"raw_delete_range", transport.CmdRawDeleteRange, func(k, end string) transport.Message {
			return &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte(k), EndKey: []byte(end)}
		}},
		{"raw_scan", transport.CmdRawScan, func(k, end string) transport.Message {
			return &kvrpcpb.RawScanRequest{StartKey: []byte(k), EndKey: []byte(end), Limit: 10}
		}},
		{"raw_batch_scan", transport.CmdRawBatchScan, func(k, end string) transport.Message {
			return &kvrpcpb.RawBatchScanRequest{Ranges: kr(k, end), EachLimit: 10}
		}},
		{"raw_get_key_ttl", transport.CmdRawGetKeyTTL, func(k, _ string) transport.Message {
			return &kvrpcpb.RawGetKeyTTLRequest{Key: []byte(k)}
		}},
		{"raw_compare_and_swap", transport.CmdRawCompareAndSwap, func(k, _ string) transport.Message {
			return &kvrpcpb.RawCASRequest{Key: []byte(k), Value: []byte("v"), PreviousNotExist: true}
		}},
		{"raw_checksum", transport.CmdRawChecksum, func(k, end string) transport.Message {
			return &kvrpcpb.RawChecksumRequest{Ranges: kr(k, end)}
		}},
	}
}

func wantContains(t *testing.T, got, want, what string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("%s: %q does not contain %q", what, got, want)
	}
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// sleepSeconds advances a synctest bubble's clock.
func sleepSeconds(n int) { time.Sleep(time.Duration(n) * time.Second) }
