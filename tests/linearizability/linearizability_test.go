package linearizability_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/transport"
)

const (
	workers   = 16
	numKeys   = 6
	opTimeout = 2 * time.Second
	// roundLength and maxOpsPerWorker bound a round, so that porcupine
	// checks each key's history in seconds.
	roundLength     = 3 * time.Second
	maxOpsPerWorker = 100
	// checkTimeout bounds porcupine per key; a check that times out proves
	// nothing and fails the test.
	checkTimeout = 60 * time.Second
)

// setup is one way of connecting the client to the mock.
type setup struct {
	name    string
	connect func(t *testing.T, mockOpts []mocktikv.Option, opts ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster)
}

func setups() []setup {
	overGRPC := func(extra ...tikv.Option) func(*testing.T, []mocktikv.Option, ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster) {
		return func(t *testing.T, mockOpts []mocktikv.Option, opts ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster) {
			t.Helper()
			mock := mocktikv.Start(t, mockOpts...)
			cluster, err := tikv.Connect(t.Context(), mock.PDAddrs(), append(extra, opts...)...)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			t.Cleanup(func() { cluster.Close() })
			return mock, cluster
		}
	}
	return []setup{
		{"grpc-batch", overGRPC()},
		{"grpc-unary", overGRPC(tikv.WithPoolOptions(transport.WithoutBatch()))},
		{"inprocess", func(t *testing.T, mockOpts []mocktikv.Option, opts ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster) {
			t.Helper()
			mock := mocktikv.NewCluster(mockOpts...)
			// The client checks store health through the in-process
			// Sender (transport.HealthChecker), as through gRPC's health
			// service over the wire.
			opts = append([]tikv.Option{tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender())}, opts...)
			cluster, err := tikv.Connect(t.Context(), nil, opts...)
			if err != nil {
				mock.Close()
				t.Fatalf("connect: %v", err)
			}
			t.Cleanup(func() {
				cluster.Close()
				mock.Close()
			})
			return mock, cluster
		}},
		// mocktikv's in-process Sender has no BatchCommands path, so the
		// in-process configuration with BatchCommands keeps the in-process
		// PD and sends to the stores through the gRPC pool's streams.
		{"inprocess-pd-batch", func(t *testing.T, mockOpts []mocktikv.Option, opts ...tikv.Option) (*mocktikv.Cluster, *tikv.Cluster) {
			t.Helper()
			mock := mocktikv.Start(t, mockOpts...)
			cluster, err := tikv.Connect(t.Context(), nil, append([]tikv.Option{tikv.WithPD(mock.PD())}, opts...)...)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			t.Cleanup(func() { cluster.Close() })
			return mock, cluster
		}},
	}
}

// settings are a run's knobs, from the environment (see the package doc).
type settings struct {
	seed     uint64
	duration time.Duration
	mix      []weighted
	// atLeastOnce turns on raw.WithAtLeastOnceWrites: writes are resent
	// after an unknown outcome, which the checker must catch.
	atLeastOnce bool
}

// readSettings reads CHAOS_SEED, CHAOS_DURATION, CHAOS_OPS and
// CHAOS_AT_LEAST_ONCE.
func readSettings(t *testing.T) settings {
	t.Helper()
	cfg := settings{seed: 1}
	var err error
	if cfg.mix, err = parseMix(os.Getenv("CHAOS_OPS")); err != nil {
		t.Fatalf("CHAOS_OPS: %v", err)
	}
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		if cfg.seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", s, err)
		}
	}
	if s := os.Getenv("CHAOS_DURATION"); s != "" {
		if cfg.duration, err = time.ParseDuration(s); err != nil {
			t.Fatalf("CHAOS_DURATION=%q: %v", s, err)
		}
	}
	if s := os.Getenv("CHAOS_AT_LEAST_ONCE"); s != "" {
		if cfg.atLeastOnce, err = strconv.ParseBool(s); err != nil {
			t.Fatalf("CHAOS_AT_LEAST_ONCE=%q: %v", s, err)
		}
	}
	return cfg
}

// TestLinearizability runs the chaos workload in each configuration and
// checks every key's history with porcupine.
func TestLinearizability(t *testing.T) {
	cfg := readSettings(t)
	for _, s := range setups() {
		t.Run(s.name, func(t *testing.T) { runChaos(t, s, cfg) })
	}
}

// roundKeys are the keys of one round: fresh ones each round, so that
// each checked history stays small enough for porcupine however long the
// run.
func roundKeys(round int) []string {
	keys := make([]string, numKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("r%03d/key%02d", round, i)
	}
	return keys
}

