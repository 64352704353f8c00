package txn_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestSnapshotCallNames: each read is one logical call named for what it
// does, so middleware and observers can tell the snapshot's reads apart.
func TestSnapshotCallNames(t *testing.T) {
	c := connectInProcess(t, splitAt)
	c.write("a", "1")
	s := txn.NewSnapshot(c.env, nil, c.now())
	_, err := s.Get(t.Context(), []byte("a"))
	require.NoError(t, err)
	_, err = s.BatchGet(t.Context(), [][]byte{[]byte("b")}) // "a" is cached
	require.NoError(t, err)
	_, err = collect(s.Iter(t.Context(), nil, nil))
	require.NoError(t, err)
	for cmd, api := range map[transport.Cmd]string{transport.CmdGet: "TxnGet", transport.CmdBatchGet: "TxnBatchGet", transport.CmdScan: "TxnScan"} {
		reqs := c.rec.sent(cmd)
		require.NotEmpty(t, reqs, cmd)
		for _, q := range reqs {
			require.Equal(t, api, q.Call.API, cmd)
		}
	}
}
