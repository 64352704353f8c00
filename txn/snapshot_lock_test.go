package txn_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestSnapshotGetResolvesLock: a Get that meets the lock of an uncommitted
// transaction hands it to the resolver and reads again with what the
// resolver found in Context.resolved_locks (rolled back: the old value) or
// committed_locks (committed: the locked value, read from the lock); a
// later read of the same snapshot carries it from the start and never
// meets that transaction's locks again.
func TestSnapshotGetResolvesLock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		decide    func(int, *kv.Lock) outcome
		want      string
		committed bool
	}{
		{"rolled back", rollBackAll, "old", false},
		{"committed", commitAll, "new", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connectInProcess(t, splitAt)
			c.write("x", "old", "row00200", "old")
			lockTS := c.lock(time.Minute, "x", "new", "row00200", "new")
			r := &fakeResolver{decide: tc.decide}
			s := txn.NewSnapshot(c.env, r, c.now())
			ctx := t.Context()

			v, err := s.Get(ctx, []byte("x"))
			require.NoError(t, err)
			require.Equal(t, tc.want, string(v))
			calls, locks := r.seen()
			require.Equal(t, 1, calls)
			require.Equal(t, []uint64{lockTS}, locks)
			require.Equal(t, []uint64{s.TS()}, r.callerTS)

			gets := c.rec.sent(transport.CmdGet)
			require.Len(t, gets, 2)
			first, second := gets[0].Msg.(*kvrpcpb.GetRequest).Context, gets[1].Msg.(*kvrpcpb.GetRequest).Context
			require.Empty(t, first.ResolvedLocks)
			require.Empty(t, first.CommittedLocks)
			if tc.committed {
				require.Equal(t, []uint64{lockTS}, second.CommittedLocks)
			} else {
				require.Equal(t, []uint64{lockTS}, second.ResolvedLocks)
			}

			// The other key of the same transaction, in another region:
			// read through at once.
			c.rec.reset()
			v, err = s.Get(ctx, []byte("row00200"))
			require.NoError(t, err)
			require.Equal(t, tc.want, string(v))
			calls, _ = r.seen()
			require.Equal(t, 1, calls, "the snapshot remembered the transaction")
			require.Equal(t, 1, c.rec.count(transport.CmdGet))
		})
	}
}

// TestSnapshotWaitsForLiveLock: a lock the resolver finds alive is waited
// for (TxnLockFast backoff) and the read sent again, until it is settled.
func TestSnapshotWaitsForLiveLock(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("x", "old")
	c.lock(time.Minute, "x", "new")
	r := &fakeResolver{decide: func(call int, _ *kv.Lock) outcome {
		if call < 3 {
			return outcome{live: 5 * time.Millisecond}
		}
		return outcome{}
	}}
	s := txn.NewSnapshot(c.env, r, c.now())
	v, err := s.Get(t.Context(), []byte("x"))
	require.NoError(t, err)
	require.Equal(t, "old", string(v))
	calls, _ := r.seen()
	require.Equal(t, 3, calls)
	require.Equal(t, 4, c.rec.count(transport.CmdGet))
}

// TestSnapshotLockAfterTSIsInvisible: a lock of a transaction that started
// after the snapshot's ts cannot commit at or before it, so TiKV does not
// report it (lock.rs check_ts_conflict_si) and nothing is resolved.
func TestSnapshotLockAfterTSIsInvisible(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("x", "old")
	ts := c.now()
	c.lock(time.Minute, "x", "new")
	r := &fakeResolver{decide: rollBackAll}
	s := txn.NewSnapshot(c.env, r, ts)
	v, err := s.Get(t.Context(), []byte("x"))
	require.NoError(t, err)
	require.Equal(t, "old", string(v))
	got, err := collect(s.Iter(t.Context(), nil, nil))
	require.NoError(t, err)
	require.Equal(t, []string{"x=old"}, got)
	calls, _ := r.seen()
	require.Zero(t, calls)
}

