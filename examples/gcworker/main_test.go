package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestGCWorker runs the example end to end on the embedded mocktikv over
// gRPC and checks what it reports: every phase of the round, the lock
// sweep over both regions, the refused old read and the settled lock.
func TestGCWorker(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, "", 0); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"gc: advance-txn-safe-point",
		"gc: resolve-locks",
		"gc: advance-gc-safe-point",
		"gc: done",
		"2 regions swept",
		"a read below the safe point: aborted by GC",
		"latest greeting: hello, world; zebra: not found",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
