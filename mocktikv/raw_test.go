package mocktikv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"google.golang.org/grpc"

	"github.com/tikvgo/tikv/transport"
)

// rawClient drives the in-process Sender the way a client would: it
// addresses each request to the leader of the region containing a key.
type rawClient struct {
	t *testing.T
	c *Cluster
	s transport.Sender
}

func newRawClient(t *testing.T, c *Cluster) *rawClient {
	return &rawClient{t: t, c: c, s: c.Sender()}
}

// send sends msg, with its Context set for the region containing key, and
// returns the response, failing the test on a transport error.
func send[Resp transport.Message](rc *rawClient, cmd transport.Cmd, key string, msg transport.Message) Resp {
	rc.t.Helper()
	rctx := leaderCtx(rc.c, key)
	req := &transport.Request{
		Cmd:    cmd,
		Msg:    cmd.WithContext(msg, rctx),
		Target: transport.Target{StoreID: rctx.Peer.StoreId, RegionID: rctx.RegionId, Peer: rctx.Peer},
	}
	resp := must(rc.s.Send(context.Background(), req))(rc.t)
	return resp.Msg.(Resp)
}

func (rc *rawClient) put(key, value string) {
	rc.t.Helper()
	r := send[*kvrpcpb.RawPutResponse](rc, transport.CmdRawPut, key, &kvrpcpb.RawPutRequest{Key: []byte(key), Value: []byte(value)})
	if r.RegionError != nil || r.Error != "" {
		rc.t.Fatalf("put %q: %v", key, r)
	}
}

// get returns the value and whether the key exists.
func (rc *rawClient) get(key string) (string, bool) {
	rc.t.Helper()
	r := send[*kvrpcpb.RawGetResponse](rc, transport.CmdRawGet, key, &kvrpcpb.RawGetRequest{Key: []byte(key)})
	if r.RegionError != nil || r.Error != "" {
		rc.t.Fatalf("get %q: %v", key, r)
	}
	return string(r.Value), !r.NotFound
}

func (rc *rawClient) scan(start, end string, limit uint32, keyOnly, reverse bool) []string {
	rc.t.Helper()
	// Routed to the region containing start; reverse scans in these tests
	// never start at a region boundary (see "reverse from the region end").
	r := send[*kvrpcpb.RawScanResponse](rc, transport.CmdRawScan, start, &kvrpcpb.RawScanRequest{
		StartKey: []byte(start), EndKey: []byte(end), Limit: limit, KeyOnly: keyOnly, Reverse: reverse,
	})
	if r.RegionError != nil {
		rc.t.Fatalf("scan %q..%q: %v", start, end, r.RegionError)
	}
	var out []string
	for _, kv := range r.Kvs {
		if kv.Error != nil {
			rc.t.Fatalf("scan %q..%q: %v", start, end, kv.Error)
		}
		s := string(kv.Key)
		if !keyOnly {
			s += "=" + string(kv.Value)
		} else if len(kv.Value) != 0 {
			rc.t.Fatalf("key-only scan returned a value for %q", kv.Key)
		}
		out = append(out, s)
	}
	return out
}

