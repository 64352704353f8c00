package txn

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"strconv"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/txn/internal/twopc"
	"github.com/tikvgo/tikv/txn/membuf"
)

// BeginOption configures a transaction.
type BeginOption func(*beginConfig)

type beginConfig struct {
	startTS     uint64
	snapOpts    []SnapshotOption
	limits      *membuf.Limits
	assertion   kvrpcpb.AssertionLevel
	reqCtx      twopc.RequestContext
	proto       protocolConfig    // commit protocol (txn_protocol_options.go)
	pipelined   *PipelinedOptions // WithPipelined (pipelined_options.go)
	pessimistic bool
}

// WithStartTS begins the transaction at ts instead of a fresh timestamp
// (it must come from the TSO and be above the GC safe point).
func WithStartTS(ts uint64) BeginOption { return func(c *beginConfig) { c.startTS = ts } }

// WithTxnSnapshotOptions sets the options the transaction's reads use, on
// top of the client's.
func WithTxnSnapshotOptions(opts ...SnapshotOption) BeginOption {
	return func(c *beginConfig) { c.snapOpts = append(c.snapOpts, opts...) }
}

// WithBufferLimits bounds the transaction's write buffer (entries and
// bytes); a write beyond them fails with a *membuf.TooLargeError.
func WithBufferLimits(l membuf.Limits) BeginOption { return func(c *beginConfig) { c.limits = &l } }

// WithAssertionLevel makes TiKV check the existence assertions of the
// transaction's writes (Txn.SetWithAssertion) at prewrite: Off (default),
// Fast or Strict.
func WithAssertionLevel(l kvrpcpb.AssertionLevel) BeginOption {
	return func(c *beginConfig) { c.assertion = l }
}

// Begin starts a transaction at a fresh timestamp (or the one WithStartTS
// gives): optimistic, or pessimistic with WithPessimistic.
func (c *Client) Begin(ctx context.Context, opts ...BeginOption) (*Txn, error) {
	if c.closed.Load() {
		return nil, kv.ErrClosed
	}
	var cfg beginConfig
	for _, o := range opts {
		o(&cfg)
	}
	ts := cfg.startTS
	if ts == 0 {
		var err error
		if ts, err = c.oracle.Now(ctx); err != nil {
			return nil, fmt.Errorf("txn: begin: %w", err)
		}
	}
	var bufOpts []membuf.Option
	if cfg.limits != nil {
		bufOpts = append(bufOpts, membuf.WithLimits(*cfg.limits))
	}
	snapOpts := append(append([]SnapshotOption(nil), c.cfg.snapshotOpts...), cfg.snapOpts...)
	t := &Txn{
		client:    c,
		startTS:   ts,
		began:     time.Now(),
		buf:       membuf.New(bufOpts...),
		snap:      c.Snapshot(ts, snapOpts...),
		assertion: cfg.assertion,
		reqCtx:    cfg.reqCtx,
		proto:     cfg.proto,
		pess:      pessimisticState{on: cfg.pessimistic},
	}
	if cfg.pipelined != nil {
		if err := t.initPipelined(*cfg.pipelined); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Txn is a transaction: reads at its start ts see its own writes, which
// are buffered (a membuf.Buffer) until Commit sends them with two-phase
// commit (or async commit, 1PC). An optimistic transaction locks nothing
// before Commit; a pessimistic one (WithPessimistic) locks keys in TiKV
// at LockKeys (pessimistic.go). A Txn is used by one goroutine at a time; after Commit
// or Rollback it refuses further use with kv.ErrInvalidArgument.
type Txn struct {
	client    *Client
	startTS   uint64
	began     time.Time
	buf       *membuf.Buffer
	snap      *Snapshot
	assertion kvrpcpb.AssertionLevel
	reqCtx    twopc.RequestContext // the writes' request context (txn_options.go)
	proto     protocolConfig       // commit protocol (txn_protocol_options.go)
	pl        *pipelinedTxn        // set for a pipelined transaction (pipelined.go)
	pess      pessimisticState     // pessimistic locking (pessimistic.go)
	fair      fairLocking          // aggressive locking (aggressive_locking.go)
	// keepPessimisticLocks, set only by tests (export_test.go), leaves the
	// pessimistic locks of a failed LockKeys or a Rollback in TiKV, as a
	// client that died would (client-go's beforeAsyncPessimisticRollback
	// and skipRollbackPessimisticLock failpoints).
	keepPessimisticLocks bool

	mu       sync.Mutex // guards state and details for introspection from other goroutines
	state    txnState
	commitTS uint64
	details  twopc.CommitDetails
}

type txnState uint8

const (
	txnActive txnState = iota
	txnCommitted
	txnRolledBack
	txnFailed
)

func (s txnState) String() string {
	switch s {
	case txnActive:
		return "active"
	case txnCommitted:
		return "committed"
	case txnRolledBack:
		return "rolled back"
	}
	return "failed"
}

// StartTS returns the transaction's start timestamp.
func (t *Txn) StartTS() uint64 { return t.startTS }

// CommitTS returns the commit timestamp once Commit succeeded, else 0.
func (t *Txn) CommitTS() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.commitTS
}

// Valid reports whether the transaction may still be used (not committed,
// rolled back or failed).
func (t *Txn) Valid() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state == txnActive
}

