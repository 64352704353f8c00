package bank_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/pipeline"
	"github.com/tikvgo/tikv/plans"
	"github.com/tikvgo/tikv/transport"
	"github.com/tikvgo/tikv/txn"
)

// errCrashed is what a crashed client's requests fail with: nothing it
// sends after its crash reaches TiKV.
var errCrashed = errors.New("bank: the committing client crashed")

// crasher runs transfers on clients of their own, each of which crashes
// right after its prewrites succeeded: the first Commit RPC it would
// send, and everything after it (commits, heartbeats, cleanups), never
// reaches TiKV, and the client is closed with its background work cut
// short. Its transfer's locks stay behind for the other clients to
// resolve. Three clients in four use async commit: a transaction whose
// every key was prewritten so is committed, at the largest min_commit_ts
// its locks carry, which its Commit already returned (a reader finds it
// with CheckSecondaryLocks). The fourth, and an async commit that fell
// back, use two-phase commit: the primary's commit never reached TiKV,
// Commit must report the outcome undetermined, and the transaction must
// be rolled back. Its locks are written with a short TTL (200 to 500 ms,
// as the killer's; client-go's twoPCShortLockTTL failpoint), so that
// readers, which must wait for a crashed async-commit lock to expire,
// are not held 3 s each time.
//
// Every other crashed transfer is read back at once by a witness on the
// main client, which must resolve its locks to the outcome it is owed;
// the others are left to the workers, the readers and the audit. After
// the audit each crashed transfer's two keys must agree on that outcome
// (KvCheckSecondaryLocks: the same commit ts, or both rolled back).
type crasher struct {
	attach func(transport.Middleware) (*tikv.Cluster, error)
	main   *txn.Client
	env    *pipeline.Env
	r      *rand.Rand

	mu      sync.Mutex
	crashes []crashedTransfer
	counts  map[string]int
}

// crashedTransfer is a transfer whose client crashed after its prewrites.
type crashedTransfer struct {
	startTS uint64
	keys    [2][]byte
	values  [2][]byte // the balances it wrote
	// commitTS is the commit ts Commit reported (async commit decided
	// at prewrite); 0 when the crash hit the primary's 2PC commit, which
	// then never reached TiKV: the transfer must be rolled back.
	commitTS uint64
}

func newCrasher(attach func(transport.Middleware) (*tikv.Cluster, error), main *txn.Client, env *pipeline.Env, seed uint64) *crasher {
	return &crasher{attach: attach, main: main, env: env, r: rand.New(rand.NewPCG(seed, 0x63726173)), counts: map[string]int{}}
}

// run crashes a transfer every 100 to 300 ms (seeded), the first at once,
// until stop is set.
func (c *crasher) run(ctx context.Context, stop *atomic.Bool, errs *errorLog) {
	for i := 0; !stop.Load() && ctx.Err() == nil; i++ {
		pause := time.Duration(100+c.r.IntN(201)) * time.Millisecond
		if i == 0 {
			pause = 0 // the first at once, so that even a short run has one
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, transferTimeout)
		err := c.once(cctx, i%2 == 0)
		cancel()
		if err != nil {
			errs.add("crasher: %s", errText(err))
			return
		}
	}
}

// crashSwitch is a client's middleware that lets its requests through
// until the first Commit, and from then on sends nothing: the client has
// crashed. It writes the client's prewrites with a TTL of ttl ms.
type crashSwitch struct {
	ttl     uint64
	crashed atomic.Bool
	fired   atomic.Bool // a Commit RPC was attempted (and cut)
	// stop ends the Commit call in progress when the crash comes: a
	// dead process does not back off and retry its commit until the
	// budget runs out.
	stop atomic.Pointer[context.CancelFunc]
}

func (s *crashSwitch) middleware(next transport.Sender) transport.Sender {
	return transport.SenderFunc(func(ctx context.Context, req *transport.Request) (*transport.Response, error) {
		if req.Cmd == transport.CmdCommit {
			s.fired.Store(true)
			s.crashed.Store(true)
			if stop := s.stop.Load(); stop != nil {
				(*stop)()
			}
		}
		if s.crashed.Load() {
			return nil, errCrashed
		}
		if pw, ok := req.Msg.(*kvrpcpb.PrewriteRequest); ok {
			c := *pw // shallow: the committer may resend the original
			c.LockTtl = s.ttl
			short := *req
			short.Msg = &c
			req = &short
		}
		return next.Send(ctx, req)
	})
}

