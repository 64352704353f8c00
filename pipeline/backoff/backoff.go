// Package backoff holds tikvgo's retry delays: named policies with
// client-go's base, cap and jitter, and a Backoffer that tracks the attempts
// of one retry site.
//
// A Backoffer belongs to one logical request (one piece of it, once the
// request is split by region: the pipeline carries it through every retry
// and re-route of that piece, and a scan gives each page its own) and is
// not shared between goroutines; a fan-out gives each branch a Clone. The
// overall bound of any loop is the caller's context: every wait selects on
// ctx.Done().
package backoff

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tikvgo/tikv/kv"
)

// Jitter selects how a policy randomises its delays.
type Jitter int

const (
	// NoJitter sleeps exactly min(cap, base·2^n).
	NoJitter Jitter = iota
	// FullJitter sleeps a uniform random time in [0, min(cap, base·2^n)).
	FullJitter
	// EqualJitter sleeps half the exponential delay plus a random part of
	// the other half, so the delay never collapses to zero.
	EqualJitter
	// DecorrJitter sleeps min(cap, base + rand(3·last − base)), which
	// spreads concurrent retriers apart.
	DecorrJitter
)

// Policy is one kind of retry delay: the n-th wait (n from 0) lasts about
// min(Cap, Base·2^n), randomised by Jitter.
type Policy struct {
	// Name labels the policy in errors, metrics and span events.
	Name string
	// Base is the first delay; Cap bounds every delay.
	Base, Cap time.Duration
	// Jitter randomises delays.
	Jitter Jitter
	// MaxAttempts bounds the number of waits under this policy in one
	// Backoffer; 0 means no bound other than the context.
	MaxAttempts int
	// OwnBudget, when positive, takes this policy's sleeps out of the
	// Backoffer's shared budget and bounds them by OwnBudget instead. A
	// busy server is waited for patiently without starving the budget of
	// other retries (client-go excludes tikvServerBusy up to 10 minutes).
	OwnBudget time.Duration
}

// The policies tikvgo retries with. Base, cap and jitter are client-go's
// (config/retry/config.go); the names are its metric labels.
var (
	// TiKVRPC follows a failed send to a TiKV store.
	TiKVRPC = Policy{Name: "tikvRPC", Base: 100 * time.Millisecond, Cap: 2 * time.Second, Jitter: EqualJitter}
	// TxnLock follows a write that met a lock.
	TxnLock = Policy{Name: "txnLock", Base: 100 * time.Millisecond, Cap: 3 * time.Second, Jitter: EqualJitter}
	// TxnLockFast follows a read that met a lock.
	TxnLockFast = Policy{Name: "txnLockFast", Base: 10 * time.Millisecond, Cap: 3 * time.Second, Jitter: EqualJitter}
	// PDRPC follows a failed PD call.
	PDRPC = Policy{Name: "pdRPC", Base: 500 * time.Millisecond, Cap: 3 * time.Second, Jitter: EqualJitter}
	// RegionMiss follows stale routing: the request is re-split against
	// fresh region metadata.
	RegionMiss = Policy{Name: "regionMiss", Base: 2 * time.Millisecond, Cap: 500 * time.Millisecond, Jitter: NoJitter}
	// RegionScheduling follows a region that is between leaders or busy
	// with a conf change (NotLeader without a leader, ReadIndexNotReady,
	// ProposalInMergingMode).
	RegionScheduling = Policy{Name: "regionScheduling", Base: 2 * time.Millisecond, Cap: 500 * time.Millisecond, Jitter: NoJitter}
	// ServerBusy follows TiKV's ServerIsBusy.
	ServerBusy = Policy{Name: "tikvServerBusy", Base: 2 * time.Second, Cap: 10 * time.Second, Jitter: EqualJitter, OwnBudget: 10 * time.Minute}
	// DiskFull follows TiKV's DiskFull.
	DiskFull = Policy{Name: "tikvDiskFull", Base: 500 * time.Millisecond, Cap: 5 * time.Second, Jitter: NoJitter}
	// RegionRecoveryInProgress follows TiKV's RecoveryInProgress.
	RegionRecoveryInProgress = Policy{Name: "regionRecoveryInProgress", Base: 100 * time.Millisecond, Cap: 10 * time.Second, Jitter: EqualJitter}
	// IsWitness follows TiKV's IsWitness.
	IsWitness = Policy{Name: "isWitness", Base: time.Second, Cap: 10 * time.Second, Jitter: EqualJitter}
	// StaleCmd follows TiKV's StaleCommand.
	StaleCmd = Policy{Name: "staleCommand", Base: 2 * time.Millisecond, Cap: time.Second, Jitter: NoJitter}
	// MaxTSNotSynced follows TiKV's MaxTimestampNotSynced.
	MaxTSNotSynced = Policy{Name: "maxTsNotSynced", Base: 2 * time.Millisecond, Cap: 500 * time.Millisecond, Jitter: NoJitter}
	// RegionNotInitialized follows TiKV's RegionNotInitialized.
	RegionNotInitialized = Policy{Name: "regionNotInitialized", Base: 2 * time.Millisecond, Cap: time.Second, Jitter: NoJitter}
	// TxnNotFound follows a transaction status lookup that found nothing yet.
	TxnNotFound = Policy{Name: "txnNotFound", Base: 2 * time.Millisecond, Cap: 500 * time.Millisecond, Jitter: NoJitter}
)

