package raw

import (
	"context"
	"math"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// Option configures a Client (NewClient, Client.With).
type Option func(*clientConfig)

type clientConfig struct {
	cf          string
	atomic      bool
	atLeastOnce bool
}

// WithColumnFamily sets the column family every call uses unless it passes
// ColumnFamily itself (client-go's Client.SetColumnFamily). The empty name,
// the default, is TiKV's "default" column family. TiKV accepts "default",
// "lock" and "write" under API V1 and V1TTL, and no explicit name under API
// V2; any other name fails each call with a *kv.ServerError.
func WithColumnFamily(cf string) Option {
	return func(c *clientConfig) { c.cf = cf }
}

// WithAtomicForCAS turns atomic mode on or off (client-go's
// SetAtomicForCAS). CompareAndSwap needs it: TiKV serializes a CAS only
// against writes that take the same latches, so in atomic mode Put,
// BatchPut, Delete and BatchDelete are sent with for_cas set and go through
// TiKV's scheduler as CAS does. DeleteRange has no for_cas flag in TiKV's
// protocol and is never serialized with CAS (as in client-go).
//
// Every client writing keys that are compared-and-swapped must agree on the
// mode: a plain write racing a CAS can be lost, because TiKV does not check
// that writers are consistent.
func WithAtomicForCAS(on bool) Option {
	return func(c *clientConfig) { c.atomic = on }
}

// WithAtLeastOnceWrites makes Put, BatchPut, BatchPutWithTTL, Delete,
// BatchDelete and DeleteRange resend a write after an attempt whose outcome
// is unknown, as client-go does (default off; AtLeastOnce sets it per call).
//
// By default a raw write is linearizable: once an attempt may have reached
// TiKV (its response was lost, its stream broke, it timed out after the
// send) the write is not sent again and the call returns kv.ErrUndetermined
// carrying the cause; it is resent only when the error proves the attempt
// never left the client. Resending trades that for fewer undetermined
// errors and allows an anomaly: the late copy can be applied after another
// client's acknowledged write to the same key and silently undo it (a
// deleted value comes back, a CompareAndSwap's swap is overwritten). A
// resent write that still fails is reported as kv.ErrUndetermined too.
// CompareAndSwap is never resent.
func WithAtLeastOnceWrites(on bool) Option {
	return func(c *clientConfig) { c.atLeastOnce = on }
}

// CallOption configures one call. Each method lists the options it takes;
// passing another one fails the call with kv.ErrInvalidArgument before
// anything is sent, so an option is never silently ignored.
type CallOption func(*callConfig)

// callOpt is a set of CallOptions, for checking them against a method.
type callOpt uint8

const (
	optColumnFamily callOpt = 1 << iota
	optTTL
	optKeyOnly
	optReplicaRead
	optPriority
	optRequestSource
	optAtLeastOnce
)

// Option sets each method accepts.
const (
	optsCommon = optPriority | optRequestSource
	optsRead   = optsCommon | optColumnFamily | optReplicaRead
	optsWrite  = optsCommon | optColumnFamily | optAtLeastOnce
	optsPut    = optsWrite | optTTL
	optsScan   = optsRead | optKeyOnly
)

var optNames = []struct {
	opt  callOpt
	name string
}{
	{optColumnFamily, "ColumnFamily"},
	{optTTL, "TTL"},
	{optKeyOnly, "KeyOnly"},
	{optReplicaRead, "ReplicaRead"},
	{optPriority, "Priority"},
	{optRequestSource, "RequestSource"},
	{optAtLeastOnce, "AtLeastOnce"},
}

type callConfig struct {
	set         callOpt
	cf          string
	ttl         time.Duration
	replicaRead kv.ReplicaReadType
	priority    kvrpcpb.CommandPri
	source      string
}

// ColumnFamily makes the call use column family cf instead of the client's
// (WithColumnFamily); see there for the names TiKV accepts. All methods but
// Checksum take it.
func ColumnFamily(cf string) CallOption {
	return func(c *callConfig) { c.set |= optColumnFamily; c.cf = cf }
}

// TTL gives the written pairs a time to live (Put, BatchPut,
// CompareAndSwap): TiKV stops returning a pair once it has expired. TiKV
// counts whole seconds, so d is rounded up to the next second; zero means
// no expiry, and a negative d is invalid. TTLs need a TTL-enabled store
// (storage.api-version V1TTL or V2); others refuse a non-zero TTL with a
// *kv.ServerError.
func TTL(d time.Duration) CallOption {
	return func(c *callConfig) { c.set |= optTTL; c.ttl = d }
}

// KeyOnly makes Scan and ReverseScan return keys only: TiKV does not send
// the values, and each pair's Value is nil.
func KeyOnly() CallOption {
	return func(c *callConfig) { c.set |= optKeyOnly }
}

// ReplicaRead chooses the replicas that serve a read (Get, BatchGet, Scan,
// ReverseScan, GetKeyTTL, Checksum); the default is the leader. Follower
// and learner reads stay linearizable: TiKV serves them after a read index
// from the leader.
//
// This is a tikvgo extension: client-go's rawkv always reads from the
// leader. It is the same as attaching pipeline.ReadOptions with
// ReplicaRead t to the call's context (pipeline.WithReadOptions), and keeps
// the other read options already attached there.
func ReplicaRead(t kv.ReplicaReadType) CallOption {
	return func(c *callConfig) { c.set |= optReplicaRead; c.replicaRead = t }
}

// Priority sets the priority TiKV schedules the call's requests with
// (kvrpcpb.Context.priority). All methods take it. A tikvgo extension for
// raw calls.
func Priority(p kvrpcpb.CommandPri) CallOption {
	return func(c *callConfig) { c.set |= optPriority; c.priority = p }
}

// RequestSource labels the call's requests for TiKV's metrics and resource
// control (kvrpcpb.Context.request_source). All methods take it. A tikvgo
// extension for raw calls.
func RequestSource(source string) CallOption {
	return func(c *callConfig) { c.set |= optRequestSource; c.source = source }
}

// AtLeastOnce makes this write resend after an attempt whose outcome is
// unknown, whatever the client's WithAtLeastOnceWrites says; see there for
// what that allows. Put, BatchPut, BatchPutWithTTL, Delete, BatchDelete and
// DeleteRange take it.
func AtLeastOnce() CallOption {
	return func(c *callConfig) { c.set |= optAtLeastOnce }
}

// call is one call's resolved options.
type call struct {
	cf      string
	ttl     uint64 // seconds, 0: none
	keyOnly bool
	// plans is the plan set the call runs: the resending one for an
	// at-least-once write.
	plans *plans.Raw
	// rctx is the request's kvrpcpb.Context, nil when no option sets one
	// of its fields (the common case, which then allocates nothing).
	rctx *kvrpcpb.Context
}

// resolve applies opts for method, which accepts the options in allowed,
// and returns the call's settings and the context to send it with.
func (c *Client) resolve(ctx context.Context, method string, allowed callOpt, opts []CallOption) (context.Context, call, error) {
	cl := call{cf: c.cfg.cf, plans: c.plans}
	if c.cfg.atLeastOnce {
		cl.plans = c.resend
	}
	if len(opts) == 0 {
		return ctx, cl, nil
	}
	var cfg callConfig
	for _, o := range opts {
		o(&cfg)
	}
	if bad := cfg.set &^ allowed; bad != 0 {
		for _, n := range optNames {
			if bad&n.opt != 0 {
				return ctx, cl, kv.InvalidArgument("%s does not take the %s option", method, n.name)
			}
		}
	}
	if cfg.set&optColumnFamily != 0 {
		cl.cf = cfg.cf
	}
	if cfg.set&optTTL != 0 {
		ttl, err := ttlSeconds(cfg.ttl)
		if err != nil {
			return ctx, cl, err
		}
		cl.ttl = ttl
	}
	cl.keyOnly = cfg.set&optKeyOnly != 0
	if cfg.set&optAtLeastOnce != 0 {
		cl.plans = c.resend
	}
	if cfg.set&(optPriority|optRequestSource) != 0 {
		cl.rctx = &kvrpcpb.Context{Priority: cfg.priority, RequestSource: cfg.source}
	}
	if cfg.set&optReplicaRead != 0 {
		ro := pipeline.ReadOptionsFrom(ctx)
		ro.ReplicaRead = cfg.replicaRead
		ctx = pipeline.WithReadOptions(ctx, ro)
	}
	return ctx, cl, nil
}

// ttlSeconds converts a TTL to TiKV's whole seconds, rounding up so that a
// short TTL never becomes "no expiry".
func ttlSeconds(d time.Duration) (uint64, error) {
	if d < 0 {
		return 0, kv.InvalidArgument("negative TTL %v", d)
	}
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	return uint64(s), nil
}

// durationOfSeconds converts TiKV's TTL seconds back, saturating.
func durationOfSeconds(s uint64) time.Duration {
	if s > uint64(math.MaxInt64/int64(time.Second)) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s) * time.Second
}
