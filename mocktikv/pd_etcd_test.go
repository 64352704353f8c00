package mocktikv

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/tikv/pd/client/constants"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// etcdClients dials PD's address with etcd's generated gRPC clients, as an
// etcd client (clientv3) does.
func etcdClients(t *testing.T, c *Cluster) (pb.KVClient, pb.ClusterClient) {
	t.Helper()
	conn := must(grpc.NewClient(c.PDAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	t.Cleanup(func() { conn.Close() })
	return pb.NewKVClient(conn), pb.NewClusterClient(conn)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails the test unless err is the gRPC error want (code and
// message), as etcd's rpctypes define them.
func wantCode(t *testing.T, err, want error, what string) {
	t.Helper()
	got, wantSt := status.Convert(err), status.Convert(want)
	if err == nil || got.Code() != wantSt.Code() || got.Message() != wantSt.Message() {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// TestEtcdMemberList checks what clientv3's Sync relies on: one member
// whose client URL is PD's own address, so the synced endpoints still
// reach the mock.
func TestEtcdMemberList(t *testing.T) {
	c := Start(t)
	_, cluster := etcdClients(t, c)
	resp := must(cluster.MemberList(testCtx(t), &pb.MemberListRequest{Linearizable: true}))(t)
	eq(t, len(resp.Members), 1, "members")
	m := resp.Members[0]
	eq(t, fmt.Sprint(m.ClientURLs), "[http://"+c.PDAddrs()[0]+"]", "client URLs")
	eq(t, m.ID, uint64(pdMemberID), "member id: the PD member's")
	eq(t, resp.Header.MemberId, uint64(pdMemberID), "header member id")
	eq(t, resp.Header.ClusterId, c.ClusterID(), "header cluster id")
	// Membership changes are not a single mock member's to make.
	_, err := cluster.MemberAdd(testCtx(t), &pb.MemberAddRequest{PeerURLs: []string{"http://127.0.0.1:1"}})
	eq(t, status.Code(err), codes.Unimplemented, "MemberAdd")
}

func TestEtcdPutRangeDelete(t *testing.T) {
	c := Start(t)
	kv, _ := etcdClients(t, c)
	ctx := testCtx(t)

	start := must(kv.Range(ctx, &pb.RangeRequest{Key: []byte("/t/a")}))(t).Header.Revision
	eq(t, start, int64(1), "revision of an empty etcd")
	put := func(k, v string) *pb.PutResponse {
		return must(kv.Put(ctx, &pb.PutRequest{Key: []byte(k), Value: []byte(v), PrevKv: true}))(t)
	}
	if p := put("/t/b", "2"); p.PrevKv != nil || p.Header.Revision != start+1 {
		t.Fatalf("first put: prev %v, revision %d, want none and %d", p.PrevKv, p.Header.Revision, start+1)
	}
	put("/t/a", "1")
	put("/t/c", "3")
	p := put("/t/b", "22")
	eq(t, string(p.PrevKv.Value), "2", "prev value")
	eq(t, p.Header.Revision, start+4, "revision after four puts")

	one := must(kv.Range(ctx, &pb.RangeRequest{Key: []byte("/t/b")}))(t)
	eq(t, len(one.Kvs), 1, "single key")
	b := one.Kvs[0]
	eq(t, string(b.Value), "22", "value")
	eq(t, b.Version, int64(2), "version: two puts")
	eq(t, b.CreateRevision, start+1, "create revision: the first put")
	eq(t, b.ModRevision, start+4, "mod revision: the last put")

	prefix := &pb.RangeRequest{Key: []byte("/t/"), RangeEnd: []byte("/t0")}
	all := must(kv.Range(ctx, prefix))(t)
	eq(t, fmt.Sprint(keysOf(all)), "[/t/a /t/b /t/c]", "prefix range, by key")
	limited := must(kv.Range(ctx, &pb.RangeRequest{Key: prefix.Key, RangeEnd: prefix.RangeEnd, Limit: 2, KeysOnly: true}))(t)
	eq(t, fmt.Sprint(keysOf(limited)), "[/t/a /t/b]", "limit")
	eq(t, limited.More, true, "more after a limit")
	eq(t, limited.Count, int64(3), "count ignores the limit")
	eq(t, len(limited.Kvs[0].Value), 0, "keys only")
	desc := must(kv.Range(ctx, &pb.RangeRequest{Key: prefix.Key, RangeEnd: prefix.RangeEnd, SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_MOD}))(t)
	eq(t, fmt.Sprint(keysOf(desc)), "[/t/b /t/c /t/a]", "by mod revision, descending")
	fromA := must(kv.Range(ctx, &pb.RangeRequest{Key: []byte("/t/b"), RangeEnd: []byte{0}, CountOnly: true}))(t)
	eq(t, fromA.Count, int64(2), "\\x00 range end: every key from the start on")
	eq(t, len(fromA.Kvs), 0, "count only")

	cur := all.Header.Revision
	_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("/t/a"), Revision: cur + 1})
	wantCode(t, err, rpctypes.ErrGRPCFutureRev, "future revision")
	_, err = kv.Range(ctx, &pb.RangeRequest{Key: []byte("/t/a"), Revision: cur - 1})
	wantCode(t, err, rpctypes.ErrGRPCCompacted, "past revision (no history)")
	_, err = kv.Range(ctx, &pb.RangeRequest{})
	wantCode(t, err, rpctypes.ErrGRPCEmptyKey, "empty key")
	_, err = kv.Put(ctx, &pb.PutRequest{Key: []byte("/t/l"), Lease: 7})
	wantCode(t, err, rpctypes.ErrGRPCLeaseNotFound, "lease")
	_, err = kv.Put(ctx, &pb.PutRequest{Key: []byte("/t/none"), IgnoreValue: true})
	wantCode(t, err, rpctypes.ErrGRPCKeyNotFound, "ignore_value on a missing key")

	del := must(kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("/t/a"), RangeEnd: []byte("/t/c"), PrevKv: true}))(t)
	eq(t, del.Deleted, int64(2), "deleted [a, c)")
	eq(t, fmt.Sprint(keysOf(&pb.RangeResponse{Kvs: del.PrevKvs})), "[/t/a /t/b]", "prev kvs")
	eq(t, del.Header.Revision, cur+1, "a delete is one revision")
	none := must(kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("/t/a")}))(t)
	eq(t, none.Deleted, int64(0), "nothing to delete")
	eq(t, none.Header.Revision, cur+1, "deleting nothing keeps the revision")
	eq(t, fmt.Sprint(keysOf(must(kv.Range(ctx, prefix))(t))), "[/t/c]", "left after the delete")
}

