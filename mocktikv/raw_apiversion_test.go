package mocktikv

import (
	"fmt"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

func TestRawAPIVersionCheck(t *testing.T) {
	// Storage::check_api_version: a V1 store serves V1 requests, a V1TTL
	// store serves raw requests that say V1, a V2 store serves raw requests
	// that say V2; every other pair is ApiVersionNotMatched, named with the
	// command's CommandKind and the versions as Rust prints them.
	names := map[kvrpcpb.APIVersion]string{
		kvrpcpb.APIVersion_V1: "V1", kvrpcpb.APIVersion_V1TTL: "V1ttl", kvrpcpb.APIVersion_V2: "V2",
	}
	served := map[[2]kvrpcpb.APIVersion]bool{
		{kvrpcpb.APIVersion_V1, kvrpcpb.APIVersion_V1}:    true,
		{kvrpcpb.APIVersion_V1TTL, kvrpcpb.APIVersion_V1}: true,
		{kvrpcpb.APIVersion_V2, kvrpcpb.APIVersion_V2}:    true,
	}
	const k, end = "r\x00\x00\x01k", "r\x00\x00\x02"
	for _, storage := range storageVersions {
		for _, req := range storageVersions {
			t.Run(names[storage]+"/"+names[req], func(t *testing.T) {
				e := newRawEnv(t, storage)
				e.req = req
				for _, cc := range rawCommands() {
					resp := at[transport.Message](e, cc.cmd, k, cc.req(k, end))
					if rerr := regionErrorOf(resp); rerr != nil {
						t.Fatalf("%s: region error %v", cc.name, rerr)
					}
					want := ""
					switch {
					case !served[[2]kvrpcpb.APIVersion{storage, req}]:
						want = fmt.Sprintf("Api version in request does not match with TiKV storage, cmd: %s, storage: %s, request: %s",
							cc.name, names[storage], names[req])
					case cc.name == "raw_get_key_ttl" && storage == kvrpcpb.APIVersion_V1:
						want = "get ttl on non-ttl store"
					}
					eq(t, rawErrorOf(t, resp), want, "%s error", cc.name)
				}
			})
		}
	}
}

func TestRawV2KeyMode(t *testing.T) {
	// Under V2 every key of a raw request must start with 'r'
	// (InvalidKeyMode, key in upper-case hex), and every range must have a
	// mode: both ends non-empty and sharing the first byte, or the end being
	// the single byte after it (InvalidKeyRangeMode).
	const rk = "r\x00\x00\x01k"
	kr := func(s, e string) []*kvrpcpb.KeyRange {
		return []*kvrpcpb.KeyRange{{StartKey: []byte(s), EndKey: []byte(e)}}
	}
	cases := []struct {
		name string
		cmd  transport.Cmd
		req  transport.Message
		want string
	}{
		{"txn key", transport.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte("xk")},
			"Key mode mismatched with the request mode, cmd: raw_put, storage: V2, key: 786B"},
		{"empty key", transport.CmdRawGet, &kvrpcpb.RawGetRequest{},
			"Key mode mismatched with the request mode, cmd: raw_get, storage: V2, key: "},
		{"second key of a batch", transport.CmdRawBatchDelete, &kvrpcpb.RawBatchDeleteRequest{Keys: [][]byte{[]byte(rk), []byte("k")}},
			"Key mode mismatched with the request mode, cmd: raw_batch_delete, storage: V2, key: 6B"},
		{"cas of a TiDB key", transport.CmdRawCompareAndSwap, &kvrpcpb.RawCASRequest{Key: []byte("t1")},
			"Key mode mismatched with the request mode, cmd: raw_compare_and_swap, storage: V2, key: 7431"},
		{"scan without end", transport.CmdRawScan, &kvrpcpb.RawScanRequest{StartKey: []byte(rk), Limit: 1},
			`Key mode mismatched with the request mode, cmd: raw_scan, storage: V2, range: (Some("720000016B"), None)`},
		{"scan into txn keys", transport.CmdRawScan, &kvrpcpb.RawScanRequest{StartKey: []byte(rk), EndKey: []byte("x"), Limit: 1},
			`Key mode mismatched with the request mode, cmd: raw_scan, storage: V2, range: (Some("720000016B"), Some("78"))`},
		{"scan to the end of raw keys", transport.CmdRawScan, &kvrpcpb.RawScanRequest{StartKey: []byte(rk), EndKey: []byte("s"), Limit: 1}, ""},
		{"batch scan with an empty end", transport.CmdRawBatchScan, &kvrpcpb.RawBatchScanRequest{Ranges: kr(rk, ""), EachLimit: 1},
			`Key mode mismatched with the request mode, cmd: raw_batch_scan, storage: V2, range: (Some("720000016B"), Some(""))`},
		{"delete range of txn keys", transport.CmdRawDeleteRange, &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("xa"), EndKey: []byte("xb")},
			`Key mode mismatched with the request mode, cmd: raw_delete_range, storage: V2, range: (Some("7861"), Some("7862"))`},
		{"checksum of a raw range", transport.CmdRawChecksum, &kvrpcpb.RawChecksumRequest{Ranges: kr(rk, "r\x00\x00\x02")}, ""},
	}
	e := newRawEnv(t, kvrpcpb.APIVersion_V2)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := at[transport.Message](e, tc.cmd, rk, tc.req)
			if rerr := regionErrorOf(resp); rerr != nil {
				t.Fatalf("region error %v", rerr)
			}
			eq(t, rawErrorOf(t, resp), tc.want, "error")
		})
	}
}

