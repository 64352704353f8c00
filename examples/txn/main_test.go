package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTxnTour runs the example end to end on the embedded mocktikv over
// gRPC and checks what it reports: the snapshot audits and the final
// total (run fails on any audit that saw another total).
func TestTxnTour(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, ""); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"opened 10 accounts of 100",
		"account 00 reads 0; a snapshot at the same ts reads 100",
		"all saw 1000",
		"final total: 1000",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
