package twopc

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"math"
	"slices"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// prewriteReq is a prewrite of some of a transaction's mutations, with the
// transaction it belongs to, so that the plan's steps can report to it.
type prewriteReq struct {
	pb  *kvrpcpb.PrewriteRequest
	txn *txn
	// whole marks the request of the whole transaction, before its first
	// split; the pieces Shard splits again (stale routing) lack it.
	whole bool
}

// prewriteSplit routes a prewrite by region, in batches of at most
// batchSize key and value bytes (client-go's groupMutations and
// appendBatchMutationsBySize; ByKeys closes a batch before the mutation
// that would overflow it, where client-go closes it after, so batches
// differ by at most one mutation).
//
// Each piece's txn_size is the number of the transaction's mutations in
// its region: TiKV records it in the lock, and a resolver that meets a
// lock of a small transaction resolves it key by key ("resolve lock
// lite", TiKV's resolve_lock_lite). A piece split again after stale
// routing no longer knows its region's count and says MaxUint64, so that
// no resolver takes the lite path on a guess (client-go's actionPrewrite
// with retry set).
func prewriteSplit(batchSize int) pipeline.Splitter[*prewriteReq] {
	byKeys := pipeline.ByKeys(
		func(r *prewriteReq) []*kvrpcpb.Mutation { return r.pb.Mutations },
		(*kvrpcpb.Mutation).GetKey,
		func(r *prewriteReq, ms []*kvrpcpb.Mutation) *prewriteReq {
			pb := *r.pb
			pb.Mutations = ms
			pb.PessimisticActions = r.txn.pessimisticActions(ms)
			pb.ForUpdateTsConstraints = r.txn.forUpdateTSConstraints(ms)
			return &prewriteReq{pb: &pb, txn: r.txn}
		},
		pipeline.Limit[*kvrpcpb.Mutation]{Bytes: batchSize, Size: func(m *kvrpcpb.Mutation) int { return len(m.Key) + len(m.Value) }})
	return func(ctx context.Context, loc pdclient.Locator, req *prewriteReq) iter.Seq2[pipeline.Routed[*prewriteReq], error] {
		return func(yield func(pipeline.Routed[*prewriteReq], error) bool) {
			if !req.whole && !req.pb.TryOnePc {
				for p, err := range byKeys(ctx, loc, req) {
					if err == nil {
						p.Req.pb.TxnSize = math.MaxUint64
						req.txn.batches.Add(1)
						req.txn.proto.shapePiece(req.txn, p.Req.pb, 1)
					}
					if !yield(p, err) {
						return
					}
				}
				return
			}
			var pieces []pipeline.Routed[*prewriteReq]
			perRegion := map[uint64]uint64{}
			for p, err := range byKeys(ctx, loc, req) {
				if err != nil {
					yield(p, err)
					return
				}
				pieces = append(pieces, p)
				perRegion[p.Region.ID()] += uint64(len(p.Req.pb.Mutations))
			}
			req.txn.batches.Add(int32(len(pieces)))
			if req.whole {
				req.txn.regions.Add(int32(len(perRegion)))
			}
			for _, p := range pieces {
				p.Req.pb.TxnSize = perRegion[p.Region.ID()]
				if !req.whole {
					// A 1PC batch split again (stale routing): collected
					// above so that 1PC is turned off before any piece
					// is sent when it no longer is one batch.
					p.Req.pb.TxnSize = math.MaxUint64
				}
				req.txn.proto.shapePiece(req.txn, p.Req.pb, len(pieces))
				if !yield(p, nil) {
					return
				}
			}
		}
	}
}

