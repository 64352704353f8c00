package middleware

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// TestPortEncodeUnknownRequest ports client-go's TestEncodeUnknownRequest
// (internal/apicodec/codec_test.go): under API v1 a command the codec has
// no key rules for (StoreSafeTS there) is sent as it is, without error.
// tikvgo's API v1 layer changes no request at all, so the port checks the
// same command reaches the wire as the caller's own message, its range
// untouched.
func TestPortEncodeUnknownRequest(t *testing.T) {
	req := &kvrpcpb.StoreSafeTSRequest{KeyRange: &kvrpcpb.KeyRange{StartKey: []byte("a"), EndKey: []byte("b")}}
	var wire transport.Message
	s := Keyspace(apicodec.NewV1(kv.ModeRaw), apicodec.NewV1(kv.ModeTxn))(transport.SenderFunc(func(_ context.Context, r *transport.Request) (*transport.Response, error) {
		wire = r.Msg
		return &transport.Response{Msg: &kvrpcpb.StoreSafeTSResponse{SafeTs: 7}}, nil
	}))
	resp, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdStoreSafeTS, Msg: req})
	if err != nil || resp.Msg.(*kvrpcpb.StoreSafeTSResponse).SafeTs != 7 {
		t.Fatalf("StoreSafeTS under API v1: %v, %v", resp, err)
	}
	if wire != transport.Message(req) || string(req.KeyRange.StartKey) != "a" || string(req.KeyRange.EndKey) != "b" {
		t.Fatalf("wire message %v, caller's %v", wire, req)
	}
}

// TestPortDecodeMvccInfoPreservesEmptyLockKeys ports client-go's
// TestDecodeMvccInfoPreservesEmptyLockKeys
// (internal/apicodec/codec_v2_test.go): an MVCC lock whose primary or a
// secondary is empty (TiKV's way of saying "none") keeps it empty, in
// place, while the prefixed secondary beside it is decoded.
func TestPortDecodeMvccInfoPreservesEmptyLockKeys(t *testing.T) {
	raw, txn := codecs(t)
	info := &kvrpcpb.MvccInfo{Lock: &kvrpcpb.MvccLock{
		Primary:     []byte{},
		Secondaries: [][]byte{{}, pre(txnP, "mvcc-secondary")},
	}}
	resp := &kvrpcpb.MvccGetByKeyResponse{Info: info}
	s := Keyspace(raw, txn)(transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) {
		return &transport.Response{Msg: resp}, nil
	}))
	req := transport.CmdMvccGetByKey.WithContext(&kvrpcpb.MvccGetByKeyRequest{Key: []byte("k")}, &kvrpcpb.Context{})
	got, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdMvccGetByKey, Msg: req})
	if err != nil {
		t.Fatal(err)
	}
	decoded := got.Msg.(*kvrpcpb.MvccGetByKeyResponse).Info
	if decoded != info {
		t.Fatal("the response's MvccInfo was replaced, not decoded in place")
	}
	l := decoded.Lock
	if l.Primary == nil || len(l.Primary) != 0 {
		t.Fatalf("empty primary became %v", l.Primary)
	}
	if len(l.Secondaries) != 2 || l.Secondaries[0] == nil || len(l.Secondaries[0]) != 0 || !bytes.Equal(l.Secondaries[1], []byte("mvcc-secondary")) {
		t.Fatalf("secondaries %q", l.Secondaries)
	}
}

// TestPortEncodeV2KeyRanges ports client-go's TestEncodeV2KeyRanges
// (internal/apicodec/codec_v2_test.go): each of a request's key ranges gets
// the keyspace prefix on both ends, and an empty (open) end becomes the
// keyspace's end, so [, ) covers exactly the keyspace. RawChecksum carries
// the ranges here.
func TestPortEncodeV2KeyRanges(t *testing.T) {
	raw, txn := codecs(t)
	end := []byte{'r', 0, 0, 2}
	var wire *kvrpcpb.RawChecksumRequest
	s := Keyspace(raw, txn)(transport.SenderFunc(func(_ context.Context, r *transport.Request) (*transport.Response, error) {
		wire = r.Msg.(*kvrpcpb.RawChecksumRequest)
		return &transport.Response{Msg: &kvrpcpb.RawChecksumResponse{}}, nil
	}))
	req := &kvrpcpb.RawChecksumRequest{Context: &kvrpcpb.Context{}, Ranges: []*kvrpcpb.KeyRange{
		{StartKey: []byte{}, EndKey: []byte{}},
		{StartKey: []byte{}, EndKey: []byte("z")},
		{StartKey: []byte("a"), EndKey: []byte{}},
		{StartKey: []byte("a"), EndKey: []byte("z")},
	}}
	if _, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdRawChecksum, Msg: req}); err != nil {
		t.Fatal(err)
	}
	want := [][2][]byte{
		{rawP, end},
		{rawP, pre(rawP, "z")},
		{pre(rawP, "a"), end},
		{pre(rawP, "a"), pre(rawP, "z")},
	}
	if len(wire.Ranges) != len(want) {
		t.Fatalf("%d ranges on the wire", len(wire.Ranges))
	}
	for i, w := range want {
		if r := wire.Ranges[i]; !bytes.Equal(r.StartKey, w[0]) || !bytes.Equal(r.EndKey, w[1]) {
			t.Errorf("range %d on the wire [%v, %v), want [%v, %v)", i, r.StartKey, r.EndKey, w[0], w[1])
		}
	}
	if len(req.Ranges[0].StartKey) != 0 || string(req.Ranges[3].EndKey) != "z" {
		t.Fatal("the caller's ranges were changed")
	}
}

