package txn_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
