package txn_test

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/transport"
)

// TestPortBufferBatchGetter ports client-go txnkv/transaction/
// batch_getter_test.go TestBufferBatchGetter against Txn.BatchGet, which
// is client-go's BufferBatchGetter over the transaction's membuffer: a
// buffered value wins over the snapshot's, a buffered delete hides the
// key, and only the keys the buffer does not hold are read from TiKV. A
// batch of buffered keys only sends nothing. (The case's commit-ts half,
// kv.WithReturnCommitTS, is TestPortBufferBatchGetterCommitTS.)
func TestPortBufferBatchGetter(t *testing.T) {
	client, log := newWireClient(t)
	ctx := t.Context()
	seed, err := client.Begin(ctx)
	require.NoError(t, err)
	for _, k := range []string{"a", "b", "c", "d"} {
		require.NoError(t, seed.Set([]byte(k), []byte(k)))
	}
	require.NoError(t, seed.Commit(ctx))

	tx, err := client.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Set([]byte("a"), []byte("a1")))
	require.NoError(t, tx.Delete([]byte("b")))
	before := len(log.messages(transport.CmdBatchGet))
	got, err := tx.BatchGet(ctx, [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e")})
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("a1"), nil, []byte("c"), []byte("d"), nil}, got)

	sent := log.messages(transport.CmdBatchGet)[before:]
	var keys []string
	for _, m := range sent {
		for _, k := range m.(*kvrpcpb.BatchGetRequest).Keys {
			keys = append(keys, string(k))
		}
	}
	require.ElementsMatch(t, []string{"c", "d", "e"}, keys, "only the keys the buffer does not hold are read")

	before = len(log.all())
	got, err = tx.BatchGet(ctx, [][]byte{[]byte("b"), []byte("a")})
	require.NoError(t, err)
	require.Equal(t, [][]byte{nil, []byte("a1")}, got)
	require.Len(t, log.all(), before, "a batch the buffer answers sends no RPC")
}
