package mocktikv

import (
	"testing"
	"testing/synctest"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/transport"
)

// crc64XZBitwise is CRC-64/XZ (reflected ECMA-182 polynomial, initial value
// and final xor all ones) computed bit by bit, independently of hash/crc64.
func crc64XZBitwise(data ...[]byte) uint64 {
	const poly = 0xC96C5795D7870F42 // 0x42F0E1EBA9EA3693 reflected
	crc := ^uint64(0)
	for _, d := range data {
		for _, b := range d {
			crc ^= uint64(b)
			for range 8 {
				if crc&1 != 0 {
					crc = crc>>1 ^ poly
				} else {
					crc >>= 1
				}
			}
		}
	}
	return ^crc
}

// wantChecksum is TiKV's raw checksum of pairs computed independently:
// crc64 of key ++ value xor-ed together, the count, the summed lengths.
func wantChecksum(pairs ...[2]string) *kvrpcpb.RawChecksumResponse {
	want := &kvrpcpb.RawChecksumResponse{}
	for _, p := range pairs {
		want.Checksum ^= crc64XZBitwise([]byte(p[0]), []byte(p[1]))
		want.TotalKvs++
		want.TotalBytes += uint64(len(p[0]) + len(p[1]))
	}
	return want
}

func TestCRC64XZCheckValue(t *testing.T) {
	// The catalogue's check value of CRC-64/XZ, so the test's reference
	// implementation is itself checked.
	eq(t, crc64XZBitwise([]byte("123456789")), uint64(0x995DC9BBDF1939FA), "CRC-64/XZ(123456789)")
}

func TestRawChecksum(t *testing.T) {
	// RawStoreInner::raw_checksum_ranges: over the default cf, each range
	// [start, end) clipped to the region (empty end: the region's end), of
	// visible pairs, with user keys (V2: including 'r' + keyspace, no
	// timestamp) and user values (no TTL or flag suffix).
	for _, api := range storageVersions {
		t.Run(api.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newRawEnv(t, api, WithSplitKeys(e0(api, "m")))
				k := e.key
				e.put(k("a"), "1", 0)
				e.put(k("b"), "", 0)
				e.put(k("c"), "three", 0)
				e.put(k("d"), "4", 0)
				if api != kvrpcpb.APIVersion_V2 {
					r := at[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, k("a"), &kvrpcpb.RawPutRequest{Key: []byte(k("ab")), Value: []byte("w"), Cf: "write"})
					eq(t, r.Error, "", "put in the write cf, which checksum ignores")
				}
				e.put(k("n"), "other region", 0)
				ttl := uint64(0)
				if api != kvrpcpb.APIVersion_V1 {
					ttl = 5
					e.put(k("e"), "expires", ttl)
				}
				e.put(k("f"), "deleted", 0)
				e.del(k("f"))

				checksum := func(ranges ...[2]string) *kvrpcpb.RawChecksumResponse {
					req := &kvrpcpb.RawChecksumRequest{}
					for _, r := range ranges {
						req.Ranges = append(req.Ranges, &kvrpcpb.KeyRange{StartKey: []byte(r[0]), EndKey: []byte(r[1])})
					}
					return at[*kvrpcpb.RawChecksumResponse](e, transport.CmdRawChecksum, k("a"), req)
				}
				withTTL := []([2]string){{k("a"), "1"}, {k("b"), ""}, {k("c"), "three"}, {k("d"), "4"}}
				if ttl != 0 {
					withTTL = append(withTTL, [2]string{k("e"), "expires"})
				}
				end := k("m")
				eqProto(t, checksum([2]string{k(""), end}), wantChecksum(withTTL...), "whole region")
				eqProto(t, checksum([2]string{k("a"), k("c")}, [2]string{k("d"), end}),
					wantChecksum(append(withTTL[:2:2], withTTL[3:]...)...), "two ranges")
				eqProto(t, checksum([2]string{k("b"), k("zz")}), wantChecksum(withTTL[1:]...), "clipped to the region's end")
				eqProto(t, checksum([2]string{k("c"), k("b")}), wantChecksum(), "inverted range")

				sleepSeconds(5)
				eqProto(t, checksum([2]string{k(""), end}), wantChecksum(withTTL[:4]...), "after expiry")

				out := checksum([2]string{k("n"), k("o")})
				wantKeyNotInRegion(t, out.RegionError, e.c.engine.storedKey([]byte(k("n"))), e.ctx(k("a")).RegionId)
				eq(t, out.TotalKvs, uint64(0), "no result beside the region error")

				bad := at[*kvrpcpb.RawChecksumResponse](e, transport.CmdRawChecksum, k("a"), &kvrpcpb.RawChecksumRequest{Algorithm: 7})
				eq(t, bad.Error, "unknown checksum algorithm 7", "algorithm")
			})
		})
	}
}

// e0 is the stored form of user key k of keyspace 1 under api, for splits.
func e0(api kvrpcpb.APIVersion, k string) []byte {
	e := &rawEngine{api: api}
	if api == kvrpcpb.APIVersion_V2 {
		k = "r\x00\x00\x01" + k
	}
	return e.storedKey([]byte(k))
}
