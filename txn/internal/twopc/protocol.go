package twopc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
)

// Defaults of the protocol Options, client-go's values
// (config.TiKVClient.AsyncCommit and KVTxn's commitWaitUntilTSOTimeout).
const (
	// DefaultAsyncCommitKeys is the most mutations a transaction may have
	// to commit with async commit (client-go's AsyncCommit.KeysLimit, 256):
	// the primary lock lists every other key, and a reader that meets any
	// lock of the transaction checks them all.
	DefaultAsyncCommitKeys = 256
	// DefaultAsyncCommitKeySize bounds the key bytes of an async-commit
	// transaction (client-go's AsyncCommit.TotalKeySizeLimit, 4 KiB).
	DefaultAsyncCommitKeySize = 4 * 1024
	// DefaultSafeWindow is how far past the transaction's age its
	// max_commit_ts lies (client-go's AsyncCommit.SafeWindow, 2 s): TiKV
	// falls back to two-phase commit rather than take a commit ts above it.
	DefaultSafeWindow = 2 * time.Second
	// DefaultAllowedClockDrift is client-go's AsyncCommit.AllowedClockDrift
	// (500 ms): what a schema change must wait beyond the safe window for
	// async-commit and 1PC transactions that began before it
	// (Options.SchemaChangeWait).
	DefaultAllowedClockDrift = 500 * time.Millisecond
	// DefaultCommitWaitTimeout bounds how long a commit waits for the TSO
	// to pass Request.CommitWaitUntilTSO (client-go's
	// commitWaitUntilTSOTimeout, 1 s).
	DefaultCommitWaitTimeout = time.Second
)

// protocolDefaults fills the protocol Options left zero.
func (o Options) protocolDefaults() Options {
	if o.AsyncCommitKeys <= 0 {
		o.AsyncCommitKeys = DefaultAsyncCommitKeys
	}
	if o.AsyncCommitKeySize <= 0 {
		o.AsyncCommitKeySize = DefaultAsyncCommitKeySize
	}
	if o.SafeWindow <= 0 {
		o.SafeWindow = DefaultSafeWindow
	}
	if o.AllowedClockDrift <= 0 {
		o.AllowedClockDrift = DefaultAllowedClockDrift
	}
	return o
}

// SchemaChangeWait is how long a schema change must wait, after it became
// visible, before no async-commit or 1PC transaction that began earlier can
// still commit: the safe window plus the allowed clock drift (TiDB's DDL
// waits this long when either protocol is on).
func (o Options) SchemaChangeWait() time.Duration {
	o = o.protocolDefaults()
	return o.SafeWindow + o.AllowedClockDrift
}

// Switch is one transaction's choice of a protocol option (Request), over
// the committer's default (Options).
type Switch uint8

const (
	// SwitchDefault keeps the committer's Options.
	SwitchDefault Switch = iota
	// SwitchOn turns the option on for the transaction.
	SwitchOn
	// SwitchOff turns it off.
	SwitchOff
)

// SwitchOf returns SwitchOn for true, SwitchOff for false.
func SwitchOf(on bool) Switch {
	if on {
		return SwitchOn
	}
	return SwitchOff
}

func (s Switch) or(def bool) bool {
	switch s {
	case SwitchOn:
		return true
	case SwitchOff:
		return false
	}
	return def
}

// Protocol names how a transaction was committed (CommitDetails.Protocol).
type Protocol uint8

const (
	// ProtocolTwoPC: prewrite, commit ts, primary commit, then the
	// secondaries in the background.
	ProtocolTwoPC Protocol = iota
	// ProtocolAsyncCommit: the transaction was committed once every
	// prewrite succeeded; the commit phase runs in the background.
	ProtocolAsyncCommit
	// ProtocolOnePC: TiKV committed the transaction's single batch at
	// prewrite.
	ProtocolOnePC
)

