package mocktikv

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/transport"
)

func TestRawOutOfRegion(t *testing.T) {
	// Every command sent to the region [-inf, m) with a key of [m, +inf):
	// writes fail when they apply (check_key_in_region -> KeyNotInRegion);
	// scans and checksums fail their first seek (should_seekable ->
	// KeyNotInRegion); V1/V1TTL point reads fail in the snapshot's get and
	// answer a string error (region_snapshot.rs get_value_cf_opt), while V2
	// point reads seek and get KeyNotInRegion; a batch get gives the key its
	// own error pair and reads the others.
	type outcome int
	const (
		regionErr  outcome = iota // KeyNotInRegion for the out key
		stringErr                 // an error outside region_error
		keyErrPair                // an error pair for the key, the in-region key read
	)
	pointRead := func(api kvrpcpb.APIVersion) outcome {
		if api == kvrpcpb.APIVersion_V2 {
			return regionErr
		}
		return stringErr
	}
	for _, api := range storageVersions {
		t.Run(api.String(), func(t *testing.T) {
			e := newRawEnv(t, api, WithSplitKeys(e0(api, "m")))
			in, out, end := e.key("a"), e.key("x"), e.key("z")
			e.put(in, "1", 0)
			rctx := e.ctx(in)
			outStored := e.c.engine.storedKey([]byte(out))
			cases := []struct {
				name string
				cmd  transport.Cmd
				req  transport.Message
				want outcome
			}{
				{"get", transport.CmdRawGet, &kvrpcpb.RawGetRequest{Key: []byte(out)}, pointRead(api)},
				{"batch get", transport.CmdRawBatchGet, &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte(in), []byte(out)}}, keyErrPair},
				{"put", transport.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte(out)}, regionErr},
				{"for_cas put", transport.CmdRawPut, &kvrpcpb.RawPutRequest{Key: []byte(out), ForCas: true}, regionErr},
				{"batch put", transport.CmdRawBatchPut, &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte(in)}, {Key: []byte(out)}}}, regionErr},
				{"delete", transport.CmdRawDelete, &kvrpcpb.RawDeleteRequest{Key: []byte(out)}, regionErr},
				{"batch delete", transport.CmdRawBatchDelete, &kvrpcpb.RawBatchDeleteRequest{Keys: [][]byte{[]byte(in), []byte(out)}}, regionErr},
				{"delete range from outside", transport.CmdRawDeleteRange, &kvrpcpb.RawDeleteRangeRequest{StartKey: []byte(out), EndKey: []byte(end)}, regionErr},
				{"scan", transport.CmdRawScan, &kvrpcpb.RawScanRequest{StartKey: []byte(out), EndKey: []byte(end), Limit: 1}, regionErr},
				{"batch scan", transport.CmdRawBatchScan, &kvrpcpb.RawBatchScanRequest{Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte(out), EndKey: []byte(end)}}, EachLimit: 1}, regionErr},
				{"checksum", transport.CmdRawChecksum, &kvrpcpb.RawChecksumRequest{Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte(out), EndKey: []byte(end)}}}, regionErr},
				{"cas", transport.CmdRawCompareAndSwap, &kvrpcpb.RawCASRequest{Key: []byte(out), PreviousNotExist: true}, pointRead(api)},
			}
			if api != kvrpcpb.APIVersion_V1 {
				cases = append(cases, struct {
					name string
					cmd  transport.Cmd
					req  transport.Message
					want outcome
				}{"get key ttl", transport.CmdRawGetKeyTTL, &kvrpcpb.RawGetKeyTTLRequest{Key: []byte(out)}, pointRead(api)})
			}
			for _, tc := range cases {
				resp := call[transport.Message](e, tc.cmd, rctx, tc.req)
				rerr := regionErrorOf(resp)
				switch tc.want {
				case regionErr:
					wantKeyNotInRegion(t, rerr, outStored, rctx.RegionId)
					eq(t, rawErrorOf(t, resp), "", "%s: error beside the region error", tc.name)
				case stringErr:
					eq(t, rerr == nil, true, "%s: region error %v", tc.name, rerr)
					wantContains(t, rawErrorOf(t, resp), "is not in region key range", tc.name)
				case keyErrPair:
					eq(t, rerr == nil, true, "%s: region error %v", tc.name, rerr)
					pairs := resp.(*kvrpcpb.RawBatchGetResponse).Pairs
					eq(t, len(pairs), 2, "%s: pairs", tc.name)
					eq(t, string(pairs[0].Key)+"="+string(pairs[0].Value), in+"=1", "%s: in-region pair", tc.name)
					eq(t, pairs[1].Error != nil && len(pairs[1].Key) == 0, true, "%s: keyless error pair %v", tc.name, pairs[1])
				}
			}
			v, ok := e.get(in)
			eq(t, ok && v == "1", true, "failed batch writes wrote nothing")
		})
	}
}

func TestRawDeleteRangeBounds(t *testing.T) {
	// apply.rs handle_delete_range: an inverted range is refused (a region
	// error with only a message, as every apply error), the start
	// must lie in the region and the end must not pass the region's end
	// (an empty end is +inf).
	e := newRawEnv(t, kvrpcpb.APIVersion_V1, WithSplitKeys([]byte("m")))
	rctx := e.ctx("a")
	for _, tc := range []struct {
		name       string
		start, end string
		key        string // KeyNotInRegion key, or ""
		err        bool
	}{
		{name: "inside", start: "a", end: "c"},
		{name: "up to the region end", start: "a", end: "m"},
		{name: "past the region end", start: "a", end: "n", key: "n"},
		{name: "open end in a bounded region", start: "a", end: "", key: ""},
		{name: "inverted", start: "c", end: "a", err: true},
	} {
		r := call[*kvrpcpb.RawDeleteRangeResponse](e, transport.CmdRawDeleteRange, rctx, &kvrpcpb.RawDeleteRangeRequest{
			StartKey: []byte(tc.start), EndKey: []byte(tc.end),
		})
		switch {
		case tc.err:
			eq(t, r.Error == "" && r.RegionError != nil && r.RegionError.KeyNotInRegion == nil, true, "%s: %v", tc.name, r)
		case tc.key != "" || tc.end == "":
			wantKeyNotInRegion(t, r.RegionError, []byte(tc.key), rctx.RegionId)
		default:
			eq(t, r.Error == "" && r.RegionError == nil, true, "%s: %v", tc.name, r)
		}
	}
}