// IsReadOnly reports whether the transaction has buffered no write.
func (t *Txn) IsReadOnly() bool { return !t.buf.Dirty() && (t.pl == nil || t.pl.generation == 0) }

// Len returns the number of keys the transaction buffered; Size their key
// and value bytes.
func (t *Txn) Len() int { return t.buf.Len() + t.pl.flushedLen() }

// Size returns the key and value bytes the transaction buffered.
func (t *Txn) Size() int { return t.buf.Size() + t.pl.flushedSize() }

// Mem returns the memory the transaction's write buffer holds, its
// bookkeeping included (client-go's KVTxn.Mem); zero until it buffers a
// write.
func (t *Txn) Mem() int { return t.buf.Mem() }

// String names the transaction by its start ts (client-go's
// KVTxn.String), for logs.
func (t *Txn) String() string { return strconv.FormatUint(t.startTS, 10) }

// MemBuffer returns the transaction's write buffer, for savepoints
// (Staging, Release, Cleanup) and key flags.
func (t *Txn) MemBuffer() *membuf.Buffer { return t.buf }

// Snapshot returns the snapshot the transaction reads at its start ts
// (reads through it do not see the transaction's own writes).
func (t *Txn) Snapshot() *Snapshot { return t.snap }

// CommitDetails describes the transaction's commit (phases, RPCs,
// batches); zero before Commit.
func (t *Txn) CommitDetails() CommitDetails {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.details
}

// CommitDetails describes a commit; see the fields.
type CommitDetails = twopc.CommitDetails

func (t *Txn) checkActive() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != txnActive {
		return fmt.Errorf("txn %d is %s: %w", t.startTS, t.state, kv.ErrInvalidArgument)
	}
	return nil
}

// Get returns key's value as the transaction sees it: its own write if it
// buffered one, else the snapshot's. A missing or deleted key is
// kv.ErrNotFound.
func (t *Txn) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := t.checkActive(); err != nil {
		return nil, err
	}
	if t.pl != nil {
		return t.pl.get(ctx, key)
	}
	switch v, kind := t.buf.Get(key); kind {
	case membuf.KindPut:
		return bytes.Clone(v), nil
	case membuf.KindDelete:
		return nil, kv.ErrNotFound
	}
	return t.snap.Get(ctx, key)
}

// BatchGet returns the values of keys in the order of keys (nil for a
// missing or deleted key), the transaction's own writes first; only the
// keys it has not written are read from the snapshot, in one batch.
func (t *Txn) BatchGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	es, err := t.batchGet(ctx, keys, false)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(es))
	for i, e := range es {
		out[i] = e.Value
	}
	return out, nil
}

// BatchGetWithCommitTS is BatchGet that also returns the commit ts of
// each value read from the snapshot (client-go's BufferBatchGetter with
// kv.WithReturnCommitTS). A value the transaction wrote itself has no
// commit ts yet: its entry's CommitTS is 0. A missing or deleted key's
// entry is the zero ValueEntry.
func (t *Txn) BatchGetWithCommitTS(ctx context.Context, keys [][]byte) ([]ValueEntry, error) {
	return t.batchGet(ctx, keys, true)
}

