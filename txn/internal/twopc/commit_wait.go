package twopc

import (
	"errors"
	"fmt"
	"time"

	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline/backoff"
)

// commitTSLag spaces the TSO fetches of a commit waiting for the TSO to
// pass Request.CommitWaitUntilTSO (client-go's BoCommitTSLag: 2 ms
// doubling to 500 ms, no jitter: PD's physical clock advances in steps, so
// a fixed 1 ms poll would mostly see the same ts).
var commitTSLag = backoff.Policy{Name: "commitTSLag", Base: 2 * time.Millisecond, Cap: 500 * time.Millisecond, Jitter: backoff.NoJitter}

// CommitTSLagError says the TSO did not pass the commit wait's target
// (Request.CommitWaitUntilTSO) in time: it lagged more than the wait's
// timeout at the first fetch, or was still behind when the timeout ran
// out. Nothing was committed.
type CommitTSLagError struct {
	StartTS uint64
	// WaitUntil is the target; LastTS the last ts the TSO gave.
	WaitUntil, LastTS uint64
	// Timeout is the wait's bound (negative: no wait at all).
	Timeout time.Duration
	// Cause is the backoff's failure (its budget or the caller's
	// context), nil when the first fetch lagged beyond the timeout.
	Cause error
}

// Error names what happened, on one line.
func (e *CommitTSLagError) Error() string {
	msg := fmt.Sprintf("twopc: TSO %d of txn %d lags the commit wait target %d (timeout %v)", e.LastTS, e.StartTS, e.WaitUntil, e.Timeout)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns Cause.
func (e *CommitTSLagError) Unwrap() error { return e.Cause }

// CommitTSUpperBoundError says the commit ts failed the transaction's
// Request.CommitTSUpperBound check (client-go's commitTSUpperBoundCheck,
// which TiDB's cached tables use to keep commits inside a read lease). The
// transaction is rolled back.
type CommitTSUpperBoundError struct {
	StartTS, CommitTS uint64
}

// Error names what happened, on one line.
func (e *CommitTSUpperBoundError) Error() string {
	return fmt.Sprintf("twopc: commit ts %d of txn %d fails its upper bound check", e.CommitTS, e.StartTS)
}

// commitTSFromTSO takes a ts from the oracle for the commit ts (2PC) or
// the min commit ts (async commit, 1PC). With a commit wait
// (Request.CommitWaitUntilTSO) it waits, fetching again with backoff,
// until the TSO passes the target, so that the transaction commits above
// it (client-go's GetTimestampForCommit, for transactions replicated from
// another cluster whose commit ts must exceed the original's). A lag
// larger than the wait's timeout fails at once.
func (c *Committer) commitTSFromTSO(t *txn, d *CommitDetails) (uint64, error) {
	ts, err := c.now(t)
	p := &t.proto
	if err != nil || ts > p.waitUntil {
		return ts, err
	}
	lagErr := &CommitTSLagError{StartTS: t.startTS, WaitUntil: p.waitUntil, LastTS: ts, Timeout: p.waitTimeout}
	lag := time.Duration(pdclient.ExtractPhysical(p.waitUntil)-pdclient.ExtractPhysical(ts)) * time.Millisecond
	if p.waitTimeout < 0 || lag > p.waitTimeout {
		return 0, lagErr
	}
	start := time.Now()
	defer func() { d.CommitWaitTime += time.Since(start) }()
	bo := backoff.WithBudget(p.waitTimeout)
	for ts <= p.waitUntil {
		if err := bo.Wait(t.ctx, commitTSLag, errors.New("TSO behind the commit wait target")); err != nil {
			lagErr.Cause = err
			return 0, lagErr
		}
		d.CommitWaitRetries++
		if ts, err = c.now(t); err != nil {
			return 0, err
		}
		lagErr.LastTS = ts
	}
	return ts, nil
}

// checkUpperBound applies the transaction's commit-ts upper bound to a
// two-phase commit's commit ts, before the primary is committed.
func (t *txn) checkUpperBound(commitTS uint64) error {
	if f := t.proto.upperBound; f != nil && !f(commitTS) {
		return &CommitTSUpperBoundError{StartTS: t.startTS, CommitTS: commitTS}
	}
	return nil
}
