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

// TestQuickstartTour runs the README's main command end to end on the
// embedded mocktikv and checks what it reports.
func TestQuickstartTour(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, ""); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"started mocktikv",
		`get returned "apple"`,
		`batch get of the first 3 returned ["value-0" "value-1" "value-2"]`,
		"quickstart/a = apple",
		"quickstart/m = value-11",
		"get now reports not found",
		"left 0 keys",
		`a snapshot reads ["60" "40"]`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