func eqStrings(t *testing.T, got, want []string, what string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

func TestRawPointOps(t *testing.T) {
	c := NewCluster()
	rc := newRawClient(t, c)
	if _, ok := rc.get("k"); ok {
		t.Fatal("k exists before put")
	}
	rc.put("k", "v1")
	rc.put("k", "v2")
	v, ok := rc.get("k")
	eq(t, ok, true, "found")
	eq(t, v, "v2", "value")

	// An empty value is a value, not a missing key.
	rc.put("empty", "")
	_, ok = rc.get("empty")
	eq(t, ok, true, "empty value found")

	del := send[*kvrpcpb.RawDeleteResponse](rc, transport.CmdRawDelete, "k", &kvrpcpb.RawDeleteRequest{Key: []byte("k")})
	if del.RegionError != nil || del.Error != "" {
		t.Fatalf("delete: %v", del)
	}
	_, ok = rc.get("k")
	eq(t, ok, false, "found after delete")
	// Deleting a missing key is not an error.
	del = send[*kvrpcpb.RawDeleteResponse](rc, transport.CmdRawDelete, "k", &kvrpcpb.RawDeleteRequest{Key: []byte("k")})
	eq(t, del.Error, "", "delete missing")
}

func TestRawColumnFamilies(t *testing.T) {
	c := NewCluster()
	rc := newRawClient(t, c)
	put := send[*kvrpcpb.RawPutResponse](rc, transport.CmdRawPut, "k", &kvrpcpb.RawPutRequest{Key: []byte("k"), Value: []byte("w"), Cf: "write"})
	eq(t, put.Error, "", "put in write cf")
	get := send[*kvrpcpb.RawGetResponse](rc, transport.CmdRawGet, "k", &kvrpcpb.RawGetRequest{Key: []byte("k"), Cf: "write"})
	eq(t, string(get.Value), "w", "write cf value")
	get = send[*kvrpcpb.RawGetResponse](rc, transport.CmdRawGet, "k", &kvrpcpb.RawGetRequest{Key: []byte("k"), Cf: "default"})
	eq(t, get.NotFound, true, "default cf is separate")
	put = send[*kvrpcpb.RawPutResponse](rc, transport.CmdRawPut, "k", &kvrpcpb.RawPutRequest{Key: []byte("k"), Cf: "nope"})
	eq(t, put.Error, "invalid cf name: nope", "bad cf")
	put = send[*kvrpcpb.RawPutResponse](rc, transport.CmdRawPut, "k", &kvrpcpb.RawPutRequest{Key: []byte("k"), Ttl: 10})
	eq(t, put.Error, errTTLNotEnabled, "ttl")
}

func TestRawBatchOps(t *testing.T) {
	c := NewCluster()
	rc := newRawClient(t, c)
	var pairs []*kvrpcpb.KvPair
	for i := range 5 {
		pairs = append(pairs, &kvrpcpb.KvPair{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)})
	}
	// A key repeated in one batch: the later value wins.
	pairs = append(pairs, &kvrpcpb.KvPair{Key: []byte("k0"), Value: []byte("last")})
	bp := send[*kvrpcpb.RawBatchPutResponse](rc, transport.CmdRawBatchPut, "k0", &kvrpcpb.RawBatchPutRequest{Pairs: pairs})
	if bp.RegionError != nil || bp.Error != "" {
		t.Fatalf("batch put: %v", bp)
	}

	bg := send[*kvrpcpb.RawBatchGetResponse](rc, transport.CmdRawBatchGet, "k0", &kvrpcpb.RawBatchGetRequest{
		Keys: [][]byte{[]byte("k3"), []byte("missing"), []byte("k0")},
	})
	var got []string
	for _, p := range bg.Pairs {
		got = append(got, string(p.Key)+"="+string(p.Value))
	}
	// Request order, missing keys omitted.
	eqStrings(t, got, []string{"k3=v3", "k0=last"}, "batch get")

	bd := send[*kvrpcpb.RawBatchDeleteResponse](rc, transport.CmdRawBatchDelete, "k0", &kvrpcpb.RawBatchDeleteRequest{
		Keys: [][]byte{[]byte("k1"), []byte("k3"), []byte("nope")},
	})
	eq(t, bd.Error, "", "batch delete")
	eqStrings(t, rc.scan("", "", 100, true, false), []string{"k0", "k2", "k4"}, "after batch delete")

	dr := send[*kvrpcpb.RawDeleteRangeResponse](rc, transport.CmdRawDeleteRange, "k0", &kvrpcpb.RawDeleteRangeRequest{
		StartKey: []byte("k1"), EndKey: []byte("k4"),
	})
	eq(t, dr.Error, "", "delete range")
	eqStrings(t, rc.scan("", "", 100, true, false), []string{"k0", "k4"}, "after delete range")

	dr = send[*kvrpcpb.RawDeleteRangeResponse](rc, transport.CmdRawDeleteRange, "k0", &kvrpcpb.RawDeleteRangeRequest{
		StartKey: []byte("k4"), EndKey: []byte("k1"),
	})
	// The apply step refuses it; the error comes back in the raft response
	// header, so as a region error with only a message.
	eqProto(t, dr, &kvrpcpb.RawDeleteRangeResponse{RegionError: &errorpb.Error{
		Message: "invalid delete range command, start_key: [107, 52], end_key: [107, 49]",
	}}, "inverted delete range")
}

