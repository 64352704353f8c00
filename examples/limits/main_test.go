package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestLimitsTour runs the example end to end and checks what it reports.
func TestLimitsTour(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"(burst 10) took at least 400ms: true",
		"deadline at 1/s: limited true, not sent true",
		"4 store tokens, took at least 500ms: true",
		"external_example true, internal_gc 40",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
