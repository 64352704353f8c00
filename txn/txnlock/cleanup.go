package txnlock

import (
	"bytes"
	"context"
	"fmt"
	"math"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
)

// liteBatch is the met keys of one small settled transaction, resolved
// together after every lock's status is known so that a transaction met
// on many keys costs one KvResolveLock per region, not one per key
// (client-go's batchLiteResolveLocks).
type liteBatch struct {
	lock   *kv.Lock // the first lock met
	status TxnStatus
	keys   [][]byte
}

func addToBatch(batches []*liteBatch, l *kv.Lock, s TxnStatus) []*liteBatch {
	for _, b := range batches {
		if b.lock.StartTS == l.StartTS {
			b.keys = append(b.keys, l.Key)
			return batches
		}
	}
	return append(batches, &liteBatch{lock: l, status: s, keys: [][]byte{l.Key}})
}

// resolveLite commits or rolls back the batch's keys, one request per
// region. The primary is skipped: the status check that settled the
// transaction found it committed or rolled it back, and an async-commit
// resolution resolves it itself.
func (c *resolveCall) resolveLite(ctx context.Context, b *liteBatch) error {
	keys := make([][]byte, 0, len(b.keys))
	for _, k := range b.keys {
		if !bytes.Equal(k, b.lock.Primary) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	req := &kvrpcpb.ResolveLockRequest{
		StartVersion: b.lock.StartTS, CommitVersion: b.status.CommitTS, IsTxnFile: b.lock.IsTxnFile, Keys: keys,
	}
	return c.cleanup(ctx, func(ctx context.Context) error {
		if _, err := c.r.resolveKeys(ctx, req); err != nil {
			return fmt.Errorf("txnlock: resolve %d key(s) of txn %d: %w", len(keys), b.lock.StartTS, err)
		}
		return nil
	})
}

// resolveRegion commits or rolls back every lock of l's transaction in the
// region holding l (KvResolveLock without keys; client-go's resolveLock
// for a large transaction), once per region per call. Identical concurrent
// region resolves share one request (client-go collapses them in its
// client).
func (c *resolveCall) resolveRegion(ctx context.Context, l *kv.Lock, s TxnStatus, cleaned map[pdclient.RegionVer]bool) error {
	region, err := c.r.env.Locator.Locate(ctx, l.Key)
	if err != nil {
		return fmt.Errorf("txnlock: locate lock of txn %d: %w", l.StartTS, err)
	}
	if cleaned[region.Ver()] {
		return nil
	}
	// Marked before sending: a background cleanup must not write the
	// call's map, and a failed one is the next caller's to redo.
	cleaned[region.Ver()] = true
	req := &kvrpcpb.ResolveLockRequest{StartVersion: l.StartTS, CommitVersion: s.CommitTS, IsTxnFile: l.IsTxnFile}
	key := fmt.Sprintf("resolve/%d/%d/%d/%d", l.StartTS, s.CommitTS, region.ID(), region.Ver().Version)
	return c.cleanup(ctx, func(ctx context.Context) error {
		_, err := c.r.flights.do(ctx, key, func(ctx context.Context) (any, error) {
			return pipeline.Shard(c.r.env, atKey[*kvrpcpb.ResolveLockRequest](l.Key), c.r.resolveStep,
				pipeline.FinishInFlight(), pipeline.Named("ResolveLock"))(ctx, req)
		})
		if err != nil {
			return fmt.Errorf("txnlock: resolve txn %d in region %d: %w", l.StartTS, region.ID(), err)
		}
		return nil
	})
}

// rollbackPessimistic removes l, a pessimistic lock of a transaction that
// is settled or expired (client-go's resolvePessimisticLock): with
// Options.PessimisticRegion every such lock of the transaction in l's
// region, once per region per call, else l's key only. The primary is
// skipped: the status check already rolled it back.
func (c *resolveCall) rollbackPessimistic(ctx context.Context, l *kv.Lock) error {
	if bytes.Equal(l.Key, l.Primary) {
		return nil
	}
	// TiKV removes only pessimistic locks with for_update_ts at most the
	// request's (commands/pessimistic_rollback.rs).
	forUpdateTS := l.ForUpdateTS
	if forUpdateTS == 0 {
		forUpdateTS = math.MaxUint64
	}
	req := &kvrpcpb.PessimisticRollbackRequest{StartVersion: l.StartTS, ForUpdateTs: forUpdateTS}
	var cleaned map[pdclient.RegionVer]bool
	if c.opts.PessimisticRegion {
		region, err := c.r.env.Locator.Locate(ctx, l.Key)
		if err != nil {
			return fmt.Errorf("txnlock: locate pessimistic lock of txn %d: %w", l.StartTS, err)
		}
		cleaned = c.pessimisticCleaned[l.StartTS]
		if cleaned == nil {
			cleaned = map[pdclient.RegionVer]bool{}
			c.pessimisticCleaned[l.StartTS] = cleaned
		}
		if cleaned[region.Ver()] {
			return nil
		}
	} else {
		req.Keys = [][]byte{l.Key}
	}
	parts, err := pipeline.Shard(c.r.env, atKey[*kvrpcpb.PessimisticRollbackRequest](l.Key), c.r.pessimisticStep,
		pipeline.FinishInFlight(), pipeline.Named("PessimisticRollback"))(ctx, req)
	if err != nil {
		return fmt.Errorf("txnlock: pessimistic rollback of txn %d: %w", l.StartTS, err)
	}
	for _, p := range parts {
		if cleaned != nil {
			cleaned[p.Region.Ver()] = true
		}
	}
	return nil
}

// atKey routes a request to the region holding key: a region-wide request
// carries no key of its own, the lock it was made for decides its region.
func atKey[Req any](key []byte) pipeline.Splitter[Req] {
	return pipeline.ByKey(func(Req) []byte { return key })
}