// maxCrashAttempts bounds the transfers a crashing client tries before
// one reaches its commit (the others fail on write conflicts).
const maxCrashAttempts = 10

// once runs transfers on a client of its own, retrying those that fail
// before their commit, until one reaches its commit: the client then
// crashes. witness reads that transfer back at once on the main client.
func (c *crasher) once(ctx context.Context, witness bool) error {
	sw := &crashSwitch{ttl: uint64(200 + c.r.IntN(301))}
	cluster, err := c.attach(sw.middleware)
	if err != nil {
		return fmt.Errorf("connect the crashing client: %w", err)
	}
	client := txn.NewClient(cluster)
	// The crash: nothing more is sent (the switch), and Close, given a
	// context already over, cancels the client's background work (an
	// async commit's Commit RPCs, a failed attempt's rollback).
	var once sync.Once
	crash := func() {
		once.Do(func() {
			sw.crashed.Store(true)
			dead, cancel := context.WithCancel(context.Background())
			cancel()
			_ = client.Close(dead)
			cluster.Close()
		})
	}
	defer crash()
	c.count("clients")
	// Three clients in four commit with async commit, decided at
	// prewrite; the fourth with two-phase commit, whose crash at the
	// primary's commit leaves a transaction that must be rolled back.
	async := c.r.IntN(4) != 0
	for range maxCrashAttempts {
		if ctx.Err() != nil {
			return nil
		}
		from := c.r.IntN(accounts)
		to := (from + 1 + c.r.IntN(accounts-1)) % accounts
		amount := int64(1 + c.r.IntN(initialBalance/4))
		done, err := c.attempt(ctx, client, sw, crash, [2][]byte{accountKey(from), accountKey(to)}, amount, witness, async)
		if done || err != nil {
			return err
		}
	}
	return nil
}

