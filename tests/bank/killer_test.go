package bank_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn"
)

// killerBonus is what each killer transfer credits beyond what it debits:
// were one ever committed, the total would be off by it.
const killerBonus = 1_000_000

// killer simulates clients that die mid-commit: it prewrites transfers of
// its own and never commits them, leaving short-lived locks (TTL 200 to
// 500 ms) that the workers, the readers and the audit must resolve, by
// rolling them back once they expire. It sends the prewrite through a plan
// of its own (Shard -> ResolveLocks -> Retry(KvPrewrite)), as twopc does,
// so that its primary and its secondary may land in different regions and
// either may fail after the other was written.
type killer struct {
	env      *pipeline.Env
	client   *txn.Client
	r        *rand.Rand
	prewrite pipeline.Plan[*kvrpcpb.PrewriteRequest, []pipeline.Part[*kvrpcpb.PrewriteRequest, *kvrpcpb.PrewriteResponse]]

	mu     sync.Mutex
	txns   []killedTxn // every transaction it began
	counts map[string]int
}

// killedTxn is one transaction the killer began: its start ts and primary.
type killedTxn struct {
	startTS uint64
	primary []byte
}

func newKiller(env *pipeline.Env, client *txn.Client, seed uint64) *killer {
	k := &killer{env: env, client: client, r: rand.New(rand.NewPCG(seed, 0x6b696c6c)), counts: map[string]int{}}
	send := pipeline.Retry(env, plans.KvPrewrite)
	// Locks of live transactions in the way are resolved (and waited
	// for) with the client's resolver, as twopc's prewrite does.
	step := pipeline.ResolveLocks(env, client.Resolver(),
		func(r *kvrpcpb.PrewriteRequest) uint64 { return r.StartVersion }, nil, send)
	split := pipeline.ByKeys(
		func(r *kvrpcpb.PrewriteRequest) []*kvrpcpb.Mutation { return r.Mutations },
		func(m *kvrpcpb.Mutation) []byte { return m.Key },
		func(r *kvrpcpb.PrewriteRequest, ms []*kvrpcpb.Mutation) *kvrpcpb.PrewriteRequest {
			piece := *r
			piece.Mutations = ms
			return &piece
		},
		pipeline.Limit[*kvrpcpb.Mutation]{})
	k.prewrite = pipeline.Shard(env, split, step, pipeline.Named("KillerPrewrite"))
	return k
}

// run begins and abandons transfers every 20 to 150 ms (seeded) until stop
// is set. A prewrite that fails is not the killer's problem (the locks it
// wrote are left as a dead client's would be) unless the failure is one
// no prewrite should meet.
func (k *killer) run(ctx context.Context, stop *atomic.Bool, errs *errorLog) {
	for !stop.Load() && ctx.Err() == nil {
		t := time.NewTimer(time.Duration(20+k.r.IntN(131)) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		kctx, cancel := context.WithTimeout(ctx, transferTimeout)
		err := k.once(kctx)
		cancel()
		if err != nil {
			errs.add("killer: %s", errText(err))
			return
		}
	}
}

// once prewrites one abandoned transfer.
func (k *killer) once(ctx context.Context) error {
	from := k.r.IntN(accounts)
	to := (from + 1 + k.r.IntN(accounts-1)) % accounts
	amount := int64(1 + k.r.IntN(initialBalance/4))
	ttl := uint64(200 + k.r.IntN(301))
	keys := [][]byte{accountKey(from), accountKey(to)}
	primary := keys[k.r.IntN(2)]

	ts, err := k.client.CurrentTimestamp(ctx)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	vals, err := k.client.Snapshot(ts).BatchGet(ctx, keys)
	if err != nil {
		return fmt.Errorf("read at %d: %w", ts, err)
	}
	a, err := decodeBalance(keys[0], vals[0])
	if err != nil {
		return err
	}
	b, err := decodeBalance(keys[1], vals[1])
	if err != nil {
		return err
	}
	muts := []*kvrpcpb.Mutation{
		{Op: kvrpcpb.Op_Put, Key: keys[0], Value: encodeBalance(a - amount)},
		{Op: kvrpcpb.Op_Put, Key: keys[1], Value: encodeBalance(b + amount + killerBonus)},
	}
	if from > to { // mutations in key order, as twopc sends them
		muts[0], muts[1] = muts[1], muts[0]
	}
	k.mu.Lock()
	k.txns = append(k.txns, killedTxn{startTS: ts, primary: primary})
	k.mu.Unlock()
	_, err = k.prewrite(ctx, &kvrpcpb.PrewriteRequest{
		Mutations:    muts,
		PrimaryLock:  primary,
		StartVersion: ts,
		LockTtl:      ttl,
		TxnSize:      2,
		MinCommitTs:  ts + 1,
	})
	switch {
	case err == nil:
		k.count("prewritten")
	case errors.Is(err, kv.ErrWriteConflict):
		// A worker committed one of the accounts after ts, or a resolver
		// already rolled this transaction back (its rollback record turns
		// a late prewrite into a conflict): a real client would retry.
		k.count("write-conflict")
	case errors.Is(err, kv.ErrUndetermined):
		// A lost prewrite response, resent until the budget ran out:
		// the lock may be there or not; either way nobody commits it.
		k.count("undetermined")
	default:
		return fmt.Errorf("prewrite at %d: %w", ts, err)
	}
	return nil
}

func (k *killer) count(kind string) {
	k.mu.Lock()
	k.counts[kind]++
	k.mu.Unlock()
}

func (k *killer) countsSnapshot() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := make(map[string]int, len(k.counts)+1)
	for kind, n := range k.counts {
		m[kind] = n
	}
	m["began"] = len(k.txns)
	return m
}

