package twopc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// keyBatches returns the Limit of commit and rollback batches: key bytes
// only (client-go's keySize for every action but prewrite).
func keyBatches(batchSize int) pipeline.Limit[[]byte] {
	return pipeline.Limit[[]byte]{Bytes: batchSize, Size: func(k []byte) int { return len(k) }}
}

// primaryBatchSplit routes a commit request to one piece only: the batch
// holding the primary key, that is the keys of the request in the
// primary's region, cut into batches as the secondaries are, the one with
// the primary. Committing that batch alone first is what makes the
// primary's commit the transaction's commit point (client-go commits the
// primary batch before any other): were the other keys of the request
// sent alongside, a secondary might commit while the primary fails.
// Split again after stale routing, the piece narrows to the primary's new
// region; the keys left out go to the secondaries.
func primaryBatchSplit(batchSize int) pipeline.Splitter[*kvrpcpb.CommitRequest] {
	lim := keyBatches(batchSize)
	return func(ctx context.Context, loc pdclient.Locator, req *kvrpcpb.CommitRequest) iter.Seq2[pipeline.Routed[*kvrpcpb.CommitRequest], error] {
		return func(yield func(pipeline.Routed[*kvrpcpb.CommitRequest], error) bool) {
			r, err := loc.Locate(ctx, req.PrimaryKey)
			if err != nil {
				yield(pipeline.Routed[*kvrpcpb.CommitRequest]{}, err)
				return
			}
			var batch [][]byte
			size, found := 0, false
			for _, k := range req.Keys { // key order
				if !r.Contains(k) {
					continue
				}
				if len(batch) > 0 && size+lim.Size(k) > lim.Bytes {
					if found {
						break
					}
					batch, size = batch[:0:0], 0
				}
				batch = append(batch, k)
				size += lim.Size(k)
				found = found || bytes.Equal(k, req.PrimaryKey)
			}
			if !found {
				batch = [][]byte{req.PrimaryKey}
			}
			piece := *req
			piece.Keys = batch
			yield(pipeline.Routed[*kvrpcpb.CommitRequest]{Region: r, Req: &piece}, nil)
		}
	}
}

// runCommitPrimary takes the commit ts and commits the primary's batch. It
// returns the keys committed with the primary.
func (c *Committer) runCommitPrimary(t *txn, d *CommitDetails) ([][]byte, error) {
	tsStart := time.Now()
	commitTS, err := c.commitTSFromTSO(t, d)
	d.CommitTSTime = time.Since(tsStart)
	if err != nil {
		return nil, fmt.Errorf("get commit ts: %w", err)
	}
	if age := time.Duration(pdclient.ExtractPhysical(commitTS)-pdclient.ExtractPhysical(t.startTS)) * time.Millisecond; age > MaxTxnTimeUse {
		return nil, &TxnTooOldError{StartTS: t.startTS, CommitTS: commitTS, Age: age}
	}
	if err := t.checkUpperBound(commitTS); err != nil {
		return nil, err
	}
	start := time.Now()
	defer func() { d.CommitPrimaryTime = time.Since(start) }()
	ctx := t.commitContext()
	for retries := 0; ; retries++ {
		req := &kvrpcpb.CommitRequest{
			Context: t.writeCtx, StartVersion: t.startTS, Keys: t.commitKeys, CommitVersion: commitTS,
			PrimaryKey: t.primary, CommitRole: kvrpcpb.CommitRole_Primary,
		}
		parts, err := c.commitPrimary(ctx, req)
		if err == nil {
			d.CommitTS = commitTS
			d.PrimaryBatchKeys = len(parts[0].Req.Keys)
			return parts[0].Req.Keys, nil
		}
		var answered *commitKeyError
		if errors.As(err, &answered) {
			// TiKV answered this commit with a key error: had an earlier
			// attempt whose answer was lost applied, the answer would be
			// success (commit.rs finds the commit record), so the commit
			// did not apply, whatever pipeline.Retry's "undetermined" mark
			// says about the lost attempt (client-go clears its
			// undetermined error once a primary commit response arrives).
			err = answered.err
		}
		var expired *kv.CommitTSExpiredError
		if !errors.As(err, &expired) {
			// An unknown outcome stays kv.ErrUndetermined (pipeline.Retry
			// reports it so whenever an attempt may have applied and no
			// answer settled it); anything else means the commit did not
			// apply: the primary's lock was rolled back (TxnLockNotFound),
			// the region could not be reached, the caller gave up before a
			// send.
			return nil, fmt.Errorf("commit primary %q: %w", t.primary, err)
		}
		// TiKV's commit.rs refuses a commit ts below the lock's
		// min_commit_ts, which a reader pushed; nothing was written. Only the
		// primary may be re-timestamped: the secondaries are not committed
		// yet (client-go's actionCommit).
		switch {
		case !bytes.Equal(expired.Key, t.primary):
			return nil, fmt.Errorf("commit ts refused on key %q, not the primary %q: %w", expired.Key, t.primary, expired)
		case expired.MinCommitTS > expired.AttemptedCommitTS && expired.MinCommitTS-expired.AttemptedCommitTS > maxMinCommitTSGap:
			return nil, fmt.Errorf("min commit ts %d too far above the commit ts: %w", expired.MinCommitTS, expired)
		case retries >= maxCommitTSRetries:
			return nil, fmt.Errorf("commit ts refused %d times: %w", retries+1, expired)
		}
		d.CommitTSRetries++
		tsStart := time.Now()
		commitTS, err = c.commitTSFromTSO(t, d)
		d.CommitTSTime += time.Since(tsStart)
		if err != nil {
			return nil, fmt.Errorf("get commit ts after %w: %w", expired, err)
		}
		if err := t.checkUpperBound(commitTS); err != nil {
			return nil, err
		}
	}
}

