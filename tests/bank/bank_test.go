package bank_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

const (
	accounts       = 12
	initialBalance = 1000
	workers        = 8
	readers        = 2
	// transferTimeout bounds one Update; the nemesis never keeps a region
	// leaderless for more than 300 ms, so a transfer that needs this long
	// means the client did not recover.
	transferTimeout = 30 * time.Second
	// finalTimeout bounds each check on the healed cluster.
	finalTimeout = 30 * time.Second
)

// settings are a run's knobs, from the environment (see the package doc).
type settings struct {
	seed     uint64
	duration time.Duration
}

// readSettings reads BANK_SEED and BANK_DURATION.
func readSettings(t *testing.T) settings {
	t.Helper()
	cfg := settings{seed: 1, duration: 2 * time.Second}
	if s := os.Getenv("BANK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("BANK_SEED=%q: %v", s, err)
		}
		cfg.seed = v
	}
	if s := os.Getenv("BANK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("BANK_DURATION=%q: %v", s, err)
		}
		cfg.duration = d
	}
	return cfg
}

// setup is one way of connecting the client to the mock; attach makes
// another connection to the same mock, through mw (the crasher's clients).
type setup struct {
	name    string
	connect func(t *testing.T, mockOpts ...mocktikv.Option) (*mocktikv.Cluster, *tikv.Cluster)
	attach  func(ctx context.Context, mock *mocktikv.Cluster, mw transport.Middleware) (*tikv.Cluster, error)
}

func setups() []setup {
	return []setup{
		{"inprocess", func(t *testing.T, mockOpts ...mocktikv.Option) (*mocktikv.Cluster, *tikv.Cluster) {
			t.Helper()
			mock := mocktikv.NewCluster(mockOpts...)
			cluster, err := tikv.Connect(t.Context(), nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()))
			if err != nil {
				mock.Close()
				t.Fatalf("connect: %v", err)
			}
			t.Cleanup(func() {
				cluster.Close()
				mock.Close()
			})
			return mock, cluster
		}, func(ctx context.Context, mock *mocktikv.Cluster, mw transport.Middleware) (*tikv.Cluster, error) {
			return tikv.Connect(ctx, nil, tikv.WithPD(mock.PD()), tikv.WithTransport(mock.Sender()), tikv.WithMiddleware(mw))
		}},
		{"grpc", func(t *testing.T, mockOpts ...mocktikv.Option) (*mocktikv.Cluster, *tikv.Cluster) {
			t.Helper()
			mock := mocktikv.Start(t, mockOpts...)
			cluster, err := tikv.Connect(t.Context(), mock.PDAddrs())
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			t.Cleanup(func() { cluster.Close() })
			return mock, cluster
		}, func(ctx context.Context, mock *mocktikv.Cluster, mw transport.Middleware) (*tikv.Cluster, error) {
			return tikv.Connect(ctx, mock.PDAddrs(), tikv.WithMiddleware(mw))
		}},
	}
}

// TestBank runs the bank workload under the nemesis in each configuration.
func TestBank(t *testing.T) {
	cfg := readSettings(t)
	for _, s := range setups() {
		t.Run(s.name, func(t *testing.T) {
			runBank(t, s, cfg)
			if t.Failed() {
				t.Logf("reproduce: BANK_SEED=%d BANK_DURATION=%v go test -race -count=1 -run 'TestBank/%s' ./tests/bank/",
					cfg.seed, cfg.duration, s.name)
			}
		})
	}
}

func accountKey(i int) []byte { return fmt.Appendf(nil, "bank/acct/%02d", i) }

// The accounts' key range, for scans.
var (
	accountsLower = []byte("bank/acct/")
	accountsUpper = []byte("bank/acct0") // '0' follows '/'
)

func allAccountKeys() [][]byte {
	keys := make([][]byte, accounts)
	for i := range keys {
		keys[i] = accountKey(i)
	}
	return keys
}

func encodeBalance(v int64) []byte { return strconv.AppendInt(nil, v, 10) }

func decodeBalance(key, b []byte) (int64, error) {
	if b == nil {
		return 0, fmt.Errorf("account %s is missing", key)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("account %s holds %q: %w", key, b, err)
	}
	return v, nil
}

