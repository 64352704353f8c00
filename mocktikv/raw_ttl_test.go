package mocktikv

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// The TTL tests run in a synctest bubble: the engine judges expiry by
// time.Now in whole seconds, as TiKV's ttl_current_ts does, and the bubble's
// clock moves only when the test sleeps.

func TestRawTTLExpiry(t *testing.T) {
	// A TTL'd key lives until now >= put time + ttl (RawValue::is_valid:
	// expire_ts <= now is expired); while it lives, RawGetKeyTTL reports the
	// seconds left; a key without TTL reports 0; an expired key is invisible
	// to get, batch get, scan, batch scan and CAS, and not found by
	// RawGetKeyTTL.
	for _, api := range []kvrpcpb.APIVersion{kvrpcpb.APIVersion_V1TTL, kvrpcpb.APIVersion_V2} {
		t.Run(api.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newRawEnv(t, api)
				short, forever := e.key("short"), e.key("forever")
				e.put(short, "s", 10)
				e.put(forever, "f", 0)

				ttl, ok := e.ttl(short)
				eq(t, ok, true, "short found")
				eq(t, ttl, uint64(10), "short ttl")
				ttl, ok = e.ttl(forever)
				eq(t, ok, true, "forever found")
				eq(t, ttl, uint64(0), "no ttl is 0")
				_, ok = e.ttl(e.key("missing"))
				eq(t, ok, false, "missing key found")

				time.Sleep(4 * time.Second)
				ttl, _ = e.ttl(short)
				eq(t, ttl, uint64(6), "ttl left after 4s")
				v, ok := e.get(short)
				eq(t, ok && v == "s", true, "alive after 4s")

				time.Sleep(6 * time.Second)
				_, ok = e.get(short)
				eq(t, ok, false, "expired exactly at put time + ttl")
				_, ok = e.ttl(short)
				eq(t, ok, false, "expired key's ttl found")
				eqStrings(t, e.scan(e.key(""), e.keyEnd()), []string{forever + "=f"}, "scan skips expired")
				rev := at[*kvrpcpb.RawScanResponse](e, transport.CmdRawScan, forever, &kvrpcpb.RawScanRequest{
					StartKey: []byte(e.key("zz")), EndKey: []byte(e.key("")), Limit: 1, Reverse: true,
				})
				eqStrings(t, pairStrings(t, rev.Kvs), []string{forever + "=f"}, "reverse scan skips expired, limit counts visible keys")
				bg := at[*kvrpcpb.RawBatchGetResponse](e, transport.CmdRawBatchGet, short, &kvrpcpb.RawBatchGetRequest{
					Keys: [][]byte{[]byte(short), []byte(forever)},
				})
				eqStrings(t, pairStrings(t, bg.Pairs), []string{forever + "=f"}, "batch get omits expired")
				cas := at[*kvrpcpb.RawCASResponse](e, transport.CmdRawCompareAndSwap, short, &kvrpcpb.RawCASRequest{
					Key: []byte(short), Value: []byte("new"), PreviousNotExist: true,
				})
				eq(t, cas.Succeed && cas.PreviousNotExist, true, "CAS sees the expired key as absent: %v", cas)
				ttl, ok = e.ttl(short)
				eq(t, ok && ttl == 0, true, "CAS without ttl writes a key without ttl")
			})
		})
	}
}

func TestRawBatchPutTTLs(t *testing.T) {
	// future_raw_batch_put: no ttls means 0 for all, one ttl applies to
	// every pair, otherwise there must be one per pair; the deprecated ttl
	// field is ignored.
	pairs := func(e *rawEnv, keys ...string) []*kvrpcpb.KvPair {
		var out []*kvrpcpb.KvPair
		for _, k := range keys {
			out = append(out, &kvrpcpb.KvPair{Key: []byte(e.key(k)), Value: []byte(k)})
		}
		return out
	}
	for _, api := range []kvrpcpb.APIVersion{kvrpcpb.APIVersion_V1TTL, kvrpcpb.APIVersion_V2} {
		t.Run(api.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newRawEnv(t, api)
				for _, tc := range []struct {
					name    string
					ttls    []uint64
					ttl     uint64
					wantErr string
					want    []uint64 // ttl of a, b, c
				}{
					{name: "none", want: []uint64{0, 0, 0}},
					{name: "deprecated field ignored", ttl: 9, want: []uint64{0, 0, 0}},
					{name: "one for all", ttls: []uint64{5}, want: []uint64{5, 5, 5}},
					{name: "one each", ttls: []uint64{1, 0, 3}, want: []uint64{1, 0, 3}},
					{name: "too few", ttls: []uint64{1, 2}, wantErr: errTTLLenMismatch},
					{name: "too many", ttls: []uint64{1, 2, 3, 4}, wantErr: errTTLLenMismatch},
				} {
					r := at[*kvrpcpb.RawBatchPutResponse](e, transport.CmdRawBatchPut, e.key("a"), &kvrpcpb.RawBatchPutRequest{
						Pairs: pairs(e, "a", "b", "c"), Ttls: tc.ttls, Ttl: tc.ttl,
					})
					eq(t, r.Error, tc.wantErr, "%s: error", tc.name)
					for i, k := range []string{"a", "b", "c"} {
						if tc.want == nil {
							continue
						}
						ttl, ok := e.ttl(e.key(k))
						eq(t, ok, true, "%s: %s found", tc.name, k)
						eq(t, ttl, tc.want[i], "%s: ttl of %s", tc.name, k)
					}
				}
			})
		})
	}
}