// checkRolledBack asks each killer transaction's primary for its status
// (KvCheckTxnStatus, rolling back one that left no trace, as a resolver
// would): none may have committed, none may still be locked. It counts the
// answers' actions, for the report.
func (k *killer) checkRolledBack(ctx context.Context, now uint64) error {
	check := pipeline.Single(pipeline.Shard(k.env,
		pipeline.ByKey(func(r *kvrpcpb.CheckTxnStatusRequest) []byte { return r.PrimaryKey }),
		pipeline.Retry(k.env, plans.KvCheckTxnStatus)))
	k.mu.Lock()
	txns := append([]killedTxn(nil), k.txns...)
	k.mu.Unlock()
	for _, tx := range txns {
		resp, err := check(ctx, &kvrpcpb.CheckTxnStatusRequest{
			PrimaryKey: tx.primary, LockTs: tx.startTS, CallerStartTs: now, CurrentTs: now,
			RollbackIfNotExist: true,
		})
		if err != nil {
			return fmt.Errorf("check status of killer txn %d (primary %q): %w", tx.startTS, tx.primary, err)
		}
		if resp.GetCommitVersion() != 0 {
			return fmt.Errorf("killer txn %d (primary %q), never committed by its owner, committed at %d", tx.startTS, tx.primary, resp.GetCommitVersion())
		}
		if resp.GetLockTtl() != 0 {
			return fmt.Errorf("killer txn %d (primary %q) still locked (ttl %d) after the audit", tx.startTS, tx.primary, resp.GetLockTtl())
		}
		// NoAction: a resolver had already rolled it back;
		// LockNotExistRollback: its primary was never written (or its
		// rollback record was collapsed), and this check rolled it back.
		k.count("final-status-" + resp.GetAction().String())
	}
	return nil
}

// scanLocks lists every lock in the whole key space (KvScanLock on every
// region, at the newest version).
func scanLocks(ctx context.Context, env *pipeline.Env) ([]*kvrpcpb.LockInfo, error) {
	scan := pipeline.Collect(pipeline.Shard(env,
		pipeline.ByRange(
			func(r *kvrpcpb.ScanLockRequest) ([]byte, []byte) { return r.StartKey, r.EndKey },
			func(r *kvrpcpb.ScanLockRequest, start, end []byte) *kvrpcpb.ScanLockRequest {
				piece := *r
				piece.StartKey, piece.EndKey = start, end
				return &piece
			}),
		pipeline.Retry(env, plans.KvScanLock), pipeline.Named("ScanAllLocks")),
		(*kvrpcpb.ScanLockResponse).GetLocks)
	return scan(ctx, &kvrpcpb.ScanLockRequest{MaxVersion: math.MaxUint64})
}
