// Package soak holds resource soak tests (issue #8): many short-lived
// connections against mocktikv served over gRPC on loopback, checking that
// opening and closing a Cluster leaves no goroutine or file descriptor
// behind and measuring how much heap each cycle retains.
//
// `make test` runs a short version (300 cycles by default). The full run of
// issue #8's acceptance is `make soak`, which is
//
//	go test -count=1 -timeout 60m -run 'TestConnectPutCloseSoak$' -v ./tests/soak -soak.cycles=20000
//
// (SOAK_CYCLES=n and SOAK_PROFILEDIR=dir override make's defaults). Flags,
// passed after the package path:
//
//	-soak.cycles n        Connect + Put + Close cycles (default 300)
//	-soak.profiledir dir  write heap profiles at the first and last
//	                      checkpoint (heap-base.pprof, heap-end.pprof) for
//	                      `go tool pprof -sample_index=inuse_space -base
//	                      heap-base.pprof heap-end.pprof`
//
// What the heap growth is (tikvgo at 39b40ba, 20,000 cycles): about 0.6 KB
// a cycle, all of it in pd/client's TSO stream gauges. clients/tso/stream.go
// labels OngoingRequestCountGauge and EstimateTSOLatencyGauge with a
// process-wide stream id ("<PD url>-<n>") and never deletes the label
// values, so each PD client's TSO stream leaves two Prometheus children
// behind for the life of the process. Resetting those two vectors after
// every cycle takes the growth to about 2 B a cycle; a library cannot do
// that, as it would drop the gauges of every other PD client in the process.
package soak
