package middleware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pingcap/kvproto/pkg/coprocessor"
	"github.com/pingcap/kvproto/pkg/errorpb"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/pingcap/kvproto/pkg/metapb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// keyFieldNames are the names kvproto gives key fields, in requests and
// responses alike. The walk below finds every []byte or [][]byte field of
// a message with one of these names, so a key field kvproto adds to a
// message the middleware handles is found, filled and checked.
var keyFieldNames = map[string]bool{
	"Key": true, "Keys": true, "PrimaryLock": true, "PrimaryKey": true, "Primary": true,
	"Secondaries": true, "LockKey": true, "DeadlockKey": true, "StartKey": true, "EndKey": true,
	"SplitKey": true, "SplitKeys": true, "Start": true, "End": true,
}

// Types the walk does not enter: the Context (the middleware's own), region
// errors and regions (region-encoded boundaries, tested apart), the key
// errors a request's KvPair could carry (meaningless in a request) and
// TiCI's shard ranges (refused, tested apart).
var (
	walkSkipTypes = map[reflect.Type]bool{
		reflect.TypeOf(kvrpcpb.Context{}): true,
		reflect.TypeOf(errorpb.Error{}):   true,
		reflect.TypeOf(metapb.Region{}):   true,
	}
	requestSkipTypes = map[reflect.Type]bool{
		reflect.TypeOf(kvrpcpb.KeyError{}):            true,
		reflect.TypeOf(coprocessor.TableShardInfos{}): true,
	}
)

// keyField is one key of a message found by the walk: its path and the
// settable []byte.
type keyField struct {
	path string
	v    reflect.Value
}

// walkKeys fills (when fill is set: every key field gets one or two
// distinct non-empty keys, every message-typed field one element) and
// lists the key fields of msg.
func walkKeys(msg any, fill, request bool) []keyField {
	var out []keyField
	var walk func(v reflect.Value, path string, depth int)
	walk = func(v reflect.Value, path string, depth int) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f, fv := t.Field(i), v.Field(i)
			if !f.IsExported() || strings.HasPrefix(f.Name, "XXX") {
				continue
			}
			p := path + "." + f.Name
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Uint8:
				if !keyFieldNames[f.Name] {
					continue
				}
				if fill {
					fv.SetBytes([]byte(fmt.Sprintf("k%02d", len(out))))
				}
				out = append(out, keyField{p, fv})
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Slice:
				if !keyFieldNames[f.Name] {
					continue
				}
				if fill {
					fv.Set(reflect.ValueOf([][]byte{[]byte(fmt.Sprintf("k%02da", len(out))), []byte(fmt.Sprintf("k%02db", len(out)))}))
				}
				for j := 0; j < fv.Len(); j++ {
					out = append(out, keyField{fmt.Sprintf("%s[%d]", p, j), fv.Index(j)})
				}
			case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct,
				ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Pointer && ft.Elem().Elem().Kind() == reflect.Struct:
				et := ft.Elem()
				if ft.Kind() == reflect.Slice {
					et = et.Elem()
				}
				if walkSkipTypes[et] || (request && requestSkipTypes[et]) || depth > 6 {
					continue
				}
				if fill {
					if ft.Kind() == reflect.Slice {
						fv.Set(reflect.Append(reflect.MakeSlice(ft, 0, 1), reflect.New(et)))
					} else {
						fv.Set(reflect.New(et))
					}
				}
				if ft.Kind() == reflect.Slice {
					for j := 0; j < fv.Len(); j++ {
						if !fv.Index(j).IsNil() {
							walk(fv.Index(j).Elem(), fmt.Sprintf("%s[%d]", p, j), depth+1)
						}
					}
				} else if !fv.IsNil() {
					walk(fv.Elem(), p, depth+1)
				}
			}
		}
	}
	walk(reflect.ValueOf(msg).Elem(), "", 0)
	return out
}

func snapshot(fs []keyField) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f.v.Bytes())
	}
	return out
}

// refusedInKeyspace lists the commands the keyspace layer refuses.
var refusedInKeyspace = map[transport.Cmd]bool{transport.CmdGC: true}

func prefixFor(cmd transport.Cmd, id byte) []byte {
	if strings.HasPrefix(cmd.String(), "Raw") {
		return []byte{'r', 0, 0, id}
	}
	return []byte{'x', 0, 0, id}
}

