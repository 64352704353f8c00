package txn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// splitAt are the txn region boundaries most tests use: four regions.
var splitAt = mocktikv.WithTxnSplitKeys([]byte("b"), []byte("row00123"), []byte("row00456"))

func TestSnapshotGet(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("a", "1", "c", "3", "row00200", "x")
	s := txn.NewSnapshot(c.env, &fakeResolver{decide: rollBackAll}, c.now())
	ctx := t.Context()

	for k, want := range map[string]string{"a": "1", "c": "3", "row00200": "x"} {
		v, err := s.Get(ctx, []byte(k))
		require.NoError(t, err, k)
		require.Equal(t, want, string(v), k)
	}
	_, err := s.Get(ctx, []byte("missing"))
	require.ErrorIs(t, err, kv.ErrNotFound)
	_, err = s.Get(ctx, nil)
	require.ErrorIs(t, err, kv.ErrInvalidArgument)

	// Each request carries the snapshot's ts.
	gets := c.rec.sent(transport.CmdGet)
	require.Len(t, gets, 4)
	for _, g := range gets {
		require.Equal(t, s.TS(), g.Msg.(*kvrpcpb.GetRequest).Version)
	}
}

// TestBatchGet ports client-go integration_tests/snapshot_test.go
// TestBatchGet and TestBatchGetNotExist (checkAll: BatchGet agrees with a
// scan over the same rows), here across four regions.
func TestBatchGet(t *testing.T) {
	for _, n := range []int{1, 200, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			c := connectInProcess(t, splitAt)
			c.write(rows(n)...)
			s := txn.NewSnapshot(c.env, &fakeResolver{decide: rollBackAll}, c.now())

			var keys [][]byte
			for i := range n {
				keys = append(keys, []byte(rowKey(i)))
			}
			keys = append(keys, []byte("noSuchKey"))
			values, err := s.BatchGet(t.Context(), keys)
			require.NoError(t, err)
			require.Len(t, values, n+1)
			require.Nil(t, values[n], "a missing key's value is nil")

			got, err := collect(s.Iter(t.Context(), []byte("row"), nil))
			require.NoError(t, err)
			require.Len(t, got, n)
			for i, kv := range got {
				require.Equal(t, rowKey(i)+"="+string(values[i]), kv)
			}
			if n > 456 {
				// One RPC per region the keys fall in.
				require.Equal(t, 3, c.rec.count(transport.CmdBatchGet))
			}
		})
	}
}

func TestBatchGetKeepsCallerOrderAndDuplicates(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("a", "1", "c", "3")
	s := txn.NewSnapshot(c.env, nil, c.now())
	values, err := s.BatchGet(t.Context(), [][]byte{[]byte("c"), []byte("zz"), []byte("a"), []byte("c")})
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("3"), nil, []byte("1"), []byte("3")}, values)
	// The duplicate was asked for once.
	reqs := c.rec.sent(transport.CmdBatchGet)
	var asked int
	for _, r := range reqs {
		asked += len(r.Msg.(*kvrpcpb.BatchGetRequest).Keys)
	}
	require.Equal(t, 3, asked)

	_, err = s.BatchGet(t.Context(), [][]byte{[]byte("a"), nil})
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
}

// TestSnapshotMVCCVisibility checks that a snapshot sees exactly the
// versions committed at or before its ts.
func TestSnapshotMVCCVisibility(t *testing.T) {
	c := connectInProcess(t, splitAt)
	ctx := t.Context()
	c1 := c.write("k", "v1", "row00001", "r1")
	ts1 := c.now()
	c2 := c.write("k", "v2", "row00001", "")
	ts2 := c.now()
	c.write("k", "")
	ts3 := c.now()
	require.Less(t, ts1, c2)

	cases := []struct {
		ts      uint64
		k       string
		kScan   []string
		wantErr error
	}{
		{ts: ts1, k: "v1", kScan: []string{"k=v1", "row00001=r1"}},
		{ts: ts2, k: "v2", kScan: []string{"k=v2"}},
		{ts: ts3, wantErr: kv.ErrNotFound},
	}
	for _, tc := range cases {
		s := txn.NewSnapshot(c.env, nil, tc.ts)
		v, err := s.Get(ctx, []byte("k"))
		if tc.wantErr != nil {
			require.ErrorIs(t, err, tc.wantErr)
		} else {
			require.NoError(t, err)
			require.Equal(t, tc.k, string(v))
		}
		got, err := collect(s.Iter(ctx, nil, nil))
		require.NoError(t, err)
		require.Equal(t, tc.kScan, got)
	}
	// A snapshot below the first commit sees nothing.
	s := txn.NewSnapshot(c.env, nil, c1-1)
	_, err := s.Get(ctx, []byte("k"))
	require.ErrorIs(t, err, kv.ErrNotFound)
}

