package middleware

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/internal/codec"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

func codecs(t *testing.T) (*apicodec.Codec, *apicodec.Codec) {
	t.Helper()
	raw, err := apicodec.NewV2(kv.ModeRaw, 1)
	if err != nil {
		t.Fatal(err)
	}
	txn, _ := apicodec.NewV2(kv.ModeTxn, 1)
	return raw, txn
}

var (
	rawP = []byte{'r', 0, 0, 1}
	txnP = []byte{'x', 0, 0, 1}
)

func pre(p []byte, k string) []byte { return append(bytes.Clone(p), k...) }

func TestKeyspaceEncodesWithoutTouchingCaller(t *testing.T) {
	raw, txn := codecs(t)
	var wire transport.Message
	s := Keyspace(raw, txn)(transport.SenderFunc(func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		wire = req.Msg
		return &transport.Response{Msg: req.Cmd.NewResponse()}, nil
	}))
	send := func(cmd transport.Cmd, msg transport.Message) {
		t.Helper()
		msg = cmd.WithContext(msg, &kvrpcpb.Context{})
		if _, err := s.Send(context.Background(), &transport.Request{Cmd: cmd, Msg: msg}); err != nil {
			t.Fatal(err)
		}
		rc := cmd.Context(wire)
		if rc.ApiVersion != kvrpcpb.APIVersion_V2 || rc.GetKeyspaceId() != 1 {
			t.Fatalf("%s: context %v", cmd, rc)
		}
	}

	batch := &kvrpcpb.RawBatchPutRequest{Pairs: []*kvrpcpb.KvPair{{Key: []byte("a")}, {Key: []byte("b")}}}
	send(transport.CmdRawBatchPut, batch)
	if string(batch.Pairs[0].Key) != "a" || !bytes.Equal(wire.(*kvrpcpb.RawBatchPutRequest).Pairs[1].Key, pre(rawP, "b")) {
		t.Fatalf("raw batch put: caller %q, wire %q", batch.Pairs[0].Key, wire.(*kvrpcpb.RawBatchPutRequest).Pairs[1].Key)
	}

	// A reverse scan with open bounds covers exactly the keyspace.
	send(transport.CmdRawScan, &kvrpcpb.RawScanRequest{Reverse: true})
	w := wire.(*kvrpcpb.RawScanRequest)
	if !bytes.Equal(w.StartKey, []byte{'r', 0, 0, 2}) || !bytes.Equal(w.EndKey, rawP) {
		t.Fatalf("reverse scan bounds [%q, %q)", w.EndKey, w.StartKey)
	}

	pw := &kvrpcpb.PrewriteRequest{Mutations: []*kvrpcpb.Mutation{{Key: []byte("k")}}, PrimaryLock: []byte("k"), Secondaries: [][]byte{[]byte("s")}}
	send(transport.CmdPrewrite, pw)
	wp := wire.(*kvrpcpb.PrewriteRequest)
	if string(pw.Mutations[0].Key) != "k" || !bytes.Equal(wp.Mutations[0].Key, pre(txnP, "k")) ||
		!bytes.Equal(wp.PrimaryLock, pre(txnP, "k")) || !bytes.Equal(wp.Secondaries[0], pre(txnP, "s")) {
		t.Fatalf("prewrite: wire %v", wp)
	}
}

// TestKeyspaceDecodesResponses: response keys lose the prefix, and the
// regions of an EpochNotMatch are decoded and clamped to the keyspace, a
// region of another keyspace dropped. Ports client-go's
// TestDecodeEpochNotMatch (internal/apicodec/codec_v2_test.go); the region
// clamping cases are ported one by one by apicodec's TestRegionClamping.
func TestKeyspaceDecodesResponses(t *testing.T) {
	raw, txn := codecs(t)
	enc := func(p []byte, k string) []byte { return codec.EncodeBytes(nil, pre(p, k)) }
	respond := func(resp transport.Message) transport.Sender {
		return Keyspace(raw, txn)(transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) {
			return &transport.Response{Msg: resp}, nil
		}))
	}
	scan := &kvrpcpb.RawScanResponse{Kvs: []*kvrpcpb.KvPair{{Key: pre(rawP, "a")}}}
	if _, err := respond(scan).Send(context.Background(), &transport.Request{Cmd: transport.CmdRawScan, Msg: &kvrpcpb.RawScanRequest{}}); err != nil {
		t.Fatal(err)
	}
	if string(scan.Kvs[0].Key) != "a" {
		t.Fatalf("scan key %q", scan.Kvs[0].Key)
	}

	get := &kvrpcpb.GetResponse{
		Error: &kvrpcpb.KeyError{Locked: &kvrpcpb.LockInfo{Key: pre(txnP, "k"), PrimaryLock: pre(txnP, "p"), Secondaries: [][]byte{pre(txnP, "s")}}},
		RegionError: &errorpb.Error{EpochNotMatch: &errorpb.EpochNotMatch{CurrentRegions: []*metapb.Region{
			{Id: 1, StartKey: enc(txnP, "a"), EndKey: enc(txnP, "m")},
			{Id: 2, StartKey: enc(rawP, ""), EndKey: enc(txnP, "")}, // raw keyspace: not ours
		}}},
	}
	if _, err := respond(get).Send(context.Background(), &transport.Request{Cmd: transport.CmdGet, Msg: &kvrpcpb.GetRequest{}}); err != nil {
		t.Fatal(err)
	}
	l := get.Error.Locked
	if string(l.Key) != "k" || string(l.PrimaryLock) != "p" || string(l.Secondaries[0]) != "s" {
		t.Fatalf("lock keys %q %q %q", l.Key, l.PrimaryLock, l.Secondaries)
	}
	cur := get.RegionError.EpochNotMatch.CurrentRegions
	if len(cur) != 1 || string(cur[0].StartKey) != "a" || string(cur[0].EndKey) != "m" {
		t.Fatalf("current regions %v", cur)
	}
}

