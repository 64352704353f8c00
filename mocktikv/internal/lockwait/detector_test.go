package lockwait

import (
	"testing"
	"time"

	"github.com/pingcap/kvproto/pkg/deadlock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDetectorClientGoCases ports client-go's
// internal/mockstore/deadlock/deadlock_test.go to TiKV's detector: the
// cycle is reported with the hash of the edge waiting for the detecting
// txn, CleanUp breaks it, an edge's key list grows only with new hashes and
// shrinks with CleanUpWaitFor. client-go's Expire(minTS) has no TiKV
// counterpart; TiKV expires edges by age instead (TestDetectorEdgeTTL).
func TestDetectorClientGoCases(t *testing.T) {
	now := time.Unix(1000, 0)
	d := newDetector(time.Second)
	key := []byte("k")

	assert.Nil(t, d.detect(now, 1, 2, 100, key, nil))
	assert.Nil(t, d.detect(now, 2, 3, 200, key, nil))
	dl := d.detect(now, 3, 1, 300, key, nil)
	require.NotNil(t, dl)
	assert.Equal(t, uint64(200), dl.keyHash, "the hash of the edge 2 -> 3, which waits for the detecting txn")
	assert.Nil(t, d.waitFor[3], "the failed waiter registers nothing")

	d.cleanUp(2)
	assert.Nil(t, d.waitFor[2])

	// After the cycle is broken, no deadlock.
	assert.Nil(t, d.detect(now, 3, 1, 300, key, nil))
	require.NotNil(t, d.waitFor[3][1])
	assert.Len(t, d.waitFor[3][1].keys, 1)

	// A different key hash grows the edge's key list...
	assert.Nil(t, d.detect(now, 3, 1, 400, key, nil))
	assert.Len(t, d.waitFor[3][1].keys, 2)
	// ... the same one does not.
	assert.Nil(t, d.detect(now, 3, 1, 400, key, nil))
	assert.Len(t, d.waitFor[3][1].keys, 2)

	d.cleanUpWaitFor(3, 1, 300)
	assert.Len(t, d.waitFor[3][1].keys, 1)
	d.cleanUpWaitFor(3, 1, 400)
	assert.Nil(t, d.waitFor[3], "the last key removes the edge and the empty txn entry")

	// Cleaning up what does not exist is a no-op.
	d.cleanUpWaitFor(3, 1, 400)
	d.cleanUpWaitFor(1, 9, 100)
	assert.Len(t, d.waitFor[1], 1)
}

// TestDetectorWaitChain checks the chain TiKV reports: from the edge leaving
// the lock's txn, around the cycle, to the edge entering the detecting txn,
// each with its first key, hash and resource-group tag.
func TestDetectorWaitChain(t *testing.T) {
	now := time.Unix(1000, 0)
	d := newDetector(time.Second)
	// 20 -> 10 -> 30, and a branch 10 -> 40 -> 50 that leads nowhere.
	require.Nil(t, d.detect(now, 20, 10, 1, []byte("k10"), []byte("t20")))
	require.Nil(t, d.detect(now, 10, 40, 4, []byte("k40"), []byte("t10b")))
	require.Nil(t, d.detect(now, 40, 50, 5, []byte("k50"), nil))
	require.Nil(t, d.detect(now, 10, 30, 3, []byte("k30"), []byte("t10")))
	// 30 now waits for 20: 30 -> 20 -> 10 -> 30.
	dl := d.detect(now, 30, 20, 2, []byte("k20"), []byte("t30"))
	require.NotNil(t, dl)
	assert.Equal(t, uint64(3), dl.keyHash)
	assert.Equal(t, []*deadlock.WaitForEntry{
		{Txn: 20, WaitForTxn: 10, KeyHash: 1, Key: []byte("k10"), ResourceGroupTag: []byte("t20")},
		{Txn: 10, WaitForTxn: 30, KeyHash: 3, Key: []byte("k30"), ResourceGroupTag: []byte("t10")},
	}, dl.chain)
}

// TestDetectorEdgeTTL checks TiKV's expiry: an edge not registered again
// within the TTL is dropped when a search reaches it, so it closes no cycle;
// registering it again refreshes it.
func TestDetectorEdgeTTL(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ttl := time.Second
	for _, tc := range []struct {
		name     string
		refresh  bool // register 1 -> 2 again at t0+ttl/2
		at       time.Duration
		deadlock bool
	}{
		{"fresh edge closes the cycle", false, ttl - time.Millisecond, true},
		{"edge at its TTL has expired", false, ttl, false},
		{"refreshed edge lives on", true, ttl, true},
		{"refreshed edge expires a TTL after the refresh", true, ttl + ttl/2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(ttl)
			require.Nil(t, d.detect(t0, 1, 2, 7, []byte("k2"), nil))
			if tc.refresh {
				require.Nil(t, d.detect(t0.Add(ttl/2), 1, 2, 7, []byte("k2"), nil))
			}
			dl := d.detect(t0.Add(tc.at), 2, 1, 8, []byte("k1"), nil)
			assert.Equal(t, tc.deadlock, dl != nil)
			if !tc.deadlock {
				assert.Nil(t, d.waitFor[1], "the expired edge is gone")
				assert.NotNil(t, d.waitFor[2][1], "the new edge is registered")
			}
		})
	}
}
