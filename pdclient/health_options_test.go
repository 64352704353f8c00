package pdclient

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestLivenessTimeoutBoundsHealthChecks: a health check that never
// answers is cut off after the liveness timeout, client-go's
// StoreLivenessTimeout: 1 s by default, WithLivenessTimeout's otherwise
// (virtual time).
func TestLivenessTimeoutBoundsHealthChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []CacheOption
		want time.Duration
	}{
		{"default", nil, time.Second},
		{"5s", []CacheOption{WithLivenessTimeout(5 * time.Second)}, 5 * time.Second},
		{"non-positive keeps the default", []CacheOption{WithLivenessTimeout(0)}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &probeScript{gate: make(chan struct{})} // never opened: the check hangs until its ctx ends
				p.answer.Store(int32(Reachable))
				c := healthCache(t, p, tc.opts...)
				start := time.Now()
				if l := c.ReportSendFailure(context.Background(), 1, errBoom); l != Unreachable {
					t.Fatalf("a check that never answered: %v", l)
				}
				if d := time.Since(start); d != tc.want {
					t.Fatalf("the check was cut off after %v, want %v", d, tc.want)
				}
			})
		})
	}
}