// TestKeyspaceEncodesOrRefusesEveryCommand walks the whole command table:
// each command's request, with keys in every key field, either reaches the
// wire with every key prefixed and the Context naming the keyspace (the
// caller's message untouched), or is refused before anything is sent.
// Ports client-go's TestEncodeRequest (internal/apicodec/codec_v2_test.go)
// for every command of the table rather than a sample.
func TestKeyspaceEncodesOrRefusesEveryCommand(t *testing.T) {
	raw, txn := codecs(t)
	for _, cmd := range builtinCmds() {
		t.Run(cmd.String(), func(t *testing.T) {
			var wire transport.Message
			s := Keyspace(raw, txn)(transport.SenderFunc(func(_ context.Context, req *transport.Request) (*transport.Response, error) {
				wire = req.Msg
				return &transport.Response{Msg: req.Cmd.NewResponse()}, nil
			}))
			msg := cmd.NewRequest()
			walkKeys(msg, true, true)
			msg = cmd.WithContext(msg, &kvrpcpb.Context{})
			before := snapshot(walkKeys(msg, false, true))
			_, err := s.Send(context.Background(), &transport.Request{Cmd: cmd, Msg: msg})
			if refusedInKeyspace[cmd] {
				var re *RefusedInKeyspaceError
				if !errors.As(err, &re) || re.Cmd != cmd || !errors.Is(err, ErrRefusedInKeyspace) ||
					!errors.Is(err, transport.ErrNotSent) || !errors.Is(err, kv.ErrInvalidArgument) || wire != nil {
					t.Fatalf("refused command: err %v, sent %v", err, wire != nil)
				}
				return
			}
			if err != nil || wire == nil {
				t.Fatalf("not sent: %v", err)
			}
			if got := snapshot(walkKeys(msg, false, true)); !equalStrings(got, before) {
				t.Fatalf("caller's keys changed: %q, were %q", got, before)
			}
			onWire := walkKeys(wire, false, true)
			if len(onWire) != len(before) {
				t.Fatalf("%d keys on the wire, %d in the request", len(onWire), len(before))
			}
			p := prefixFor(cmd, 1)
			for i, f := range onWire {
				if want := append(bytes.Clone(p), before[i]...); !bytes.Equal(f.v.Bytes(), want) {
					t.Errorf("%s on the wire = %q, want %q", f.path, f.v.Bytes(), want)
				}
			}
			if rc := cmd.Context(wire); cmd.HasContext() && (rc.ApiVersion != kvrpcpb.APIVersion_V2 || rc.GetKeyspaceId() != 1) {
				t.Fatalf("context %v", rc)
			}
		})
	}
}

// builtinCmds lists transport's built-in commands: they come first, and
// the commands other tests describe follow them.
func builtinCmds() []transport.Cmd {
	var out []transport.Cmd
	for cmd := transport.CmdInvalid + 1; cmd.Valid(); cmd++ {
		if _, described := cmd.Descriptor(); described {
			break
		}
		out = append(out, cmd)
	}
	return out
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// TestKeyspaceConfinesOpenRanges: commands whose empty range would cover
// the whole cluster (flashback, destroy, delete, scan lock, store safe ts,
// coprocessor) reach the wire bounded by the keyspace.
func TestKeyspaceConfinesOpenRanges(t *testing.T) {
	raw, txn := codecs(t)
	var wire transport.Message
	s := Keyspace(raw, txn)(transport.SenderFunc(func(_ context.Context, req *transport.Request) (*transport.Response, error) {
		wire = req.Msg
		return &transport.Response{Msg: req.Cmd.NewResponse()}, nil
	}))
	end := []byte{'x', 0, 0, 2}
	for _, tc := range []struct {
		cmd    transport.Cmd
		msg    transport.Message
		bounds func(transport.Message) (start, end []byte)
	}{
		{transport.CmdPrepareFlashbackToVersion, &kvrpcpb.PrepareFlashbackToVersionRequest{}, func(m transport.Message) ([]byte, []byte) {
			r := m.(*kvrpcpb.PrepareFlashbackToVersionRequest)
			return r.StartKey, r.EndKey
		}},
		{transport.CmdFlashbackToVersion, &kvrpcpb.FlashbackToVersionRequest{}, func(m transport.Message) ([]byte, []byte) {
			r := m.(*kvrpcpb.FlashbackToVersionRequest)
			return r.StartKey, r.EndKey
		}},
		{transport.CmdUnsafeDestroyRange, &kvrpcpb.UnsafeDestroyRangeRequest{}, func(m transport.Message) ([]byte, []byte) {
			r := m.(*kvrpcpb.UnsafeDestroyRangeRequest)
			return r.StartKey, r.EndKey
		}},
		{transport.CmdDeleteRange, &kvrpcpb.DeleteRangeRequest{}, func(m transport.Message) ([]byte, []byte) {
			r := m.(*kvrpcpb.DeleteRangeRequest)
			return r.StartKey, r.EndKey
		}},
		{transport.CmdScanLock, &kvrpcpb.ScanLockRequest{}, func(m transport.Message) ([]byte, []byte) {
			r := m.(*kvrpcpb.ScanLockRequest)
			return r.StartKey, r.EndKey
		}},
		{transport.CmdStoreSafeTS, &kvrpcpb.StoreSafeTSRequest{}, func(m transport.Message) ([]byte, []byte) {
			r := m.(*kvrpcpb.StoreSafeTSRequest).KeyRange
			return r.GetStartKey(), r.GetEndKey()
		}},
		{transport.CmdCoprocessor, &coprocessor.Request{Ranges: []*coprocessor.KeyRange{{}}}, func(m transport.Message) ([]byte, []byte) {
			r := m.(*coprocessor.Request).Ranges[0]
			return r.Start, r.End
		}},
	} {
		wire = nil
		msg := tc.cmd.WithContext(tc.msg, &kvrpcpb.Context{})
		if _, err := s.Send(context.Background(), &transport.Request{Cmd: tc.cmd, Msg: msg}); err != nil {
			t.Fatalf("%s: %v", tc.cmd, err)
		}
		if s, e := tc.bounds(wire); !bytes.Equal(s, txnP) || !bytes.Equal(e, end) {
			t.Errorf("%s: open range sent as [%q, %q), want the keyspace [%q, %q)", tc.cmd, s, e, txnP, end)
		}
	}

	shards := &coprocessor.Request{TableShardInfos: []*coprocessor.TableShardInfos{{ShardInfos: []*coprocessor.ShardInfo{{ShardId: 1}}}}}
	wire = nil
	if _, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdCoprocessor, Msg: shards}); !errors.Is(err, ErrRefusedInKeyspace) || wire != nil {
		t.Fatalf("coprocessor with shard infos: %v, sent %v", err, wire != nil)
	}
	// So is a command outside the table.
	if _, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdInvalid, Msg: &kvrpcpb.GetRequest{}}); !errors.Is(err, ErrRefusedInKeyspace) || wire != nil {
		t.Fatalf("invalid command: %v", err)
	}
	// A message that is not the command's request type is refused too.
	if _, err := s.Send(context.Background(), &transport.Request{Cmd: transport.CmdGet, Msg: &kvrpcpb.ScanRequest{}}); !errors.Is(err, transport.ErrNotSent) || wire != nil {
		t.Fatalf("mismatched message: %v", err)
	}
}