func TestSnapshotLockWithoutResolverOrWithFailingResolver(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("x", "old")
	lockTS := c.lock(time.Minute, "x", "new")
	ts := c.now()

	_, err := txn.NewSnapshot(c.env, nil, ts).Get(t.Context(), []byte("x"))
	var le *kv.LockedError
	require.ErrorAs(t, err, &le)
	require.Equal(t, lockTS, le.Locks[0].StartTS)
	require.Equal(t, "x", string(le.Locks[0].Primary))

	boom := errors.New("resolver broke")
	r := &fakeResolver{decide: func(int, *kv.Lock) outcome { return outcome{err: boom} }}
	_, err = txn.NewSnapshot(c.env, r, ts).Get(t.Context(), []byte("x"))
	require.ErrorIs(t, err, boom)
}

// TestBatchGetResolvesLocks: locked keys in several regions are resolved
// per region; each region's batch is read again with what was learnt.
func TestBatchGetResolvesLocks(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("a", "a0", "c", "c0", "row00200", "r0", "row00500", "s0")
	lockTS := c.lock(time.Minute, "c", "c1", "row00500", "s1")
	r := &fakeResolver{decide: commitAll}
	s := txn.NewSnapshot(c.env, r, c.now())
	values, err := s.BatchGet(t.Context(), [][]byte{[]byte("a"), []byte("c"), []byte("row00200"), []byte("row00500")})
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("a0"), []byte("c1"), []byte("r0"), []byte("s1")}, values)
	_, locks := r.seen()
	slices.Sort(locks)
	require.Equal(t, []uint64{lockTS, lockTS}, locks, "one lock met in each of two regions")
	var withCommitted int
	for _, q := range c.rec.sent(transport.CmdBatchGet) {
		if slices.Contains(q.Msg.(*kvrpcpb.BatchGetRequest).Context.CommittedLocks, lockTS) {
			withCommitted++
		}
	}
	require.Equal(t, 2, withCommitted)
}

// TestIterResolvesLocks: a scan page that meets locks is read again once
// they are resolved; later pages keep what was learnt.
func TestIterResolvesLocks(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write(rows(300)...)
	lockTS := c.lock(time.Minute, rowKey(10), "new10", rowKey(200), "new200", rowKey(201), "")
	r := &fakeResolver{decide: commitAll}
	s := txn.NewSnapshot(c.env, r, c.now(), txn.WithScanBatchSize(50))
	got, err := collect(s.Iter(t.Context(), []byte("row"), nil))
	require.NoError(t, err)
	want := expectRows(0, 300, false)
	want[10] = rowKey(10) + "=new10"
	want[200] = rowKey(200) + "=new200"
	want = slices.Delete(want, 201, 202)
	require.Equal(t, want, got)
	calls, locks := r.seen()
	require.Equal(t, 2, calls, "one page met row 10; the page over rows 200, 201 met both at once")
	require.Equal(t, []uint64{lockTS, lockTS, lockTS}, locks)
}

// TestBatchGetResponseKeyError ports client-go
// integration_tests/snapshot_fail_test.go TestBatchGetResponseKeyError: a
// lock reported for the whole BatchGet response is resolved and the batch
// read again.
func TestBatchGetResponseKeyError(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("k1", "v1", "k2", "v2")
	ts := c.now()
	c.mock.Inject(mocktikv.Fault{Cmd: transport.CmdBatchGet, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.KeyError(&kvrpcpb.KeyError{
		Locked: &kvrpcpb.LockInfo{PrimaryLock: []byte("k1"), LockVersion: ts - 1, Key: []byte("k1"), LockTtl: 50, LockType: kvrpcpb.Op_Put},
	}))}})
	r := &fakeResolver{decide: rollBackAll}
	s := txn.NewSnapshot(c.env, r, ts)
	values, err := s.BatchGet(t.Context(), [][]byte{[]byte("k1"), []byte("k2")})
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("v1"), []byte("v2")}, values)
	_, locks := r.seen()
	require.Equal(t, []uint64{ts - 1}, locks)
}

