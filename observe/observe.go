// Package observe is the seam between plans and the layers that watch them:
// tracing, metrics and logs see every logical call a plan makes, its
// pieces, its retries and the routing work behind them, without the plan
// knowing who watches.
//
// A logical call is one API call (a raw Get, a BatchPut, a user's own
// plan); its identity, a Call, reaches every physical attempt
// (transport.Request.Call, with the piece number and the attempt number
// counted across re-routes) so middleware can group attempts by call. When
// an Observer is installed in the plan's environment (pipeline.Env.Observer,
// tikv.WithObserver), the plan also reports the call's start and end and
// the events in between:
//
//	Start ─┬─ CacheMiss ─ PDCall ─ CacheLoad       locate the key's region
//	       ├─ Split                                 the request, by region
//	       │    attempts (through the middleware, under the call's context)
//	       ├─ Backoff                               a retry sleeps
//	       ├─ Resplit                               a piece's routing was stale
//	       │    ... more attempts ...
//	End ───┘
//
// With no Observer installed, plans do not look for one: the cost is one
// atomic increment per call for its id (measured by the raw package's
// BenchmarkRawGetObserver).
package observe

import (
	"context"
	"fmt"
	"time"
)

// Call identifies one logical call.
type Call struct {
	// API names the call, such as "RawGet" or "RawBatchPut"; a user's plan
	// names itself with pipeline.Named. Empty for an unnamed plan.
	API string
	// ID is unique among the calls of the process (ids are taken from one
	// counter, in start order); 0 means no call (a Step used on its own).
	ID uint64
}

// String returns "API#ID".
func (c Call) String() string { return fmt.Sprintf("%s#%d", c.API, c.ID) }

// Observer watches logical calls. Its methods are called from the call's
// goroutines, possibly concurrently for one call (its pieces run in
// parallel), so implementations must be safe for concurrent use and quick:
// they run on the request path.
type Observer interface {
	// Start is called when a call begins. The context it returns is the
	// call's: the plan, its attempts and its events run under it, so a
	// tracing observer returns one carrying the call's span and every
	// attempt's span becomes its child. Returning ctx is fine.
	Start(ctx context.Context, c Call) context.Context
	// Event reports something that happened within the call; ctx is the
	// call's context (or one derived from it).
	Event(ctx context.Context, e Event)
	// End is called once, when the call returns, with the context Start
	// returned and the call's error (nil on success).
	End(ctx context.Context, c Call, err error)
}

// Kind says what an Event reports.
type Kind uint8

const (
	// Split: the request was split by region into Pieces pieces, numbered
	// from Piece on.
	Split Kind = iota + 1
	// Resplit: piece Piece's routing was stale (Err says why); it was split
	// again into Pieces pieces, numbered from FirstPiece on.
	Resplit
	// Backoff: piece Piece sleeps for Sleep under the backoff policy named
	// Backoff before retrying; Err is the cause.
	Backoff
	// CacheMiss: the region cache had no answer for Key (or, with Key nil,
	// for StoreID) and asks PD.
	CacheMiss
	// CacheLoad: a lookup that missed the cache (a region's, or with
	// StoreID set a store's) finished after Duration; RegionID is the region
	// found, Err the failure.
	CacheLoad
	// PDCall: one RPC to PD, named by Method, took Duration; Err is its
	// failure.
	PDCall
	// Progress: a long call (a range task, a GC round's lock sweep) has
	// finished more of its work: Done and Failed count its units (regions)
	// so far.
	Progress
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Split:
		return "split"
	case Resplit:
		return "resplit"
	case Backoff:
		return "backoff"
	case CacheMiss:
		return "cache-miss"
	case CacheLoad:
		return "cache-load"
	case PDCall:
		return "pd-call"
	case Progress:
		return "progress"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Event is one thing that happened within a call. Only the fields its Kind
// names are set.
type Event struct {
	Kind Kind
	Call Call
	// Piece numbers the piece the event belongs to: the pieces of a plan's
	// run are numbered from 1 in the order they are made (a re-split's
	// children take the next numbers; a call spanning several plans,
	// pipeline.BeginCall, numbers each plan's pieces from 1). 0 means the
	// event belongs to no one piece (routing work for the whole call).
	Piece int
	// Pieces and FirstPiece describe a Split or Resplit.
	Pieces, FirstPiece int
	// RegionID is the region the event concerns, when there is one.
	RegionID uint64
	// StoreID is the store a CacheMiss or CacheLoad concerns, for store
	// lookups.
	StoreID uint64
	// Key is the key a CacheMiss or CacheLoad looked up.
	Key []byte
	// Backoff names the backoff policy ("regionMiss", "tikvRPC", ...).
	Backoff string
	// Sleep is how long a Backoff slept.
	Sleep time.Duration
	// Method is the PD RPC of a PDCall ("GetRegion", "GetStore", ...).
	Method string
	// Duration is how long a CacheLoad or PDCall took.
	Duration time.Duration
	// Done and Failed are a Progress event's counts of finished and
	// failed units.
	Done, Failed int
	// Err is the event's cause or failure.
	Err error
}

// scope is what a call's context carries when an Observer watches it. It
// is itself that context (the Observer's, with itself as the value of
// scopeKey), so that observing a call costs one allocation here rather than
// two (the scope and a context.WithValue); deadline, cancellation and every
// other value are the parent's.
type scope struct {
	context.Context
	o    Observer
	call Call
}

type scopeKey struct{}

// Value returns s for scopeKey and the parent's value otherwise.
func (s *scope) Value(key any) any {
	if key == (scopeKey{}) {
		return s
	}
	return s.Context.Value(key)
}

// Begin starts observing call c with o: it calls o.Start and returns the
// context the call runs under, which carries o and c for Emit. A nil o
// returns ctx unchanged.
func Begin(ctx context.Context, o Observer, c Call) context.Context {
	if o == nil {
		return ctx
	}
	return &scope{Context: o.Start(ctx, c), o: o, call: c}
}

// Finish ends the call begun with Begin on ctx: it calls the Observer's End.
// Without an observed call in ctx it does nothing.
func Finish(ctx context.Context, err error) {
	if s, ok := ctx.Value(scopeKey{}).(*scope); ok {
		s.o.End(ctx, s.call, err)
	}
}

// Emit reports e to the Observer watching ctx's call, filling in e.Call.
// Without one it does nothing (one context lookup).
func Emit(ctx context.Context, e Event) {
	if s, ok := ctx.Value(scopeKey{}).(*scope); ok {
		e.Call = s.call
		s.o.Event(ctx, e)
	}
}

// Observed reports whether an Observer watches ctx's call, and which call
// that is. Code that would spend effort preparing an event (reading a
// clock) checks it first.
func Observed(ctx context.Context) (Call, bool) {
	if s, ok := ctx.Value(scopeKey{}).(*scope); ok {
		return s.call, true
	}
	return Call{}, false
}