// runChaos runs rounds on one cluster until cfg.duration has passed (at
// least one round), and stops at the first round that fails.
func runChaos(t *testing.T, s setup, cfg settings) {
	first := roundKeys(0)
	attempts := newAttemptLog()
	mock, cluster := s.connect(t, []mocktikv.Option{mocktikv.WithStores(3), mocktikv.WithSplitKeys([]byte(first[2]), []byte(first[4]))},
		tikv.WithMiddleware(attempts.middleware))
	client := raw.NewClient(cluster, raw.WithAtomicForCAS(true), raw.WithAtLeastOnceWrites(cfg.atLeastOnce))
	start := time.Now()
	for round := 0; round == 0 || time.Since(start) < cfg.duration; round++ {
		runRound(t, mock, client, attempts, s.name, cfg.seed, round, cfg.mix)
		if t.Failed() || t.Context().Err() != nil {
			return
		}
	}
}

// runRound runs the workers and the nemesis for roundLength or until every
// worker has done maxOpsPerWorker calls, heals the cluster, reads every
// key once more and checks the history.
func runRound(t *testing.T, mock *mocktikv.Cluster, client *raw.Client, attempts *attemptLog, name string, seed uint64, round int, mix []weighted) {
	t.Helper()
	keys := roundKeys(round)
	clk := clock{start: time.Now()}
	ctx := t.Context()
	rseed := seed ^ uint64(round)<<32

	var (
		stop      atomic.Bool
		wg        sync.WaitGroup
		histories = make([]history, workers)
	)
	w := &workload{client: client, keys: keys, clock: clk, opTimeout: opTimeout, maxOps: maxOpsPerWorker, mix: mix}
	for id := range workers {
		wg.Go(func() { histories[id] = w.run(ctx, id, rseed, &stop) })
	}
	workersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(workersDone)
	}()
	nem := newNemesis(mock, keys, rseed, clk)
	nemStop := make(chan struct{})
	var nemDone sync.WaitGroup
	nemDone.Go(func() { nem.run(nemStop) })

	timer := time.NewTimer(roundLength)
	select {
	case <-timer.C:
	case <-workersDone:
	case <-ctx.Done():
	}
	timer.Stop()
	close(nemStop)
	nemDone.Wait()
	stop.Store(true)
	<-workersDone
	if err := nem.heal(); err != nil {
		t.Fatalf("seed %d, %s round %d: the nemesis cannot heal the cluster (a mocktikv problem, not the client's): %v", seed, name, round, err)
	}

	h := slices.Concat(histories...)
	checkFailover(t, h, nem, attempts)
	final := finalReads(t, w, keys)
	h = append(h, final...)
	h = append(h, finalSwaps(t, w, final)...)
	summarize(t, round, h, nem)
	check(t, fmt.Sprintf("%s round %d", name, round), name, seed, h, nem)
}

// finalReads reads every key on the healed cluster, so that a write lost
// or applied late is visible at the end of the history. A key that cannot
// be read after several tries fails the test: the client must recover.
func finalReads(t *testing.T, w *workload, keys []string) history {
	t.Helper()
	var h history
	seen := map[string]register{}
	for _, k := range keys {
		var e event
		for range 5 {
			if e = w.get(t.Context(), workers, k, seen); e.outcome == definite {
				break
			}
		}
		if e.outcome != definite {
			t.Errorf("final read of %s on the healed cluster failed: %v", k, e.err)
			continue
		}
		h = append(h, e)
	}
	return h
}

// checkFailover fails the test for every call that spent its whole
// deadline backing off from attempts that never left the client
// (stuckOnUnsentAttempts), still aimed at a store that was stopped during
// the whole call: the nemesis hands the leadership of a stopped store's
// regions to running stores within 300 ms, so a client that fails over
// (another peer, a NotLeader hint, PD) finds a live leader in time. Slow
// calls to a running store are not failures: client-go's ServerIsBusy
// backoff, or gRPC's reconnect backoff (up to 3 s) after the store came
// back, can outlast a deadline.
func checkFailover(t *testing.T, h history, nem *nemesis, attempts *attemptLog) {
	t.Helper()
	if stuck, example := failoverViolations(h, nem, attempts); len(stuck) > 0 {
		t.Errorf("no fail-over: calls ran out their whole %v deadline retrying a store that was down throughout, though its regions had live leaders elsewhere within 300 ms (%s); e.g.\n  %s",
			opTimeout, sortedCounts(stuck), strings.Join(example, "\n  "))
	}
}

// failoverViolations counts the calls checkFailover rejects, by kind, with
// up to three of them as text.
func failoverViolations(h history, nem *nemesis, attempts *attemptLog) (stuck map[string]int, example []string) {
	stuck = map[string]int{}
	seen := map[uint64]bool{} // calls counted (a BatchPut is several events)
	for _, e := range h {
		if e.err == nil || time.Duration(e.ret-e.call) < opTimeout || !stuckOnUnsentAttempts(e.err) || seen[e.callID] {
			continue
		}
		store := attempts.lastStore(e.callID)
		if !nem.downThroughout(store, e.call, e.ret) {
			continue
		}
		seen[e.callID] = true
		kind := e.in.kind.String()
		if e.in.batch != "" {
			kind = "batchput"
		}
		stuck[kind]++
		if len(example) < 3 {
			example = append(example, fmt.Sprintf("c%02d %s [%.3f, %.3f], last sent to store %d: %s", e.client, describeCall(e.in),
				float64(e.call)/1e6, float64(e.ret)/1e6, store, errText(e.err)))
		}
	}
	return stuck, example
}