// queueSecondaries hands the commit of every key not committed with the
// primary to the Group. The transaction is committed already: a failure
// here leaves locks that readers resolve from the primary, so it is the
// Group's to report, not the caller's.
func (c *Committer) queueSecondaries(t *txn, committed [][]byte, d *CommitDetails) {
	rest := without(t.commitKeys, committed)
	d.SecondaryKeys = len(rest)
	if len(rest) == 0 {
		return
	}
	req := &kvrpcpb.CommitRequest{
		Context: t.writeCtx, StartVersion: t.startTS, Keys: rest, CommitVersion: d.CommitTS,
		PrimaryKey: t.primary, CommitRole: kvrpcpb.CommitRole_Secondary,
	}
	err := c.group.goCaused(t.ctx, func(ctx context.Context) error {
		outs, _ := c.commitSecondaries(ctx, req)
		return piecesFailed("commit secondaries", t.startTS, outs)
	})
	d.SecondariesQueued = err == nil
}

// piecesFailed summarises the failed pieces of a ShardEach call as one
// error, nil when every piece succeeded.
func piecesFailed[Req, Resp any](what string, startTS uint64, outs []pipeline.PieceOutcome[Req, Resp]) error {
	failed := 0
	var first error
	for _, o := range outs {
		if o.Err != nil {
			failed++
			if first == nil {
				first = o.Err
			}
		}
	}
	if failed == 0 {
		return nil
	}
	return fmt.Errorf("twopc: %s of txn %d: %d of %d batches failed: %w", what, startTS, failed, len(outs), first)
}

// without returns the keys of all not in sub; both are in key order and
// sub is a subset of all.
func without(all, sub [][]byte) [][]byte {
	out := make([][]byte, 0, len(all)-len(sub))
	j := 0
	for _, k := range all {
		if j < len(sub) && bytes.Equal(k, sub[j]) {
			j++
			continue
		}
		out = append(out, k)
	}
	return out
}

// commitKeyError marks a commit TiKV answered with a key error.
type commitKeyError struct{ err error }

func (e *commitKeyError) Error() string { return e.err.Error() }
func (e *commitKeyError) Unwrap() error { return e.err }

func (c *Committer) buildCommit() {
	primary := plans.KvCommit
	keyErr := primary.Err
	primary.Err = func(r *kvrpcpb.CommitResponse) error {
		if err := keyErr(r); err != nil {
			return &commitKeyError{err}
		}
		return nil
	}
	c.commitPrimary = pipeline.Shard(c.env, primaryBatchSplit(c.opts.BatchSize), pipeline.Retry(c.env, primary), pipeline.Named("Commit"))
	send := pipeline.Retry(c.env, plans.KvCommit)
	c.commitSecondaries = pipeline.ShardEach(c.env, keysSplit[*kvrpcpb.CommitRequest](
		func(r *kvrpcpb.CommitRequest) [][]byte { return r.Keys },
		func(r *kvrpcpb.CommitRequest, keys [][]byte) *kvrpcpb.CommitRequest {
			c := *r
			c.Keys = keys
			return &c
		}, c.opts.BatchSize), send, pipeline.Named("CommitSecondaries"))
}

// keysSplit routes a request of keys by region in key-size batches.
func keysSplit[Req any](keys func(Req) [][]byte, with func(Req, [][]byte) Req, batchSize int) pipeline.Splitter[Req] {
	return pipeline.ByKeys(keys, func(k []byte) []byte { return k }, with, keyBatches(batchSize))
}
