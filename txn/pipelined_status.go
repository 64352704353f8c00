package txn

import (
	"context"
	"sync"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
)

// Broadcasts of a pipelined transaction's status (client-go's
// broadcastToAllStores and its constants in txnkv/transaction/2pc.go).
const (
	// pipelinedBroadcastTimeout bounds one BroadcastTxnStatus attempt.
	pipelinedBroadcastTimeout = 5 * time.Second
	// pipelinedBroadcastConcurrency bounds the stores told at once.
	pipelinedBroadcastConcurrency = 10
	// pipelinedBroadcastBudget is the backoff one broadcast may spend
	// (client-go's broadcastMaxBackoff, 10 s).
	pipelinedBroadcastBudget = 10 * time.Second
	// pipelinedBroadcastGrace is how long after the last lock is resolved
	// the transaction is announced completed: a follower that has not yet
	// applied the resolution must still find the status in its cache
	// (client-go's broadcastGracePeriod).
	pipelinedBroadcastGrace = 5 * time.Second
)

// minCommitTS is a pipelined transaction's min commit ts as its heartbeat
// pushes it (client-go's minCommitTsManager with ttlAccess and
// twoPCAccess): the heartbeat raises it to the TSO's now, so that readers
// at older timestamps pass the primary lock instead of waiting on it, and
// TiKV's resolved ts can move past the transaction's locks; once the
// commit begins it is frozen, since the commit protocol now owns it.
// Safe for concurrent use.
type minCommitTS struct {
	mu     sync.Mutex
	ts     uint64
	frozen bool
}

// push raises the value to ts unless frozen, and returns it.
func (m *minCommitTS) push(ts uint64) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.frozen && ts > m.ts {
		m.ts = ts
	}
	return m.ts
}

// freeze stops the heartbeat's pushes and returns the value.
func (m *minCommitTS) freeze() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.frozen = true
	return m.ts
}

// get returns the value.
func (m *minCommitTS) get() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ts
}

// newBroadcastPlan is the plan of BroadcastTxnStatus: every TiKV store,
// at most pipelinedBroadcastConcurrency at once, each attempt bounded by
// pipelinedBroadcastTimeout.
func newBroadcastPlan(c *Client) pipeline.Plan[*kvrpcpb.BroadcastTxnStatusRequest, []pipeline.StoreResult[*kvrpcpb.BroadcastTxnStatusResponse]] {
	env := *c.env
	env.Concurrency = pipelinedBroadcastConcurrency
	env.WriteTimeout, env.ReadTimeout = pipelinedBroadcastTimeout, pipelinedBroadcastTimeout
	env.BackoffBudget = pipelinedBroadcastBudget
	return pipeline.AllStores(&env, plans.BroadcastTxnStatus, pipeline.StoreFilter(pipeline.TiKVStores),
		pipeline.Named("BroadcastTxnStatus"))
}

// statusContext is the Context of the transaction's broadcasts: its
// request source, resource group and tag, as client-go sets them.
func (t *Txn) statusContext() *kvrpcpb.Context {
	rc := t.reqCtx
	c := &kvrpcpb.Context{RequestSource: rc.RequestSource, ResourceGroupTag: rc.ResourceGroupTag}
	if rc.ResourceGroupName != "" {
		c.ResourceControlContext = &kvrpcpb.ResourceControlContext{ResourceGroupName: rc.ResourceGroupName}
	}
	return c
}

// broadcast tells every TiKV store the transaction's status, on a
// goroutine of the client's pipelined registry, and returns at once.
// Failures are ignored, as client-go does: the cache is a hint, the
// primary lock stays the truth, and a store that missed one status learns
// the next.
func (p *pipelinedTxn) broadcast(st *kvrpcpb.TxnStatus) {
	p.t.client.pipelined.start(func(ctx context.Context) { p.broadcastNow(ctx, st) })
}

// broadcastNow is broadcast on the caller's goroutine.
func (p *pipelinedTxn) broadcastNow(ctx context.Context, st *kvrpcpb.TxnStatus) {
	st.StartTs = p.t.startTS
	_, _ = p.plans.broadcast(ctx, &kvrpcpb.BroadcastTxnStatusRequest{Context: p.statusCtx, TxnStatus: []*kvrpcpb.TxnStatus{st}})
}

// broadcastCompleted waits pipelinedBroadcastGrace, then announces the
// transaction completed: committed at commitTS, or rolled back when
// commitTS is 0, so that TiKV drops it from its cache of ongoing large
// transactions. It runs after every lock was resolved, on a goroutine of
// the client's pipelined registry; the client's Close cancels the wait
// and skips the broadcast (TiKV then evicts the entry by age).
func (p *pipelinedTxn) broadcastCompleted(ctx context.Context, commitTS uint64) {
	tm := time.NewTimer(pipelinedBroadcastGrace)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-ctx.Done():
		return
	}
	p.broadcastNow(ctx, &kvrpcpb.TxnStatus{CommitTs: commitTS, RolledBack: commitTS == 0, IsCompleted: true})
}
