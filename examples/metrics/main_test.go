package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMetrics runs the example on the embedded mocktikv and checks that the
// scraped text holds the calls, the attempts and the commit.
func TestMetrics(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, ""); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, w := range []string{
		`db_client_operation_duration_seconds_count{db_operation_name="RawGet",db_system_name="tikv"} 10`,
		`db_client_operation_duration_seconds_count{db_operation_name="RawPut",db_system_name="tikv"} 10`,
		`tikv_client_attempt_duration_seconds_count{db_operation_name="RawGet",db_system_name="tikv",tikv_store_id="`,
		`tikv_client_txn_commit_duration_seconds_count{db_system_name="tikv",tikv_txn_protocol="2pc"} 1`,
		`tikv_client_pd_duration_seconds_count{db_system_name="tikv",tikv_pd_method="GetTS"} 1`,
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %s\n%s", w, out.String())
		}
	}
}
