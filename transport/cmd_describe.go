package transport

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
)

// CmdDesc describes a TiKV command the built-in table lacks, so that it can
// be sent through plans like any other (see Describe).
type CmdDesc struct {
	// Name is the command's name, what Cmd.String returns: the RPC's
	// method name, such as "KvGetLockWaitHistory". It must not be the name
	// of a built-in command.
	Name string
	// FullMethod is the gRPC method path. Empty means the method Name of
	// the tikvpb.Tikv service ("/tikvpb.Tikv/" + Name).
	FullMethod string
	// Write says the command changes data or locks (Cmd.IsWrite); it
	// decides the attempt timeout and whether a replica may serve it.
	Write bool
	// KeyMode is the key space of the command's keys: pipeline.Retry
	// refuses it through an environment of the other space, and the
	// keyspace layer picks the codec by it. Zero means the command is tied
	// to no key space (a store-level or administrative command).
	KeyMode kv.KeyMode
	// EncodeKeys and DecodeKeys, both set or both nil, let the keyspace
	// layer confine the command to a keyspace under API v2. EncodeKeys
	// returns a copy of the request msg with every key encoded by c; it must
	// not modify msg, which the caller may reuse. DecodeKeys decodes every
	// key of the response msg in place (the transport allocated it for this
	// attempt) and returns an error for a key outside the keyspace, which
	// then withholds the response. Without them a described command is
	// refused under API v2 (middleware.RefusedInKeyspaceError); under API v1
	// it passes unchanged. The codec is the one of KeyMode, or the
	// transactional one when KeyMode is zero (as for the built-in
	// administrative commands). Both must be safe for concurrent use.
	EncodeKeys func(msg Message, c KeyCodec) (Message, error)
	DecodeKeys func(msg Message, c KeyCodec) error
}

// KeyCodec translates keys between the form plans use (logical keys) and
// the form TiKV stores under the client's API version and keyspace. The
// keyspace layer hands its codec to a described command's key hooks.
type KeyCodec interface {
	// EncodeKey returns k as a request carries it (with the keyspace
	// prefix under API v2).
	EncodeKey(k []byte) []byte
	// EncodeEnd returns a range end as a request carries it: an empty end,
	// the end of everything, becomes the end of the keyspace.
	EncodeEnd(k []byte) []byte
	// DecodeKey strips the keyspace prefix from a key TiKV returned; it
	// fails for a key outside the keyspace.
	DecodeKey(k []byte) ([]byte, error)
}

// DescribeError says why Describe refused a descriptor. It wraps
// kv.ErrInvalidArgument.
type DescribeError struct {
	Name   string // the descriptor's Name
	Reason string
}

// Error names the command and the reason, on one line.
func (e *DescribeError) Error() string {
	return fmt.Sprintf("transport: describe %q: %s", e.Name, e.Reason)
}

// Unwrap returns kv.ErrInvalidArgument.
func (e *DescribeError) Unwrap() error { return kv.ErrInvalidArgument }

// Describe returns a Cmd for the unary RPC d describes, whose request and
// response messages are of the Go types Req and Resp (kvproto message
// pointers, such as *kvrpcpb.GetRequest). The Cmd can be used wherever a
// built-in one is: in a pipeline.Method (and so with pipeline.Retry, Shard
// and Stream), in a transport.Request sent by the Pool, through the
// middleware. The Pool always sends it as a unary gRPC call, never inside a
// BatchCommands stream: BatchCommands carries a fixed set of commands in a
// protobuf oneof, and a command outside it has no slot there.
//
// The request's kvrpcpb.Context (a field Context of type *kvrpcpb.Context,
// which kvproto generates for every region command) is found by reflection,
// once, here; a request without one is a store-level command, to which the
// pipeline adds no routing context.
//
// Describing the same command again returns the same Cmd when the
// descriptor agrees with the first one (same FullMethod, message types,
// Write, KeyMode, and hooks present or not), so independent packages may
// describe a command they share; the first descriptor's hooks are the ones
// kept. A descriptor that disagrees, or that reuses the name or method of a
// built-in command, is refused with a *DescribeError.
//
// Commands are process-wide, like the built-in table, and are never
// removed; Describe is safe for concurrent use, with itself and with
// commands in use. It is meant for a handful of commands described at
// start-up, not for one per request.
func Describe[Req, Resp Message](d CmdDesc) (Cmd, error) {
	reqType, respType := reflect.TypeFor[Req](), reflect.TypeFor[Resp]()
	fail := func(format string, args ...any) (Cmd, error) {
		return CmdInvalid, &DescribeError{Name: d.Name, Reason: fmt.Sprintf(format, args...)}
	}
	if d.FullMethod == "" {
		d.FullMethod = tikvService + d.Name
	}
	switch {
	case d.Name == "" || strings.Contains(d.Name, "/"):
		return fail("the name must be a method name, without '/'")
	case !validMethodPath(d.FullMethod):
		return fail("full method %q is not of the form /package.Service/Method", d.FullMethod)
	case d.KeyMode != 0 && !d.KeyMode.Valid():
		return fail("invalid key mode %v", d.KeyMode)
	case (d.EncodeKeys == nil) != (d.DecodeKeys == nil):
		// Keys encoded one way only would fail every response or, worse,
		// hand another keyspace's keys back as the caller's.
		return fail("EncodeKeys and DecodeKeys must be set together")
	}
	for _, t := range []reflect.Type{reqType, respType} {
		if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
			return fail("message type %v is not a pointer to a struct", t)
		}
	}
	for c := CmdInvalid + 1; c < cmdCount; c++ {
		if cmdTable[c].name == d.Name || cmdTable[c].fullMethod == d.FullMethod {
			return fail("%s is a built-in command", c)
		}
	}

	info := &cmdInfo{
		name:       d.Name,
		fullMethod: d.FullMethod,
		write:      d.Write,
		mode:       d.KeyMode,
		reqType:    reqType,
		newReq:     func() Message { return reflect.New(reqType.Elem()).Interface().(Message) },
		newResp:    func() Message { return reflect.New(respType.Elem()).Interface().(Message) },
		desc:       &d,
	}
	if f, ok := reqType.Elem().FieldByName("Context"); ok && f.Type == reflect.TypeFor[*kvrpcpb.Context]() && len(f.Index) == 1 {
		i := f.Index[0]
		info.withContext = func(m Message, c *kvrpcpb.Context) Message {
			src := reflect.ValueOf(m.(Req)).Elem()
			cp := reflect.New(src.Type())
			cp.Elem().Set(src)
			cp.Elem().Field(i).Set(reflect.ValueOf(c))
			return cp.Interface().(Message)
		}
		info.context = func(m Message) *kvrpcpb.Context {
			return reflect.ValueOf(m.(Req)).Elem().Field(i).Interface().(*kvrpcpb.Context)
		}
	}
	return described.add(info, respType)
}