// String names the protocol.
func (p Protocol) String() string {
	switch p {
	case ProtocolAsyncCommit:
		return "async commit"
	case ProtocolOnePC:
		return "1PC"
	}
	return "2PC"
}

// protocolState is one commit's protocol choice and what the prewrites
// answered about it. The flags are cleared by prewrite steps running
// concurrently, hence atomic.
type protocolState struct {
	triedAsync, triedOnePC bool
	causal                 bool
	// async and onePC stay set while the protocol may still be used:
	// TiKV's fallback answer or a second batch (1PC) clears them.
	async, onePC atomic.Bool
	// asyncFellBack and onePCFellBack record TiKV's fallback answers.
	asyncFellBack, onePCFellBack atomic.Bool
	// minCommitTS is the max of the initial min_commit_ts and every
	// async-commit prewrite's answer: the async commit's commit ts.
	minCommitTS   atomic.Uint64
	maxCommitTS   uint64
	onePCCommitTS atomic.Uint64
	// violation is TiKV answering against the protocol (a 1PC fallback
	// that still reports a min_commit_ts).
	violation atomic.Pointer[error]

	waitUntil   uint64
	waitTimeout time.Duration
	upperBound  func(commitTS uint64) bool
}

// chooseProtocol decides which protocols the transaction may use
// (client-go's checkAsyncCommit and checkOnePC): neither with a commit-ts
// upper bound, which needs the commit ts before anything is committed, nor
// with a shared lock to prewrite (shared_lock.go); async commit only for
// at most AsyncCommitKeys mutations of at most AsyncCommitKeySize key
// bytes, since the primary lock lists every key.
func (c *Committer) chooseProtocol(t *txn, req Request) {
	p := &t.proto
	p.causal = req.CausalConsistency.or(c.opts.CausalConsistency)
	p.waitUntil, p.upperBound = req.CommitWaitUntilTSO, req.CommitTSUpperBound
	p.waitTimeout = req.CommitWaitTimeout
	if p.waitTimeout == 0 {
		p.waitTimeout = DefaultCommitWaitTimeout
	}
	if p.upperBound != nil || req.StashedError != nil || hasSharedLock(t.muts) {
		return
	}
	if req.AsyncCommit.or(c.opts.AsyncCommit) && len(t.muts) <= c.opts.AsyncCommitKeys {
		size := 0
		for _, m := range t.muts {
			size += len(m.Key)
		}
		p.triedAsync = size <= c.opts.AsyncCommitKeySize
	}
	p.triedOnePC = req.OnePC.or(c.opts.OnePC)
	p.async.Store(p.triedAsync)
	p.onePC.Store(p.triedOnePC)
}

// prepareProtocol takes the timestamps async commit and 1PC prewrite with
// (client-go's execute): unless the transaction settles for causal
// consistency, a fresh ts, so that the commit ts TiKV derives exceeds the
// start ts of every transaction that began before this commit
// (linearizability; also when a commit wait asks for a commit ts above a
// given one); and max_commit_ts = start ts + the transaction's age + the
// safe window (client-go's calculateMaxCommitTS), past which TiKV falls
// back to two-phase commit instead of committing.
func (c *Committer) prepareProtocol(t *txn, began time.Time, d *CommitDetails) error {
	p := &t.proto
	// A pessimistic transaction commits above its for_update_ts too.
	p.minCommitTS.Store(max(t.startTS, t.forUpdateTS) + 1)
	if !p.triedAsync && !p.triedOnePC {
		return nil
	}
	if !p.causal || p.waitUntil > 0 {
		start := time.Now()
		ts, err := c.commitTSFromTSO(t, d)
		d.MinCommitTSTime = time.Since(start)
		if err != nil {
			return fmt.Errorf("twopc: min commit ts of txn %d: %w", t.startTS, err)
		}
		p.minCommitTS.Store(max(ts, t.startTS, t.forUpdateTS) + 1)
	}
	var age time.Duration
	if !began.IsZero() {
		age = time.Since(began)
	}
	if age > MaxTxnTimeUse {
		// An async-commit transaction is committed once its prewrites
		// succeed, so the age limit two-phase commit checks at its commit
		// ts must be checked before.
		return &TxnTooOldError{StartTS: t.startTS, CommitTS: p.minCommitTS.Load(), Age: age}
	}
	current := t.startTS + pdclient.ComposeTS(age.Milliseconds(), 0)
	p.maxCommitTS = current + pdclient.ComposeTS(c.opts.SafeWindow.Milliseconds(), 0)
	return nil
}

