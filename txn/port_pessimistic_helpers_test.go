package txn_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/txn"
)

// beginPessimistic starts a pessimistic transaction or fails the test.
func (p *portCluster) beginPessimistic(opts ...txn.BeginOption) *txn.Txn {
	p.t.Helper()
	return p.begin(append([]txn.BeginOption{txn.WithPessimistic()}, opts...)...)
}

// lockOf returns the lock TiKV holds on key, nil when there is none.
func (p *portCluster) lockOf(key string) *kvrpcpb.LockInfo {
	p.t.Helper()
	end := append([]byte(key), 0)
	plan := pipeline.Single(pipeline.Shard(p.env, pipeline.ByKey(func(r *kvrpcpb.ScanLockRequest) []byte { return r.StartKey }),
		pipeline.Retry(p.env, plans.KvScanLock)))
	resp, err := plan(context.Background(), &kvrpcpb.ScanLockRequest{StartKey: []byte(key), EndKey: end, MaxVersion: math.MaxUint64})
	if err != nil {
		p.t.Fatalf("scan lock %q: %v", key, err)
	}
	if len(resp.Locks) == 0 {
		return nil
	}
	return resp.Locks[0]
}

// mustLock locks keys in tx, waiting as lc says, or fails the test.
func mustLock(t *testing.T, tx *txn.Txn, lc *txn.LockCtx, keys ...string) {
	t.Helper()
	if err := tx.LockKeys(context.Background(), lc, bkeys(keys...)...); err != nil {
		t.Fatalf("lock %q: %v", keys, err)
	}
}

func bkeys(keys ...string) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k)
	}
	return out
}

// isNoWait and isWaitTimeout tell the two lock-wait failures apart.
func isNoWait(err error) bool {
	var lw *kv.LockWaitError
	return errors.As(err, &lw) && lw.NoWait && errors.Is(err, kv.ErrLockAcquireFailAndNoWait)
}

func isWaitTimeout(err error) bool {
	var lw *kv.LockWaitError
	return errors.As(err, &lw) && !lw.NoWait && errors.Is(err, kv.ErrLockWaitTimeout)
}

// reset forgets the requests logged so far.
func (l *cmdLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds, l.reqs = nil, nil
}

// prewrites returns the prewrite requests logged so far.
func (l *cmdLog) prewrites() []*kvrpcpb.PrewriteRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*kvrpcpb.PrewriteRequest
	for _, r := range l.reqs {
		if pw, ok := r.Msg.(*kvrpcpb.PrewriteRequest); ok {
			out = append(out, pw)
		}
	}
	return out
}

// lockRequests returns the pessimistic lock requests logged so far.
func (l *cmdLog) lockRequests() []*kvrpcpb.PessimisticLockRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*kvrpcpb.PessimisticLockRequest
	for _, r := range l.reqs {
		if m, ok := r.Msg.(*kvrpcpb.PessimisticLockRequest); ok {
			out = append(out, m)
		}
	}
	return out
}
