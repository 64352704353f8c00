package txn_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/metapb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/txn"
)

// inZone is the label of zone n's store (newReplicaCluster).
func inZone(n int) []*metapb.StoreLabel {
	return []*metapb.StoreLabel{{Key: "zone", Value: fmt.Sprintf("z%d", n)}}
}

// wantReads fails the test unless reads are exactly want (store and
// flags; the command is not compared).
func wantReads(t *testing.T, reads []servedRead, want ...servedRead) {
	t.Helper()
	strip := func(rs []servedRead) []servedRead {
		out := make([]servedRead, len(rs))
		for i, r := range rs {
			out[i] = servedRead{store: r.store, staleRead: r.staleRead, replicaRead: r.replicaRead, busyMs: r.busyMs}
		}
		return out
	}
	if got := strip(reads); !slices.Equal(got, strip(want)) {
		t.Fatalf("reads %+v, want %+v", got, strip(want))
	}
}

// TestStaleReadServedByFollower: a stale read is served by the follower the
// labels pick, flagged stale_read (not replica_read: no read index), for
// Get, BatchGet and scans, and so are the reads of a transaction begun with
// WithStaleReadTS. In process and over gRPC.
func TestStaleReadServedByFollower(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		ctx := context.Background()
		p, sl := newReplicaCluster(t, grpc, nil)
		// One key per transaction: a commit returns before its secondaries
		// are committed, and a read meeting their locks would be resent.
		p.commit("k1", "v1")
		p.commit("k2", "v2")
		ts, err := p.client.CurrentTimestamp(ctx)
		require.NoError(t, err)
		sl.take()

		snap := p.client.Snapshot(ts, txn.WithStaleRead(), txn.WithMatchStoreLabels(inZone(2)))
		v, err := snap.Get(ctx, []byte("k1"))
		require.NoError(t, err)
		assert.Equal(t, "v1", string(v))
		vs, err := snap.BatchGet(ctx, [][]byte{[]byte("k2")})
		require.NoError(t, err)
		assert.Equal(t, "v2", string(vs[0]))
		var keys []string
		for kvp, err := range snap.Iter(ctx, []byte("k"), []byte("l")) {
			require.NoError(t, err)
			keys = append(keys, string(kvp.Key))
		}
		assert.Equal(t, []string{"k1", "k2"}, keys)
		stale2 := servedRead{store: 2, staleRead: true}
		wantReads(t, sl.take(), stale2, stale2, stale2)

		tx := p.begin(txn.WithStaleReadTS(ts), txn.WithTxnSnapshotOptions(txn.WithMatchStoreLabels(inZone(3))))
		assert.Equal(t, ts, tx.StartTS())
		v, err = tx.Get(ctx, []byte("k2"))
		require.NoError(t, err)
		assert.Equal(t, "v2", string(v))
		assert.NoError(t, tx.Rollback())
		wantReads(t, sl.take(), servedRead{store: 3, staleRead: true})
	})
}

// TestFollowerReadServedByFollower: a follower read goes to the follower the
// labels pick, flagged replica_read (TiKV serves it after a read index).
func TestFollowerReadServedByFollower(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		ctx := context.Background()
		p, sl := newReplicaCluster(t, grpc, nil)
		p.commit("k1", "v1")
		sl.take()
		snap := p.client.Snapshot(p.now(), txn.WithReplicaRead(kv.ReplicaReadFollower), txn.WithMatchStoreLabels(inZone(3)))
		v, err := snap.Get(ctx, []byte("k1"))
		require.NoError(t, err)
		assert.Equal(t, "v1", string(v))
		wantReads(t, sl.take(), servedRead{store: 3, replicaRead: true})
	})
}

// TestPortStaleReadDataIsNotReady ports the stale-read access path of
// client-go's region_request3_test.go / replica_selector_test.go: a
// follower whose safe ts is below the read ts answers DataIsNotReady
// (TiKV's read.rs check_stale_read_safe) and the read is sent again to the
// leader as a normal read, which serves it.
func TestPortStaleReadDataIsNotReady(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		ctx := context.Background()
		p, sl := newReplicaCluster(t, grpc, nil)
		p.commit("k1", "v1")
		ts := p.now()
		region := p.mock.Regions()[0]
		require.NoError(t, p.mock.SetSafeTS(region.GetId(), ts-1))
		sl.take()

		v, err := p.client.Snapshot(ts, txn.WithStaleRead(), txn.WithMatchStoreLabels(inZone(2))).Get(ctx, []byte("k1"))
		require.NoError(t, err)
		assert.Equal(t, "v1", string(v))
		wantReads(t, sl.take(), servedRead{store: 2, staleRead: true}, servedRead{store: 1})

		// At or below the safe ts the follower serves.
		p.mock.ResetSafeTS(region.GetId())
		v, err = p.client.Snapshot(ts-1, txn.WithStaleRead(), txn.WithMatchStoreLabels(inZone(2))).Get(ctx, []byte("k1"))
		require.NoError(t, err)
		assert.Equal(t, "v1", string(v))
		wantReads(t, sl.take(), servedRead{store: 2, staleRead: true})
	})
}

