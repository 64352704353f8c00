package twopc

import (
	"context"
	"errors"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// maxHeartbeatFailures is how many heartbeats in a row may fail (without a
// key error) before the heartbeat gives up (client-go's
// maxConsecutiveFailure).
const maxHeartbeatFailures = 10

// heartbeatKeyError marks a heartbeat that TiKV answered with a key error
// (the lock is gone: committed, rolled back): there is nothing left to keep
// alive (client-go's sendTxnHeartBeat stopHeartBeat).
type heartbeatKeyError struct{ err error }

func (e *heartbeatKeyError) Error() string { return e.err.Error() }
func (e *heartbeatKeyError) Unwrap() error { return e.err }

func (c *Committer) buildHeartbeat() {
	m := plans.KvTxnHeartBeat
	keyErr := m.Err
	m.Err = func(r *kvrpcpb.TxnHeartBeatResponse) error {
		if err := keyErr(r); err != nil {
			return &heartbeatKeyError{err}
		}
		return nil
	}
	c.heartbeat = pipeline.Single(pipeline.ShardByKey(c.env,
		func(r *kvrpcpb.TxnHeartBeatRequest) []byte { return r.PrimaryLock },
		pipeline.Retry(c.env, m), pipeline.Named("TxnHeartBeat")))
}

// startHeartbeat starts keeping the primary lock alive, once per
// transaction (client-go's ttlManager.run). It runs until the Commit call
// ends (finish stops it) or its context does.
func (t *txn) startHeartbeat() {
	t.hbOnce.Do(func() {
		ctx, cancel := context.WithCancel(t.ctx)
		t.hbCancel, t.hbDone = cancel, make(chan struct{})
		go func() {
			defer close(t.hbDone)
			t.keepAlive(ctx)
		}()
	})
}

// stopHeartbeat stops the heartbeat, if it runs, and waits for it.
func (t *txn) stopHeartbeat() {
	t.hbOnce.Do(func() {}) // no heartbeat may start after this
	if t.hbCancel != nil {
		t.hbCancel()
		<-t.hbDone
	}
}

// keepAlive sends a heartbeat every half ManagedLockTTL that sets the
// primary lock's TTL to the transaction's age plus ManagedLockTTL
// (client-go's keepAlive; TiKV's txn_heart_beat.rs keeps the larger of the
// lock's TTL and the advised one). It stops once the transaction is older
// than MaxTxnTTL, so that a stuck client cannot hold its keys forever, on
// a key error (the lock is gone) and after maxHeartbeatFailures failures
// in a row.
func (t *txn) keepAlive(ctx context.Context) {
	c := t.committer
	tick := time.NewTicker(c.opts.ManagedLockTTL / 2)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now, err := c.now(t)
		if err != nil {
			return
		}
		age := time.Duration(pdclient.ExtractPhysical(now)-pdclient.ExtractPhysical(t.startTS)) * time.Millisecond
		if age > c.opts.MaxTxnTTL {
			return
		}
		ttl := age + c.opts.ManagedLockTTL
		// The heartbeat carries the transaction's request context, as its
		// other writes do (client-go sends it with an empty one), so that
		// TiKV schedules and meters it as the transaction's.
		_, err = c.heartbeat(ctx, &kvrpcpb.TxnHeartBeatRequest{
			Context:     t.writeCtx,
			PrimaryLock: t.primary, StartVersion: t.startTS, AdviseLockTtl: uint64(ttl / time.Millisecond),
		})
		var keyErr *heartbeatKeyError
		switch {
		case err == nil:
			failures = 0
			t.heartbeatOK.Add(1)
		case ctx.Err() != nil, errors.As(err, &keyErr):
			return
		default:
			failures++
			if failures > maxHeartbeatFailures {
				return
			}
		}
	}
}
