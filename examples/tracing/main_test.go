package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTracing runs the example on the embedded mocktikv and checks that the
// exported spans include the calls, their attempts and the re-route.
func TestTracing(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, ""); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, w := range []string{
		`"Name": "RawGet"`, `"Name": "tikvpb.Tikv/RawGet"`, `"Name": "TxnCommit"`, `"Name": "tikvpb.Tikv/KvPrewrite"`,
		`"Name": "PD GetTS"`, `"Value": "NotLeader"`, `"Key": "server.port"`, "get tracing/a = 1; trace ",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %s", w)
		}
	}
}
