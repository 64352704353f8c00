// Package bank_test is issue #10's bank-invariant acceptance test: money
// moves between accounts in transactions while the cluster misbehaves, and
// no consistent snapshot may ever see money created or destroyed.
//
// TestBank writes N accounts with equal balances in one transaction, then
// for a while runs, all at once:
//
//   - workers that move a random amount between two random accounts with
//     txn.Client.Update (read both, write both if the balance allows);
//   - readers that take a fresh snapshot and sum every account, with
//     BatchGet and Iter alternately: every sum must be the initial total;
//   - a killer that prewrites transfers of its own (plans.KvPrewrite through
//     a pipeline plan, short lock TTL) and never commits them, so the
//     workers and readers must resolve its locks. Its transfers credit more
//     than they debit: one wrongly committed shows in the total;
//   - a crasher that runs transfers on clients of their own, each of
//     which crashes right after its prewrites succeeded: its first Commit
//     RPC and everything after never reach TiKV (a middleware cuts them)
//     and it is closed with its background work cancelled. An
//     async-commit transfer is then owed a commit at the ts Commit
//     reported, a two-phase one (one client in four) a rollback; half the
//     crashed transfers are read back at once by a witness on the main
//     client, which must resolve them to that outcome, and after the
//     audit both accounts of each must agree on it (crasher_test.go);
//   - a seeded nemesis that splits regions at account keys, moves leaders,
//     stops and restarts one of the three stores, and loses the responses of
//     Prewrite and Commit requests after they applied.
//
// Afterwards it heals the cluster and checks, in order: a snapshot's total;
// an audit transaction that reads every account and writes it back
// unchanged (its prewrite must resolve every lock still left); Close; no
// lock left anywhere (KvScanLock over every region); every killer
// transaction rolled back (KvCheckTxnStatus at its primary); every
// crashed transfer applied entirely or not at all, as it was owed
// (KvCheckSecondaryLocks at both accounts); and a fresh client's snapshot
// total.
//
// It runs in process (mocktikv's PD and Sender) and over gRPC (mocktikv
// served on loopback), since faults must behave the same in both.
//
// Transfers whose commit ends kv.ErrUndetermined are counted, not failures:
// a transfer moves money atomically, so the invariant holds whichever way
// it went. Every other error fails the test. Undetermined transfers whose
// error also says write conflict are counted apart: they used to be most
// of them, async-commit and 1PC prewrites whose batch had a lost answer
// and whose retry met a conflict; twopc now settles those with a check of
// the transaction's keys (txn/internal/twopc/prewrite_settle.go), and a
// two-phase prewrite that failed is never undetermined
// (undetermined_test.go).
//
// Every run is seeded (BANK_SEED, default 1): the seed fixes the
// nemesis's, the killer's and the crasher's sequences of actions and
// every worker's transfers, not goroutine timing. A failure prints the seed. Each configuration runs for
// BANK_DURATION (default 2s); long runs:
//
//	make bank SEED=7 DURATION=5m
package bank_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
