package clientgo

import (
	"fmt"
	"os"
	"testing"

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
		if err := goleak.Find(knownLeaks...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
