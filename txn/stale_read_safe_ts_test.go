package txn_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// countSafeTS counts the GetStoreSafeTS requests the stores receive.
func countSafeTS(mock *mocktikv.Cluster) *atomic.Int64 {
	var n atomic.Int64
	mock.OnRequest(func(_ uint64, cmd transport.Cmd, _ transport.Message) {
		if cmd == transport.CmdStoreSafeTS {
			n.Add(1)
		}
	})
	return &n
}

// TestMinSafeTS (client-go's KVStore.GetMinSafeTS and updateSafeTS, core
// row 20): the first MinSafeTS starts the refresh, which asks every store
// at once and then every interval; the result is the smallest store safe
// ts, never moves backwards, leaves out a store without peers (safe ts 0),
// and the refresh stops on Close. In a synctest bubble, in process.
func TestMinSafeTS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := newReplicaCluster(t, false, []mocktikv.Option{mocktikv.WithTxnSplitKeys([]byte("m"))})
		n := countSafeTS(p.mock)
		synctest.Wait()
		assert.Equal(t, int64(0), n.Load(), "no refresh before MinSafeTS is asked for")

		regions := p.mock.Regions()
		require.Len(t, regions, 2)
		require.NoError(t, p.mock.SetSafeTS(regions[0].GetId(), 1000))
		require.NoError(t, p.mock.SetSafeTS(regions[1].GetId(), 900))
		p.client.MinSafeTS()
		synctest.Wait()
		assert.Equal(t, int64(3), n.Load(), "one request per store")
		assert.Equal(t, uint64(900), p.client.MinSafeTS())

		require.NoError(t, p.mock.SetSafeTS(regions[1].GetId(), 2000))
		time.Sleep(txn.DefaultSafeTSUpdateInterval)
		synctest.Wait()
		assert.Equal(t, int64(6), n.Load())
		assert.Equal(t, uint64(1000), p.client.MinSafeTS())

		// A store answering less than before keeps what it had.
		require.NoError(t, p.mock.SetSafeTS(regions[0].GetId(), 500))
		time.Sleep(txn.DefaultSafeTSUpdateInterval)
		synctest.Wait()
		assert.Equal(t, uint64(1000), p.client.MinSafeTS())

		// A store without peers answers 0 and is left out.
		_, err := p.mock.AddStore()
		require.NoError(t, err)
		require.NoError(t, p.mock.SetSafeTS(regions[0].GetId(), 3000))
		time.Sleep(txn.DefaultSafeTSUpdateInterval)
		synctest.Wait()
		assert.Equal(t, uint64(2000), p.client.MinSafeTS())

		require.NoError(t, p.client.Close(context.Background()))
		before := n.Load()
		time.Sleep(10 * txn.DefaultSafeTSUpdateInterval)
		synctest.Wait()
		assert.Equal(t, before, n.Load(), "no refresh after Close")
	})
}

// TestMinSafeTSOverGRPC: the same refresh over gRPC, where the safe ts
// follows the TSO (mocktikv's default, as TiKV's resolved ts does without
// locks): MinSafeTS reaches a ts taken after the first refresh.
func TestMinSafeTSOverGRPC(t *testing.T) {
	p, _ := newReplicaCluster(t, true, nil, txn.WithSafeTSUpdateInterval(50*time.Millisecond))
	p.client.MinSafeTS()
	ts := p.now()
	deadline := time.Now().Add(10 * time.Second)
	for p.client.MinSafeTS() <= ts {
		require.True(t, time.Now().Before(deadline), "MinSafeTS %d never passed %d", p.client.MinSafeTS(), ts)
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStaleReadAdaptsOracleInterval: a stale read 1 s back, validated by
// the client's oracle, shrinks the oracle's refresh interval to 900 ms
// (client-go's adaptive update interval, fed by ValidateReadTS); the
// configured interval stays 2 s. In a synctest bubble, in process.
func TestStaleReadAdaptsOracleInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		p, sl := newReplicaCluster(t, false, nil)
		p.commit("k1", "v1")
		oracle := p.cluster.Oracle()
		require.Equal(t, 2*time.Second, oracle.AdaptiveUpdateInterval())
		time.Sleep(3 * time.Second)
		synctest.Wait()
		ts, err := p.client.StaleTimestamp(ctx, 1)
		require.NoError(t, err)
		sl.take()
		v, err := p.client.Snapshot(ts, txn.WithStaleRead(), txn.WithMatchStoreLabels(inZone(2))).Get(ctx, []byte("k1"))
		require.NoError(t, err)
		assert.Equal(t, "v1", string(v))
		wantReads(t, sl.take(), servedRead{store: 2, staleRead: true})
		synctest.Wait()
		assert.Equal(t, 900*time.Millisecond, oracle.AdaptiveUpdateInterval())
		assert.Equal(t, 2*time.Second, oracle.UpdateInterval())
	})
}
