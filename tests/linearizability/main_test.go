// Package linearizability_test checks that RawKV operations stay
// linearizable under chaos, with porcupine (github.com/anishathalye/porcupine).
//
// TestLinearizability runs 16 workers doing Get, Put, Delete, BatchPut and
// CompareAndSwap (atomic mode) on a handful of keys, while a nemesis splits
// and merges regions, moves leaders, stops and restarts a store, and injects
// region errors, transport errors, delays and responses lost after the
// command applied (mocktikv's control API and Inject). It runs four
// configurations: over gRPC with and without BatchCommands, in-process
// (mocktikv's PD and Sender, which has no BatchCommands path), and
// mocktikv's in-process PD with the gRPC pool's BatchCommands. Afterwards
// it heals the cluster, reads every key once more, and checks each key's
// history against a register-with-CAS model (model_test.go; the rules for
// failed and undetermined calls are in record_test.go). It also fails when
// a call spends its whole deadline retrying a store that is down while
// every region has a live leader (no fail-over), or when a read or a CAS on
// the healed cluster does not succeed.
//
// A configuration runs in rounds on one cluster: each round uses fresh keys
// and lasts 3 s or 100 calls per worker, whichever comes first, so that
// each history porcupine checks stays small however long the run. The
// first round that fails ends the configuration.
//
// Every run is seeded: the seed fixes the nemesis's sequence of actions and
// each worker's sequence of operations (goroutine timing is not fixed). A
// failure prints the seed, the configuration and round, what went wrong in
// words (diagnose_test.go), the offending key's history as text, and the
// path of porcupine's HTML visualization.
//
// The short run, one round per configuration, is part of `go test ./...`.
// Long runs:
//
//	make chaos SEED=123 DURATION=10m
//
// which sets CHAOS_SEED (default 1) and CHAOS_DURATION (a Go duration: how
// long each configuration keeps starting rounds; default 0, one round).
// CHAOS_OPS restricts the operation mix to a comma-separated list of
// get, put, delete, batchput and cas (default: all), to isolate a failure
// to the calls that cause it; `make chaos OPS=get,cas` sets it.
// CHAOS_AT_LEAST_ONCE=true runs the client with raw.WithAtLeastOnceWrites
// (client-go's resend of writes after an unknown outcome), which is not
// linearizable: the run should fail, showing the checker has teeth.
// Run one configuration with -run 'TestLinearizability/grpc-batch'.
package linearizability_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
