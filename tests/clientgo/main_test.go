package clientgo

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// knownLeaks are goroutines client-go itself leaves behind, recorded by the
// test that meets them (see TestV2UnknownKeyspaceRefused); every other
// goroutine must be gone once the tests have closed their clients.
var knownLeaks []goleak.Option

// TestMain checks, after the tests, that client-go left no goroutine
// behind against the mock beyond knownLeaks.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// After a store outage client-go's batch client waits for its
		// connection on a context of its own, bounded by its dial timeout
		// and not by Close (waitConnReady in internal/client/
		// client_batch.go at b75f6efa8ddd): give such goroutines up to
		// about 20 s to end before calling them leaked.
		err := goleak.Find(knownLeaks...)
		for deadline := time.Now().Add(20 * time.Second); err != nil && time.Now().Before(deadline); {
			err = goleak.Find(knownLeaks...)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