// decorate sets the protocol fields of the whole transaction's prewrite;
// prewriteSplit narrows them per batch (shapePieces).
func (p *protocolState) decorate(t *txn, pb *kvrpcpb.PrewriteRequest) {
	pb.MinCommitTs = p.minCommitTS.Load()
	if !p.triedAsync && !p.triedOnePC {
		return
	}
	pb.MaxCommitTs = p.maxCommitTS
	if p.triedAsync {
		pb.UseAsyncCommit = true
		// client-go's asyncSecondaries: every key but the primary and the
		// CheckNotExists keys, which leave no lock.
		pb.Secondaries = make([][]byte, 0, len(t.commitKeys))
		for _, k := range t.commitKeys {
			if !bytes.Equal(k, t.primary) {
				pb.Secondaries = append(pb.Secondaries, k)
			}
		}
	}
	pb.TryOnePc = p.triedOnePC
}

// shapePiece narrows one batch's protocol fields: only the primary's batch
// lists the secondaries (TiKV marks a lock as the async-commit primary by
// the list, src/storage/txn/commands/prewrite.rs); a transaction of more
// than one batch cannot commit in one phase (client-go's
// checkOnePCFallBack), so none of its batches tries.
func (p *protocolState) shapePiece(t *txn, pb *kvrpcpb.PrewriteRequest, batches int) {
	if pb.UseAsyncCommit && !holdsKey(pb.Mutations, t.primary) {
		pb.Secondaries = nil
	}
	if pb.TryOnePc && batches > 1 {
		pb.TryOnePc = false
		p.onePC.Store(false)
	}
}

// notePrewrite records what a successful prewrite of one batch says about
// the protocol (client-go's handleSingleBatchSucceed).
func (p *protocolState) notePrewrite(pb *kvrpcpb.PrewriteRequest, resp *kvrpcpb.PrewriteResponse) {
	if pb.TryOnePc {
		if resp.OnePcCommitTs != 0 {
			p.onePCCommitTS.Store(resp.OnePcCommitTs)
			return
		}
		// TiKV fell back to two-phase commit and wrote normal locks
		// (src/storage/txn/commands/prewrite.rs): async commit is off too,
		// as the answer carries no min_commit_ts to commit at.
		if resp.MinCommitTs != 0 {
			err := fmt.Errorf("twopc: 1PC prewrite fell back but answered min_commit_ts %d: %w", resp.MinCommitTs, kv.ErrProtocol)
			p.violation.CompareAndSwap(nil, &err)
		}
		p.onePCFellBack.Store(true)
		p.onePC.Store(false)
		p.async.Store(false)
		return
	}
	if resp.OnePcCommitTs != 0 {
		err := fmt.Errorf("twopc: TiKV committed a non-1PC prewrite in one phase at %d: %w", resp.OnePcCommitTs, kv.ErrProtocol)
		p.violation.CompareAndSwap(nil, &err)
	}
	if !pb.UseAsyncCommit {
		return
	}
	if resp.MinCommitTs == 0 {
		// TiKV could not keep the commit ts under max_commit_ts (or met a
		// lock of ours written without async commit) and wrote a normal
		// lock: the transaction must be committed with two-phase commit.
		p.asyncFellBack.Store(true)
		p.async.Store(false)
		return
	}
	for {
		cur := p.minCommitTS.Load()
		if resp.MinCommitTs <= cur || p.minCommitTS.CompareAndSwap(cur, resp.MinCommitTs) {
			return
		}
	}
}