// TestGetAndBatchGetWithReturnCommitTS ports client-go
// integration_tests/snapshot_test.go TestGetAndBatchGetWithReturnCommitTS.
func TestGetAndBatchGetWithReturnCommitTS(t *testing.T) {
	c := connectInProcess(t, splitAt)
	commitTS := c.write("a", "a1", "b", "b1", "c", "c1")
	s := txn.NewSnapshot(c.env, nil, c.now())
	ctx := t.Context()

	entries, err := s.BatchGetWithCommitTS(ctx, [][]byte{[]byte("a"), []byte("b"), []byte("d")})
	require.NoError(t, err)
	require.Equal(t, []txn.ValueEntry{{Value: []byte("a1"), CommitTS: commitTS}, {Value: []byte("b1"), CommitTS: commitTS}, {}}, entries)
	for _, r := range c.rec.sent(transport.CmdBatchGet) {
		require.True(t, r.Msg.(*kvrpcpb.BatchGetRequest).NeedCommitTs)
	}

	e, err := s.GetWithCommitTS(ctx, []byte("c"))
	require.NoError(t, err)
	require.Equal(t, txn.ValueEntry{Value: []byte("c1"), CommitTS: commitTS}, e)

	e, err = s.GetWithCommitTS(ctx, []byte("e"))
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.Equal(t, txn.ValueEntry{}, e)
}

// TestSnapshotCache ports client-go integration_tests/snapshot_test.go
// TestSnapshotCache: Get and BatchGet answers, not-found ones included,
// are served from the cache; a cached entry without a commit ts is a miss
// for a read that wants one, and the entry read then serves later ones.
func TestSnapshotCache(t *testing.T) {
	c := connectInProcess(t, splitAt)
	commitTS := c.write("cache_x", "x", "cache_y", "", "cache_a", "a", "cache_b", "")
	s := txn.NewSnapshot(c.env, nil, c.now())
	ctx := t.Context()
	x, y, a, b := []byte("cache_x"), []byte("cache_y"), []byte("cache_a"), []byte("cache_b")

	_, err := s.BatchGet(ctx, [][]byte{x, y})
	require.NoError(t, err)
	_, err = s.Get(ctx, a)
	require.NoError(t, err)
	_, err = s.Get(ctx, b)
	require.ErrorIs(t, err, kv.ErrNotFound)
	c.rec.reset()

	values, err := s.BatchGet(ctx, [][]byte{x, y})
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("x"), nil}, values)
	v, err := s.Get(ctx, a)
	require.NoError(t, err)
	require.Equal(t, "a", string(v))
	_, err = s.Get(ctx, b)
	require.ErrorIs(t, err, kv.ErrNotFound)
	require.Zero(t, c.rec.count(transport.CmdGet)+c.rec.count(transport.CmdBatchGet), "every read came from the cache")

	// Wanting the commit ts misses the entries cached without it (x, a),
	// not the missing ones (y, b); the second round is all cache.
	for round := range 2 {
		c.rec.reset()
		entries, err := s.BatchGetWithCommitTS(ctx, [][]byte{x, y})
		require.NoError(t, err)
		require.Equal(t, []txn.ValueEntry{{Value: []byte("x"), CommitTS: commitTS}, {}}, entries)
		e, err := s.GetWithCommitTS(ctx, a)
		require.NoError(t, err)
		require.Equal(t, txn.ValueEntry{Value: []byte("a"), CommitTS: commitTS}, e)
		_, err = s.GetWithCommitTS(ctx, b)
		require.ErrorIs(t, err, kv.ErrNotFound)
		rpcs := c.rec.count(transport.CmdGet) + c.rec.count(transport.CmdBatchGet)
		if round == 0 {
			require.Equal(t, 2, rpcs, "x by BatchGet and a by Get")
			got := c.rec.sent(transport.CmdBatchGet)[0].Msg.(*kvrpcpb.BatchGetRequest).Keys
			require.Equal(t, [][]byte{x}, got)
		} else {
			require.Zero(t, rpcs)
		}
	}
	// A read without the commit ts gets it zeroed, as from TiKV.
	v, err = s.Get(ctx, a)
	require.NoError(t, err)
	require.Equal(t, "a", string(v))

	// Callers own what they get: modifying it does not reach the cache.
	v[0] = 'z'
	v, err = s.Get(ctx, a)
	require.NoError(t, err)
	require.Equal(t, "a", string(v))
}

