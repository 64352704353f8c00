package pipeline

import (
	"context"
	"iter"
	"time"

	"github.com/pingcap/kvproto/pkg/errorpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/observe"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/transport"
)

// Plan executes one logical request, which may take many RPCs. Plans are
// immutable values, safe for concurrent use.
type Plan[Req, Resp any] func(ctx context.Context, req Req) (Resp, error)

// StreamPlan executes one logical request whose answer comes in parts, as
// it is consumed: nothing is sent until the sequence is ranged over, and
// breaking out of the range stops further RPCs. Stream builds one; Flatten
// turns its Parts into items.
type StreamPlan[Req, Resp any] func(ctx context.Context, req Req) iter.Seq2[Part[Req, Resp], error]

// NameOption names the logical calls of a plan (observe.Call.API), so that
// middleware and observers can tell them apart: Shard(..., Named("RawGet")).
// It is a ShardOption, a StreamOption and an AllStoresOption.
type NameOption string

// Named returns the option naming a plan's calls api.
func Named(api string) NameOption { return NameOption(api) }

func (n NameOption) applyShard(c *shardConfig)   { c.api = string(n) }
func (n NameOption) applyStream(c *streamConfig) { c.api = string(n) }

func (n NameOption) applyAllStores(c *allStoresConfig) { c.api = string(n) }

// Step executes a request already narrowed to one region: the per-region
// part of a plan. A Step reports stale routing by returning a non-fatal
// *kv.RegionError, which asks the enclosing Shard or Stream to re-split.
type Step[Req, Resp any] func(ctx context.Context, r *pdclient.Region, req Req) (Resp, error)

// Response is any kvrpcpb response: every one carries a region error field.
type Response interface {
	transport.Message
	GetRegionError() *errorpb.Error
}

// Method binds a TiKV command to its Go types and retry properties, the way
// grpc.MethodDesc describes a gRPC method. Region commands (whose response
// is a Response, with a region error) are sent with Retry; store-level
// commands (UnsafeDestroyRange, GetStoreSafeTS, whose responses may have no
// region error) with AllStores.
type Method[Req, Resp transport.Message] struct {
	// Cmd is the command; Req and Resp must be its message types.
	Cmd transport.Cmd
	// Err maps a response's in-body failure (a key error, a raw command's
	// error string) to a typed error; nil means the body never fails.
	Err func(Resp) error
	// Idempotent says the command may be sent again after an attempt whose
	// outcome is unknown. A non-idempotent command's unknown outcome is
	// reported as kv.ErrUndetermined instead.
	Idempotent bool
	// Read marks commands that only read: they get the read timeout and,
	// later, replica-read eligibility.
	Read bool
}

// Env is the shared machinery plans run on. One Env serves every plan of a
// client; it must not be modified after the first plan is built from it.
type Env struct {
	// Mode is the key space Locator routes (kv.ModeRaw or kv.ModeTxn):
	// Retry refuses a command of the other key space with a
	// *kv.KeyModeError, since its keys would be routed by the wrong
	// regions. Cluster.EnvFor sets it. Zero means the Env is tied to no key
	// space (a test layout, or store-level commands only) and nothing is
	// checked.
	Mode kv.KeyMode
	// Locator routes keys to regions and takes routing feedback.
	Locator pdclient.Locator
	// Sender sends one attempt; it is the middleware chain around the
	// transport.
	Sender transport.Sender
	// Concurrency bounds how many regions one Shard call sends to at once.
	// Zero means DefaultConcurrency.
	Concurrency int
	// MaxResplits bounds how often one piece of a request (one page of a
	// scan) is re-split after stale routing. Zero means DefaultMaxResplits.
	MaxResplits int
	// ReadTimeout and WriteTimeout bound each attempt from the moment the
	// transport takes it (queueing for a BatchCommands stream included). Zero
	// means DefaultReadTimeout / DefaultWriteTimeout.
	ReadTimeout, WriteTimeout time.Duration
	// Observer, when set, watches every logical call of the plans built on
	// the Env: their start and end, splits, re-splits, backoffs and the
	// routing work behind them (see package observe). Nil costs nothing.
	Observer observe.Observer
	// BackoffBudget bounds the total time one request may sleep between
	// retries, re-routes included (one piece of it, once split by region;
	// one page of a scan), so requests give up even when the caller's
	// context has no deadline. Zero means DefaultBackoffBudget; negative
	// means no budget.
	BackoffBudget time.Duration
	// StoreGuard, when set, says whether a guard in Sender (such as the
	// circuit breaker, middleware.CircuitBreaker.Refusal) refuses attempts
	// at a store right now, with the error those attempts would get. When a
	// piece has no replica left and the leader it needs is refused, it
	// fails at once with that error (a transport.ErrNotSent) instead of
	// waiting for new routing: the caller opted into failing fast. Nil
	// means no guard.
	StoreGuard func(storeID uint64) error
	// Forwarding, when set, lets attempts that must reach a leader the
	// client cannot reach go through a follower that forwards them (see
	// Forwarding). Nil, the default, means no forwarding.
	Forwarding *Forwarding
}

// Defaults applied where an Env leaves a field zero.
const (
	// DefaultConcurrency is the fan-out width of one Shard call.
	DefaultConcurrency = 16
	// DefaultMaxResplits bounds re-splitting of one piece of a request.
	DefaultMaxResplits = 32
	// DefaultReadTimeout bounds one read attempt (client-go's
	// ReadTimeoutShort).
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds one write attempt.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultBackoffBudget is client-go's raw-request budget: 20s of
	// backoff sleep, doubled by its default BackOffWeight.
	DefaultBackoffBudget = 40 * time.Second
	// maxWriteExecution is sent to TiKV as max_execution_duration_ms for
	// writes, so TiKV abandons work the client stopped waiting for
	// (client-go's MaxWriteExecutionTime).
	maxWriteExecution = 20 * time.Second
)

func (e *Env) concurrency() int {
	if e.Concurrency > 0 {
		return e.Concurrency
	}
	return DefaultConcurrency
}

func (e *Env) maxResplits() int {
	if e.MaxResplits > 0 {
		return e.MaxResplits
	}
	return DefaultMaxResplits
}

// backoffBudget is a request's backoff budget: the Env's, scaled by the
// weight of the kv.Variables ctx carries (WithVariables); 0 means none.
func (e *Env) backoffBudget(ctx context.Context) time.Duration {
	switch {
	case e.BackoffBudget < 0:
		return 0
	case e.BackoffBudget == 0:
		return VariablesFrom(ctx).ScaleBudget(DefaultBackoffBudget)
	}
	return VariablesFrom(ctx).ScaleBudget(e.BackoffBudget)
}

func (e *Env) timeout(read bool) time.Duration {
	if read {
		if e.ReadTimeout > 0 {
			return e.ReadTimeout
		}
		return DefaultReadTimeout
	}
	if e.WriteTimeout > 0 {
		return e.WriteTimeout
	}
	return DefaultWriteTimeout
}

// checkMode refuses a command whose keys live in the other key space than
// the one e routes.
func (e *Env) checkMode(c transport.Cmd) error {
	if !e.Mode.Valid() {
		return nil
	}
	if m, ok := c.KeyMode(); ok && m != e.Mode {
		return &kv.KeyModeError{Cmd: c.String(), CmdMode: m, EnvMode: e.Mode}
	}
	return nil
}