// TestStaleReadMeetingLockGoesToLeader: a stale read that meets a lock
// resolves it and reads again at the leader, neither stale nor load-based
// (client-go's DisableStaleReadMeetLock).
func TestStaleReadMeetingLockGoesToLeader(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		ctx := context.Background()
		p, sl := newReplicaCluster(t, grpc, nil)
		p.commit("k1", "v1")
		p.prewrite(time.Millisecond, mutations("k1", "v2")) // expires at once: rolled back
		ts := p.now()
		sl.take()

		snap := p.client.Snapshot(ts, txn.WithStaleRead(), txn.WithMatchStoreLabels(inZone(2)),
			txn.WithLoadBasedReplicaReadThreshold(time.Second))
		v, err := snap.Get(ctx, []byte("k1"))
		require.NoError(t, err)
		assert.Equal(t, "v1", string(v))
		reads := sl.take()
		require.True(t, len(reads) >= 2, "reads %+v", reads)
		wantReads(t, reads[:1], servedRead{store: 2, staleRead: true})
		for _, r := range reads[1:] {
			wantReads(t, []servedRead{r}, servedRead{store: 1})
		}
	})
}

// TestStaleReadRefusesLatest: a stale read at MaxTS is refused before
// anything is sent (client-go's ErrLatestStaleRead).
//
// With TestReadTSValidationRefusesFutureTS it ports client-go's
// TestRegionRequestValidateReadTS (internal/locate/region_request_test.go).
func TestStaleReadRefusesLatest(t *testing.T) {
	p, sl := newReplicaCluster(t, false, nil)
	sl.take()
	_, err := p.client.Snapshot(txn.MaxTS, txn.WithStaleRead()).Get(context.Background(), []byte("k1"))
	assert.ErrorIs(t, err, pdclient.ErrLatestStaleRead)
	assert.ErrorIs(t, err, kv.ErrInvalidArgument)
	assert.Equal(t, 0, len(sl.take()))
}

// TestReadTSValidationRefusesFutureTS: a snapshot read at a ts PD has not
// handed out is refused with a *pdclient.FutureTSReadError before it is
// sent, for Get, BatchGet and scans, normal and stale reads and
// transactions alike (client-go validates in its region request sender);
// WithReadTSValidator(nil) turns the check off.
//
// With TestStaleReadRefusesLatest it ports client-go's
// TestRegionRequestValidateReadTS (internal/locate/region_request_test.go).
func TestReadTSValidationRefusesFutureTS(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		ctx := context.Background()
		p, sl := newReplicaCluster(t, grpc, nil)
		future := pdclient.GoTimeToTS(time.Now().Add(time.Hour))
		sl.take()
		wantFuture := func(err error) {
			t.Helper()
			var f *pdclient.FutureTSReadError
			require.True(t, errors.As(err, &f), "got %v", err)
			assert.Equal(t, future, f.ReadTS)
			assert.True(t, f.CurrentTS < future)
		}
		for _, opts := range [][]txn.SnapshotOption{nil, {txn.WithStaleRead()}} {
			snap := p.client.Snapshot(future, opts...)
			_, err := snap.Get(ctx, []byte("k1"))
			wantFuture(err)
			_, err = snap.BatchGet(ctx, [][]byte{[]byte("k1")})
			wantFuture(err)
			for _, err := range snap.Iter(ctx, []byte("k"), nil) {
				wantFuture(err)
				break
			}
		}
		tx := p.begin(txn.WithStartTS(future))
		_, err := tx.Get(ctx, []byte("k1"))
		wantFuture(err)
		assert.NoError(t, tx.Rollback())
		assert.Equal(t, 0, len(sl.take()), "nothing sent")

		_, err = p.client.Snapshot(future, txn.WithReadTSValidator(nil)).Get(ctx, []byte("k1"))
		assert.ErrorIs(t, err, kv.ErrNotFound)
		assert.Equal(t, 1, len(sl.take()))
	})
}

