// Package locate_test ports the behaviour of client-go's internal/locate
// tests (region cache, region request sender, replica selector, stale-read
// state machine) to tikvgo, as black-box tests against mocktikv with
// scripted faults. docs/parity.md maps each client-go test to its port.
package locate_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