// finishFast ends a commit whose prewrite committed it: a 1PC whose batch
// TiKV committed, or an async commit none of whose prewrites fell back,
// whose commit phase it hands to the Group. It reports false when the
// transaction still needs two-phase commit's commit phase.
func (c *Committer) finishFast(t *txn, d *CommitDetails) (bool, error) {
	p := &t.proto
	d.AsyncCommitFallback = p.triedAsync && p.asyncFellBack.Load()
	d.OnePCFallback = p.triedOnePC && p.onePCFellBack.Load()
	if err := p.violation.Load(); err != nil {
		return true, *err
	}
	if p.triedOnePC && p.onePC.Load() {
		ts := p.onePCCommitTS.Load()
		if ts == 0 {
			return true, fmt.Errorf("twopc: 1PC prewrite of txn %d answered no commit ts: %w", t.startTS, kv.ErrProtocol)
		}
		d.CommitTS, d.Protocol = ts, ProtocolOnePC
		return true, nil
	}
	if p.triedAsync && p.async.Load() {
		// The commit ts is the largest min_commit_ts TiKV answered
		// (client-go's minCommitTSMgr): each lock's is above the max_ts
		// of its store when it was written, so no reader that did not see
		// the lock can have read at or above it.
		d.CommitTS, d.Protocol = p.minCommitTS.Load(), ProtocolAsyncCommit
		c.queueAsyncCommit(t, d)
		return true, nil
	}
	return false, nil
}

// queueAsyncCommit hands the commit of every key, the primary included and
// all batches at once, to the Group (client-go's async commit runs the
// whole commit phase in the background). The transaction is committed
// already: a reader meeting one of its locks finds every lock prewritten
// and commits it at the same commit ts (CheckSecondaryLocks).
func (c *Committer) queueAsyncCommit(t *txn, d *CommitDetails) {
	d.SecondaryKeys = len(t.commitKeys)
	if len(t.commitKeys) == 0 {
		return // only CheckNotExists keys: nothing was locked
	}
	req := &kvrpcpb.CommitRequest{
		Context: t.writeCtx, StartVersion: t.startTS, Keys: t.commitKeys, CommitVersion: d.CommitTS,
		PrimaryKey: t.primary, UseAsyncCommit: true,
	}
	err := c.group.goCaused(t.ctx, func(ctx context.Context) error {
		outs, _ := c.commitSecondaries(ctx, req)
		return piecesFailed("async commit", t.startTS, outs)
	})
	d.SecondariesQueued = err == nil
}

// prewriteUndetermined reports whether a failed prewrite of an async-commit
// or 1PC transaction may have committed it: the failure that stopped the
// prewrite left a batch's outcome unknown (client-go's undetermined error
// of a prewrite RPC that failed without being cancelled). Once every
// batch's lock is written the transaction is committed (a reader commits
// it from its locks; 1PC commits at once), so such a failure cannot be
// reported as a failure. A batch that failed for certain (a write
// conflict, say) leaves a key without lock, and the transaction can never
// commit.
func (t *txn) prewriteUndetermined(pe *PrewriteError) bool {
	// A fallback answer means some lock was written without async commit
	// or 1PC: readers then judge the transaction by its primary, which is
	// never committed after a failed prewrite.
	p := &t.proto
	if !p.async.Load() && !p.onePC.Load() {
		return false
	}
	if pe.definitelyFailedBatch() {
		// Whichever batch failed first, one wrote nothing and has no
		// attempt left in flight: its keys never get a lock.
		return false
	}
	return errors.Is(pe.decisive(), kv.ErrUndetermined)
}

// tried names the protocol the transaction tried, for errors.
func (p *protocolState) tried() Protocol {
	switch {
	case p.triedOnePC && p.onePC.Load():
		return ProtocolOnePC
	case p.triedAsync:
		return ProtocolAsyncCommit
	}
	return ProtocolTwoPC
}
