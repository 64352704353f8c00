package txn

import (
	"context"

	"github.com/tikvgo/tikv/kv"
)

// WithStaleRead makes the snapshot's reads stale reads (client-go's
// SetIsStalenessReadOnly): each read is served by any replica whose safe
// ts has reached the snapshot's ts, without asking the leader, so a nearby
// follower answers at local cost. The ts must be one every replica will
// reach: a past timestamp (Client.StaleTimestamp) or one at or below
// Client.MinSafeTS. A replica not there yet answers DataIsNotReady and the
// read is sent to the leader (TiKV's read.rs); a read that met a lock goes
// on at the leader too (see guarded). A stale read at MaxTS fails with
// pdclient.ErrLatestStaleRead.
//
// Get, BatchGet and scans are all stale reads (client-go's scanner ignores
// the flag and reads at the leader). Each read's ts is validated by the
// client's oracle, which also learns how stale the reads are: reads less
// stale than its update interval make it refresh more often
// (pdclient.Oracle.SetUpdateInterval).
//
// Stale reads only read: a transaction begun with WithStaleReadTS should
// write nothing, as in TiDB, since its writes would conflict with whatever
// committed after its old start ts.
func WithStaleRead() SnapshotOption {
	return func(c *snapshotConfig) { c.stale = true }
}

// WithStaleReadTS begins a read-only transaction whose reads are stale
// reads at ts (WithStartTS and WithStaleRead; client-go's
// txnkv.Client.Begin(tikv.WithStartTS(ts)) with SetIsStalenessReadOnly).
func WithStaleReadTS(ts uint64) BeginOption {
	return func(c *beginConfig) {
		c.startTS = ts
		c.snapOpts = append(c.snapOpts, WithStaleRead())
	}
}

// ReadTSValidator checks a snapshot's read ts before each read is sent
// (client-go's oracle.ReadTSValidator): *pdclient.Oracle refuses a ts PD
// has not handed out yet (pdclient.FutureTSReadError) and, for stale
// reads, MaxTS. It must be safe for concurrent use.
type ReadTSValidator interface {
	ValidateReadTS(ctx context.Context, readTS uint64, staleRead bool) error
}

// WithReadTSValidator checks the read ts of every Get, BatchGet and scan
// with v before it is sent (client-go's region request sender does so
// when oracles.EnableTSValidation is on, its default). A Client's
// snapshots and transactions are checked by its oracle; nil turns the
// check off.
func WithReadTSValidator(v ReadTSValidator) SnapshotOption {
	return func(c *snapshotConfig) { c.validator = v }
}

// StaleTimestamp returns the timestamp of prevSecond seconds ago, by the
// oracle's low-resolution clock (client-go's oracle GetStaleTimestamp), for
// a stale-read snapshot or transaction. It needs no PD call once the
// oracle holds a timestamp. A prevSecond reaching back before the Unix
// epoch fails with kv.ErrInvalidArgument.
func (c *Client) StaleTimestamp(ctx context.Context, prevSecond uint64) (uint64, error) {
	if c.closed.Load() {
		return 0, kv.ErrClosed
	}
	return c.oracle.StaleTimestamp(ctx, prevSecond)
}
