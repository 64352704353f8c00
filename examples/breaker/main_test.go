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

// TestBreakerTour runs the example end to end and checks what it reports.
func TestBreakerTour(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"breaker: closed -> open",
		"refused by its breaker: true, not sent: true",
		`follower read while the store is down: "v1"`,
		"breaker: half-open -> closed",
		`leader read after the restart: "v1"`,
		"level=WARN",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
