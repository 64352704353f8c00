package tikv_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
)

// deadPD is a loopback port nothing listens on.
const deadPD = "127.0.0.1:1"

// A new user's Connect to a dead PD with a context that never ends still
// fails, once the default connect timeout has passed (the PD client alone
// retries for about 100 s), with a sentinel and the root cause named once.
func TestConnectDeadPDFailsWithinTheDefaultTimeout(t *testing.T) {
	t.Parallel()
	_, err := tikv.Connect(context.Background(), []string{deadPD})
	checkDeadPDError(t, err)
}

// WithConnectTimeout shortens (or, at 0, removes) the bound.
func TestConnectTimeoutOption(t *testing.T) {
	t.Parallel()
	_, err := tikv.Connect(context.Background(), []string{deadPD}, tikv.WithConnectTimeout(500*time.Millisecond))
	checkDeadPDError(t, err)
	// The caller's earlier deadline still wins over the default.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = tikv.Connect(ctx, []string{deadPD})
	checkDeadPDError(t, err)
}

func checkDeadPDError(t *testing.T, err error) {
	t.Helper()
	t.Logf("error: %v", err)
	if !errors.Is(err, kv.ErrPDUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a dead PD = %v, want kv.ErrPDUnavailable after the deadline", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "connection refused") {
		t.Fatalf("%q: want the root cause (connection refused)", msg)
	}
	if n := strings.Count(msg, "connect to PD"); n != 1 || strings.Contains(msg, "\n") {
		t.Fatalf("%q: want one line that names the PD connection once", msg)
	}
}

// Malformed PD addresses are refused at once, before any retrying.
func TestConnectValidatesPDAddresses(t *testing.T) {
	for _, a := range []string{"", "pd", "127.0.0.1", ":2379", "ftp://pd:2379", "http://pd"} {
		if _, err := tikv.Connect(context.Background(), []string{a}); !errors.Is(err, kv.ErrInvalidArgument) {
			t.Errorf("Connect(%q) = %v, want kv.ErrInvalidArgument", a, err)
		}
	}
}