// TestSnapshotCacheBypassMaxUint64 ports client-go
// integration_tests/snapshot_test.go TestSnapshotCacheBypassMaxUint64: a
// read of the newest data is never cached.
func TestSnapshotCacheBypassMaxUint64(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("x", "x", "y", "y")
	s := txn.NewSnapshot(c.env, nil, txn.MaxTS)
	for range 2 {
		v, err := s.Get(t.Context(), []byte("x"))
		require.NoError(t, err)
		require.Equal(t, "x", string(v))
		_, err = s.BatchGet(t.Context(), [][]byte{[]byte("y")})
		require.NoError(t, err)
	}
	require.Equal(t, 2, c.rec.count(transport.CmdGet))
	require.Equal(t, 2, c.rec.count(transport.CmdBatchGet))

	// WithCacheLimit(0) turns the cache off for a normal snapshot too.
	c.rec.reset()
	s = txn.NewSnapshot(c.env, nil, c.now(), txn.WithCacheLimit(0))
	for range 2 {
		_, err := s.Get(t.Context(), []byte("x"))
		require.NoError(t, err)
	}
	require.Equal(t, 2, c.rec.count(transport.CmdGet))
}

// TestSnapshotThreadSafe ports client-go integration_tests/snapshot_test.go
// TestSnapshotThreadSafe (run it with -race).
func TestSnapshotThreadSafe(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("key_test_snapshot_threadsafe", "x")
	s := txn.NewSnapshot(c.env, &fakeResolver{decide: rollBackAll}, c.now())
	key, missing := []byte("key_test_snapshot_threadsafe"), []byte("key_not_exist")
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			for range 30 {
				if _, err := s.Get(t.Context(), key); err != nil {
					errs <- err
					return
				}
				vs, err := s.BatchGet(t.Context(), [][]byte{key, missing})
				if err != nil || string(vs[0]) != "x" || vs[1] != nil {
					errs <- fmt.Errorf("batch get: %q %v", vs, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestRCRead ports client-go integration_tests/snapshot_test.go TestRCRead:
// an RC read passes a prewritten lock without meeting it.
func TestRCRead(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write(rows(10)...)
	c.lock(time.Minute, rowKey(0), rowValue(1))
	r := &fakeResolver{decide: rollBackAll}
	s := txn.NewSnapshot(c.env, r, c.now(), txn.WithIsolationLevel(txn.RC))
	ctx := t.Context()

	v, err := s.Get(ctx, []byte(rowKey(0)))
	require.NoError(t, err)
	require.Equal(t, rowValue(0), string(v))
	var keys [][]byte
	for i := range 10 {
		keys = append(keys, []byte(rowKey(i)))
	}
	values, err := s.BatchGet(ctx, keys)
	require.NoError(t, err)
	for i, v := range values {
		require.Equal(t, rowValue(i), string(v))
	}
	calls, _ := r.seen()
	require.Zero(t, calls, "RC meets no lock")
	for _, q := range c.rec.sent(transport.CmdGet) {
		require.Equal(t, kvrpcpb.IsolationLevel_RC, q.Msg.(*kvrpcpb.GetRequest).Context.IsolationLevel)
	}

	// The same read under SI meets the lock.
	si := txn.NewSnapshot(c.env, r, s.TS())
	v, err = si.Get(ctx, []byte(rowKey(0)))
	require.NoError(t, err)
	require.Equal(t, rowValue(0), string(v), "the resolver rolled the lock's txn back")
	calls, _ = r.seen()
	require.Equal(t, 1, calls)
}

// TestRCCheckTSRead: an RCCheckTS read of a key with a version newer than
// its ts fails with a write conflict instead of reading stale data
// (TiKV's point_getter.rs, RcCheckTs).
func TestRCCheckTSRead(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("k", "old")
	ts := c.now()
	c.write("k", "new")
	s := txn.NewSnapshot(c.env, nil, ts, txn.WithIsolationLevel(txn.RCCheckTS))
	_, err := s.Get(t.Context(), []byte("k"))
	require.ErrorIs(t, err, kv.ErrWriteConflict)
	var wc *kv.WriteConflictError
	require.ErrorAs(t, err, &wc)

	fresh := txn.NewSnapshot(c.env, nil, c.now(), txn.WithIsolationLevel(txn.RCCheckTS))
	v, err := fresh.Get(t.Context(), []byte("k"))
	require.NoError(t, err)
	require.Equal(t, "new", string(v))
}

func TestSnapshotRefusesBadArguments(t *testing.T) {
	c := connectInProcess(t, splitAt)
	ctx := t.Context()

	raw := txn.NewSnapshot(c.cluster.EnvFor(kv.ModeRaw), nil, c.now())
	_, err := raw.Get(ctx, []byte("k"))
	var me *kv.KeyModeError
	require.ErrorAs(t, err, &me)
	require.Equal(t, kv.ModeRaw, me.EnvMode)
	_, err = raw.BatchGet(ctx, [][]byte{[]byte("k")})
	require.ErrorAs(t, err, &me)
	_, err = collect(raw.Iter(ctx, nil, nil))
	require.ErrorAs(t, err, &me)

	bad := txn.NewSnapshot(c.env, nil, 1<<63)
	_, err = bad.Get(ctx, []byte("k"))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	_, err = txn.NewSnapshot(nil, nil, 1).Get(ctx, []byte("k"))
	require.ErrorIs(t, err, kv.ErrInvalidArgument)
	require.Zero(t, len(c.rec.sent(transport.CmdGet)), "nothing was sent")
}

func TestSnapshotOptionsOnTheWire(t *testing.T) {
	c := connectInProcess(t, splitAt, mocktikv.WithStores(3))
	c.write("a", "1", "row00001", "r")
	s := txn.NewSnapshot(c.env, nil, c.now(),
		txn.WithPriority(kvrpcpb.CommandPri_High), txn.WithNotFillCache(), txn.WithRequestSource("test_source"),
		txn.WithResourceGroupTag([]byte("tag")), txn.WithResourceGroupName("rg"), txn.WithKeyOnly(),
		txn.WithReplicaRead(kv.ReplicaReadFollower), txn.WithIsolationLevel(txn.SI))
	ctx := t.Context()
	_, err := s.Get(ctx, []byte("a"))
	require.NoError(t, err)
	_, err = s.BatchGet(ctx, [][]byte{[]byte("row00001")})
	require.NoError(t, err)
	got, err := collect(s.Iter(ctx, nil, nil))
	require.NoError(t, err)
	require.Equal(t, []string{"a=", "row00001="}, got, "key only")

	var n int
	for _, cmd := range []transport.Cmd{transport.CmdGet, transport.CmdBatchGet, transport.CmdScan} {
		for _, q := range c.rec.sent(cmd) {
			n++
			rc := cmd.Context(q.Msg)
			require.Equal(t, kvrpcpb.CommandPri_High, rc.Priority, cmd)
			require.True(t, rc.NotFillCache, cmd)
			require.Equal(t, "test_source", rc.RequestSource, cmd)
			require.Equal(t, []byte("tag"), rc.ResourceGroupTag, cmd)
			require.Equal(t, "rg", rc.ResourceControlContext.GetResourceGroupName(), cmd)
			require.Equal(t, kvrpcpb.IsolationLevel_SI, rc.IsolationLevel, cmd)
			require.True(t, rc.ReplicaRead, "%v goes to a follower", cmd)
			if cmd == transport.CmdScan {
				require.True(t, q.Msg.(*kvrpcpb.ScanRequest).KeyOnly)
			}
		}
	}
	require.GreaterOrEqual(t, n, 3)
}

// TestSnapshotSafePoint: reads at a ts the txn safe point has passed fail
// with kv.ErrTxnAbortedByGC (client-go's KVStore.CheckVisibility after
// every read); an unknown safe point fails them too.
func TestSnapshotSafePoint(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("a", "1", "row00001", "r")
	ts := c.now()
	ctx := t.Context()
	var (
		mu sync.Mutex
		sp uint64
		fe error
	)
	checker := txn.SafePointFunc(func(context.Context) (uint64, error) {
		mu.Lock()
		defer mu.Unlock()
		return sp, fe
	})
	set := func(v uint64, err error) { mu.Lock(); sp, fe = v, err; mu.Unlock() }
	s := txn.NewSnapshot(c.env, nil, ts, txn.WithSafePointChecker(checker), txn.WithCacheLimit(0))

	set(ts, nil) // at the safe point: still visible
	_, err := s.Get(ctx, []byte("a"))
	require.NoError(t, err)

	set(ts+1, nil)
	_, err = s.Get(ctx, []byte("a"))
	require.ErrorIs(t, err, kv.ErrTxnAbortedByGC)
	var gc *kv.TxnAbortedByGCError
	require.ErrorAs(t, err, &gc)
	require.Equal(t, kv.TxnAbortedByGCError{StartTS: ts, SafePoint: ts + 1}, *gc)
	_, err = s.BatchGet(ctx, [][]byte{[]byte("a")})
	require.ErrorIs(t, err, kv.ErrTxnAbortedByGC)
	_, err = collect(s.Iter(ctx, nil, nil))
	require.ErrorIs(t, err, kv.ErrTxnAbortedByGC)

	boom := errors.New("pd down")
	set(0, boom)
	_, err = s.Get(ctx, []byte("a"))
	require.ErrorIs(t, err, boom)
}

// TestCommitTSRequiredAssertion ports client-go
// integration_tests/snapshot_fail_test.go TestCommitTSRequiredAssertion: a
// read that asked for commit ts and got a value without one fails ("commit
// timestamp is required but not returned"), here as kv.ErrProtocol; a read
// that did not ask is unaffected.
func TestCommitTSRequiredAssertion(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("a", "1", "b", "2")
	c.mock.Inject(mocktikv.Fault{Cmd: transport.CmdGet, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Respond(
		func(req transport.Message) transport.Message {
			return &kvrpcpb.GetResponse{Value: []byte("1")}
		}))}})
	c.mock.Inject(mocktikv.Fault{Cmd: transport.CmdBatchGet, Steps: []mocktikv.Step{mocktikv.Always(mocktikv.Respond(
		func(req transport.Message) transport.Message {
			return &kvrpcpb.BatchGetResponse{Pairs: []*kvrpcpb.KvPair{{Key: []byte("b"), Value: []byte("2")}}}
		}))}})
	s := txn.NewSnapshot(c.env, nil, c.now())
	ctx := t.Context()
	_, err := s.GetWithCommitTS(ctx, []byte("a"))
	require.ErrorIs(t, err, kv.ErrProtocol)
	_, err = s.BatchGetWithCommitTS(ctx, [][]byte{[]byte("b")})
	require.ErrorIs(t, err, kv.ErrProtocol)

	v, err := s.Get(ctx, []byte("a"))
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
	vs, err := s.BatchGet(ctx, [][]byte{[]byte("b")})
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("2")}, vs)
}
