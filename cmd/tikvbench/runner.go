package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/txn"
)

// ErrOperationsFailed is returned (wrapped) by a -strict run in which
// some operation or transaction failed, after the summary is written.
var ErrOperationsFailed = errors.New("tikvbench: operations failed")

// ErrLoadFailed is returned (wrapped) when some load-phase write failed:
// the run phase would read records that do not exist, so it is skipped.
var ErrLoadFailed = errors.New("tikvbench: load failed")

// run is the whole command: parse args, start the embedded mocktikv (or
// connect to -pd), load, run, write the summary. It returns when ctx ends
// (SIGINT) or the run is over, with every goroutine it started stopped.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	w, err := newWorkload(cfg)
	if err != nil {
		return err
	}

	addrs := cfg.PD
	if len(addrs) == 0 {
		opts := []mocktikv.Option{mocktikv.WithStores(3)}
		if cfg.Mode == ModeTxn {
			opts = append(opts, mocktikv.WithTxnSplitKeys(w.splitKeys()...))
		} else {
			opts = append(opts, mocktikv.WithSplitKeys(w.splitKeys()...))
		}
		mock := mocktikv.NewCluster(opts...)
		if err := mock.Serve(); err != nil {
			return fmt.Errorf("tikvbench: start mocktikv: %w", err)
		}
		defer mock.Close()
		addrs = mock.PDAddrs()
		fmt.Fprintf(stderr, "tikvbench: embedded mocktikv at %s (%d stores, %d regions)\n",
			strings.Join(addrs, ","), len(mock.StoreIDs()), len(mock.Regions()))
	}
	cluster, err := tikv.Connect(ctx, addrs)
	if err != nil {
		return fmt.Errorf("tikvbench: connect: %w", err)
	}
	defer cluster.Close()

	newDriver := func(st *phaseStats, b *opBudget) driver {
		return &rawDriver{c: raw.NewClient(cluster), w: w, budget: b, stats: st}
	}
	if cfg.Mode == ModeTxn {
		tc := txn.NewClient(cluster)
		defer func() {
			// Waits for background commit work (secondaries, cleanups)
			// so nothing outlives the run.
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = tc.Close(cctx)
		}()
		var begin []txn.BeginOption
		if cfg.TxnMode == Pessimistic {
			begin = append(begin, txn.WithPessimistic())
		}
		newDriver = func(st *phaseStats, b *opBudget) driver {
			return &txnDriver{c: tc, w: w, budget: b, stats: st, begin: begin}
		}
	}

	sum := &Summary{Config: summarizeConfig(cfg)}
	var runErr error
	if cfg.Phase != PhaseRun {
		st := newPhaseStats("load", nil, []string{rowLoad})
		loadPhase(ctx, cfg, newDriver(st, &opBudget{}), st, stderr)
		sum.Load = st.summary()
		// An interrupted load's failures are its canceled writes: the
		// summary says so, and the run phase is skipped anyway.
		if sum.Load.Errors > 0 && ctx.Err() == nil {
			runErr = fmt.Errorf("%w: %d of %d writes failed", ErrLoadFailed, sum.Load.Errors, sum.Load.Transactions[0].Count)
		}
	}
	if cfg.Phase != PhaseLoad && runErr == nil && ctx.Err() == nil {
		opRows := opNames[:]
		var txnRows []string
		if cfg.Mode == ModeTxn {
			txnRows = []string{rowTxn, rowCommit}
		}
		st := newPhaseStats("run", opRows, txnRows)
		runPhase(ctx, cfg, newDriver(st, &opBudget{limit: cfg.OpCount}), st, stderr)
		sum.Run = st.summary()
	}
	sum.Interrupted = ctx.Err() != nil
	if err := writeSummary(cfg, sum, stdout); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	if cfg.Strict && sum.Run != nil && sum.Run.Errors+sum.Run.FailedTxns > 0 {
		return fmt.Errorf("%w: %d operations, %d transactions", ErrOperationsFailed, sum.Run.Errors, sum.Run.FailedTxns)
	}
	return nil
}

// workerRand is a worker's random source: seeded, so a run's choices
// are reproducible up to the interleaving of workers. Each worker of
// each phase has its own stream.
func workerRand(seed uint64, phase, worker int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(phase)<<32|uint64(worker)))
}

// Phase numbers of workerRand's streams.
const (
	loadStream = iota
	runStream
)

// loadPhase inserts records 0..RecordCount-1 in -loadbatch writes spread
// over the workers.
func loadPhase(ctx context.Context, cfg *Config, d driver, st *phaseStats, progressOut io.Writer) {
	var next atomic.Int64
	records := &st.records
	stopProgress := startProgress(st, cfg.Interval, progressOut, func() string {
		return fmt.Sprintf("%d/%d records", records.Load(), cfg.RecordCount)
	})
	defer stopProgress()
	var wg sync.WaitGroup
	for i := range cfg.Threads {
		wg.Go(func() {
			r := workerRand(cfg.Seed, loadStream, i)
			for ctx.Err() == nil {
				from := next.Add(int64(cfg.LoadBatch)) - int64(cfg.LoadBatch)
				if from >= cfg.RecordCount {
					return
				}
				to := min(from+int64(cfg.LoadBatch), cfg.RecordCount)
				start := time.Now()
				err := d.load(ctx, r, from, to)
				st.record(rowLoad, time.Since(start), err)
				if err == nil {
					records.Add(to - from)
				}
			}
		})
	}
	wg.Wait()
	st.finish()
}

// runPhase runs the workload on every worker until the duration passes,
// the operation budget is spent, or ctx ends. Workers finish the unit in
// hand when the duration passes (no operation is cut short by the
// clock); only ctx's end interrupts operations in flight.
func runPhase(ctx context.Context, cfg *Config, d driver, st *phaseStats, progressOut io.Writer) {
	var timeUp atomic.Bool
	if cfg.Duration > 0 {
		timer := time.AfterFunc(cfg.Duration, func() { timeUp.Store(true) })
		defer timer.Stop()
	}
	stopping := func() bool { return timeUp.Load() || ctx.Err() != nil }
	stopProgress := startProgress(st, cfg.Interval, progressOut, nil)
	defer stopProgress()
	var wg sync.WaitGroup
	for i := range cfg.Threads {
		wg.Go(func() {
			r := workerRand(cfg.Seed, runStream, i)
			for !stopping() && d.unit(ctx, r, stopping) {
			}
		})
	}
	wg.Wait()
	st.finish()
}

// startProgress prints a progress line for st every interval (none when
// interval is 0) until the returned stop is called; stop waits for the
// printing goroutine to end.
func startProgress(st *phaseStats, interval time.Duration, out io.Writer, extra func() string) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		prevOps, prevAt := int64(0), st.start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				ops, h := st.ops.Load(), st.all
				rate := float64(ops-prevOps) / now.Sub(prevAt).Seconds()
				line := fmt.Sprintf("%-4s %6.1fs  ops %d  %.0f ops/s  p99 %s  errors %d",
					st.name, now.Sub(st.start).Seconds(), ops, rate, fmtLatency(h.Quantile(0.99)), st.errorCount())
				if extra != nil {
					line += "  " + extra()
				}
				fmt.Fprintln(out, line)
				prevOps, prevAt = ops, now
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// fmtLatency prints nanoseconds as milliseconds with microsecond
// resolution, the unit every latency in the text summary uses.
func fmtLatency(ns int64) string { return fmt.Sprintf("%.3fms", float64(ns)/1e6) }
