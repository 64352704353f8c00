package mocktikv

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/transport"
)

func TestRawV2Keyspaces(t *testing.T) {
	// Two keyspaces, each in regions of its own as PD splits them (at the
	// stored form of 'r' + 3-byte id), with the same user keys: neither sees
	// the other's keys through scans, checksums or range deletes, and a
	// write of one keyspace's key sent to the other's region is refused
	// with KeyNotInRegion in stored form.
	prefix := func(id byte) string { return "r\x00\x00" + string([]byte{id}) }
	bound := func(id byte) []byte { return codec.EncodeBytes(nil, []byte(prefix(id))) }
	e := newRawEnv(t, kvrpcpb.APIVersion_V2, WithSplitKeys(bound(1), bound(2), bound(3)))
	ks1, ks2 := prefix(1), prefix(2)
	for _, ks := range []string{ks1, ks2} {
		for _, k := range []string{"a", "b", "c"} {
			e.put(ks+k, ks[3:]+k, 0)
		}
	}
	r1, _ := e.c.RegionByKey(bound(1))
	eqBytes(t, r1.StartKey, bound(1), "keyspace 1 region start")
	eqBytes(t, r1.EndKey, bound(2), "keyspace 1 region end")

	for _, ks := range []string{ks1, ks2} {
		want := []string{ks + "a=" + ks[3:] + "a", ks + "b=" + ks[3:] + "b", ks + "c=" + ks[3:] + "c"}
		end := prefix(ks[3] + 1)
		eqStrings(t, e.scan(ks, end), want, "scan of keyspace")
		// Scanning a keyspace to the end of all raw keys stops at its
		// region's end.
		eqStrings(t, e.scan(ks, "s"), want, "scan to the end of raw keys")
		cs := at[*kvrpcpb.RawChecksumResponse](e, transport.CmdRawChecksum, ks, &kvrpcpb.RawChecksumRequest{
			Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte(ks), EndKey: []byte(end)}},
		})
		eqProto(t, cs, wantChecksum([2]string{ks + "a", ks[3:] + "a"}, [2]string{ks + "b", ks[3:] + "b"}, [2]string{ks + "c", ks[3:] + "c"}),
			"checksum of a keyspace counts the 4-byte prefix")
	}

	dr := at[*kvrpcpb.RawDeleteRangeResponse](e, transport.CmdRawDeleteRange, ks1, &kvrpcpb.RawDeleteRangeRequest{
		StartKey: []byte(ks1), EndKey: []byte(ks2),
	})
	eq(t, dr.Error == "" && dr.RegionError == nil, true, "delete keyspace 1: %v", dr)
	eqStrings(t, e.scan(ks1, ks2), nil, "keyspace 1 after delete range")
	v, ok := e.get(ks2 + "a")
	eq(t, ok && v == "\x02a", true, "keyspace 2 untouched")

	put := call[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, e.ctx(ks1), &kvrpcpb.RawPutRequest{Key: []byte(ks2 + "z")})
	wantKeyNotInRegion(t, put.RegionError, codec.EncodeBytes(nil, []byte(ks2+"z")), r1.Id)
	dr = call[*kvrpcpb.RawDeleteRangeResponse](e, transport.CmdRawDeleteRange, e.ctx(ks1), &kvrpcpb.RawDeleteRangeRequest{
		StartKey: []byte(ks1), EndKey: []byte(prefix(3)),
	})
	wantKeyNotInRegion(t, dr.RegionError, bound(3), r1.Id)
	_, ok = e.get(ks2 + "b")
	eq(t, ok, true, "a range delete across keyspaces deletes nothing")
}

func TestRawKeySize(t *testing.T) {
	// check_key_size!: raw writes refuse user keys longer than
	// storage.max-key-size (8192); reads are not checked; the atomic paths
	// (for_cas, CAS) skip the check (a TiKV quirk).
	e := newRawEnv(t, kvrpcpb.APIVersion_V1)
	ok, big := make([]byte, maxKeySize), make([]byte, maxKeySize+1)
	const tooLarge = "max key size exceeded, size: 8193, limit: 8192"
	for _, tc := range []struct {
		name string
		cmd  transport.Cmd
		req  func(k []byte) transport.Message
		want string // for the big key
	}{
		{"put", transport.CmdRawPut, func(k []byte) transport.Message { return &kvrpcpb.RawPutRequest{Key: k} }, tooLarge},
		{"batch put", transport.CmdRawBatchPut, func(k []byte) transport.Message {
			return &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte("a")}, {Key: k}}}
		}, tooLarge},
		{"delete", transport.CmdRawDelete, func(k []byte) transport.Message { return &kvrpcpb.RawDeleteRequest{Key: k} }, tooLarge},
		{"batch delete", transport.CmdRawBatchDelete, func(k []byte) transport.Message { return &kvrpcpb.RawBatchDeleteRequest{Keys: [][]byte{k}} }, tooLarge},
		{"delete range start", transport.CmdRawDeleteRange, func(k []byte) transport.Message {
			return &kvrpcpb.RawDeleteRangeRequest{StartKey: k, EndKey: []byte{0xff}}
		}, tooLarge},
		{"get", transport.CmdRawGet, func(k []byte) transport.Message { return &kvrpcpb.RawGetRequest{Key: k} }, ""},
		{"for_cas put", transport.CmdRawPut, func(k []byte) transport.Message { return &kvrpcpb.RawPutRequest{Key: k, ForCas: true} }, ""},
		{"cas", transport.CmdRawCompareAndSwap, func(k []byte) transport.Message {
			return &kvrpcpb.RawCASRequest{Key: k, PreviousNotExist: true}
		}, ""},
	} {
		resp := at[transport.Message](e, tc.cmd, "", tc.req(ok))
		eq(t, rawErrorOf(t, resp), "", "%s of an 8192-byte key", tc.name)
		resp = at[transport.Message](e, tc.cmd, "", tc.req(big))
		eq(t, rawErrorOf(t, resp), tc.want, "%s of an 8193-byte key", tc.name)
	}
	// The end key of a delete range is checked too.
	dr := at[*kvrpcpb.RawDeleteRangeResponse](e, transport.CmdRawDeleteRange, "", &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte("a"), EndKey: big})
	eq(t, dr.Error, tooLarge, "delete range end")
}