// attempt runs one transfer of amount between keys on client; it reports
// whether it is done with the client: the transfer reached its commit
// (and the client crashed), or the balance did not allow it.
func (c *crasher) attempt(ctx context.Context, client *txn.Client, sw *crashSwitch, crash func(), keys [2][]byte, amount int64, witness, async bool) (bool, error) {
	tx, err := client.Begin(ctx, txn.WithAsyncCommit(async))
	if err != nil {
		return true, fmt.Errorf("begin: %w", err)
	}
	vals, err := tx.BatchGet(ctx, keys[:])
	if err != nil {
		_ = tx.Rollback()
		c.count("read-failed") // the nemesis stopped a store, say: try again
		return false, nil
	}
	a, err := decodeBalance(keys[0], vals[0])
	if err != nil {
		return true, err
	}
	b, err := decodeBalance(keys[1], vals[1])
	if err != nil {
		return true, err
	}
	if a < amount {
		_ = tx.Rollback()
		c.count("no-funds")
		return true, nil
	}
	ct := crashedTransfer{startTS: tx.StartTS(), keys: keys, values: [2][]byte{encodeBalance(a - amount), encodeBalance(b + amount)}}
	for i := range keys {
		if err := tx.Set(keys[i], ct.values[i]); err != nil {
			return true, err
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	sw.stop.Store(&cancel)
	err = tx.Commit(cctx)
	cancel()
	d := tx.CommitDetails()
	switch {
	case err == nil && d.Protocol == txn.ProtocolAsyncCommit:
		// Decided at prewrite: committed, though no Commit RPC will
		// ever reach TiKV.
		crash()
		ct.commitTS = tx.CommitTS()
		c.count("crashed-async")
	case err == nil:
		return true, fmt.Errorf("txn %d committed with %v, yet no Commit RPC got through", ct.startTS, d.Protocol)
	case sw.fired.Load():
		// Two-phase commit (chosen, or async commit fell back), whose
		// primary commit was cut: TiKV never saw it, the client cannot
		// know.
		crash()
		if !errors.Is(err, kv.ErrUndetermined) {
			return true, fmt.Errorf("txn %d: commit cut at the primary = %v, want an undetermined error", ct.startTS, errText(err))
		}
		c.count("crashed-2pc")
	case errors.Is(err, kv.ErrWriteConflict):
		c.count("write-conflict") // failed before any Commit RPC: try again
		return false, nil
	case errors.Is(err, kv.ErrUndetermined):
		c.count("undetermined-prewrite") // lost prewrite responses: try again
		return false, nil
	default:
		return true, fmt.Errorf("txn %d: commit: %s", ct.startTS, errText(err))
	}
	c.mu.Lock()
	c.crashes = append(c.crashes, ct)
	c.mu.Unlock()
	if witness {
		return true, c.witness(ctx, ct)
	}
	return true, nil
}

// witness reads ct's accounts at a fresh ts on the main client, which
// must resolve the crashed transfer's locks first. A transfer owed a
// commit at a ts below the read's must show: each account at that
// version or a newer one, and at that version with the balance it wrote.
func (c *crasher) witness(ctx context.Context, ct crashedTransfer) error {
	tx, err := c.main.Begin(ctx)
	if err != nil {
		return fmt.Errorf("witness begin: %w", err)
	}
	entries, err := tx.BatchGetWithCommitTS(ctx, ct.keys[:])
	_ = tx.Rollback()
	if err != nil {
		return fmt.Errorf("witness read of txn %d's accounts: %w", ct.startTS, err)
	}
	c.count("witnessed")
	if ct.commitTS == 0 || ct.commitTS >= tx.StartTS() {
		return nil
	}
	for i, e := range entries {
		switch {
		case e.CommitTS < ct.commitTS:
			return fmt.Errorf("witness at %d read %s at version %d, older than crashed txn %d's commit at %d: it was not resolved as committed",
				tx.StartTS(), ct.keys[i], e.CommitTS, ct.startTS, ct.commitTS)
		case e.CommitTS == ct.commitTS && !bytes.Equal(e.Value, ct.values[i]):
			return fmt.Errorf("witness read %s = %s at crashed txn %d's commit ts %d, which wrote %s",
				ct.keys[i], e.Value, ct.startTS, ct.commitTS, ct.values[i])
		}
	}
	return nil
}

// checkOutcomes asks each crashed transfer's two accounts how it ended
// (KvCheckSecondaryLocks: the commit ts, or 0 for rolled back; the
// cluster is healed and every lock resolved): both must agree, and match
// what the transfer was owed.
func (c *crasher) checkOutcomes(ctx context.Context) error {
	check := pipeline.Single(pipeline.Shard(c.env,
		pipeline.ByKey(func(r *kvrpcpb.CheckSecondaryLocksRequest) []byte { return r.Keys[0] }),
		pipeline.Retry(c.env, plans.KvCheckSecondaryLocks)))
	c.mu.Lock()
	crashes := append([]crashedTransfer(nil), c.crashes...)
	c.mu.Unlock()
	for _, ct := range crashes {
		var got [2]uint64
		for i, k := range ct.keys {
			resp, err := check(ctx, &kvrpcpb.CheckSecondaryLocksRequest{Keys: [][]byte{k}, StartVersion: ct.startTS})
			if err != nil {
				return fmt.Errorf("check crashed txn %d at %s: %w", ct.startTS, k, err)
			}
			if len(resp.GetLocks()) > 0 {
				return fmt.Errorf("crashed txn %d still locks %s after the audit", ct.startTS, k)
			}
			got[i] = resp.GetCommitTs()
		}
		switch {
		case got[0] != got[1]:
			return fmt.Errorf("crashed txn %d half applied: %s commit ts %d, %s commit ts %d", ct.startTS, ct.keys[0], got[0], ct.keys[1], got[1])
		case got[0] != ct.commitTS:
			return fmt.Errorf("crashed txn %d ended with commit ts %d (0: rolled back), owed %d", ct.startTS, got[0], ct.commitTS)
		case got[0] != 0:
			c.count("final-committed")
		default:
			c.count("final-rolled-back")
		}
	}
	return nil
}

// crashed counts the transfers that crashed after their prewrites.
func (c *crasher) crashed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.crashes)
}

func (c *crasher) count(kind string) {
	c.mu.Lock()
	c.counts[kind]++
	c.mu.Unlock()
}

func (c *crasher) countsSnapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.counts))
	for k, n := range c.counts {
		m[k] = n
	}
	return m
}
