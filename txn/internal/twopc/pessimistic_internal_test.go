package twopc

import (
	"context"
	"testing"
	"time"

	"github.com/tikvgo/tikv/internal/keyhash"
)

// TestHashInKeys: a deadlock is retryable when its deadlock_key_hash is
// TiKV's hash of one of the request's keys (client-go's hashInKeys).
func TestHashInKeys(t *testing.T) {
	keys := [][]byte{[]byte("x"), []byte("key1")}
	if !hashInKeys(keyhash.Fingerprint64([]byte("key1")), keys) {
		t.Fatal("hash of key1 not found among its keys")
	}
	if hashInKeys(keyhash.Fingerprint64([]byte("y")), keys) {
		t.Fatal("hash of y found among keys without y")
	}
}

// TestLockWaitTimeout: the wait_timeout sent is what is left of the wait
// (client-go's calculateEffectiveWaitTime), capped by ctx's deadline; -1
// (no wait) for LockNoWait and once nothing is left; never 0, which TiKV
// would read as its default.
func TestLockWaitTimeout(t *testing.T) {
	now := time.Now()
	bg := context.Background()
	short, cancel := context.WithDeadline(bg, now.Add(300*time.Millisecond))
	defer cancel()
	for _, c := range []struct {
		name string
		req  LockRequest
		ctx  context.Context
		want int64
	}{
		{"no wait", LockRequest{Wait: LockNoWait}, bg, -1},
		{"bounded", LockRequest{Wait: time.Second, WaitStart: now.Add(-400 * time.Millisecond)}, bg, 600},
		{"spent", LockRequest{Wait: time.Second, WaitStart: now.Add(-time.Second)}, bg, -1},
		{"ctx caps", LockRequest{Wait: time.Second, WaitStart: now}, short, 299},
		{"forever within ctx", LockRequest{WaitStart: now}, short, 299},
		{"sub-millisecond", LockRequest{Wait: time.Second, WaitStart: now.Add(-time.Second + 500*time.Microsecond)}, bg, 1},
	} {
		got := c.req.waitTimeout(c.ctx, now)
		if got != c.want && !(c.name == "ctx caps" || c.name == "forever within ctx") {
			t.Errorf("%s: wait_timeout %d, want %d", c.name, got, c.want)
		}
		if (c.name == "ctx caps" || c.name == "forever within ctx") && (got < 290 || got > 300) {
			t.Errorf("%s: wait_timeout %d, want about 300", c.name, got)
		}
	}
	if got := (&LockRequest{WaitStart: now}).waitTimeout(bg, now); got <= 1000 {
		t.Errorf("forever without deadline: wait_timeout %d, want above TiKV's 1 s cap", got)
	}
}