// minBase is the smallest base client-go allows: a 1ms base would never
// grow under integer doubling with jitter.
const minBase = 2 * time.Millisecond

// Delay returns the n-th (from 0) delay of p. last is the previous delay,
// used only by DecorrJitter. rnd returns a value in [0, 1).
func (p Policy) Delay(n int, last time.Duration, rnd func() float64) time.Duration {
	base := max(p.Base, minBase)
	capped := p.Cap
	if capped < base {
		capped = base
	}
	expo := base
	for i := 0; i < n && expo < capped; i++ {
		expo *= 2
	}
	expo = min(expo, capped)
	switch p.Jitter {
	case FullJitter:
		return time.Duration(rnd() * float64(expo))
	case EqualJitter:
		return expo/2 + time.Duration(rnd()*float64(expo/2))
	case DecorrJitter:
		spread := 3*last - base
		if spread <= 0 {
			return base
		}
		return min(capped, base+time.Duration(rnd()*float64(spread)))
	default:
		return expo
	}
}

// Backoffer tracks the waits of one retry site. The zero value is not
// usable; call New. A Backoffer is not safe for concurrent use: give each
// goroutine its own (Clone).
type Backoffer struct {
	budget   time.Duration
	excluded time.Duration // slept under policies with their own budget
	// history holds one entry per policy that has waited, in the order
	// they first did. A slice, not maps: a request waits under a handful
	// of policies at most, and most requests never wait, so a Backoffer
	// that never waits allocates nothing beyond itself.
	history []policyHistory
	slept   time.Duration
	rnd     func() float64
}

// policyHistory is what a Backoffer remembers of one policy's waits.
type policyHistory struct {
	name     string
	attempts int           // waits granted
	last     time.Duration // the latest delay granted (decorrelated jitter grows from it)
	slept    time.Duration // time slept under the policy
}

// of returns the history of the named policy; the zero history when the
// policy has not waited (not stored).
func (b *Backoffer) of(name string) policyHistory {
	for _, h := range b.history {
		if h.name == name {
			return h
		}
	}
	return policyHistory{name: name}
}

// entry returns the named policy's stored history, adding it if needed.
func (b *Backoffer) entry(name string) *policyHistory {
	for i := range b.history {
		if b.history[i].name == name {
			return &b.history[i]
		}
	}
	b.history = append(b.history, policyHistory{name: name})
	return &b.history[len(b.history)-1]
}

// New returns a Backoffer with no waits recorded and no budget: only the
// context and each policy's MaxAttempts bound it.
func New() *Backoffer { return WithBudget(0) }

// WithBudget returns a Backoffer that refuses a wait which would take its
// total sleep past budget (client-go's maxSleep), so a retry loop gives up
// even when the caller's context has no deadline. A budget <= 0 is none.
func WithBudget(budget time.Duration) *Backoffer {
	return &Backoffer{budget: budget, rnd: rand.Float64}
}

// Clone returns an independent copy carrying the same history, for a branch
// of a fan-out.
func (b *Backoffer) Clone() *Backoffer {
	c := *b
	c.history = slices.Clone(b.history)
	return &c
}

