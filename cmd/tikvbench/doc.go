// Command tikvbench is a YCSB-style workload driver for tikvgo: it loads
// records, then runs a mix of reads, updates, inserts, scans and
// read-modify-writes against raw.Client or txn.Client from several
// workers, and prints throughput and latency per operation.
//
// With no -pd flag it starts an embedded mocktikv (three stores, the
// records split over -regions regions, served over gRPC on loopback), so
// it needs nothing installed; the figures then measure the client plus
// the mock, not TiKV. With -pd it drives a real cluster, touching only
// keys under -prefix.
//
//	go run ./cmd/tikvbench                                  # raw, 50/50 read/update, zipfian, 10s
//	go run ./cmd/tikvbench -workload b -duration 30s -threads 16
//	go run ./cmd/tikvbench -mode txn -txnmode pessimistic -txnbatch 4 -workload f
//	go run ./cmd/tikvbench -readprop 0.9 -scanprop 0.1 -scanlength 20 -distribution uniform -operationcount 100000
//	go run ./cmd/tikvbench -pd 10.0.0.1:2379,10.0.0.2:2379 -phase load -recordcount 1000000
//	go run ./cmd/tikvbench -pd 10.0.0.1:2379 -phase run -recordcount 1000000 -format json > result.json
//	make tikvbench ARGS='-mode txn -duration 5s'
//
// # Workloads
//
// -workload a..f selects YCSB's core workloads: a (50% read, 50% update),
// b (95/5), c (read only), d (95% read, 5% insert, latest distribution),
// e (95% scan, 5% insert), f (50% read, 50% read-modify-write); the first
// five use the zipfian distribution. -readprop, -updateprop, -insertprop,
// -scanprop and -rmwprop set the mix directly (relative weights), and
// override a preset's value when given with it, as does -distribution.
//
// Distributions: uniform over the existing records; zipfian, YCSB's
// scrambled zipfian (exponent -theta, 0.99: a few hot records spread over
// the keyspace); latest, zipfian by age so recent inserts are hot. Reads
// only choose records whose insert has finished. A scan reads 1 to
// -scanlength records (uniformly) from a chosen record's key.
//
// Keys are -prefix + "user" + 20 digits of the record number, or of its
// FNV-1a hash with -insertorder hashed (the default, which spreads
// consecutive inserts over the regions). Values are -valuesize random
// bytes.
//
// # Phases
//
// The load phase writes records 0..-recordcount-1 in -loadbatch batches
// (BatchPut, or one optimistic transaction per batch); the run phase runs
// the mix for -duration or -operationcount operations, whichever ends
// first (10s when neither is given). -phase load or run runs only one,
// e.g. to load a real cluster once and run several mixes over it.
//
// In txn mode each transaction runs -txnbatch operations and commits;
// -txnmode pessimistic locks each written key as it is written. An
// operation's latency is its own statement (an optimistic write only
// buffers and is near zero); the TXN row times whole transactions and the
// COMMIT row their commits. A failed statement rolls its transaction back
// (it fails in its own row and the TXN row); a failed commit fails the
// COMMIT and TXN rows, not the statements that ran before it, and the run
// line counts such failed transactions separately.
//
// # Output
//
// Every -interval (1s; 0 disables) a progress line goes to stderr: ops so
// far, ops/s over the last interval, p99 so far and the error count. The
// summary goes to stdout: per operation the attempts, errors, ops/s and
// the latency (avg, p50, p90, p99, p99.9, max) of successful attempts,
// from a log-linear histogram within 0.4% of the exact quantiles. Every
// failure is counted in its operation's row by class (canceled,
// not_found, undetermined, write_conflict, deadlock, retryable, other)
// with its first message. -format json writes the summary as one JSON
// document (type Summary) instead; -json path writes it to a file too.
// -strict makes a run with failed operations or transactions exit with
// status 1.
//
// SIGINT or SIGTERM stops the run: operations in flight end with
// "canceled" errors, the summary (marked interrupted) is still written,
// and every goroutine is stopped before the command exits.
package main
