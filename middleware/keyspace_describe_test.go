package middleware

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// describe returns a described command over GetRequest/GetResponse, the
// shape of a point read, in the given key space.
func describe(t *testing.T, d transport.CmdDesc) transport.Cmd {
	t.Helper()
	c, err := transport.Describe[*kvrpcpb.GetRequest, *kvrpcpb.GetResponse](d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// echo answers every request with the response reply builds, recording the
// message on the wire.
func echo(wire *transport.Message, reply func(req transport.Message) transport.Message) transport.Sender {
	return transport.SenderFunc(func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		*wire = req.Msg
		return &transport.Response{Msg: reply(req.Msg)}, nil
	})
}

func TestKeyspaceRefusesDescribedCommandWithoutHooks(t *testing.T) {
	raw, txn := codecs(t)
	for _, mode := range []kv.KeyMode{0, kv.ModeRaw, kv.ModeTxn} {
		cmd := describe(t, transport.CmdDesc{Name: "TestKeyspaceNoHooks" + mode.String(), KeyMode: mode})
		var wire transport.Message
		s := Keyspace(raw, txn)(echo(&wire, func(transport.Message) transport.Message { return &kvrpcpb.GetResponse{} }))
		_, err := s.Send(context.Background(), &transport.Request{Cmd: cmd, Msg: &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k")}})
		var re *RefusedInKeyspaceError
		if !errors.As(err, &re) || re.Cmd != cmd || re.KeyspaceID != 1 || !errors.Is(err, transport.ErrNotSent) || !errors.Is(err, kv.ErrInvalidArgument) {
			t.Fatalf("%v: err %v, want a RefusedInKeyspaceError", mode, err)
		}
		if wire != nil {
			t.Fatalf("%v: a refused command reached the wire", mode)
		}
	}
}

func TestKeyspaceV1PassesDescribedCommand(t *testing.T) {
	cmd := describe(t, transport.CmdDesc{Name: "TestKeyspaceV1Described", KeyMode: kv.ModeTxn})
	var wire transport.Message
	s := Keyspace(apicodec.NewV1(kv.ModeRaw), apicodec.NewV1(kv.ModeTxn))(echo(&wire, func(transport.Message) transport.Message {
		return &kvrpcpb.GetResponse{Value: []byte("v")}
	}))
	req := &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k")}
	resp, err := s.Send(context.Background(), &transport.Request{Cmd: cmd, Msg: req})
	if err != nil {
		t.Fatal(err)
	}
	if wire != req || string(resp.Msg.(*kvrpcpb.GetResponse).Value) != "v" {
		t.Fatalf("API v1 must pass a described command as it is: wire %v, response %v", wire, resp.Msg)
	}
}

// keyHooks encode and decode the one key of a GetRequest/GetResponse-shaped
// command (the response's key is in its key error's lock).
var keyHooks = transport.CmdDesc{
	EncodeKeys: func(m transport.Message, c transport.KeyCodec) (transport.Message, error) {
		cp := *m.(*kvrpcpb.GetRequest)
		cp.Key = c.EncodeKey(cp.Key)
		return &cp, nil
	},
	DecodeKeys: func(m transport.Message, c transport.KeyCodec) error {
		l := m.(*kvrpcpb.GetResponse).GetError().GetLocked()
		if l == nil {
			return nil
		}
		k, err := c.DecodeKey(l.Key)
		l.Key = k
		return err
	},
}

func TestKeyspaceUsesDescribedCommandHooks(t *testing.T) {
	raw, txn := codecs(t)
	for _, tc := range []struct {
		mode   kv.KeyMode
		prefix []byte
	}{{kv.ModeRaw, rawP}, {kv.ModeTxn, txnP}, {0, txnP}} {
		d := keyHooks
		d.Name, d.KeyMode = "TestKeyspaceHooks"+tc.mode.String(), tc.mode
		cmd := describe(t, d)
		var wire transport.Message
		lockKey := pre(tc.prefix, "k")
		s := Keyspace(raw, txn)(echo(&wire, func(transport.Message) transport.Message {
			return &kvrpcpb.GetResponse{Error: &kvrpcpb.KeyError{Locked: &kvrpcpb.LockInfo{Key: bytes.Clone(lockKey)}}}
		}))
		req := &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k")}
		resp, err := s.Send(context.Background(), &transport.Request{Cmd: cmd, Msg: req})
		if err != nil {
			t.Fatalf("%v: %v", tc.mode, err)
		}
		w := wire.(*kvrpcpb.GetRequest)
		if !bytes.Equal(w.Key, lockKey) || string(req.Key) != "k" {
			t.Fatalf("%v: wire key %q (caller's %q), want %q", tc.mode, w.Key, req.Key, lockKey)
		}
		if w.Context.ApiVersion != kvrpcpb.APIVersion_V2 || w.Context.GetKeyspaceId() != 1 {
			t.Fatalf("%v: context %v", tc.mode, w.Context)
		}
		if got := resp.Msg.(*kvrpcpb.GetResponse).Error.Locked.Key; string(got) != "k" {
			t.Fatalf("%v: response key %q, want it decoded to %q", tc.mode, got, "k")
		}
	}

	// A response key of another keyspace withholds the response.
	d := keyHooks
	d.Name, d.KeyMode = "TestKeyspaceHooksForeign", kv.ModeTxn
	cmd := describe(t, d)
	var wire transport.Message
	s := Keyspace(raw, txn)(echo(&wire, func(transport.Message) transport.Message {
		return &kvrpcpb.GetResponse{Error: &kvrpcpb.KeyError{Locked: &kvrpcpb.LockInfo{Key: []byte("x\x00\x00\x02k")}}}
	}))
	resp, err := s.Send(context.Background(), &transport.Request{Cmd: cmd, Msg: &kvrpcpb.GetRequest{Context: &kvrpcpb.Context{}, Key: []byte("k")}})
	var oe *OutsideKeyspaceError
	if !errors.As(err, &oe) || resp != nil || !errors.Is(err, kv.ErrProtocol) {
		t.Fatalf("foreign key: resp %v, err %v", resp, err)
	}
}
