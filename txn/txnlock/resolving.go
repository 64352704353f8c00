package txnlock

import (
	"sync"

	"github.com/tikvgo/tikv/kv"
)

// ResolvingLock is a lock some caller is resolving right now (client-go's
// txnlock.ResolvingLock), for diagnostics such as lock-wait views.
type ResolvingLock struct {
	// CallerStartTS is the transaction that met the lock.
	CallerStartTS uint64
	// LockStartTS is the transaction that holds it.
	LockStartTS uint64
	Key         kv.Key
	Primary     kv.Key
}

// Resolving lists the locks being resolved at the moment of the call, in
// no particular order. Safe for concurrent use.
func (r *Resolver) Resolving() []ResolvingLock {
	r.resolving.mu.Lock()
	defer r.resolving.mu.Unlock()
	var out []ResolvingLock
	for _, ls := range r.resolving.calls {
		out = append(out, ls...)
	}
	return out
}

// resolvingSet tracks the locks of the resolutions in progress.
type resolvingSet struct {
	mu    sync.Mutex
	next  uint64
	calls map[uint64][]ResolvingLock
}

// add records a resolution of locks for callerStartTS and returns the func
// that forgets it. The locks are copied: callers may reuse theirs.
func (s *resolvingSet) add(callerStartTS uint64, locks []*kv.Lock) func() {
	rec := make([]ResolvingLock, len(locks))
	for i, l := range locks {
		rec[i] = ResolvingLock{CallerStartTS: callerStartTS, LockStartTS: l.StartTS,
			Key: append(kv.Key(nil), l.Key...), Primary: append(kv.Key(nil), l.Primary...)}
	}
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[uint64][]ResolvingLock{}
	}
	s.next++
	token := s.next
	s.calls[token] = rec
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.calls, token)
		s.mu.Unlock()
	}
}