// prewriteStep sends one batch and judges the locks it meets before the
// resolve-lock stage sees them: an optimistic transaction that meets a
// lock of a newer transaction will meet that transaction's write too, so
// it fails at once with a write conflict instead of resolving (client-go's
// extractKeyErrs); without a resolver every lock met is a conflict
// (client-go's NoResolvePolicy). A batch holding the primary starts the
// heartbeat once it is written.
func prewriteStep(send pipeline.Step[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse], resolve bool) pipeline.Step[*prewriteReq, *kvrpcpb.PrewriteResponse] {
	return func(ctx context.Context, r *pdclient.Region, req *prewriteReq) (*kvrpcpb.PrewriteResponse, error) {
		resp, err := send(ctx, r, req.pb)
		t := req.txn
		if err == nil {
			t.proto.notePrewrite(req.pb, resp)
			// A batch committed in one phase left no lock to keep alive.
			if t.heartbeat && resp.OnePcCommitTs == 0 && holdsKey(req.pb.Mutations, t.primary) {
				t.startHeartbeat()
			}
			return resp, nil
		}
		var af *kv.AssertionFailedError
		if errors.As(err, &af) {
			// An assertion failure yields to any other failure of the
			// prewrite and cancels no batch (client-go's batchExecutor):
			// a pessimistic transaction that lost a lock can see a
			// false assertion failure on a key it did not lock, while
			// the lost lock's batch fails with the true cause (TiKV
			// issue 12113). TiKV wrote nothing for this batch.
			t.heldAssertion.CompareAndSwap(nil, &err)
			return resp, nil
		}
		if len(resp.GetErrors()) > 0 {
			// TiKV answered this attempt (prewrite_settle.go).
			err = &prewriteAnswer{err}
		}
		var locked *kv.LockedError
		if !errors.As(err, &locked) {
			return resp, err
		}
		t.locksMet.Add(int32(len(locked.Locks)))
		for _, l := range locked.Locks {
			if !resolve || l.StartTS > t.startTS {
				return resp, &prewriteAnswer{&kv.WriteConflictError{
					StartTS: t.startTS, ConflictStartTS: l.StartTS, Key: l.Key, Primary: l.Primary,
					Reason: kvrpcpb.WriteConflict_Optimistic,
				}}
			}
		}
		return resp, err
	}
}

func holdsKey(ms []*kvrpcpb.Mutation, key []byte) bool {
	_, ok := slices.BinarySearchFunc(ms, key, func(m *kvrpcpb.Mutation, k []byte) int { return bytes.Compare(m.Key, k) })
	return ok
}

// runPrewrite prewrites every mutation, all batches at once; the first
// failure cancels the rest (Shard), except an assertion failure, which is
// reported only when no batch failed otherwise (prewriteStep).
//
// A raised kill flag (pipeline.WithVariables) stops it before anything is
// sent (client-go checks it at the start of each prewrite action), and
// pipeline.Retry stops each batch's attempts and retries once it is
// raised; the caller then rolls back what was written.
func (c *Committer) runPrewrite(t *txn, d *CommitDetails) error {
	if err := pipeline.VariablesFrom(t.ctx).Interrupted(); err != nil {
		return err
	}
	start := time.Now()
	req := &prewriteReq{whole: true, txn: t, pb: &kvrpcpb.PrewriteRequest{
		Context:        t.writeCtx,
		Mutations:      t.muts,
		PrimaryLock:    t.primary,
		StartVersion:   t.startTS,
		LockTtl:        uint64(t.lockTTL / time.Millisecond),
		AssertionLevel: t.assertionLevel,
	}}
	// An optimistic transaction commits after its start ts: min_commit_ts
	// is at least start_ts+1 (client-go's buildPrewriteRequest), and the
	// TSO's ts+1 for a linearizable async commit or 1PC (protocol.go).
	t.proto.decorate(t, req.pb)
	t.decoratePessimistic(req.pb)
	_, err := c.prewrite(t.prewriteContext(), req)
	d.PrewriteTime = time.Since(start)
	if held := t.heldAssertion.Load(); err == nil && held != nil {
		err = *held
	}
	return err
}

// buildPrewrite is the prewrite plan: Shard -> ResolveLocks -> prewriteStep -> Retry.
func (c *Committer) buildPrewrite() {
	send := pipeline.Retry(c.env, plans.KvPrewrite)
	step := prewriteStep(send, c.resolver != nil)
	if c.resolver != nil {
		step = pipeline.ResolveLocks(c.env, c.resolver, func(r *prewriteReq) uint64 { return r.pb.StartVersion }, nil, step)
	}
	c.prewrite = pipeline.Shard(c.env, prewriteSplit(c.opts.BatchSize), step, pipeline.Named("Prewrite"))
}
