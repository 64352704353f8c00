// Package integration_test holds black-box suites written only against
// tikvgo's public API (tikv.Connect and the Cluster it returns, raw.Client,
// txn.Client, admin, gc, middleware): what a user's program can do, checked
// against a TiKV cluster.
//
// By default each test starts an embedded mocktikv (three stores, served on
// loopback, reached over gRPC like a real cluster), so the suites run in
// every `go test ./...`. Pointed at a running cluster, they run against it:
//
//	TIKV_PD_ADDRS=127.0.0.1:2379 make test-integration
//
// (TIKVGO_PD_ADDRS is accepted too; several PD addresses are comma
// separated). Tests that need the mock — injected faults, cluster control,
// a storage configuration of their own — skip there, saying why. Every
// test writes under a key prefix unique to the run and the test, and
// deletes what it wrote, so a shared cluster keeps no trace and concurrent
// runs do not collide. The cluster must run API V1 storage for the
// transactional suites (TiKV's default); TTL tests skip on storage without
// TTL.
package integration_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