func TestRawTTLNotEnabled(t *testing.T) {
	// A V1 store keeps no expiry times: any non-zero ttl is refused with
	// TtlNotEnabled, zero ttls are fine, and RawGetKeyTTL is not served.
	e := newRawEnv(t, kvrpcpb.APIVersion_V1)
	twoPairs := []*kvrpcpb.KvPair{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}}
	for _, tc := range []struct {
		name string
		cmd  transport.Cmd
		req  transport.Message
		want string
	}{
		{"put", transport.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte("k"), Ttl: 1}, errTTLNotEnabled},
		{"for_cas put", transport.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte("k"), Ttl: 1, ForCas: true}, errTTLNotEnabled},
		{"batch put", transport.CmdRawBatchPut, &kvrpcpb.RawBatchPutRequest{Pairs: twoPairs, Ttls: []uint64{0, 5}}, errTTLNotEnabled},
		{"batch put, zero ttls of another length", transport.CmdRawBatchPut, &kvrpcpb.RawBatchPutRequest{Pairs: twoPairs, Ttls: []uint64{0, 0, 0}}, ""},
		{"cas", transport.CmdRawCompareAndSwap, &kvrpcpb.RawCASRequest{Key: []byte("k"), Ttl: 1, PreviousNotExist: true}, errTTLNotEnabled},
		{"get key ttl", transport.CmdRawGetKeyTTL, &kvrpcpb.RawGetKeyTTLRequest{Key: []byte("k")}, "get ttl on non-ttl store"},
	} {
		resp := at[transport.Message](e, tc.cmd, "k", tc.req)
		eq(t, rawErrorOf(t, resp), tc.want, "%s", tc.name)
	}

	// Pairs are zipped with the ttls, so two zero ttls for three pairs
	// write only the first two (a TiKV quirk).
	r := at[*kvrpcpb.RawBatchPutResponse](e, transport.CmdRawBatchPut, "k", &kvrpcpb.RawBatchPutRequest{
		Pairs: []*kvrpcpb.KvPair{{Key: []byte("x"), Value: []byte("1")}, {Key: []byte("y"), Value: []byte("2")}, {Key: []byte("z"), Value: []byte("3")}},
		Ttls:  []uint64{0, 0},
	})
	eq(t, r.Error, "", "zipped batch put")
	eqStrings(t, e.scan("x", ""), []string{"x=1", "y=2"}, "pairs beyond the ttls are dropped")
}

func TestRawV2LogicalDelete(t *testing.T) {
	// V2 deletes write a logical-delete value (raw_delete_request_to_modify):
	// the key disappears from get, scan, checksum and CAS, yet RawGetKeyTTL,
	// which ignores the delete flag, reports it found with ttl 0 (a TiKV
	// quirk). RawDeleteRange deletes physically.
	synctest.Test(t, func(t *testing.T) {
		e := newRawEnv(t, kvrpcpb.APIVersion_V2)
		a, b := e.key("a"), e.key("b")
		e.put(a, "1", 100)
		e.put(b, "2", 0)
		e.del(a)
		_, ok := e.get(a)
		eq(t, ok, false, "deleted key found")
		eqStrings(t, e.scan(e.key(""), e.keyEnd()), []string{b + "=2"}, "scan after delete")
		ttl, ok := e.ttl(a)
		eq(t, ok && ttl == 0, true, "ttl of a logically deleted key: %d %v", ttl, ok)
		cs := at[*kvrpcpb.RawChecksumResponse](e, transport.CmdRawChecksum, a, &kvrpcpb.RawChecksumRequest{
			Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte(e.key("")), EndKey: []byte(e.keyEnd())}},
		})
		eq(t, cs.TotalKvs, uint64(1), "checksum skips the deleted key")

		dr := at[*kvrpcpb.RawDeleteRangeResponse](e, transport.CmdRawDeleteRange, a, &kvrpcpb.RawDeleteRangeRequest{
			StartKey: []byte(e.key("")), EndKey: []byte(e.keyEnd()),
		})
		eq(t, dr.Error, "", "delete range")
		_, ok = e.ttl(a)
		eq(t, ok, false, "a physically deleted key is gone")
	})
}
