package txn_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// TestPortRetryPointGetResolveTS ports client-go
// integration_tests/snapshot_fail_test.go TestRetryPointGetResolveTS: while
// a transaction's commit is held between prewrite and the primary's
// commit (client-go's beforeCommit failpoint; here a Block fault on the
// primary's Commit), a point get at MaxTS of its secondary reads nothing
// and does not push the primary's min commit ts (TiKV's
// check_txn_status.rs leaves it for a caller_start_ts of MaxTS): the
// commit then succeeds at the commit ts it took first, and a snapshot at
// that ts reads the new value.
func TestPortRetryPointGetResolveTS(t *testing.T) {
	p := newPortCluster(t, false, nil)
	ctx := shortCtx(t)
	gate := mocktikv.NewGate()
	defer gate.Open()
	var firstCommitTS atomic.Uint64
	p.mock.Inject(mocktikv.Fault{Cmd: transport.CmdCommit,
		Match: func(_ uint64, _ transport.Cmd, req transport.Message) bool {
			c := req.(*kvrpcpb.CommitRequest)
			if c.CommitRole == kvrpcpb.CommitRole_Primary {
				firstCommitTS.CompareAndSwap(0, c.CommitVersion)
				return true
			}
			return false
		},
		Steps: []mocktikv.Step{mocktikv.Times(1, mocktikv.Block(gate))}})

	tx := p.begin()
	require.NoError(t, tx.Set([]byte("k1"), []byte("v1")))
	require.NoError(t, tx.Set([]byte("k2"), []byte("v2")))
	done := make(chan error, 1)
	go func() { done <- tx.Commit(context.Background()) }()
	<-gate.Arrived() // prewritten, commit ts taken, primary commit held

	_, err := p.client.Snapshot(txn.MaxTS).Get(ctx, []byte("k2"))
	require.ErrorIs(t, err, kv.ErrNotFound, "the secondary's lock is skipped by a MaxTS read")

	gate.Open()
	require.NoError(t, <-done)
	initial := firstCommitTS.Load()
	require.NotZero(t, initial)
	require.Equal(t, initial, tx.CommitTS(), "min commit ts was not pushed: the first commit ts stood")
	require.Zero(t, tx.CommitDetails().CommitTSRetries)
	v, err := p.client.Snapshot(initial).Get(ctx, []byte("k2"))
	require.NoError(t, err)
	require.Equal(t, "v2", string(v))
}