func TestRawColumnFamilyNames(t *testing.T) {
	// Storage::rawkv_cf: V1 and V1TTL accept "", default, lock and write;
	// V2 accepts only "" and calls any explicit name deprecated.
	for _, api := range storageVersions {
		e := newRawEnv(t, api)
		k := e.key("k")
		for _, cf := range []string{"", "default", "lock", "write", "nope"} {
			want := ""
			switch {
			case api == kvrpcpb.APIVersion_V2 && cf != "":
				want = "cf is deprecated in API V2, cf name: " + cf
			case cf == "nope":
				want = "invalid cf name: nope"
			}
			put := at[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, k, &kvrpcpb.RawPutRequest{Key: []byte(k), Value: []byte("v"), Cf: cf})
			eq(t, put.Error, want, "%s put cf %q", api, cf)
			get := at[*kvrpcpb.RawGetResponse](e, transport.CmdRawGet, k, &kvrpcpb.RawGetRequest{Key: []byte(k), Cf: cf})
			eq(t, get.Error, want, "%s get cf %q", api, cf)
			scan := at[*kvrpcpb.RawScanResponse](e, transport.CmdRawScan, k, &kvrpcpb.RawScanRequest{StartKey: []byte(k), EndKey: []byte(e.keyEnd()), Limit: 1, Cf: cf})
			eq(t, rawErrorOf(t, scan), want, "%s scan cf %q", api, cf)
		}
	}
}

