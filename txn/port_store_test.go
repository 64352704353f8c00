package txn_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// priorityLog records, per command, the Context.priority of every request
// the stores received: the check runs at the server, so it sees what went
// over the wire (client-go's checkRequestClient checks the request the
// client hands to its RPC client).
type priorityLog struct {
	mu  sync.Mutex
	got map[transport.Cmd][]kvrpcpb.CommandPri
}

func (l *priorityLog) observe(_ uint64, cmd transport.Cmd, req transport.Message) {
	r, ok := req.(interface{ GetContext() *kvrpcpb.Context })
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got[cmd] = append(l.got[cmd], r.GetContext().GetPriority())
}

// take returns what was recorded since the last take.
func (l *priorityLog) take() map[transport.Cmd][]kvrpcpb.CommandPri {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.got
	l.got = make(map[transport.Cmd][]kvrpcpb.CommandPri)
	return out
}

// requireAll fails unless every command of cmds was sent at least once and
// every request of it carried want.
func requireAll(t *testing.T, got map[transport.Cmd][]kvrpcpb.CommandPri, want kvrpcpb.CommandPri, cmds ...transport.Cmd) {
	t.Helper()
	for _, cmd := range cmds {
		pris := got[cmd]
		require.NotEmpty(t, pris, "%v was not sent", cmd)
		for _, p := range pris {
			assert.Equal(t, want, p, "%v", cmd)
		}
	}
}

// TestPortRequestPriority ports client-go's store_test.go
// TestRequestPriority: the priority chosen for a transaction
// (KVTxn.SetPriority there, WithTxnPriority here) reaches TiKV on its
// 2PC writes (Prewrite, Commit) and on its reads (Get, BatchGet, Scan);
// the counter example (a transaction at normal priority is seen at normal,
// not at the priority the checker expects) proves the check can fail.
// In process and over gRPC.
func TestPortRequestPriority(t *testing.T) {
	for _, grpc := range []bool{false, true} {
		t.Run(fmt.Sprintf("grpc=%v", grpc), func(t *testing.T) {
			p := newPortCluster(t, grpc, nil)
			log := &priorityLog{got: make(map[transport.Cmd][]kvrpcpb.CommandPri)}
			p.mock.OnRequest(log.observe)
			ctx := context.Background()

			// 2PC at high priority.
			tx := p.begin(txn.WithTxnPriority(kvrpcpb.CommandPri_High))
			require.NoError(t, tx.Set([]byte("request_priority_key"), []byte("value")))
			require.NoError(t, tx.Set([]byte("request_priority_key2"), []byte("value2")))
			require.NoError(t, tx.Commit(ctx))
			requireAll(t, log.take(), kvrpcpb.CommandPri_High, transport.CmdPrewrite, transport.CmdCommit)

			// Reads at low priority.
			tx = p.begin(txn.WithTxnPriority(kvrpcpb.CommandPri_Low))
			v, err := tx.Get(ctx, []byte("request_priority_key"))
			require.NoError(t, err)
			assert.Equal(t, "value", string(v))
			vs, err := tx.BatchGet(ctx, [][]byte{[]byte("request_priority_key"), []byte("request_priority_key2")})
			require.NoError(t, err)
			assert.Len(t, vs, 2)
			require.NoError(t, tx.Rollback())
			requireAll(t, log.take(), kvrpcpb.CommandPri_Low, transport.CmdGet, transport.CmdBatchGet)

			// Counter example: the default priority is Normal, not Low.
			tx = p.begin()
			_, err = tx.Get(ctx, []byte("request_priority_key"))
			require.NoError(t, err)
			require.NoError(t, tx.Rollback())
			got := log.take()
			requireAll(t, got, kvrpcpb.CommandPri_Normal, transport.CmdGet)
			assert.NotContains(t, got[transport.CmdGet], kvrpcpb.CommandPri_Low)

			// Scan (client-go's Iter, which sends Scan) at high priority.
			tx = p.begin(txn.WithTxnPriority(kvrpcpb.CommandPri_High))
			n := 0
			for _, err := range tx.Iter(ctx, []byte("request_priority_key"), nil) {
				require.NoError(t, err)
				n++
			}
			assert.Equal(t, 2, n)
			require.NoError(t, tx.Rollback())
			requireAll(t, log.take(), kvrpcpb.CommandPri_High, transport.CmdScan)

			// A snapshot's own priority option reaches its reads too.
			ts, err := p.client.CurrentTimestamp(ctx)
			require.NoError(t, err)
			snap := p.client.Snapshot(ts, txn.WithPriority(kvrpcpb.CommandPri_Low))
			_, err = snap.Get(ctx, []byte("request_priority_key"))
			require.NoError(t, err)
			requireAll(t, log.take(), kvrpcpb.CommandPri_Low, transport.CmdGet)
		})
	}
}
