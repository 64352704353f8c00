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

// TestResourceControlTour runs the example on the embedded mocktikv and
// checks what it reports: the default group's rows never wait, the small
// group's do, and the transaction is charged to its own group.
func TestResourceControlTour(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, w := range []string{
		"started mocktikv",
		"100 rows in group default: 571.1 WRU",
		"WRU charged, no wait for RU",
		"100 rows in group batch: 570.9 WRU",
		"WRU charged, waited for RU",
		"transaction in group reports:",
		"the controller knows group reports at priority 16",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}