func TestKeyspaceV1PassesRawThrough(t *testing.T) {
	called := false
	s := Keyspace(apicodec.NewV1(kv.ModeRaw), apicodec.NewV1(kv.ModeTxn))(transport.SenderFunc(func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		called = true
		if string(req.Msg.(*kvrpcpb.RawGetRequest).Key) != "k" {
			t.Fatal("raw v1 key changed")
		}
		return &transport.Response{Msg: &kvrpcpb.RawGetResponse{}}, nil
	}))
	if _, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdRawGet, Msg: &kvrpcpb.RawGetRequest{Key: []byte("k")}}); err != nil || !called {
		t.Fatal(err)
	}
}

// TestKeyspaceRejectsForeignPairs: a server that answers a scan with a pair
// of another keyspace, or a batch get with another keyspace's key whose
// suffix equals a requested key, gets an OutsideKeyspaceError, and the
// caller sees none of the response (the decoder used to return an
// undecodable key as it was).
func TestKeyspaceRejectsForeignPairs(t *testing.T) {
	raw, txn := codecs(t)
	neighbour := []byte{'r', 0, 0, 2}
	for _, tc := range []struct {
		name string
		cmd  transport.Cmd
		req  transport.Message
		resp transport.Message
	}{
		{"scan", transport.CmdRawScan, &kvrpcpb.RawScanRequest{}, &kvrpcpb.RawScanResponse{Kvs: []*kvrpcpb.KvPair{
			{Key: pre(rawP, "a"), Value: []byte("ours")}, {Key: pre(neighbour, "b"), Value: []byte("theirs")},
		}}},
		{"batch get", transport.CmdRawBatchGet, &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte("k")}}, &kvrpcpb.RawBatchGetResponse{Pairs: []*kvrpcpb.KvPair{
			{Key: pre(neighbour, "k"), Value: []byte("theirs")},
		}}},
		{"unprefixed key", transport.CmdRawBatchGet, &kvrpcpb.RawBatchGetRequest{Keys: [][]byte{[]byte("k")}}, &kvrpcpb.RawBatchGetResponse{Pairs: []*kvrpcpb.KvPair{
			{Key: []byte("k"), Value: []byte("v1 data")},
		}}},
		{"txn scan", transport.CmdScan, &kvrpcpb.ScanRequest{}, &kvrpcpb.ScanResponse{Pairs: []*kvrpcpb.KvPair{
			{Key: pre(rawP, "a"), Value: []byte("raw data of our own keyspace")},
		}}},
	} {
		s := Keyspace(raw, txn)(transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) {
			return &transport.Response{Msg: tc.resp}, nil
		}))
		resp, err := s.Send(context.Background(), &transport.Request{Cmd: tc.cmd, Msg: tc.cmd.WithContext(tc.req, &kvrpcpb.Context{})})
		var oe *OutsideKeyspaceError
		if resp != nil || !errors.As(err, &oe) || oe.KeyspaceID != 1 || errors.Is(err, transport.ErrNotSent) {
			t.Errorf("%s: resp %v, err %v", tc.name, resp, err)
		}
		if err != nil && bytes.Contains([]byte(err.Error()), []byte("theirs")) {
			t.Errorf("%s: error repeats the foreign pair: %v", tc.name, err)
		}
	}
}

// TestKeyspaceRegionErrorKeys: KeyNotInRegion's key must be the
// keyspace's; the region it names is decoded, or withheld when it now lies
// outside the keyspace, never passed on in stored form. Ports the
// KeyNotInRegion part of client-go's TestDecodeResponseHotPathCommands
// (internal/apicodec/codec_v2_test.go).
func TestKeyspaceRegionErrorKeys(t *testing.T) {
	raw, txn := codecs(t)
	enc := func(p []byte, k string) []byte { return codec.EncodeBytes(nil, pre(p, k)) }
	send := func(e *errorpb.Error) error {
		s := Keyspace(raw, txn)(transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) {
			return &transport.Response{Msg: &kvrpcpb.RawGetResponse{RegionError: e}}, nil
		}))
		_, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdRawGet, Msg: &kvrpcpb.RawGetRequest{Key: []byte("k")}})
		return err
	}
	own := &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: pre(rawP, "k"), StartKey: enc(rawP, "a"), EndKey: enc(rawP, "c")}}
	if err := send(own); err != nil || string(own.KeyNotInRegion.Key) != "k" || string(own.KeyNotInRegion.StartKey) != "a" || string(own.KeyNotInRegion.EndKey) != "c" {
		t.Fatalf("own KeyNotInRegion: %v, %v", err, own.KeyNotInRegion)
	}
	elsewhere := &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: pre(rawP, "k"), StartKey: enc([]byte{'r', 0, 0, 2}, ""), EndKey: enc([]byte{'r', 0, 0, 3}, "")}}
	if err := send(elsewhere); err != nil || elsewhere.KeyNotInRegion.StartKey != nil || elsewhere.KeyNotInRegion.EndKey != nil {
		t.Fatalf("KeyNotInRegion naming another keyspace's region: %v, %v", err, elsewhere.KeyNotInRegion)
	}
	foreign := &errorpb.Error{KeyNotInRegion: &errorpb.KeyNotInRegion{Key: pre([]byte{'r', 0, 0, 2}, "k")}}
	if err := send(foreign); !errors.Is(err, ErrOutsideKeyspace) {
		t.Fatalf("KeyNotInRegion with a foreign key: %v", err)
	}
}
