package middleware

import (
	"context"
	"errors"
	"fmt"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/internal/apicodec"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// ErrRefusedInKeyspace is wrapped by the error for a command the keyspace
// layer cannot confine to the client's keyspace (see Keyspace).
var ErrRefusedInKeyspace = errors.New("tikv: command refused in a keyspace")

// ErrOutsideKeyspace is wrapped by the error for a response that carries a
// key from outside the client's keyspace (see Keyspace). It wraps
// kv.ErrProtocol: retrying will not help, and the pipeline does not retry.
var ErrOutsideKeyspace = fmt.Errorf("%w: response key outside the keyspace", kv.ErrProtocol)

// RefusedInKeyspaceError is returned, before anything is sent, for a
// command the keyspace layer cannot confine to the keyspace: one without a
// key range (KvGC), one whose keys it cannot read, one it does not know, or
// a described command (transport.Describe) without key hooks.
// It wraps ErrRefusedInKeyspace, kv.ErrInvalidArgument and
// transport.ErrNotSent.
type RefusedInKeyspaceError struct {
	Cmd        transport.Cmd // the refused command
	KeyspaceID uint32        // the client's keyspace
	Reason     string        // why the command cannot be confined
}

// Error names the keyspace, the command and the reason, on one line.
func (e *RefusedInKeyspaceError) Error() string {
	return fmt.Sprintf("keyspace %d: %s refused: %s", e.KeyspaceID, e.Cmd, e.Reason)
}

// Unwrap returns the sentinels the error stands for.
func (e *RefusedInKeyspaceError) Unwrap() []error {
	return []error{ErrRefusedInKeyspace, kv.ErrInvalidArgument, transport.ErrNotSent}
}

// OutsideKeyspaceError is returned instead of a response that carries a key
// from outside the keyspace: the server (or something between) is not
// honouring the keyspace, and no part of such a response reaches the
// caller. The request was sent, so a write may have applied. Field names
// the first offending field; the key itself is not repeated, since it is
// another tenant's. It wraps ErrOutsideKeyspace.
type OutsideKeyspaceError struct {
	Cmd        transport.Cmd // the command whose response was dropped
	KeyspaceID uint32        // the client's keyspace
	Field      string        // the first field found holding a foreign key
}

// Error names the keyspace, the command and the field, on one line.
func (e *OutsideKeyspaceError) Error() string {
	return fmt.Sprintf("keyspace %d: %s response: %s holds a key outside the keyspace", e.KeyspaceID, e.Cmd, e.Field)
}

// Unwrap returns ErrOutsideKeyspace.
func (e *OutsideKeyspaceError) Unwrap() error { return ErrOutsideKeyspace }

// outsideField is the decoder's finding: the field with a foreign key.
type outsideField string

func (f outsideField) Error() string { return string(f) }

// Keyspace returns the innermost protocol layer: the API codec (client-go's
// apicodec at the RPC boundary). Above it requests and responses carry
// logical keys; below it, the keys TiKV stores: under API v2 every key of a
// request gets its keyspace prefix (raw commands use raw, the others txn),
// an open range end becomes the keyspace's end, and the Context says
// api_version V2 and the keyspace id (the codec is picked by the command's
// key mode, transport.Cmd.KeyMode: the raw one for raw commands, the txn
// one for every other); every key of the response (pairs,
// locks, key errors, region errors) loses it again, and the region
// boundaries TiKV reports (EpochNotMatch, KeyNotInRegion) are decoded and
// clamped to the keyspace, for raw and txn v2 and for txn v1 (whose
// boundaries are memcomparable-encoded).
//
// The keyspace is a security boundary, so under API v2 nothing passes
// unexamined. Every command of transport's command table is either encoded
// or refused with a *RefusedInKeyspaceError before it is sent (KvGC, which
// has no key range, is refused; so is any command the layer does not
// know). A command made by transport.Describe is encoded and decoded by
// its descriptor's EncodeKeys and DecodeKeys hooks, and refused when it has
// none: the layer cannot find the keys of a message it does not know.
// Under API v1 it passes unchanged, as every command does. A response key
// outside the keyspace fails the attempt with an
// *OutsideKeyspaceError and the response is dropped, except for
// GetLockWaitInfo, whose store-wide answer legitimately lists other
// keyspaces' waiters: those entries are removed.
//
// It never modifies the caller's message: fields it changes are copied.
// It decodes the response in place (the transport allocated it for this
// attempt). A nil codec means "leave that mode alone". Safe for concurrent
// use; it runs once per attempt.
func Keyspace(raw, txn *apicodec.Codec) transport.Middleware {
	// Built with transport.Around: it keeps an asynchronous send
	// asynchronous (the response is decoded where it is settled).
	return transport.Around(func(ctx context.Context, req *transport.Request) (context.Context, *transport.Request, transport.After, error) {
		c := txn
		if m, ok := req.Cmd.KeyMode(); ok && m == kv.ModeRaw {
			c = raw
		}
		if c == nil || c.Identity() {
			return ctx, req, nil, nil
		}
		out := *req
		if c.V2() {
			msg, err := encodeRequest(c, req.Cmd, req.Msg)
			if err != nil {
				return ctx, nil, nil, &RefusedInKeyspaceError{Cmd: req.Cmd, KeyspaceID: c.KeyspaceID(), Reason: err.Error()}
			}
			out.Msg = msg
			if req.Cmd.Valid() {
				if rc := req.Cmd.Context(out.Msg); rc != nil {
					// The attempt's Context is its own (the pipeline copies
					// it per attempt), so the codec may set the fields it
					// owns.
					rc.ApiVersion = c.APIVersion()
					rc.Keyspace = &kvrpcpb.Context_KeyspaceId{KeyspaceId: c.KeyspaceID()}
				}
			}
		}
		return ctx, &out, func(resp *transport.Response, err error) (*transport.Response, error) {
			if resp != nil && resp.Msg != nil {
				if derr := decodeResponse(c, req.Cmd, resp.Msg); derr != nil {
					return nil, &OutsideKeyspaceError{Cmd: req.Cmd, KeyspaceID: c.KeyspaceID(), Field: derr.Error()}
				}
			}
			return resp, err
		}, nil
	})
}