// counters are a run's tallies, reported at its end.
type counters struct {
	committed    atomic.Int64 // transfers that moved money
	pessimistic  atomic.Int64 // of which by pessimistic transactions
	noFunds      atomic.Int64 // transfers the balance did not allow (read-only commits)
	retried      atomic.Int64 // re-runs of a transfer's function by Update
	undetermined atomic.Int64 // transfers ending kv.ErrUndetermined
	// undeterminedConflict are the undetermined transfers whose error
	// also carries a write conflict met at prewrite.
	undeterminedConflict atomic.Int64
	snapshots            atomic.Int64 // snapshot totals checked by readers
	batchGets            atomic.Int64
	scans                atomic.Int64

	mu      sync.Mutex
	samples []string      // a few undetermined transfers' errors
	slowest time.Duration // the longest transfer
}

func (c *counters) noteLatency(d time.Duration) {
	c.mu.Lock()
	c.slowest = max(c.slowest, d)
	c.mu.Unlock()
}

func (c *counters) noteUndetermined(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.samples) < 3 {
		c.samples = append(c.samples, errText(err))
	}
}

func runBank(t *testing.T, s setup, cfg settings) {
	seed := cfg.seed
	mock, cluster := s.connect(t, mocktikv.WithStores(3),
		mocktikv.WithTxnSplitKeys(accountKey(accounts/3), accountKey(2*accounts/3)))
	client := txn.NewClient(cluster)
	closed := false
	defer func() {
		if !closed {
			_ = client.Close(context.Background())
		}
	}()
	ctx := t.Context()
	keys := allAccountKeys()
	total := int64(accounts * initialBalance)

	err := client.Update(ctx, func(ctx context.Context, tx *txn.Txn) error {
		for _, k := range keys {
			if err := tx.Set(k, encodeBalance(initialBalance)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed %d: write the initial balances: %v", seed, err)
	}

	var (
		c    counters
		stop atomic.Bool
		wg   sync.WaitGroup
		errs = &errorLog{}
	)
	for id := range workers {
		wg.Go(func() { transferLoop(ctx, client, seed, id, &stop, &c, errs) })
	}
	for id := range readers {
		wg.Go(func() { readLoop(ctx, client, id, total, &stop, &c, errs) })
	}
	k := newKiller(cluster.EnvFor(kv.ModeTxn), client, seed)
	wg.Go(func() { k.run(ctx, &stop, errs) })
	cr := newCrasher(func(mw transport.Middleware) (*tikv.Cluster, error) { return s.attach(ctx, mock, mw) },
		client, cluster.EnvFor(kv.ModeTxn), seed)
	wg.Go(func() { cr.run(ctx, &stop, errs) })

	nem := newNemesis(mock, keys, seed)
	nemStop := make(chan struct{})
	var nemDone sync.WaitGroup
	nemDone.Go(func() { nem.run(nemStop) })

	timer := time.NewTimer(cfg.duration)
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	timer.Stop()
	close(nemStop)
	nemDone.Wait()
	stop.Store(true)
	wg.Wait()
	healErr := nem.heal()

	report := func() {
		t.Logf("pessimistic transfers committed: %d", c.pessimistic.Load())
		t.Logf("transfers: committed=%d no-funds=%d retried=%d undetermined=%d (with a prewrite conflict: %d); snapshots checked=%d (batchget=%d iter=%d)",
			c.committed.Load(), c.noFunds.Load(), c.retried.Load(), c.undetermined.Load(), c.undeterminedConflict.Load(),
			c.snapshots.Load(), c.batchGets.Load(), c.scans.Load())
		c.mu.Lock()
		t.Logf("slowest transfer: %v", c.slowest)
		for _, e := range c.samples {
			t.Logf("undetermined, e.g.: %s", e)
		}
		c.mu.Unlock()
		t.Logf("killer: %s", sortedCounts(k.countsSnapshot()))
		t.Logf("crasher: %s", sortedCounts(cr.countsSnapshot()))
		t.Logf("nemesis: %s", sortedCounts(nem.counts))
	}
	defer report()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("seed %d, %s: %s", seed, s.name, fmt.Sprintf(format, args...))
	}
	defer func() {
		if t.Failed() {
			t.Logf("nemesis actions (ms since start):\n%s", strings.Join(nem.log, "\n"))
		}
	}()
	for _, e := range errs.list() {
		fail("%s", e)
	}
	if healErr != nil {
		t.Fatalf("seed %d, %s: the nemesis cannot heal the cluster (a mocktikv problem, not the client's): %v", seed, s.name, healErr)
	}

	// The healed cluster: a snapshot's total, by both read paths (not
	// counted with the workload's snapshots).
	fctx, cancel := context.WithTimeout(ctx, finalTimeout)
	defer cancel()
	final := new(counters)
	if err := checkSnapshot(fctx, client, total, 0, final); err != nil {
		fail("final snapshot (batch get): %v", err)
	}
	if err := checkSnapshot(fctx, client, total, 1, final); err != nil {
		fail("final snapshot (iter): %v", err)
	}

	// Locks left behind (undetermined commits' secondaries, the killer's
	// untouched prewrites) are legitimate until someone meets them; the
	// audit meets them all.
	before, err := scanLocks(fctx, cluster.EnvFor(kv.ModeTxn))
	if err != nil {
		fail("scan locks before the audit: %v", err)
	}
	t.Logf("locks left before the audit: %d", len(before))
	if err := audit(fctx, client, keys, total); err != nil {
		fail("audit transaction: %v", err)
	}
	closed = true
	if err := client.Close(fctx); err != nil {
		fail("close: %v", err)
	}
	// Failures of background work (secondary commits, rollbacks) change
	// no outcome: their locks are resolved by the next reader. Logged only.
	t.Logf("first background error: %v", client.BackgroundError())
	if locks, err := scanLocks(fctx, cluster.EnvFor(kv.ModeTxn)); err != nil {
		fail("scan locks: %v", err)
	} else if len(locks) > 0 {
		fail("%d locks left after the audit and Close, e.g. %v", len(locks), locks[0])
	}
	if now, err := cluster.Oracle().Now(fctx); err != nil {
		fail("timestamp: %v", err)
	} else if err := k.checkRolledBack(fctx, now); err != nil {
		fail("%v", err)
	}
	if err := cr.checkOutcomes(fctx); err != nil {
		fail("%v", err)
	}

	// A fresh client on the same cluster sees the same total.
	fresh := txn.NewClient(cluster)
	if err := checkSnapshot(fctx, fresh, total, 0, final); err != nil {
		fail("fresh client's snapshot: %v", err)
	}
	if err := fresh.Close(fctx); err != nil {
		fail("close the fresh client: %v", err)
	}
	if c.committed.Load() == 0 {
		fail("no transfer committed: the workload proved nothing")
	}
	if c.pessimistic.Load() == 0 {
		fail("no pessimistic transfer committed: the protocol mix proved nothing")
	}
	if cr.crashed() == 0 {
		fail("no transfer crashed after its prewrites: the crash mode proved nothing")
	}
	if c.snapshots.Load() == 0 {
		fail("no snapshot was checked during the workload")
	}
}

// audit reads every account in one transaction, checks the total and
// writes each balance back unchanged: its prewrite covers every account,
// so it must resolve every lock left on them before it can commit.
func audit(ctx context.Context, client *txn.Client, keys [][]byte, total int64) error {
	return client.Update(ctx, func(ctx context.Context, tx *txn.Txn) error {
		vals, err := tx.BatchGet(ctx, keys)
		if err != nil {
			return err
		}
		var sum int64
		for i, v := range vals {
			b, err := decodeBalance(keys[i], v)
			if err != nil {
				return err
			}
			sum += b
			if err := tx.Set(keys[i], v); err != nil {
				return err
			}
		}
		if sum != total {
			return fmt.Errorf("total %d at start ts %d, want %d", sum, tx.StartTS(), total)
		}
		return nil
	})
}

// errorLog gathers the failures of the workload's goroutines.
type errorLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errorLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
}

func (l *errorLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

func sortedCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// errText is err's message on one line.
func errText(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " | ")
}
