package lockwait

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The deadlock scenarios of client-go's TestDeadlockReportWaitChain
// (integration_tests/lock_test.go): txn i holds key i; "i waits for j" is txn
// i locking key j, with resource-group tag "tag-i-j".

func chainKey(i int) string { return fmt.Sprintf("deadlock_wait_chain_%02d", i) }
func chainTS(i int) uint64  { return uint64(100 + 10*i) }

func chainReq(i, j int) Request {
	r := req(chainKey(j), chainTS(i), chainTS(j))
	r.ResourceGroupTag = []byte(fmt.Sprintf("tag-%d-%d", i, j))
	return r
}

func chainEntry(i, j int) *deadlock.WaitForEntry {
	return &deadlock.WaitForEntry{
		Txn:              chainTS(i),
		WaitForTxn:       chainTS(j),
		KeyHash:          KeyHash([]byte(chainKey(j))),
		Key:              []byte(chainKey(j)),
		ResourceGroupTag: []byte(fmt.Sprintf("tag-%d-%d", i, j)),
	}
}

// TestDeadlockWaitChain: the request closing the cycle fails at once with
// kvrpcpb.Deadlock (lock_ts and lock_key of what it waits for, the hash of
// the key it holds on the cycle, and the chain in TiKV's order: from the
// edge leaving the lock's txn around to its own edge, last); the blocked
// waiters get WriteConflict when their blockers roll back.
func TestDeadlockWaitChain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		waits   [][2]int // blocked waits, in order
		closing [2]int
		chain   [][2]int
	}{
		{"1->0->1", [][2]int{{0, 1}}, [2]int{1, 0}, [][2]int{{0, 1}, {1, 0}}},
		{"3->2->0->1->3", [][2]int{{0, 1}, {2, 0}, {1, 3}}, [2]int{3, 2}, [][2]int{{2, 0}, {0, 1}, {1, 3}, {3, 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := New()
				defer m.Close()
				blocked := map[int]*pending{}
				for _, ij := range tc.waits {
					blocked[ij[0]] = enqueueAndWait(m, chainReq(ij[0], ij[1]))
				}
				synctest.Wait()

				i, j := tc.closing[0], tc.closing[1]
				w := m.Enqueue(chainReq(i, j))
				res := w.Wait(t.Context())
				require.Equal(t, Outcome(Deadlock), res.Outcome)
				var chain []*deadlock.WaitForEntry
				for _, e := range tc.chain {
					chain = append(chain, chainEntry(e[0], e[1]))
				}
				// The edge entering the closing txn waits for a key it holds.
				into := tc.chain[len(tc.chain)-2]
				assert.Equal(t, &kvrpcpb.Deadlock{
					LockTs:          chainTS(j),
					LockKey:         []byte(chainKey(j)),
					DeadlockKeyHash: KeyHash([]byte(chainKey(into[1]))),
					WaitChain:       chain,
				}, res.Deadlock)
				assert.Equal(t, into[1], i)

				// Roll back each txn after its blocker: the closing one first.
				rollback := func(k int) { m.Released([]byte(chainKey(k)), chainTS(k), 0) }
				rollback(i)
				for len(blocked) > 0 {
					synctest.Wait()
					progressed := false
					for k, p := range blocked {
						if !p.finished() {
							continue
						}
						res := p.result(t)
						assert.Equal(t, Outcome(Woken), res.Outcome, "txn %d", k)
						assert.Zero(t, res.Conflict.ConflictCommitTs, "its blocker rolled back")
						delete(blocked, k)
						rollback(k)
						progressed = true
					}
					require.True(t, progressed, "a blocked waiter was never woken")
				}
				requireEmpty(t, m)
			})
		})
	}
}