func keysOf(r *pb.RangeResponse) []string {
	var out []string
	for _, kv := range r.Kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

func TestEtcdTxn(t *testing.T) {
	c := Start(t)
	kv, _ := etcdClients(t, c)
	ctx := testCtx(t)
	key := []byte("/lock")

	// Create-if-absent, the way etcd clients take a lock: create revision
	// 0 means the key does not exist.
	createIfAbsent := func(owner string) *pb.TxnResponse {
		return must(kv.Txn(ctx, &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: key, Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}},
			Success: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: []byte(owner)}}},
				{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: key}}},
			},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: key}}}},
		}))(t)
	}
	first := createIfAbsent("a")
	eq(t, first.Succeeded, true, "first create")
	eq(t, len(first.Responses), 2, "responses")
	eq(t, string(first.Responses[1].GetResponseRange().Kvs[0].Value), "a", "a read in the txn sees its own put")
	second := createIfAbsent("b")
	eq(t, second.Succeeded, false, "second create")
	eq(t, string(second.Responses[0].GetResponseRange().Kvs[0].Value), "a", "failure branch reads the holder")
	eq(t, second.Header.Revision, first.Header.Revision, "a txn that writes nothing keeps the revision")

	// etcd's applyCompare: a value compare on a missing key fails, even
	// NOT_EQUAL.
	missing := must(kv.Txn(ctx, &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("/nope"), Target: pb.Compare_VALUE, Result: pb.Compare_NOT_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("x")}}},
	}))(t)
	eq(t, missing.Succeeded, false, "value compare on a missing key")

	// Writes in one txn share one revision; a nested txn runs its branch.
	multi := must(kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/m/1"), Value: []byte("1")}}},
		{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: key, Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("a")}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/m/2"), Value: []byte("2")}}}},
		}}},
	}}))(t)
	eq(t, multi.Succeeded, true, "multi")
	eq(t, multi.Responses[1].GetResponseTxn().Succeeded, true, "nested compare")
	eq(t, multi.Header.Revision, first.Header.Revision+1, "one revision for the txn")
	got := must(kv.Range(ctx, &pb.RangeRequest{Key: []byte("/m/"), RangeEnd: []byte("/m0")}))(t)
	eq(t, fmt.Sprint(keysOf(got)), "[/m/1 /m/2]", "both writes")
	eq(t, got.Kvs[0].ModRevision, got.Kvs[1].ModRevision, "same mod revision")

	// A refused txn writes nothing, even ops before the refused one.
	_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/d"), Value: []byte("1")}}},
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("/d"), Value: []byte("2")}}},
	}})
	wantCode(t, err, rpctypes.ErrGRPCDuplicateKey, "one key put twice")
	eq(t, must(kv.Range(ctx, &pb.RangeRequest{Key: []byte("/d")}))(t).Count, int64(0), "nothing written")
	ops := make([]*pb.RequestOp, etcdMaxTxnOps+1)
	for i := range ops {
		ops[i] = &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: key}}}
	}
	_, err = kv.Txn(ctx, &pb.TxnRequest{Success: ops})
	wantCode(t, err, rpctypes.ErrGRPCTooManyOps, "too many ops")
}

