package pdclient

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/tikvgo/tikv/kv"
)

// ErrLatestStaleRead refuses a stale read at MaxUint64, "the newest data":
// a stale read serves data a replica already has, so it cannot promise the
// newest (client-go's oracle.ErrLatestStaleRead). It wraps
// kv.ErrInvalidArgument.
var ErrLatestStaleRead = fmt.Errorf("pdclient: a stale read cannot read at the latest ts: %w", kv.ErrInvalidArgument)

// FutureTSReadError refuses a read at a timestamp PD has not handed out
// yet (client-go's oracle.ErrFutureTSRead): such a read would see a
// snapshot that later commits could still change, breaking snapshot
// isolation. It wraps kv.ErrInvalidArgument.
type FutureTSReadError struct {
	ReadTS    uint64 // the refused read ts
	CurrentTS uint64 // a timestamp PD handed out after the read was asked for
}

// Error names both timestamps.
func (e *FutureTSReadError) Error() string {
	return fmt.Sprintf("pdclient: read ts %d is in the future (current ts %d)", e.ReadTS, e.CurrentTS)
}

// Unwrap makes the error match kv.ErrInvalidArgument.
func (e *FutureTSReadError) Unwrap() error { return kv.ErrInvalidArgument }

// StaleTimestamp returns the timestamp of prevSecond seconds ago, by the
// oracle's idea of now: the newest timestamp seen, advanced by the local
// time elapsed since it arrived (client-go's GetStaleTimestamp). It costs no
// PD call once the oracle holds a timestamp; before that it fetches one
// (client-go fetches it and still fails the call). A prevSecond reaching
// back before the Unix epoch fails with kv.ErrInvalidArgument. Safe for
// concurrent use.
func (o *Oracle) StaleTimestamp(ctx context.Context, prevSecond uint64) (uint64, error) {
	l := o.last.Load()
	if l == nil {
		if _, err := o.Now(ctx); err != nil {
			return 0, err
		}
		l = o.last.Load()
	}
	return staleTimestamp(l, prevSecond, time.Now())
}

// staleTimestamp is StaleTimestamp against the last timestamp l at now.
func staleTimestamp(l *lastTS, prevSecond uint64, now time.Time) (uint64, error) {
	physical := GoTime(l.ts)
	if uint64(physical.Unix()) <= prevSecond {
		return 0, kv.InvalidArgument("pdclient: stale timestamp %d seconds back is before the epoch", prevSecond)
	}
	// Elapsed local time is measured on the monotonic clock (arrival
	// keeps its reading), so a wall-clock step does not move the result.
	at := physical.Add(now.Sub(l.arrival) - time.Duration(prevSecond)*time.Second)
	return GoTimeToTS(at), nil
}

// ValidateReadTS refuses a read ts the reader must not use (client-go's
// pdOracle.ValidateReadTS, checked by its region request sender before a
// snapshot read is sent):
//
//   - a ts in [MaxInt64, MaxUint64) is no TSO timestamp (kv.ErrInvalidArgument);
//   - MaxUint64 ("the newest data") is fine, except for a stale read
//     (ErrLatestStaleRead);
//   - a ts above every timestamp PD has handed out is a *FutureTSReadError.
//
// The last check costs nothing while readTS is at or below the newest
// timestamp the oracle has seen; otherwise it fetches one from PD, shared
// with every concurrent validation (a timestamp fetched after this call
// began is as good as any), and, when a shared fetch that began before this
// call is too old to settle it, fetches once more before refusing. A stale
// read also tells the oracle how stale its reads are, which may shorten
// the low-resolution update interval (see SetUpdateInterval). Safe for
// concurrent use.
func (o *Oracle) ValidateReadTS(ctx context.Context, readTS uint64, staleRead bool) error {
	switch {
	case readTS >= math.MaxInt64 && readTS < math.MaxUint64:
		return kv.InvalidArgument("pdclient: read ts %d is not a timestamp", readTS)
	case readTS == math.MaxUint64:
		if staleRead {
			return ErrLatestStaleRead
		}
		return nil
	}
	for retrying := false; ; retrying = true {
		l := o.last.Load()
		if l != nil && readTS <= l.ts {
			if staleRead && !retrying {
				o.noteStaleness(readTS, GoTimeToTS(GoTime(l.ts).Add(time.Since(l.arrival))))
			}
			return nil
		}
		current, err := o.tsForValidation(ctx)
		if err != nil {
			return fmt.Errorf("pdclient: validate read ts %d: %w", readTS, err)
		}
		if staleRead && !retrying {
			o.noteStaleness(readTS, current)
		}
		if readTS <= current {
			return nil
		}
		// The shared fetch may have begun before this call and so be
		// older than readTS although readTS is legal: a second shared
		// fetch begins after the first ended, so after this call began.
		if retrying {
			return &FutureTSReadError{ReadTS: readTS, CurrentTS: current}
		}
	}
}

// tsForValidation fetches a timestamp for ValidateReadTS, one fetch shared
// by concurrent callers. The fetch runs under its own context, so that a
// caller giving up does not fail the others waiting for it; ctx only bounds
// this caller's wait.
func (o *Oracle) tsForValidation(ctx context.Context) (uint64, error) {
	if o.closed.Load() {
		return 0, kv.ErrClosed
	}
	ch := o.validation.DoChan("", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.Background(), oracleUpdateTimeout)
		defer cancel()
		return o.fetch(fctx)
	})
	select {
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	case r := <-ch:
		if r.Err != nil {
			return 0, r.Err
		}
		return r.Val.(uint64), nil
	}
}