// TestScanResponseKeyError ports client-go
// integration_tests/snapshot_fail_test.go TestScanResponseKeyError: a lock
// reported for a whole Scan response is resolved and the page read again.
func TestScanResponseKeyError(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("k1", "v1", "k2", "v2", "k3", "v3")
	ts := c.now()
	c.mock.Inject(mocktikv.Fault{Cmd: transport.CmdScan, Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.KeyError(&kvrpcpb.KeyError{
		Locked: &kvrpcpb.LockInfo{PrimaryLock: []byte("k1"), LockVersion: ts - 1, Key: []byte("k1"), LockTtl: 50, LockType: kvrpcpb.Op_Put},
	}))}})
	r := &fakeResolver{decide: rollBackAll}
	s := txn.NewSnapshot(c.env, r, ts)
	got, err := collect(s.Iter(t.Context(), []byte("k"), []byte("l")))
	require.NoError(t, err)
	require.Equal(t, []string{"k1=v1", "k2=v2", "k3=v3"}, got)
	_, locks := r.seen()
	require.Equal(t, []uint64{ts - 1}, locks)
}

// TestPointGetSkipTxnLock ports the first half of client-go
// integration_tests/snapshot_test.go TestPointGetSkipTxnLock: a read at
// MaxTS is not blocked by the primary lock of a transaction still
// committing (TiKV's "point get skip primary lock"), and reads the old
// value without asking the resolver. (The second half, the secondary key,
// depends on the real resolver of package txnlock.)
func TestPointGetSkipTxnLock(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("x", "x0")
	c.lock(time.Minute, "x", "x1", "y", "y1")
	r := &fakeResolver{decide: rollBackAll}
	s := txn.NewSnapshot(c.env, r, txn.MaxTS)
	v, err := s.Get(t.Context(), []byte("x"))
	require.NoError(t, err)
	require.Equal(t, "x0", string(v))
	calls, _ := r.seen()
	require.Zero(t, calls)

	// The secondary's lock does block: it goes to the resolver.
	_, err = s.Get(t.Context(), []byte("y"))
	require.ErrorIs(t, err, kv.ErrNotFound)
	calls, _ = r.seen()
	require.Equal(t, 1, calls)
}

// TestRetryMaxTsPointGetSkipLock ports the rule client-go's
// integration_tests/snapshot_fail_test.go TestRetryMaxTsPointGetSkipLock
// checks: a point get at MaxTS waits only for the transaction of the first
// lock it met; a different transaction's lock met on a later try is
// skipped without the resolver. Here, while the first lock is being
// resolved, its transaction rolls back and a second one locks the key.
func TestRetryMaxTsPointGetSkipLock(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("y", "y0")
	first := c.lock(time.Minute, "x", "x1", "y", "y1") // y is a secondary: it blocks MaxTS reads
	var second uint64
	r := &fakeResolver{decide: func(int, *kv.Lock) outcome {
		c.rollback(first, "x", "y")
		second = c.lock(time.Minute, "z", "z2", "y", "y2")
		return outcome{}
	}}
	s := txn.NewSnapshot(c.env, r, txn.MaxTS)
	v, err := s.Get(t.Context(), []byte("y"))
	require.NoError(t, err)
	require.Equal(t, "y0", string(v))
	calls, locks := r.seen()
	require.Equal(t, 1, calls, "the second transaction's lock was skipped, not resolved")
	require.Equal(t, []uint64{first}, locks)
	gets := c.rec.sent(transport.CmdGet)
	require.Len(t, gets, 3)
	require.ElementsMatch(t, []uint64{first, second}, gets[2].Msg.(*kvrpcpb.GetRequest).Context.ResolvedLocks)

	// A snapshot at a normal ts resolves every lock it meets.
	c.rollback(second, "z", "y")
	third := c.lock(time.Minute, "w", "w3", "y", "y3")
	r2 := &fakeResolver{decide: rollBackAll}
	v, err = txn.NewSnapshot(c.env, r2, c.now()).Get(t.Context(), []byte("y"))
	require.NoError(t, err)
	require.Equal(t, "y0", string(v))
	_, locks = r2.seen()
	require.Equal(t, []uint64{third}, locks)
}