func TestRawScan(t *testing.T) {
	c := NewCluster(WithStores(2), WithSplitKeys([]byte("c"), []byte("f")))
	rc := newRawClient(t, c)
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		rc.put(k, k+k)
	}

	t.Run("forward", func(t *testing.T) {
		eqStrings(t, rc.scan("a", "", 10, false, false), []string{"a=aa", "b=bb"}, "stops at the region end")
		eqStrings(t, rc.scan("c", "e", 10, false, false), []string{"c=cc", "d=dd"}, "end key is exclusive")
		eqStrings(t, rc.scan("c", "", 1, false, false), []string{"c=cc"}, "limit")
		eqStrings(t, rc.scan("d", "", 10, true, false), []string{"d", "e"}, "key only")
		eqStrings(t, rc.scan("f", "", 10, false, false), []string{"f=ff", "g=gg"}, "last region")
		eqStrings(t, rc.scan("c", "", 0, false, false), nil, "limit 0")
	})
	t.Run("reverse", func(t *testing.T) {
		// start_key is the exclusive upper bound, end_key the inclusive
		// lower bound; the region's start bounds the scan.
		eqStrings(t, rc.scan("e", "", 10, false, true), []string{"d=dd", "c=cc"}, "stops at the region start")
		eqStrings(t, rc.scan("e", "d", 10, false, true), []string{"d=dd"}, "end key is inclusive")
		eqStrings(t, rc.scan("zz", "", 1, true, true), []string{"g"}, "limit, key only")
		eqStrings(t, rc.scan("b", "", 10, false, true), []string{"a=aa"}, "first region")
	})
	t.Run("reverse from the region end", func(t *testing.T) {
		// A client resuming a reverse scan sends the region's own end key as
		// start_key; TiKV accepts a seek to the end of the region.
		r := send[*kvrpcpb.RawScanResponse](rc, transport.CmdRawScan, "d", &kvrpcpb.RawScanRequest{
			StartKey: []byte("f"), Limit: 10, Reverse: true,
		})
		if r.RegionError != nil {
			t.Fatal(r.RegionError)
		}
		eq(t, len(r.Kvs), 3, "pairs in [c, f)")
		eq(t, string(r.Kvs[0].Key), "e", "first")
	})
	t.Run("resume across regions", func(t *testing.T) {
		var all []string
		start := ""
		for {
			page := rc.scan(start, "", 100, true, false)
			all = append(all, page...)
			r, _ := c.RegionByKey([]byte(start))
			if len(r.EndKey) == 0 {
				break
			}
			start = string(r.EndKey)
		}
		eqStrings(t, all, []string{"a", "b", "c", "d", "e", "f", "g"}, "full scan")
	})
}

func TestRawLargeBatch(t *testing.T) {
	c := NewCluster()
	rc := newRawClient(t, c)
	const n = 10000
	pairs := make([]*kvrpcpb.KvPair, n)
	keys := make([][]byte, n)
	for i := range n {
		// Reverse order, so the batch is unsorted.
		keys[i] = fmt.Appendf(nil, "key%06d", n-i)
		pairs[i] = &kvrpcpb.KvPair{Key: keys[i], Value: []byte("value")}
	}
	start := time.Now()
	for round := range 3 {
		bp := send[*kvrpcpb.RawBatchPutResponse](rc, transport.CmdRawBatchPut, "", &kvrpcpb.RawBatchPutRequest{Pairs: pairs})
		eq(t, bp.Error, "", "batch put round %d", round)
	}
	bg := send[*kvrpcpb.RawBatchGetResponse](rc, transport.CmdRawBatchGet, "", &kvrpcpb.RawBatchGetRequest{Keys: keys})
	eq(t, len(bg.Pairs), n, "pairs")
	sc := send[*kvrpcpb.RawScanResponse](rc, transport.CmdRawScan, "", &kvrpcpb.RawScanRequest{Limit: n + 1})
	eq(t, len(sc.Kvs), n, "scanned")
	bd := send[*kvrpcpb.RawBatchDeleteResponse](rc, transport.CmdRawBatchDelete, "", &kvrpcpb.RawBatchDeleteRequest{Keys: keys})
	eq(t, bd.Error, "", "batch delete")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("10k-key batches took %v", d)
	}
	eqStrings(t, rc.scan("", "", 10, true, false), nil, "after delete")
}