func TestRawV2ReadAtRegionEnd(t *testing.T) {
	// A V2 point read's seek may land on the region's end key (the seek
	// range is end-inclusive) and then finds nothing: get is not found, a
	// CAS expecting absence matches but its write fails the apply check.
	e := newRawEnv(t, kvrpcpb.APIVersion_V2, WithSplitKeys(e0(kvrpcpb.APIVersion_V2, "m")))
	rctx := e.ctx(e.key("a"))
	m := e.key("m")
	e.put(m, "1", 0)
	get := call[*kvrpcpb.RawGetResponse](e, transport.CmdRawGet, rctx, &kvrpcpb.RawGetRequest{Key: []byte(m)})
	eq(t, get.RegionError == nil && get.Error == "" && get.NotFound, true, "get at the region end: %v", get)
	cas := call[*kvrpcpb.RawCASResponse](e, transport.CmdRawCompareAndSwap, rctx, &kvrpcpb.RawCASRequest{Key: []byte(m), PreviousNotExist: true})
	wantKeyNotInRegion(t, cas.RegionError, e0(kvrpcpb.APIVersion_V2, "m"), rctx.RegionId)
	cas = call[*kvrpcpb.RawCASResponse](e, transport.CmdRawCompareAndSwap, rctx, &kvrpcpb.RawCASRequest{Key: []byte(m), PreviousValue: []byte("1")})
	eq(t, cas.RegionError == nil && !cas.Succeed && cas.PreviousNotExist, true, "mismatching CAS at the region end: %v", cas)
	v, _ := e.get(m)
	eq(t, v, "1", "value unchanged")
}

func TestRawAtomicRegionChecks(t *testing.T) {
	// CAS and for_cas writes are scheduler commands: a snapshot (a read,
	// which a follower serves with replica_read) and then a proposal, which
	// only the leader takes, so a follower answers NotLeader either way.
	e := newRawEnv(t, kvrpcpb.APIVersion_V1, WithStores(2))
	r, leader := e.c.RegionByKey([]byte("k"))
	var follower uint64
	for _, p := range r.Peers {
		if p.StoreId != leader.StoreId {
			follower = p.StoreId
		}
	}
	for _, replicaRead := range []bool{false, true} {
		rctx := peerCtx(e.c, "k", follower)
		rctx.ReplicaRead = replicaRead
		cas := call[*kvrpcpb.RawCASResponse](e, transport.CmdRawCompareAndSwap, rctx, &kvrpcpb.RawCASRequest{Key: []byte("k"), PreviousNotExist: true})
		eq(t, cas.RegionError.GetNotLeader() != nil, true, "cas on a follower (replica_read %v): %v", replicaRead, cas)
		put := call[*kvrpcpb.RawPutResponse](e, transport.CmdRawPut, rctx, &kvrpcpb.RawPutRequest{Key: []byte("k"), ForCas: true})
		eq(t, put.RegionError.GetNotLeader() != nil, true, "for_cas put on a follower (replica_read %v): %v", replicaRead, put)
		get := call[*kvrpcpb.RawGetResponse](e, transport.CmdRawGet, rctx, &kvrpcpb.RawGetRequest{Key: []byte("k")})
		eq(t, get.RegionError.GetNotLeader() != nil, !replicaRead, "get on a follower (replica_read %v): %v", replicaRead, get)
	}
	_, ok := e.get("k")
	eq(t, ok, false, "nothing written through a follower")
}

func TestRawWriteCheckOrder(t *testing.T) {
	// A write of an unknown region to the wrong store: raw_put proposes
	// directly, and the raft router reports RegionNotFound before the store
	// check; CAS, for_cas writes and (V2) every plain raw write take a
	// snapshot first, whose local reader reports StoreNotMatch first.
	for _, tc := range []struct {
		api     kvrpcpb.APIVersion
		forCas  bool
		wantNot bool // RegionNotFound, else StoreNotMatch
	}{
		{kvrpcpb.APIVersion_V1, false, true},
		{kvrpcpb.APIVersion_V1, true, false},
		{kvrpcpb.APIVersion_V2, false, false},
	} {
		e := newRawEnv(t, tc.api)
		k := e.key("k")
		rctx := e.ctx(k)
		rctx.RegionId = 999
		rctx.Peer = &metapb.Peer{Id: rctx.Peer.Id, StoreId: 42}
		r := callOn[*kvrpcpb.RawPutResponse](e, 1, transport.CmdRawPut, rctx, &kvrpcpb.RawPutRequest{Key: []byte(k), ForCas: tc.forCas})
		eq(t, r.RegionError.GetRegionNotFound() != nil, tc.wantNot, "%s for_cas=%v: %v", tc.api, tc.forCas, r.RegionError)
		eq(t, r.RegionError.GetStoreNotMatch() != nil, !tc.wantNot, "%s for_cas=%v: %v", tc.api, tc.forCas, r.RegionError)
	}
}
