package mocktikv

import (
	"testing"
	"testing/synctest"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

func TestRawCompareAndSwap(t *testing.T) {
	// RawCompareAndSwap (src/storage/txn/commands/compare_and_swap.rs): the
	// expectation is "absent" with previous_not_exist, else previous_value,
	// where an empty value is a value; on a match the value is written (or,
	// with delete, the key deleted) and succeed set; the observed value
	// always comes back.
	type state struct {
		exists bool
		value  string
	}
	absent := state{}
	has := func(v string) state { return state{true, v} }
	cases := []struct {
		name   string
		before state
		req    *kvrpcpb.RawCASRequest // Key is filled in
		succ   bool
		prev   state // what the response reports
		after  state
	}{
		{"absent, expected absent", absent, &kvrpcpb.RawCASRequest{PreviousNotExist: true, Value: []byte("new")},
			true, absent, has("new")},
		{"present, expected absent", has("old"), &kvrpcpb.RawCASRequest{PreviousNotExist: true, Value: []byte("new")},
			false, has("old"), has("old")},
		{"present, expected equal", has("old"), &kvrpcpb.RawCASRequest{PreviousValue: []byte("old"), Value: []byte("new")},
			true, has("old"), has("new")},
		{"present, expected other", has("old"), &kvrpcpb.RawCASRequest{PreviousValue: []byte("other"), Value: []byte("new")},
			false, has("old"), has("old")},
		{"absent, expected empty value", absent, &kvrpcpb.RawCASRequest{PreviousValue: []byte{}, Value: []byte("new")},
			false, absent, absent},
		{"empty value, expected absent", has(""), &kvrpcpb.RawCASRequest{PreviousNotExist: true, Value: []byte("new")},
			false, has(""), has("")},
		{"empty value, expected empty value", has(""), &kvrpcpb.RawCASRequest{Value: []byte("new")},
			true, has(""), has("new")},
		{"write an empty value", has("old"), &kvrpcpb.RawCASRequest{PreviousValue: []byte("old"), Value: []byte{}},
			true, has("old"), has("")},
		{"delete, expected equal", has("old"), &kvrpcpb.RawCASRequest{PreviousValue: []byte("old"), Delete: true},
			true, has("old"), absent},
		{"delete, expected other", has("old"), &kvrpcpb.RawCASRequest{PreviousValue: []byte("x"), Delete: true},
			false, has("old"), has("old")},
		{"delete, absent as expected", absent, &kvrpcpb.RawCASRequest{PreviousNotExist: true, Delete: true},
			true, absent, absent},
	}
	for _, api := range storageVersions {
		t.Run(api.String(), func(t *testing.T) {
			e := newRawEnv(t, api)
			for i, tc := range cases {
				k := e.key(string(rune('a' + i)))
				if tc.before.exists {
					e.put(k, tc.before.value, 0)
				}
				req := *tc.req
				req.Key = []byte(k)
				resp := at[*kvrpcpb.RawCASResponse](e, transport.CmdRawCompareAndSwap, k, &req)
				if resp.RegionError != nil || resp.Error != "" {
					t.Fatalf("%s: %v", tc.name, resp)
				}
				eq(t, resp.Succeed, tc.succ, "%s: succeed", tc.name)
				eq(t, resp.PreviousNotExist, !tc.prev.exists, "%s: previous_not_exist", tc.name)
				eq(t, string(resp.PreviousValue), tc.prev.value, "%s: previous_value", tc.name)
				v, ok := e.get(k)
				eq(t, ok, tc.after.exists, "%s: exists after", tc.name)
				eq(t, v, tc.after.value, "%s: value after", tc.name)
			}
		})
	}
}

func TestRawCompareAndSwapTTL(t *testing.T) {
	// A successful CAS writes the value with its ttl where TTLs are
	// enabled; the expired value then counts as absent.
	for _, api := range []kvrpcpb.APIVersion{kvrpcpb.APIVersion_V1TTL, kvrpcpb.APIVersion_V2} {
		t.Run(api.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newRawEnv(t, api)
				k := e.key("k")
				cas := func(req *kvrpcpb.RawCASRequest) *kvrpcpb.RawCASResponse {
					req.Key = []byte(k)
					return at[*kvrpcpb.RawCASResponse](e, transport.CmdRawCompareAndSwap, k, req)
				}
				r := cas(&kvrpcpb.RawCASRequest{PreviousNotExist: true, Value: []byte("v"), Ttl: 30})
				eq(t, r.Succeed, true, "first CAS")
				ttl, _ := e.ttl(k)
				eq(t, ttl, uint64(30), "ttl written by CAS")
				r = cas(&kvrpcpb.RawCASRequest{PreviousNotExist: true, Value: []byte("w")})
				eq(t, r.Succeed, false, "CAS over a live key")
				sleepSeconds(30)
				r = cas(&kvrpcpb.RawCASRequest{PreviousNotExist: true, Value: []byte("w")})
				eq(t, r.Succeed, true, "CAS over an expired key")
			})
		})
	}
}

func TestRawAtomicWrites(t *testing.T) {
	// for_cas puts and deletes (RawAtomicStore) write like plain ones; they
	// skip the key-size check (a TiKV quirk) and name themselves
	// raw_atomic_store.
	for _, api := range storageVersions {
		t.Run(api.String(), func(t *testing.T) {
			e := newRawEnv(t, api)
			big := e.key(string(make([]byte, maxKeySize+1)))
			for _, k := range []string{e.key("a"), big} {
				put := at[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, k, &kvrpcpb.RawPutRequest{Key: []byte(k), Value: []byte("v"), ForCas: true})
				eq(t, put.Error, "", "for_cas put of a %d-byte key", len(k))
				v, ok := e.get(k)
				eq(t, ok && v == "v", true, "value after for_cas put")
				del := at[*kvrpcpb.RawDeleteResponse](e, transport.CmdRawDelete, k, &kvrpcpb.RawDeleteRequest{Key: []byte(k), ForCas: true})
				eq(t, del.Error, "", "for_cas delete")
				_, ok = e.get(k)
				eq(t, ok, false, "found after for_cas delete")
			}
			bp := at[*kvrpcpb.RawBatchPutResponse](e, transport.CmdRawBatchPut, big, &kvrpcpb.RawBatchPutRequest{
				Pairs: []*kvrpcpb.KvPair{{Key: []byte(big), Value: []byte("1")}, {Key: []byte(e.key("b")), Value: []byte("2")}}, ForCas: true,
			})
			eq(t, bp.Error, "", "for_cas batch put")
			bd := at[*kvrpcpb.RawBatchDeleteResponse](e, transport.CmdRawBatchDelete, big, &kvrpcpb.RawBatchDeleteRequest{
				Keys: [][]byte{[]byte(big)}, ForCas: true,
			})
			eq(t, bd.Error, "", "for_cas batch delete")
			eqStrings(t, e.scan(e.key(""), e.keyEnd()), []string{e.key("b") + "=2"}, "after atomic batch writes")
		})
	}
}