// validMethodPath reports a gRPC method path: "/service/method", both
// parts non-empty.
func validMethodPath(p string) bool {
	svc, method, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return strings.HasPrefix(p, "/") && ok && svc != "" && method != "" && !strings.Contains(method, "/")
}

// Descriptor returns the descriptor a described command was made from;
// ok is false for the built-in commands (and invalid ones).
func (c Cmd) Descriptor() (d CmdDesc, ok bool) {
	if c > CmdInvalid && c < cmdCount {
		return CmdDesc{}, false
	}
	info := lookupDescribed(c)
	if info == nil {
		return CmdDesc{}, false
	}
	return *info.desc, true
}

// cmdRegistry holds the described commands: row i is Cmd(cmdCount + i).
//
// It is transport's one piece of process-wide mutable state, for the
// reason the built-in table is process-wide: a Cmd is a plain value that
// pipeline.Method literals, middleware and servers pass around with no
// shared handle to resolve it, so its meaning must be the same everywhere
// in the process (protobuf's global type registry and grpc's codec registry
// exist for the same reason). It only grows, and a row never changes once
// published. Readers load the row slice atomically, with no lock; Describe
// serialises on mu and publishes a new slice (copy on write), so a reader
// sees either the old rows or the new ones, each complete.
type cmdRegistry struct {
	mu   sync.Mutex
	rows atomic.Pointer[[]*cmdInfo]
}

var described cmdRegistry

// add publishes info as a new command, or returns the command already
// described with the same name when the two descriptors agree.
func (r *cmdRegistry) add(info *cmdInfo, respType reflect.Type) (Cmd, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var rows []*cmdInfo
	if p := r.rows.Load(); p != nil {
		rows = *p
	}
	d := info.desc
	for _, old := range rows {
		if old.name != d.Name && old.fullMethod != d.FullMethod {
			continue
		}
		if reason := disagreement(old, info, respType); reason != "" {
			return CmdInvalid, &DescribeError{Name: d.Name, Reason: fmt.Sprintf("already described as %s (%s): %s", old.name, old.fullMethod, reason)}
		}
		return old.cmd, nil
	}
	// The largest Cmd value stays unassigned, so it is invalid forever.
	if int(cmdCount)+len(rows) >= math.MaxUint16 {
		return CmdInvalid, &DescribeError{Name: d.Name, Reason: "too many described commands"}
	}
	info.cmd = cmdCount + Cmd(len(rows))
	next := make([]*cmdInfo, len(rows), len(rows)+1)
	copy(next, rows)
	next = append(next, info)
	r.rows.Store(&next)
	return info.cmd, nil
}

// disagreement says how two descriptions of one command differ; empty when
// they agree.
func disagreement(old, cur *cmdInfo, respType reflect.Type) string {
	od, cd := old.desc, cur.desc
	switch {
	case od.Name != cd.Name || od.FullMethod != cd.FullMethod:
		return fmt.Sprintf("now %s (%s)", cd.Name, cd.FullMethod)
	case old.reqType != cur.reqType:
		return fmt.Sprintf("request type %v, now %v", old.reqType, cur.reqType)
	case reflect.TypeOf(old.newResp()) != respType:
		return fmt.Sprintf("response type %T, now %v", old.newResp(), respType)
	case od.Write != cd.Write:
		return fmt.Sprintf("write %t, now %t", od.Write, cd.Write)
	case od.KeyMode != cd.KeyMode:
		return fmt.Sprintf("key mode %v, now %v", od.KeyMode, cd.KeyMode)
	case (od.EncodeKeys == nil) != (cd.EncodeKeys == nil):
		return "key hooks differ"
	}
	return ""
}

// lookupDescribed returns the row of a described command, or nil.
func lookupDescribed(c Cmd) *cmdInfo {
	if c < cmdCount {
		return nil
	}
	p := described.rows.Load()
	if p == nil {
		return nil
	}
	if i := int(c - cmdCount); i < len(*p) {
		return (*p)[i]
	}
	return nil
}

// describedInfo is info's slow path: the row of a described command. It
// panics for a command that does not exist, as the built-in path does for
// CmdInvalid: a Cmd is never made up.
func describedInfo(c Cmd) *cmdInfo {
	info := lookupDescribed(c)
	if info == nil {
		panic(fmt.Sprintf("transport: unknown command %d", c))
	}
	return info
}

// describedRows returns the described commands' rows at this moment.
func describedRows() []*cmdInfo {
	if p := described.rows.Load(); p != nil {
		return *p
	}
	return nil
}
