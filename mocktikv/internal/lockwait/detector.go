package lockwait

import (
	"bytes"
	"slices"
	"time"

	"github.com/pingcap/kvproto/pkg/deadlock"
)

// detector is the cluster's wait-for graph, TiKV's DetectTable
// (src/server/lock_manager/deadlock.rs). TiKV keeps one table on the
// detector leader (the leader of the region holding key ""); a cluster in
// one process needs exactly one, owned by the Manager and guarded by its
// mutex.
//
// An edge txn -> lockTS means "txn waits for a lock of lockTS". It records
// the key hashes (with one key each, for diagnostics) of every lock of
// lockTS txn waits for, the resource-group tag of the last request that
// registered it, and the time it was last registered. An edge older than
// ttl is stale: TiKV drops it when a search passes over it, so a waiter
// whose cleanup was lost cannot cause false deadlocks forever.
type detector struct {
	ttl     time.Duration
	waitFor map[uint64]map[uint64]*edge // txn -> lockTS -> edge
}

type edge struct {
	keys       []hashedKey // never empty; keys[0] is what diagnostics report
	tag        []byte
	lastDetect time.Time
}

type hashedKey struct {
	hash uint64
	key  []byte
}

func newDetector(ttl time.Duration) *detector {
	return &detector{ttl: ttl, waitFor: map[uint64]map[uint64]*edge{}}
}

// deadlockInfo is a detected cycle, as TiKV reports it in kvrpcpb.Deadlock.
type deadlockInfo struct {
	// keyHash is the hash on the cycle's edge that waits for the detecting
	// txn: a key that txn holds.
	keyHash uint64
	// chain is the cycle's edges from the one leaving lockTS up to the one
	// entering txn; the detecting edge is not included.
	chain []*deadlock.WaitForEntry
}

// detect registers txn waiting for lockTS on (hash, key) unless that closes
// a cycle, which it reports instead (TiKV's DetectTable::detect):
//   - if the edge txn -> lockTS already exists, the key is added to it and
//     its time refreshed, with no search: an existing edge cannot close a
//     new cycle;
//   - otherwise a depth-first search from lockTS looks for txn; if found the
//     cycle is returned and nothing is registered (the new waiter is the one
//     that fails); if not, the edge is added.
func (d *detector) detect(now time.Time, txn, lockTS, hash uint64, key, tag []byte) *deadlockInfo {
	if e := d.waitFor[txn][lockTS]; e != nil {
		if !slices.ContainsFunc(e.keys, func(k hashedKey) bool { return k.hash == hash }) {
			e.keys = append(e.keys, hashedKey{hash, bytes.Clone(key)})
		}
		e.tag = bytes.Clone(tag)
		e.lastDetect = now
		return nil
	}
	if dl := d.search(now, txn, lockTS); dl != nil {
		return dl
	}
	if d.waitFor[txn] == nil {
		d.waitFor[txn] = map[uint64]*edge{}
	}
	d.waitFor[txn][lockTS] = &edge{
		keys:       []hashedKey{{hash, bytes.Clone(key)}},
		tag:        bytes.Clone(tag),
		lastDetect: now,
	}
	return nil
}

// search looks for a path from start to target, dropping the stale edges it
// passes (TiKV's do_detect). The visit order is made deterministic here
// (ascending lock ts); TiKV's follows its hash map, which only matters when
// several cycles close at once.
func (d *detector) search(now time.Time, target, start uint64) *deadlockInfo {
	// from[v] is the vertex v was reached from; start's is 0 (no txn has
	// start ts 0).
	from := map[uint64]uint64{start: 0}
	stack := []uint64{start}
	for len(stack) > 0 {
		cur := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		out := d.waitFor[cur]
		for ts, e := range out {
			if now.Sub(e.lastDetect) >= d.ttl {
				delete(out, ts)
			}
		}
		if len(out) == 0 {
			delete(d.waitFor, cur)
			continue
		}
		next := make([]uint64, 0, len(out))
		for ts := range out {
			next = append(next, ts)
		}
		slices.Sort(next)
		for _, ts := range next {
			if ts == target {
				return &deadlockInfo{
					keyHash: out[ts].keys[0].hash,
					chain:   append(d.path(from, start, cur), entryOf(cur, ts, out[ts])),
				}
			}
			if _, seen := from[ts]; !seen {
				from[ts] = cur
				stack = append(stack, ts)
			}
		}
	}
	return nil
}

// path rebuilds the edges start -> ... -> end from the search's
// predecessor map, in that order.
func (d *detector) path(from map[uint64]uint64, start, end uint64) []*deadlock.WaitForEntry {
	var rev []*deadlock.WaitForEntry
	for v := end; v != start; {
		u := from[v]
		rev = append(rev, entryOf(u, v, d.waitFor[u][v]))
		v = u
	}
	slices.Reverse(rev)
	return rev
}

// entryOf is an edge as kvrpcpb reports it (TiKV's Locks::to_wait_for_entry):
// its first key and that key's hash; wait_time is not set.
func entryOf(txn, lockTS uint64, e *edge) *deadlock.WaitForEntry {
	return &deadlock.WaitForEntry{
		Txn:              txn,
		WaitForTxn:       lockTS,
		KeyHash:          e.keys[0].hash,
		Key:              bytes.Clone(e.keys[0].key),
		ResourceGroupTag: bytes.Clone(e.tag),
	}
}

// cleanUpWaitFor removes hash from the edge txn -> lockTS, and the edge when
// it has no key left (TiKV's clean_up_wait_for: sent when a waiter leaves).
func (d *detector) cleanUpWaitFor(txn, lockTS, hash uint64) {
	e := d.waitFor[txn][lockTS]
	if e == nil {
		return
	}
	e.keys = slices.DeleteFunc(e.keys, func(k hashedKey) bool { return k.hash == hash })
	if len(e.keys) > 0 {
		return
	}
	delete(d.waitFor[txn], lockTS)
	if len(d.waitFor[txn]) == 0 {
		delete(d.waitFor, txn)
	}
}

// cleanUp removes every edge leaving txn (TiKV's clean_up).
func (d *detector) cleanUp(txn uint64) {
	delete(d.waitFor, txn)
}