// TestEtcdGCKeys checks that the keys in which PD persists GC state read
// what PD's GC API set: the txn safe point where client-go's compatible
// loader reads it, the GC safe point, and barriers as service safe points;
// and that writing them is refused.
func TestEtcdGCKeys(t *testing.T) {
	c := Start(t)
	kv, _ := etcdClients(t, c)
	ctx := testCtx(t)
	get := func(key string) string {
		r := must(kv.Range(ctx, &pb.RangeRequest{Key: []byte(key)}))(t)
		if len(r.Kvs) == 0 {
			return "<none>"
		}
		return string(r.Kvs[0].Value)
	}
	eq(t, get(txnSafePointKey), "<none>", "txn safe point before any GC")

	cli := newPDClient(t, c)
	ctl := cli.GetGCInternalController(constants.NullKeyspaceID)
	states := cli.GetGCStatesClient(constants.NullKeyspaceID)
	must(ctl.AdvanceTxnSafePoint(ctx, 1000))(t)
	must(ctl.AdvanceGCSafePoint(ctx, 900))(t)
	must(states.SetGCBarrier(ctx, "br", 1500, time.Duration(math.MaxInt64)))(t)

	eq(t, get(txnSafePointKey), "1000", "txn safe point, decimal")
	gcKey := fmt.Sprintf("/pd/%d/gc/safe_point", c.ClusterID())
	eq(t, get(gcKey), strconv.FormatUint(900, 16), "GC safe point, hex")
	var ssp serviceSafePointJSON
	noErr(t, json.Unmarshal([]byte(get(gcKey+"/service/br")), &ssp))
	eq(t, ssp, serviceSafePointJSON{ServiceID: "br", ExpiredAt: math.MaxInt64, SafePoint: 1500}, "barrier")

	before := must(kv.Range(ctx, &pb.RangeRequest{Key: []byte(txnSafePointKey)}))(t).Kvs[0]
	must(ctl.AdvanceTxnSafePoint(ctx, 1200))(t)
	after := must(kv.Range(ctx, &pb.RangeRequest{Key: []byte(txnSafePointKey)}))(t).Kvs[0]
	eq(t, string(after.Value), "1200", "advanced")
	if after.ModRevision <= before.ModRevision || after.Version != before.Version+1 {
		t.Fatalf("advance: mod revision %d -> %d, version %d -> %d; want a new write", before.ModRevision, after.ModRevision, before.Version, after.Version)
	}
	must(states.DeleteGCBarrier(ctx, "br"))(t)
	eq(t, get(gcKey+"/service/br"), "<none>", "deleted barrier")

	_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte(txnSafePointKey), Value: []byte("1")})
	eq(t, status.Code(err), codes.FailedPrecondition, "put on the txn safe point")
	_, err = kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("/"), RangeEnd: []byte{0}})
	eq(t, status.Code(err), codes.FailedPrecondition, "delete over the GC keys")
	eq(t, get(txnSafePointKey), "1200", "unchanged")
}