// Wait sleeps for p's next delay. cause is the error that made the caller
// retry. It returns nil when the caller may retry, or a
// *kv.BackoffExhaustedError when ctx ended (before or during the sleep), p's
// MaxAttempts ran out or the sleep would exceed the budget; that error wraps
// both ctx.Err() (if any) and cause.
func (b *Backoffer) Wait(ctx context.Context, p Policy, cause error) error {
	return b.wait(ctx, p, cause, -1)
}

// WaitAtMost is Wait with the sleep cut to at most limit (client-go's
// BackoffWithCfgAndMaxSleep): a reader that met a lock expiring in limit
// need not sleep past its expiry. The policy's growth goes on as if the
// whole delay had been slept; the budget is charged what was slept. A
// negative limit is no limit.
func (b *Backoffer) WaitAtMost(ctx context.Context, p Policy, cause error, limit time.Duration) error {
	return b.wait(ctx, p, cause, limit)
}

func (b *Backoffer) wait(ctx context.Context, p Policy, cause error, limit time.Duration) error {
	if err := ctx.Err(); err != nil {
		return b.exhausted(p, cause, context.Cause(ctx))
	}
	h := b.of(p.Name)
	n := h.attempts
	if p.MaxAttempts > 0 && n >= p.MaxAttempts {
		return b.exhausted(p, cause, nil)
	}
	delay := p.Delay(n, h.last, b.rnd)
	d := delay
	if limit >= 0 && d > limit {
		d = limit
	}
	if p.OwnBudget > 0 {
		if h.slept+d > p.OwnBudget {
			return b.exhausted(p, cause, budgetSpent{p.Name, p.OwnBudget})
		}
	} else if b.budget > 0 && b.slept-b.excluded+d > b.budget {
		return b.exhausted(p, cause, budgetSpent{p.Name, b.budget})
	}
	e := b.entry(p.Name)
	e.attempts, e.last = n+1, delay
	clipped := false
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		// Sleeping past the deadline would only delay the inevitable
		// failure; sleep until it and report it.
		d, clipped = max(time.Until(deadline), 0), true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	start := time.Now()
	select {
	case <-t.C:
		b.record(p, d)
		if clipped || ctx.Err() != nil {
			// The deadline fell at the end of the sleep (the context may
			// not have noticed yet).
			return b.Exhausted(ctx, p, cause)
		}
		return nil
	case <-ctx.Done():
		b.record(p, time.Since(start))
		return b.exhausted(p, cause, context.Cause(ctx))
	}
}

func (b *Backoffer) record(p Policy, d time.Duration) {
	b.slept += d
	b.entry(p.Name).slept += d
	if p.OwnBudget > 0 {
		b.excluded += d
	}
}

// Exhausted returns the error of a retry loop that stops now, after the
// waits recorded so far, because of cause: a *kv.BackoffExhaustedError whose
// Stop is ctx's error (context.DeadlineExceeded if the deadline has passed
// but ctx has not reported it yet). Loops use it when ctx ends outside a
// Wait, so the caller still learns what kept failing.
func (b *Backoffer) Exhausted(ctx context.Context, p Policy, cause error) error {
	stop := context.Cause(ctx)
	if stop == nil {
		if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
			stop = context.DeadlineExceeded
		}
	}
	return b.exhausted(p, cause, stop)
}

// exhausted builds the give-up error. It names the policy that slept the
// longest, which (as in client-go) says best what kept failing; p is used
// when nothing slept yet.
func (b *Backoffer) exhausted(p Policy, cause, stop error) error {
	name, longest := p.Name, time.Duration(-1)
	for _, h := range b.history {
		if h.slept > longest || (h.slept == longest && h.name < name) {
			name, longest = h.name, h.slept
		}
	}
	return &kv.BackoffExhaustedError{
		Policy:   name,
		Attempts: b.of(name).attempts,
		Slept:    b.slept,
		Cause:    cause,
		Stop:     stop,
	}
}

// budgetSpent is the stop reason of a wait refused because it would have
// taken the sleep past a budget.
type budgetSpent struct {
	policy string
	budget time.Duration
}

func (e budgetSpent) Error() string {
	return fmt.Sprintf("a %s wait would exceed the %v backoff budget", e.policy, e.budget)
}

// Attempts returns how many waits were made under the named policy.
func (b *Backoffer) Attempts(name string) int { return b.of(name).attempts }

// Slept returns the total time slept, over all policies.
func (b *Backoffer) Slept() time.Duration { return b.slept }
