package txn_test

import (
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestPortBufferBatchGetterCommitTS ports the commit-ts half of client-go
// txnkv/transaction/batch_getter_test.go TestBufferBatchGetter
// (kv.WithReturnCommitTS) against Txn.BatchGetWithCommitTS: keys read
// from the snapshot carry the commit ts of their version, a key the
// transaction wrote reports commit ts 0 (it has none yet), a deleted or
// missing key is the zero entry, and only the keys the buffer does not
// hold are read, with need_commit_ts set. Without it (Txn.BatchGet) the
// request does not ask for commit ts.
func TestPortBufferBatchGetterCommitTS(t *testing.T) {
	client, log := newWireClient(t)
	ctx := t.Context()
	commit := func(pairs ...string) uint64 {
		tx, err := client.Begin(ctx)
		require.NoError(t, err)
		for i := 0; i < len(pairs); i += 2 {
			require.NoError(t, tx.Set([]byte(pairs[i]), []byte(pairs[i+1])))
		}
		require.NoError(t, tx.Commit(ctx))
		return tx.CommitTS()
	}
	// Each commit's keys in one region (the cluster splits at "m"), so no
	// secondary is left to commit in the background for a read to meet.
	first := commit("a", "a", "b", "b", "c", "c", "d", "d")
	second := commit("d", "d2")
	third := commit("z", "z")
	require.Greater(t, second, first)
	require.Greater(t, third, second)

	tx, err := client.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, tx.Set([]byte("a"), []byte("a1")))
	require.NoError(t, tx.Delete([]byte("b")))
	before := len(log.messages(transport.CmdBatchGet))
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e"), []byte("z")}
	got, err := tx.BatchGetWithCommitTS(ctx, keys)
	require.NoError(t, err)
	require.Equal(t, []txn.ValueEntry{
		{Value: []byte("a1")},
		{},
		{Value: []byte("c"), CommitTS: first},
		{Value: []byte("d2"), CommitTS: second},
		{},
		{Value: []byte("z"), CommitTS: third},
	}, got)

	var read []string
	for _, m := range log.messages(transport.CmdBatchGet)[before:] {
		r := m.(*kvrpcpb.BatchGetRequest)
		require.True(t, r.NeedCommitTs, "need_commit_ts asked")
		for _, k := range r.Keys {
			read = append(read, string(k))
		}
	}
	require.ElementsMatch(t, []string{"c", "d", "e", "z"}, read, "only the keys the buffer does not hold are read")

	// The values-only read agrees and does not ask for commit ts (a fresh
	// transaction: the first one's snapshot cache would answer).
	tx2, err := client.Begin(ctx)
	require.NoError(t, err)
	before = len(log.messages(transport.CmdBatchGet))
	vals, err := tx2.BatchGet(ctx, keys)
	require.NoError(t, err)
	require.Equal(t, [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d2"), nil, []byte("z")}, vals)
	for _, m := range log.messages(transport.CmdBatchGet)[before:] {
		require.False(t, m.(*kvrpcpb.BatchGetRequest).NeedCommitTs)
	}

	// Only buffered keys: no RPC, commit ts 0 for the written one.
	before = len(log.all())
	got, err = tx.BatchGetWithCommitTS(ctx, [][]byte{[]byte("b"), []byte("a")})
	require.NoError(t, err)
	require.Equal(t, []txn.ValueEntry{{}, {Value: []byte("a1")}}, got)
	require.Len(t, log.all(), before, "a batch the buffer answers sends no RPC")
}