// TestPortReplicaReadAdjuster ports client-go's
// testSnapshotSuite.TestReplicaReadAdjuster: a mixed replica read asks the
// adjuster per batch (a Get is one key; a BatchGet one batch per region);
// when it picks a mixed read on another zone's store the reads go there
// flagged replica_read, and when it picks the leader they go to the
// leader without the flag.
func TestPortReplicaReadAdjuster(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		ctx := context.Background()
		p, sl := newReplicaCluster(t, grpc, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("replica_y1"))})
		for _, k := range []string{"x", "y", "z"} {
			p.commit("replica_"+k, k) // one key each: no secondary left locked
		}
		for _, hit := range []bool{true, false} {
			var mu sync.Mutex
			var counts []int
			adjuster := func(n int) (kv.ReplicaReadType, []*metapb.StoreLabel) {
				mu.Lock()
				counts = append(counts, n)
				mu.Unlock()
				if hit {
					return kv.ReplicaReadMixed, inZone(2)
				}
				return kv.ReplicaReadLeader, nil
			}
			sl.take()
			tx := p.begin(txn.WithTxnSnapshotOptions(txn.WithReplicaRead(kv.ReplicaReadMixed), txn.WithReplicaReadAdjuster(adjuster)))
			v, err := tx.Get(ctx, []byte("replica_x"))
			require.NoError(t, err)
			assert.Equal(t, "x", string(v))
			vs, err := tx.BatchGet(ctx, [][]byte{[]byte("replica_y"), []byte("replica_z")})
			require.NoError(t, err)
			assert.Equal(t, []string{"y", "z"}, []string{string(vs[0]), string(vs[1])})
			assert.NoError(t, tx.Rollback())

			assert.Equal(t, []int{1, 1, 1}, counts, "one key per batch")
			want := servedRead{store: 1}
			if hit {
				want = servedRead{store: 2, replicaRead: true}
			}
			wantReads(t, sl.take(), want, want, want)
		}

		// A leader read asks no adjuster.
		called := false
		snap := p.client.Snapshot(p.now(), txn.WithReplicaReadAdjuster(func(int) (kv.ReplicaReadType, []*metapb.StoreLabel) {
			called = true
			return kv.ReplicaReadFollower, nil
		}))
		_, err := snap.Get(ctx, []byte("replica_x"))
		require.NoError(t, err)
		assert.True(t, !called, "adjuster asked for a leader read")
	})
}

// TestLoadBasedReplicaReadThreshold: the threshold is sent to the leader
// (Context.busy_threshold_ms); a threshold that is not positive or does
// not fit the field is off.
func TestLoadBasedReplicaReadThreshold(t *testing.T) {
	ctx := context.Background()
	p, sl := newReplicaCluster(t, false, nil)
	p.commit("k1", "v1")
	for _, tc := range []struct {
		d    time.Duration
		want uint32
	}{{50 * time.Millisecond, 50}, {-time.Second, 0}, {time.Duration(1<<32) * time.Millisecond, 0}} {
		sl.take()
		_, err := p.client.Snapshot(p.now(), txn.WithLoadBasedReplicaReadThreshold(tc.d)).Get(ctx, []byte("k1"))
		require.NoError(t, err)
		wantReads(t, sl.take(), servedRead{store: 1, busyMs: tc.want})
	}
}

// TestStaleTimestamp: Client.StaleTimestamp is the oracle's low-resolution
// clock moved back, and a stale read at it is served by a follower.
func TestStaleTimestamp(t *testing.T) {
	ctx := context.Background()
	p, sl := newReplicaCluster(t, false, nil)
	p.commit("k1", "v1")
	time.Sleep(1100 * time.Millisecond)
	now := p.now()
	ts, err := p.client.StaleTimestamp(ctx, 1)
	require.NoError(t, err)
	assert.True(t, ts < now, "stale ts %d not below now %d", ts, now)
	assert.True(t, pdclient.GoTime(now).Sub(pdclient.GoTime(ts)) >= time.Second)
	_, err = p.client.StaleTimestamp(ctx, 1e12)
	assert.ErrorIs(t, err, kv.ErrInvalidArgument)
	sl.take()
	// Committed before ts: visible to a stale read at it.
	v, err := p.client.Snapshot(ts, txn.WithStaleRead(), txn.WithMatchStoreLabels(inZone(2))).Get(ctx, []byte("k1"))
	require.NoError(t, err)
	assert.Equal(t, "v1", string(v))
	wantReads(t, sl.take(), servedRead{store: 2, staleRead: true})
}
