package txn

import (
	"context"
	"sync"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
)

// firstLockKey carries a MaxTS point get's firstLock in its context.
type firstLockKey struct{}

// firstLock remembers the transaction of the first lock a MaxTS point get
// met, for the length of that one call.
type firstLock struct {
	mu sync.Mutex
	ts uint64 // 0 until a lock is met
}

// withFirstLock marks ctx as a MaxTS point get's.
func withFirstLock(ctx context.Context) context.Context {
	return context.WithValue(ctx, firstLockKey{}, &firstLock{})
}

// firstLockResolver applies client-go's rule for point gets at MaxTS (an
// autocommit point get, snapshot.go get): such a read waits only for the
// first transaction whose lock it meets. A lock of any other transaction
// met on a later try is skipped (put in Context.resolved_locks) without
// asking the resolver, so that a stream of new writers cannot hold the read
// off forever; a read at MaxTS has no snapshot to keep consistent with
// them. Calls outside a MaxTS point get go straight to the resolver.
type firstLockResolver struct {
	next pipeline.LockResolver
}

// ResolveLocks implements pipeline.LockResolver.
func (r firstLockResolver) ResolveLocks(ctx context.Context, callerStartTS uint64, locks []*kv.Lock) (pipeline.ResolveResult, error) {
	fl, ok := ctx.Value(firstLockKey{}).(*firstLock)
	if !ok || len(locks) == 0 {
		return r.next.ResolveLocks(ctx, callerStartTS, locks)
	}
	fl.mu.Lock()
	if fl.ts == 0 {
		fl.ts = locks[0].StartTS
	}
	first := fl.ts
	fl.mu.Unlock()
	var mine []*kv.Lock
	var skipped []uint64
	for _, l := range locks {
		if l.StartTS == first {
			mine = append(mine, l)
		} else {
			skipped = append(skipped, l.StartTS)
		}
	}
	var res pipeline.ResolveResult
	if len(mine) > 0 {
		var err error
		if res, err = r.next.ResolveLocks(ctx, callerStartTS, mine); err != nil {
			return res, err
		}
	}
	res.Resolved = union(res.Resolved, skipped)
	return res, nil
}