// TestPortDecodeKeyErrorSharedLockInfos ports the shared-lock case of
// client-go's TestDecodeKeyError (internal/apicodec/codec_v2_test.go): the
// holders of a shared lock are LockInfos nested in the one a key error
// reports, and their keys are decoded too; a holder's key from another
// keyspace fails the attempt like any other foreign key. (The other key
// error fields are walked by TestKeyspaceChecksEveryResponseKey.)
func TestPortDecodeKeyErrorSharedLockInfos(t *testing.T) {
	raw, txn := codecs(t)
	send := func(resp *kvrpcpb.GetResponse) error {
		s := Keyspace(raw, txn)(transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) {
			return &transport.Response{Msg: resp}, nil
		}))
		_, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdGet,
			Msg: transport.CmdGet.WithContext(&kvrpcpb.GetRequest{Key: []byte("k")}, &kvrpcpb.Context{})})
		return err
	}
	lock := func(p []byte) *kvrpcpb.GetResponse {
		return &kvrpcpb.GetResponse{Error: &kvrpcpb.KeyError{Locked: &kvrpcpb.LockInfo{
			Key: pre(txnP, "k"), PrimaryLock: pre(txnP, "k"), LockType: kvrpcpb.Op_SharedLock,
			SharedLockInfos: []*kvrpcpb.LockInfo{{Key: pre(p, "k"), PrimaryLock: pre(p, "holder"), Secondaries: [][]byte{pre(p, "s")}}},
		}}}
	}
	own := lock(txnP)
	if err := send(own); err != nil {
		t.Fatal(err)
	}
	l := own.Error.Locked
	h := l.SharedLockInfos[0]
	if string(l.Key) != "k" || string(h.Key) != "k" || string(h.PrimaryLock) != "holder" || string(h.Secondaries[0]) != "s" {
		t.Fatalf("shared lock %q, holder %q %q %q", l.Key, h.Key, h.PrimaryLock, h.Secondaries)
	}
	var oe *OutsideKeyspaceError
	if err := send(lock([]byte{'x', 0, 0, 2})); !errors.As(err, &oe) {
		t.Fatalf("a holder from another keyspace: %v", err)
	}
}

// TestKeyspaceDecodesBucketVersionNotMatch: the bucket boundaries TiKV
// sends with BucketVersionNotMatch are decoded as PD's are (apicodec's
// DecodeBucketKeys, the decoding client-go's TestDecodeBucketKeys pins),
// so the region cache holds logical boundaries whichever way it learnt
// them: clamped to the keyspace under API v2, memcomparable-decoded for
// transactional keys under API v1.
func TestKeyspaceDecodesBucketVersionNotMatch(t *testing.T) {
	raw, txn := codecs(t)
	enc := func(p []byte, k string) []byte { return codec.EncodeBytes(nil, pre(p, k)) }
	// send answers a Get through the layer built from rawC and txnC with a
	// BucketVersionNotMatch carrying keys, and returns the keys the caller
	// sees.
	send := func(rawC, txnC *apicodec.Codec, keys [][]byte) [][]byte {
		t.Helper()
		resp := &kvrpcpb.GetResponse{RegionError: &errorpb.Error{BucketVersionNotMatch: &errorpb.BucketVersionNotMatch{Version: 3, Keys: keys}}}
		s := Keyspace(rawC, txnC)(transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) {
			return &transport.Response{Msg: resp}, nil
		}))
		req := transport.CmdGet.WithContext(&kvrpcpb.GetRequest{Key: []byte("k")}, &kvrpcpb.Context{})
		if _, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdGet, Msg: req}); err != nil {
			t.Fatal(err)
		}
		if v := resp.RegionError.BucketVersionNotMatch.Version; v != 3 {
			t.Fatalf("bucket version %d", v)
		}
		return resp.RegionError.BucketVersionNotMatch.Keys
	}
	got := send(raw, txn, [][]byte{enc([]byte{'x', 0, 0, 0}, "a"), enc(txnP, "a"), enc(txnP, "b"), enc([]byte{'x', 0, 0, 2}, "")})
	if len(got) != 4 || len(got[0]) != 0 || string(got[1]) != "a" || string(got[2]) != "b" || len(got[3]) != 0 {
		t.Fatalf("v2 bucket keys %q, want \"\", a, b, \"\"", got)
	}
	v1raw, v1txn := apicodec.NewV1(kv.ModeRaw), apicodec.NewV1(kv.ModeTxn)
	if got := send(v1raw, v1txn, [][]byte{{}, codec.EncodeBytes(nil, []byte("m")), {}}); len(got) != 3 || string(got[1]) != "m" {
		t.Fatalf("v1 txn bucket keys %q", got)
	}
	if got := send(v1raw, v1txn, [][]byte{[]byte("not encoded")}); got != nil {
		t.Fatalf("undecodable bucket keys passed on: %q", got)
	}
}