func TestRawColumnFamilyIsolation(t *testing.T) {
	// Each column family is its own key space; checksum reads the default
	// one only (Storage::raw_checksum).
	for _, api := range []kvrpcpb.APIVersion{kvrpcpb.APIVersion_V1, kvrpcpb.APIVersion_V1TTL} {
		t.Run(api.String(), func(t *testing.T) {
			e := newRawEnv(t, api)
			for _, cf := range []string{"default", "lock", "write"} {
				r := at[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, "k", &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte(cf), Cf: cf})
				eq(t, r.Error, "", "put %s", cf)
				r = at[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, "k", &kvrpcpb.RawPutRequest{Key: []byte(cf + "-only"), Value: []byte("x"), Cf: cf})
				eq(t, r.Error, "", "put %s", cf)
			}
			del := at[*kvrpcpb.RawDeleteResponse](e, transport.CmdRawDelete, "k", &kvrpcpb.RawDeleteRequest{Key: []byte("k"), Cf: "lock"})
			eq(t, del.Error, "", "delete in lock")
			for _, tc := range []struct{ cf, value string }{{"", "default"}, {"default", "default"}, {"lock", ""}, {"write", "write"}} {
				get := at[*kvrpcpb.RawGetResponse](e, transport.CmdRawGet, "k", &kvrpcpb.RawGetRequest{Key: []byte("k"), Cf: tc.cf})
				eq(t, string(get.Value), tc.value, "value in cf %q", tc.cf)
				eq(t, get.NotFound, tc.value == "", "not found in cf %q", tc.cf)
				scan := at[*kvrpcpb.RawScanResponse](e, transport.CmdRawScan, "", &kvrpcpb.RawScanRequest{Limit: 10, KeyOnly: true, Cf: tc.cf})
				want := []string{"k="}
				cf := tc.cf
				if cf == "" {
					cf = "default"
				}
				if tc.value == "" {
					want = nil
				}
				want = append([]string{cf + "-only="}, want...)
				eqStrings(t, pairStrings(t, scan.Kvs), sortedStrings(want), "scan of cf "+cf)
			}
			cs := at[*kvrpcpb.RawChecksumResponse](e, transport.CmdRawChecksum, "", &kvrpcpb.RawChecksumRequest{Ranges: []*kvrpcpb.KeyRange{{}}})
			eq(t, cs.TotalKvs, uint64(2), "checksum counts the default cf only")
		})
	}
}

func TestRawCheckOrder(t *testing.T) {
	// The first failure decides the answer: writes check the cf before the
	// region (a bad cf beats a stale epoch), reads after it; raw_put checks
	// key size before TTL and cf, raw_batch_put cf before key size.
	e := newRawEnv(t, kvrpcpb.APIVersion_V1)
	stale := e.ctx("k")
	stale.RegionEpoch = nil
	big := make([]byte, maxKeySize+1)

	put := call[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, stale, &kvrpcpb.RawPutRequest{Key: []byte("k"), Cf: "nope"})
	eq(t, put.Error, "invalid cf name: nope", "put: cf before region")
	eq(t, put.RegionError == nil, true, "put: no region error")
	get := call[*kvrpcpb.RawGetResponse](e, transport.CmdRawGet, stale, &kvrpcpb.RawGetRequest{Key: []byte("k"), Cf: "nope"})
	eq(t, get.RegionError.GetEpochNotMatch() != nil, true, "get: region before cf")
	eq(t, get.Error, "", "get: no error beside the region error")

	put = at[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, "k", &kvrpcpb.RawPutRequest{Key: big, Ttl: 1, Cf: "nope"})
	wantContains(t, put.Error, "max key size exceeded", "put: key size first")
	put = at[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, "k", &kvrpcpb.RawPutRequest{Key: []byte("k"), Ttl: 1, Cf: "nope"})
	eq(t, put.Error, errTTLNotEnabled, "put: ttl before cf")
	bp := at[*kvrpcpb.RawBatchPutResponse](e, transport.CmdRawBatchPut, "k", &kvrpcpb.RawBatchPutRequest{
		Pairs: []*kvrpcpb.KvPair{{Key: big}}, Cf: "nope",
	})
	eq(t, bp.Error, "invalid cf name: nope", "batch put: cf before key size")
	bd := at[*kvrpcpb.RawBatchDeleteResponse](e, transport.CmdRawBatchDelete, "k", &kvrpcpb.RawBatchDeleteRequest{
		Keys: [][]byte{big}, Cf: "nope",
	})
	eq(t, bd.Error, "invalid cf name: nope", "batch delete: cf before key size")
}
