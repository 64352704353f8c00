package txn_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pdclient"
	"github.com/tikvgo/tikv/txn"
)

// TestExternalTimestamp (client-go's Oracle.Set/GetExternalTimestamp,
// inventory K5): PD keeps the external timestamp, 0 until set; it only
// moves forward and never past PD's TSO (PD's Server.SetExternalTS), with
// the same errors in process and over gRPC; a stale read at it is served
// by a follower.
func TestExternalTimestamp(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		ctx := context.Background()
		p, sl := newReplicaCluster(t, grpc, nil)
		got, err := p.client.GetExternalTimestamp(ctx)
		require.NoError(t, err)
		assert.Equal(t, uint64(0), got)

		p.commit("k1", "v1")
		ts := p.now()
		require.NoError(t, p.client.SetExternalTimestamp(ctx, ts))
		got, err = p.client.GetExternalTimestamp(ctx)
		require.NoError(t, err)
		assert.Equal(t, ts, got)

		for _, bad := range []uint64{ts, ts - 1} {
			err := p.client.SetExternalTimestamp(ctx, bad)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "should be larger than current external timestamp")
		}
		err = p.client.SetExternalTimestamp(ctx, pdclient.GoTimeToTS(time.Now().Add(time.Hour)))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "should not be larger than global ts")
		got, err = p.client.GetExternalTimestamp(ctx)
		require.NoError(t, err)
		assert.Equal(t, ts, got, "refusals change nothing")

		sl.take()
		v, err := p.client.Snapshot(got, txn.WithStaleRead(), txn.WithMatchStoreLabels(inZone(3))).Get(ctx, []byte("k1"))
		require.NoError(t, err)
		assert.Equal(t, "v1", string(v))
		wantReads(t, sl.take(), servedRead{store: 3, staleRead: true})
	})
}

// TestKeyspaceGroupMinTS covers client-go's
// Oracle.GetAllTSOKeyspaceGroupMinTS (txn-K5): with PD serving TSO itself
// the keyspace groups' min ts is a fresh timestamp, between one taken
// before the call and one taken after; a closed client refuses the call.
func TestKeyspaceGroupMinTS(t *testing.T) {
	bothWays(t, func(t *testing.T, grpc bool) {
		ctx := context.Background()
		p, _ := newReplicaCluster(t, grpc, nil)
		before := p.now()
		got, err := p.client.KeyspaceGroupMinTS(ctx)
		require.NoError(t, err)
		after := p.now()
		assert.Greater(t, got, before)
		assert.Less(t, got, after)
		require.NoError(t, p.client.Close(ctx))
		_, err = p.client.KeyspaceGroupMinTS(ctx)
		assert.ErrorIs(t, err, kv.ErrClosed)
	})
}