func (t *Txn) batchGet(ctx context.Context, keys [][]byte, wantCommitTS bool) ([]ValueEntry, error) {
	if err := t.checkActive(); err != nil {
		return nil, err
	}
	if t.pl != nil {
		return t.pl.batchGet(ctx, keys, wantCommitTS)
	}
	out := make([]ValueEntry, len(keys))
	var rest [][]byte
	var at []int
	for i, k := range keys {
		switch v, kind := t.buf.Get(k); kind {
		case membuf.KindPut:
			out[i].Value = bytes.Clone(v)
		case membuf.KindDelete:
		default:
			rest, at = append(rest, k), append(at, i)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	var read []ValueEntry
	var err error
	if wantCommitTS {
		read, err = t.snap.BatchGetWithCommitTS(ctx, rest)
	} else {
		var vals [][]byte
		vals, err = t.snap.BatchGet(ctx, rest)
		read = make([]ValueEntry, len(vals))
		for j, v := range vals {
			read[j].Value = v
		}
	}
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		out[i] = read[j]
	}
	return out, nil
}

// Iter returns the pairs in [lower, upper) in key order as the transaction
// sees them: its buffered writes over the snapshot's pairs, deletions
// hidden. An empty upper is the end of the key space. Writing to the
// transaction while iterating ends the iteration with
// membuf.ErrIteratorInvalidated.
func (t *Txn) Iter(ctx context.Context, lower, upper []byte) iter.Seq2[kv.KeyValue, error] {
	if err := t.checkActive(); err != nil {
		return func(yield func(kv.KeyValue, error) bool) { yield(kv.KeyValue{}, err) }
	}
	if t.pl != nil {
		return pipelinedIterErr
	}
	return t.buf.Union(lower, upper, t.snap.Iter(ctx, lower, upper))
}

// IterReverse is Iter in descending key order, from just below upper down
// to lower.
func (t *Txn) IterReverse(ctx context.Context, upper, lower []byte) iter.Seq2[kv.KeyValue, error] {
	if err := t.checkActive(); err != nil {
		return func(yield func(kv.KeyValue, error) bool) { yield(kv.KeyValue{}, err) }
	}
	if t.pl != nil {
		return pipelinedIterErr
	}
	return t.buf.UnionReverse(upper, lower, t.snap.IterReverse(ctx, upper, lower))
}

// Set buffers key = value. Keys must not be empty; values must not be empty
// either (TiKV's transactional key space has no empty values: client-go
// refuses them too, and reads take an empty value for a missing key).
func (t *Txn) Set(key, value []byte) error {
	if err := t.checkWrite(key); err != nil {
		return err
	}
	if len(value) == 0 {
		return fmt.Errorf("txn: set %q: empty value: %w", key, kv.ErrInvalidArgument)
	}
	return t.wrote(t.buf.Set(key, value))
}

// SetWithAssertion buffers key = value and asks TiKV to check at prewrite
// that the key exists (exists true) or does not (false), under the
// transaction's assertion level (WithAssertionLevel).
func (t *Txn) SetWithAssertion(key, value []byte, exists bool) error {
	op := membuf.SetAssertNotExist
	if exists {
		op = membuf.SetAssertExist
	}
	if t.pl != nil {
		// One write, so that a flush it triggers takes the flag too.
		return t.pl.setWithFlags(key, value, op)
	}
	if err := t.Set(key, value); err != nil {
		return err
	}
	return t.buf.UpdateFlags(key, op)
}

// Insert buffers key = value, to fail at commit with a *kv.AlreadyExistError
// if the key already has a value (TiKV checks it at prewrite; in a
// pessimistic transaction, when the key is locked, LockKeys checks it).
func (t *Txn) Insert(key, value []byte) error {
	if err := t.checkWrite(key); err != nil {
		return err
	}
	if len(value) == 0 {
		return fmt.Errorf("txn: insert %q: empty value: %w", key, kv.ErrInvalidArgument)
	}
	return t.wrote(t.buf.SetWithFlags(key, value, membuf.SetPresumeKeyNotExists))
}

// InsertLazy buffers key = value like Insert, but in a pessimistic
// transaction postpones the check that the key has no value to prewrite
// (TiDB's lazy uniqueness check): LockKeys does not lock the key, and the
// prewrite sends it with PrewriteRequest_DO_CONSTRAINT_CHECK, so that TiKV
// fails the commit with a *kv.AlreadyExistError if the key has a value, or
// with a *kv.WriteConflictError if it was written after the transaction
// began (client-go's prewrite.go; TiKV's actions/prewrite.rs). This saves
// a lock round trip per key at the price of failing late. A later Set or
// Delete of the key drops the postponed check (client-go's memdb). In an
// optimistic transaction, or a pessimistic one that locked nothing (whose
// prewrite is optimistic and checks every key), it is Insert.
func (t *Txn) InsertLazy(key, value []byte) error {
	if err := t.checkWrite(key); err != nil {
		return err
	}
	if len(value) == 0 {
		return fmt.Errorf("txn: insert %q: empty value: %w", key, kv.ErrInvalidArgument)
	}
	return t.wrote(t.buf.SetWithFlags(key, value, membuf.SetPresumeKeyNotExists, membuf.SetNeedConstraintCheckInPrewrite))
}

// Delete buffers the deletion of key.
func (t *Txn) Delete(key []byte) error {
	if err := t.checkWrite(key); err != nil {
		return err
	}
	return t.wrote(t.buf.Delete(key))
}

func (t *Txn) checkWrite(key []byte) error {
	if err := t.checkActive(); err != nil {
		return err
	}
	if len(key) == 0 {
		return fmt.Errorf("txn: empty key: %w", kv.ErrInvalidArgument)
	}
	return nil
}

// Commit sends the transaction's writes with two-phase commit, or with
// async commit or 1PC when the transaction chose them (WithAsyncCommit,
// WithOnePC, or the client's CommitOptions) and is eligible;
// CommitDetails().Protocol says which ran. A read-only transaction
// commits at once, with no RPC. On success CommitTS is set. A
// write conflict is a *kv.WriteConflictError (kv.ErrTxnRetryable: run the
// transaction again, as Client.Update does). When the outcome of the
// primary's commit is unknown the error wraps kv.ErrUndetermined: the
// transaction may or may not have committed, and must not be re-run
// blindly. After Commit the transaction can no longer be used. In
// aggressive locking Commit first cancels the stage; if the stage held
// locks (neither Done nor Cancel was called: a caller's bug), it rolls
// the transaction back instead and fails with
// ErrAggressiveLockingPending.
func (t *Txn) Commit(ctx context.Context) (err error) {
	if err := t.checkActive(); err != nil {
		return err
	}
	if t.leaveAggressiveLocking() {
		t.rollbackPessimistic()
		t.finish(txnFailed, 0, twopc.CommitDetails{})
		return ErrAggressiveLockingPending
	}
	// One logical call: the prewrite and the commit of the primary carry
	// its identity, and an Observer sees them as one TxnCommit.
	ctx, end := pipeline.BeginCall(ctx, t.client.env, "TxnCommit")
	defer func() { end(err) }()
	if !t.client.commits.enter() {
		return kv.ErrClosed
	}
	defer t.client.commits.leave()
	if t.pl != nil {
		return t.pl.commit(t.snap.withTagger(t.snap.withVariables(ctx)))
	}
	muts, err := t.mutations()
	if err != nil {
		t.rollbackPessimistic()
		t.finish(txnFailed, 0, twopc.CommitDetails{})
		return err
	}
	if len(muts) == 0 {
		t.rollbackPessimistic() // locks only if exists met no key: nothing held
		t.finish(txnCommitted, 0, twopc.CommitDetails{StartTS: t.startTS})
		return nil
	}
	req := twopc.Request{StartTS: t.startTS, Mutations: muts, Began: t.began, AssertionLevel: t.assertion, Context: t.reqCtx}
	t.proto.apply(&req)
	t.pessimisticCommit(&req)
	details, err := t.client.committer.Commit(t.snap.withTagger(t.snap.withVariables(ctx)), req)
	recordCommit(ctx, details)
	t.unsetPrimary() // the commit's outcome decides the locks now
	if err != nil {
		// Locks the prewrite did not reach (it failed, or was never sent)
		// are still pessimistic: roll them back. KvPessimisticRollback
		// leaves prewritten locks alone, so this is safe whatever the
		// outcome; a pessimistic lock left means its key was never
		// prewritten and the transaction cannot have committed.
		t.rollbackPessimistic()
		t.finish(txnFailed, 0, details)
		return err
	}
	t.finish(txnCommitted, details.CommitTS, details)
	return nil
}

func (t *Txn) finish(s txnState, commitTS uint64, d twopc.CommitDetails) {
	t.mu.Lock()
	t.state, t.commitTS, t.details = s, commitTS, d
	t.mu.Unlock()
}

// Rollback discards the transaction's writes. An optimistic transaction
// sent nothing before Commit, so nothing is sent now; a pessimistic one's
// locks are rolled back in the background (KvPessimisticRollback; the
// client's Close waits for it). Rolling back a finished transaction is an
// error (kv.ErrInvalidArgument).
func (t *Txn) Rollback() error {
	if err := t.checkActive(); err != nil {
		return err
	}
	pending := t.leaveAggressiveLocking()
	if t.pl != nil {
		t.pl.rollback()
		return nil
	}
	t.rollbackPessimistic()
	t.buf.Reset()
	t.finish(txnRolledBack, 0, twopc.CommitDetails{})
	if pending {
		return ErrAggressiveLockingPending
	}
	return nil
}

// mutations turns the buffer into the committer's mutations, in key order
// (client-go's initKeysAndMutations): a put is a Put (an Insert when the
// key was presumed absent), a delete a Del (a CheckNotExists when the key
// was inserted first), a key only locked a Lock (a SharedLock when locked
// in share mode; writing such a key is ErrSharedLockUpgrade); keys
// flagged to be left out of two-phase commit are skipped, or sent as a
// Lock when the transaction locked them.
func (t *Txn) mutations() ([]twopc.Mutation, error) {
	muts := make([]twopc.Mutation, 0, t.buf.Len())
	for e, err := range t.buf.Entries(nil, nil) {
		if err != nil {
			return nil, err
		}
		kind := e.Kind
		if e.Flags.HasIgnoredIn2PC() {
			// The value is not to be written, but a key the transaction
			// locked is still prewritten, as Op_Lock: its lock must be
			// committed away, not left behind (client-go's KV filter rule
			// in initKeysAndMutations; a pessimistic lock would otherwise
			// outlive the transaction, and a primary chosen among such
			// keys would have nothing to commit).
			kind = membuf.KindNone
		}
		if kind != membuf.KindNone {
			if err := checkSharedWrite(e); err != nil {
				return nil, err
			}
		}
		m := twopc.Mutation{Key: e.Key}
		switch kind {
		case membuf.KindPut:
			m.Op, m.Value = kvrpcpb.Op_Put, e.Value
			if e.Flags.HasPresumeKeyNotExists() {
				m.Op = kvrpcpb.Op_Insert
			}
		case membuf.KindDelete:
			m.Op = kvrpcpb.Op_Del
			if e.Flags.HasPresumeKeyNotExists() && !t.pess.on {
				// Inserted, then deleted: nothing to write, but the insert's
				// promise that the key did not exist must still be checked
				// (client-go's initKeysAndMutations).
				m.Op = kvrpcpb.Op_CheckNotExists
			}
		default:
			if !e.Flags.HasLocked() {
				continue
			}
			m.Op = lockedOnlyOp(e.Flags)
		}
		switch {
		case e.Flags.HasAssertExist():
			m.Assertion = kvrpcpb.Assertion_Exist
		case e.Flags.HasAssertNotExist():
			m.Assertion = kvrpcpb.Assertion_NotExist
		}
		// client-go's initKeysAndMutations: a key a pessimistic
		// transaction locked is checked against its lock at prewrite; an
		// unlocked one whose existence check was postponed (InsertLazy)
		// is checked for constraints instead. So is an Insert the caller
		// never locked: a pessimistic prewrite skips every check of a key
		// sent without an action (TiKV's SKIP_PESSIMISTIC_CHECK), and the
		// insert's promise would go unchecked (TiDB always locks such keys
		// first; callers of this API need not).
		m.Pessimistic = t.pess.on && e.Flags.HasLocked()
		if m.Pessimistic {
			m.ExpectedForUpdateTS = t.fair.checks[string(e.Key)]
		}
		m.ConstraintCheck = t.pess.on && !m.Pessimistic &&
			(e.Flags.HasNeedConstraintCheckInPrewrite() || m.Op == kvrpcpb.Op_Insert)
		muts = append(muts, m)
	}
	return muts, nil
}