// TestDeadlockNotDetected covers the waits TiKV does not check and the
// edges it removes: an is_first_lock request, a waiter on its own shared
// lock, and a cycle through a waiter that already left (timed out, woken,
// canceled) or whose txn was cleaned up.
func TestDeadlockNotDetected(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first Request                      // 10 waits for 20 on k20
		leave func(m *Manager, p *pending) // how 10's wait ends, if it does
		then  Request                      // 20 waits for 10 on k10
	}{
		{name: "is_first_lock", first: req("k20", 10, 20), then: func() Request {
			r := req("k10", 20, 10)
			r.IsFirstLock = true
			return r
		}()},
		{name: "first waiter timed out", first: func() Request {
			r := req("k20", 10, 20)
			r.WaitTimeout = 50
			return r
		}(), leave: func(*Manager, *pending) { time.Sleep(50 * time.Millisecond) }, then: req("k10", 20, 10)},
		{name: "first waiter woken", first: req("k20", 10, 20), leave: func(m *Manager, _ *pending) {
			m.Released([]byte("k20"), 30, 0)
		}, then: req("k10", 20, 10)},
		{name: "first waiter canceled", first: req("k20", 10, 20), leave: func(_ *Manager, p *pending) {
			p.w.Done()
		}, then: req("k10", 20, 10)},
		{name: "txn cleaned up", first: req("k20", 10, 20), leave: func(m *Manager, _ *pending) {
			m.CleanUpTxn(10)
		}, then: req("k10", 20, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := New()
				defer m.Close()
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				p := waitOn(ctx, m.Enqueue(tc.first))
				synctest.Wait()
				if tc.leave != nil {
					tc.leave(m, p)
					synctest.Wait()
				}
				w := m.Enqueue(tc.then)
				p2 := waitOn(ctx, w)
				synctest.Wait()
				assert.False(t, p2.finished(), "no deadlock: 20 waits")
				w.Done()
				synctest.Wait()
			})
		})
	}
}

// TestDeadlockSharedLock: a wait for a shared lock waits for each holder;
// a cycle through any of them fails it, and the edges already registered
// for the other holders are removed.
func TestDeadlockSharedLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := New()
		defer m.Close()
		p := enqueueAndWait(m, req("k40", 30, 40)) // 30 -> 40
		synctest.Wait()
		shared := &kvrpcpb.LockInfo{Key: []byte("ks"), LockType: kvrpcpb.Op_SharedLock, SharedLockInfos: []*kvrpcpb.LockInfo{
			lockOf("ks", 20), lockOf("ks", 30),
		}}
		r := req("ks", 40, 0)
		r.Lock = shared
		res := m.Enqueue(r).Wait(t.Context())
		require.Equal(t, Outcome(Deadlock), res.Outcome)
		assert.Equal(t, uint64(30), res.Deadlock.LockTs)
		_, _, edges := m.state()
		assert.Equal(t, 1, edges, "only 30 -> 40 is left")
		p.w.Done()
		synctest.Wait()
		requireEmpty(t, m)
	})
}

// TestDeadlockOnLockChange: when another txn takes the lock a force-lock
// waiter waits on, its edges move to the new holder and are checked again
// (TiKV's handle_update_wait_for); a legacy waiter is not re-checked.
func TestDeadlockOnLockChange(t *testing.T) {
	for _, tc := range []struct {
		name     string
		force    bool
		deadlock bool
	}{
		{"force-lock waiter re-checked", true, true},
		{"legacy waiter not re-checked", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := New()
				defer m.Close()
				p20 := enqueueAndWait(m, req("kx", 20, 10)) // 20 -> 10
				r := req("k1", 10, 5)                       // 10 -> 5
				r.AllowLockWithConflict = tc.force
				p10 := enqueueAndWait(m, r)
				synctest.Wait()
				m.LockAcquired(lockOf("k1", 20)) // now 10 -> 20 closes 10 -> 20 -> 10
				synctest.Wait()
				assert.Equal(t, tc.deadlock, p10.finished())
				if tc.deadlock {
					res := p10.result(t)
					require.Equal(t, Outcome(Deadlock), res.Outcome)
					assert.Equal(t, uint64(20), res.Deadlock.LockTs)
				}
				p10.w.Done()
				p20.w.Done()
				synctest.Wait()
				requireEmpty(t, m)
			})
		})
	}
}