// TestKeyspaceChecksEveryResponseKey walks the command table again, with a
// scripted server below the middleware: a response whose every key field
// holds a key of the keyspace is decoded in every field; the same response
// with any single key field from another keyspace (same mode, next id) is
// an OutsideKeyspaceError and reaches no caller. Ports client-go's
// TestDecodeKeyError (key errors, shared-lock infos included: the walk
// enters nested LockInfos), TestDecodeResponseHotPathCommands and
// TestDecodeResponseSecondWaveCommands (internal/apicodec/codec_v2_test.go)
// for every command of the table.
func TestKeyspaceChecksEveryResponseKey(t *testing.T) {
	raw, txn := codecs(t)
	for _, cmd := range builtinCmds() {
		if refusedInKeyspace[cmd] {
			continue
		}
		t.Run(cmd.String(), func(t *testing.T) {
			own, foreign := prefixFor(cmd, 1), prefixFor(cmd, 2)
			var script transport.Message
			s := Keyspace(raw, txn)(transport.SenderFunc(func(context.Context, *transport.Request) (*transport.Response, error) {
				return &transport.Response{Msg: script}, nil
			}))
			send := func() (*transport.Response, error) {
				return s.Send(context.Background(), &transport.Request{Cmd: cmd, Msg: cmd.WithContext(cmd.NewRequest(), &kvrpcpb.Context{})})
			}
			// respond builds a full response whose key field i (or none,
			// for i < 0) carries the foreign prefix.
			respond := func(foreignField int) ([]keyField, []string) {
				script = cmd.NewResponse()
				fields := walkKeys(script, true, false)
				logical := snapshot(fields)
				for i, f := range fields {
					p := own
					if i == foreignField {
						p = foreign
					}
					f.v.SetBytes(append(bytes.Clone(p), f.v.Bytes()...))
				}
				return fields, logical
			}

			script = cmd.NewResponse()
			if _, err := send(); err != nil {
				t.Fatalf("empty response: %v", err)
			}
			fields, logical := respond(-1)
			resp, err := send()
			if err != nil || resp.Msg != script {
				t.Fatalf("response with the keyspace's keys: %v", err)
			}
			for i, f := range fields {
				if string(f.v.Bytes()) != logical[i] {
					t.Errorf("%s decoded to %q, want %q", f.path, f.v.Bytes(), logical[i])
				}
			}
			for i := range fields {
				respond(i)
				resp, err := send()
				if cmd == transport.CmdGetLockWaitInfo {
					// Store-wide by design: the foreign entry is dropped.
					if err != nil || len(resp.Msg.(*kvrpcpb.GetLockWaitInfoResponse).Entries) != 0 {
						t.Fatalf("lock wait entry of another keyspace: %v, %v", err, resp)
					}
					continue
				}
				var oe *OutsideKeyspaceError
				if !errors.As(err, &oe) || oe.Cmd != cmd || !errors.Is(err, ErrOutsideKeyspace) || resp != nil {
					t.Errorf("foreign key in %s: resp returned %v, err %v", fields[i].path, resp != nil, err)
				}
			}
		})
	}
}