func TestSenderErrors(t *testing.T) {
	c := NewCluster(WithStores(2))
	s := c.Sender()
	rctx := leaderCtx(c, "a")
	req := func(storeID uint64, cmd transport.Cmd, msg transport.Message) *transport.Request {
		return &transport.Request{Cmd: cmd, Msg: msg, Target: transport.Target{StoreID: storeID}}
	}
	get := &kvrpcpb.RawGetRequest{Context: rctx, Key: []byte("a")}

	_, err := s.Send(context.Background(), req(99, transport.CmdRawGet, get))
	eq(t, errors.Is(err, transport.ErrNotSent), true, "unknown store: %v", err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Send(ctx, req(rctx.Peer.StoreId, transport.CmdRawGet, get))
	eq(t, errors.Is(err, transport.ErrNotSent), true, "canceled ctx: %v", err)
	eq(t, errors.Is(err, context.Canceled), true, "canceled ctx wraps the cause: %v", err)

	// KvGC answers UNIMPLEMENTED in TiKV itself (src/server/service/kv.rs).
	_, err = s.Send(context.Background(), req(rctx.Peer.StoreId, transport.CmdGC, &kvrpcpb.GCRequest{Context: rctx}))
	if err == nil {
		t.Fatal("unimplemented command: want an error")
	}
	_, err = s.Send(context.Background(), req(rctx.Peer.StoreId, transport.CmdRawPut, get))
	if err == nil {
		t.Fatal("mismatched message type: want an error")
	}
	_, err = s.Send(context.Background(), req(rctx.Peer.StoreId, transport.CmdInvalid, get))
	if err == nil {
		t.Fatal("invalid command: want an error")
	}
}

func TestRawLargeBatchOverGRPC(t *testing.T) {
	c := Start(t)
	cli := dialStore(t, c, 1)
	rctx := leaderCtx(c, "")
	const n = 10000
	pairs := make([]*kvrpcpb.KvPair, n)
	for i := range n {
		pairs[i] = &kvrpcpb.KvPair{Key: fmt.Appendf(nil, "key%06d", i), Value: make([]byte, 512)}
	}
	bp := must(cli.RawBatchPut(timeout(t), &kvrpcpb.RawBatchPutRequest{Context: rctx, Pairs: pairs}))(t)
	if bp.RegionError != nil || bp.Error != "" {
		t.Fatalf("batch put: %v", bp)
	}
	sc := must(cli.RawScan(timeout(t), &kvrpcpb.RawScanRequest{Context: rctx, Limit: n + 1}, grpc.MaxCallRecvMsgSize(64<<20)))(t)
	eq(t, len(sc.Kvs), n, "scanned")
}

func TestRawCommandsOverGRPC(t *testing.T) {
	// BatchScan, GetKeyTTL, CompareAndSwap and Checksum are served by the
	// store's gRPC service with the same handlers as in-process.
	c := Start(t, WithAPIVersion(kvrpcpb.APIVersion_V1TTL))
	cli := dialStore(t, c, 1)
	rctx := leaderCtx(c, "")
	cas := must(cli.RawCompareAndSwap(timeout(t), &kvrpcpb.RawCASRequest{
		Context: rctx, Key: []byte("k"), Value: []byte("v"), PreviousNotExist: true, Ttl: 100,
	}))(t)
	eq(t, cas.Succeed && cas.PreviousNotExist, true, "cas: %v", cas)
	ttl := must(cli.RawGetKeyTTL(timeout(t), &kvrpcpb.RawGetKeyTTLRequest{Context: rctx, Key: []byte("k")}))(t)
	if ttl.NotFound || ttl.Ttl == 0 || ttl.Ttl > 100 {
		t.Fatalf("ttl: %v", ttl)
	}
	bs := must(cli.RawBatchScan(timeout(t), &kvrpcpb.RawBatchScanRequest{
		Context: rctx, Ranges: []*kvrpcpb.KeyRange{{StartKey: []byte("a")}}, EachLimit: 10,
	}))(t)
	eqStrings(t, pairStrings(t, bs.Kvs), []string{"k=v"}, "batch scan")
	cs := must(cli.RawChecksum(timeout(t), &kvrpcpb.RawChecksumRequest{Context: rctx, Ranges: []*kvrpcpb.KeyRange{{}}}))(t)
	eqProto(t, cs, wantChecksum([2]string{"k", "v"}), "checksum")
}