// stuckOnUnsentAttempts reports whether err says the call's retry loop
// gave up while backing off under the tikvRPC policy (send failures) from
// an attempt that never left the client (transport.ErrNotSent), having
// slept most of the deadline that way.
func stuckOnUnsentAttempts(err error) bool {
	for err != nil {
		var be *kv.BackoffExhaustedError
		if !errors.As(err, &be) {
			return false
		}
		if be.Policy == "tikvRPC" && errors.Is(be.Cause, transport.ErrNotSent) && be.Slept >= opTimeout/2 {
			return true
		}
		err = be.Cause
	}
	return false
}

// finalSwaps compare-and-swaps every key read by finalReads from the value
// read to a new one, on the healed cluster: with every store up and no
// fault left, each must swap, at its first attempt, with a definite answer
// (a client that cannot fail over or recover its CAS path fails here).
func finalSwaps(t *testing.T, w *workload, reads history) history {
	t.Helper()
	var h history
	for _, r := range reads {
		in := regInput{kind: opCAS, key: r.in.key, value: "final", expectAbsent: !r.out.found, expect: r.out.value}
		e := w.cas(t.Context(), workers, in)
		if e.outcome != definite || !e.out.swapped {
			t.Errorf("final %s on the healed cluster: %s, err %v; want a swap", describeCall(in), describeResult(in, e.out), e.err)
		}
		h = append(h, e)
	}
	return h
}

// summarize logs how many calls of each kind had each outcome, and what
// the nemesis did.
func summarize(t *testing.T, round int, h history, nem *nemesis) {
	t.Helper()
	counts := map[string]int{}
	samples := map[string][]string{}
	for _, e := range h {
		kind := e.in.kind.String()
		if e.in.batch != "" {
			kind = "batchput-key"
		}
		k := kind + "/" + [...]string{"ok", "undetermined", "failed"}[e.outcome]
		counts[k]++
		if e.err != nil && time.Duration(e.ret-e.call) >= opTimeout {
			counts["deadline-exhausted"]++
			if len(samples["deadline-exhausted"]) < 2 {
				samples["deadline-exhausted"] = append(samples["deadline-exhausted"], kind+": "+errText(e.err))
			}
		}
		if e.err != nil && len(samples[k]) < 2 {
			samples[k] = append(samples[k], errText(e.err))
		}
	}
	t.Logf("round %d calls: %v", round, sortedCounts(counts))
	for _, k := range slices.Sorted(maps.Keys(samples)) {
		t.Logf("round %d %s, e.g.: %s", round, k, strings.Join(samples[k], " || "))
	}
	t.Logf("round %d nemesis: %v", round, sortedCounts(nem.counts))
}

func sortedCounts(m map[string]int) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// check runs porcupine on each key's history; a key whose history is not
// linearizable fails the test with the seed, the history as text and the
// path of the visualization.
func check(t *testing.T, what, name string, seed uint64, h history, nem *nemesis) {
	t.Helper()
	model := registerModel()
	model.Partition = nil // one key at a time, to name the key that fails
	for _, k := range h.keys() {
		ops := h.operations(k)
		res, info := porcupine.CheckOperationsVerbose(model, ops, checkTimeout)
		switch res {
		case porcupine.Ok:
			continue
		case porcupine.Unknown:
			t.Errorf("seed %d, %s, key %s: porcupine timed out after %v on %d operations; the history is unchecked",
				seed, what, k, checkTimeout, len(ops))
			continue
		}
		path := visualize(t, name, seed, k, model, info)
		t.Errorf("seed %d, %s: history of key %s is not linearizable (%d checked operations)\n%s"+
			"visualization: %s\nreproduce: CHAOS_SEED=%d go test -race -run 'TestLinearizability/%s' ./tests/linearizability/ (a later round needs the same CHAOS_DURATION)\n"+
			"history of %s ([call ms, return ms] client op -> result):\n%s",
			seed, what, k, len(ops), diagnose(h, k, ops, info), path, seed, name, k, h.dump(k))
	}
	if t.Failed() {
		t.Logf("nemesis actions (ms since start):\n%s", strings.Join(nem.log, "\n"))
	}
}

// visualize writes porcupine's HTML rendering of a failed check to a
// directory that outlives the test, and returns its path.
func visualize(t *testing.T, name string, seed uint64, key string, model porcupine.Model, info porcupine.LinearizationInfo) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tikvgo-linearizability-")
	if err != nil {
		return fmt.Sprintf("(no visualization: %v)", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("seed%d-%s-%s.html", seed, name, strings.ReplaceAll(key, "/", "-")))
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return fmt.Sprintf("(no visualization: %v)", err)
	}
	return path
}
