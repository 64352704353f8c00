package bank_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/txn"
)

// transferLoop moves money until stop is set: each transfer picks two
// distinct accounts and an amount from the worker's seeded generator, and
// moves the amount if the source holds it.
func transferLoop(ctx context.Context, client *txn.Client, seed uint64, id int, stop *atomic.Bool, c *counters, errs *errorLog) {
	r := rand.New(rand.NewPCG(seed, 0x7472616e+uint64(id)))
	// Workers mix the commit protocols (issue #12): 2PC, async commit, and
	// 1PC (a transfer within one region; across regions it falls back to
	// 2PC), optimistic and pessimistic (LockKeys of both accounts, then
	// Set).
	protocol := [][]txn.BeginOption{
		nil, {txn.WithAsyncCommit(true)}, {txn.WithOnePC(true)},
		{txn.WithPessimistic()}, {txn.WithPessimistic(), txn.WithAsyncCommit(true)}, {txn.WithPessimistic(), txn.WithOnePC(true)},
	}[id%6]
	pessimistic := id%6 >= 3 // the last three of the mix
	for !stop.Load() && ctx.Err() == nil {
		from := r.IntN(accounts)
		to := (from + 1 + r.IntN(accounts-1)) % accounts
		amount := int64(1 + r.IntN(initialBalance/4))
		tctx, cancel := context.WithTimeout(ctx, transferTimeout)
		began := time.Now()
		moved, err := transfer(tctx, client, from, to, amount, c, protocol...)
		c.noteLatency(time.Since(began))
		cancel()
		switch {
		case err == nil && moved:
			c.committed.Add(1)
			if pessimistic {
				c.pessimistic.Add(1)
			}
		case err == nil:
			c.noFunds.Add(1)
		case errors.Is(err, kv.ErrUndetermined):
			// The primary's commit may or may not have applied: the
			// transfer happened entirely or not at all, and the readers'
			// totals must hold either way.
			c.undetermined.Add(1)
			if errors.Is(err, kv.ErrWriteConflict) {
				// An async-commit or 1PC prewrite that met a conflict
				// after a lost answer and that twopc could not settle
				// (its check of the keys failed): counted apart for the
				// report.
				c.undeterminedConflict.Add(1)
			}
			c.noteUndetermined(err)
		default:
			errs.add("worker %d: transfer %d from %d to %d: %s", id, amount, from, to, errText(err))
			return
		}
	}
}

// transfer is one Update: it reads both accounts and, if from holds
// amount, moves it. It reports whether the last run of the function moved
// money (false: the balance did not allow it).
func transfer(ctx context.Context, client *txn.Client, from, to int, amount int64, c *counters, opts ...txn.BeginOption) (bool, error) {
	keys := [][]byte{accountKey(from), accountKey(to)}
	runs := 0
	var moved bool
	err := client.Update(ctx, func(ctx context.Context, tx *txn.Txn) error {
		if runs++; runs > 1 {
			c.retried.Add(1)
		}
		moved = false
		vals, err := readForTransfer(ctx, tx, keys)
		if err != nil {
			return err
		}
		a, err := decodeBalance(keys[0], vals[0])
		if err != nil {
			return err
		}
		b, err := decodeBalance(keys[1], vals[1])
		if err != nil {
			return err
		}
		if a < amount {
			return nil
		}
		if err := tx.Set(keys[0], encodeBalance(a-amount)); err != nil {
			return err
		}
		if err := tx.Set(keys[1], encodeBalance(b+amount)); err != nil {
			return err
		}
		moved = true
		return nil
	}, opts...)
	return moved, err
}

// readForTransfer reads the balances a transfer updates. A pessimistic
// transaction locks them first and takes the values the locks read at
// their for-update ts: its start-ts snapshot may predate a transfer
// committed before the locks were granted, and its commit does not check
// locked keys for write conflicts.
func readForTransfer(ctx context.Context, tx *txn.Txn, keys [][]byte) ([][]byte, error) {
	if !tx.IsPessimistic() {
		return tx.BatchGet(ctx, keys)
	}
	lc := &txn.LockCtx{ReturnValues: true}
	if err := tx.LockKeys(ctx, lc, keys...); err != nil {
		return nil, err
	}
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = lc.Values[string(k)].Value
	}
	return vals, nil
}

// readLoop checks snapshot totals until stop is set, alternating between
// BatchGet and Iter.
func readLoop(ctx context.Context, client *txn.Client, id int, total int64, stop *atomic.Bool, c *counters, errs *errorLog) {
	for i := 0; !stop.Load() && ctx.Err() == nil; i++ {
		rctx, cancel := context.WithTimeout(ctx, transferTimeout)
		err := checkSnapshot(rctx, client, total, (i+id)%2, c)
		cancel()
		if err != nil {
			errs.add("reader %d: %s", id, errText(err))
			return
		}
	}
}

// checkSnapshot reads every account at a fresh timestamp, by BatchGet
// (how 0) or Iter (how 1), and checks that the balances add up to total.
func checkSnapshot(ctx context.Context, client *txn.Client, total int64, how int, c *counters) error {
	ts, err := client.CurrentTimestamp(ctx)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	snap := client.Snapshot(ts)
	var sum int64
	var n int
	if how == 0 {
		keys := allAccountKeys()
		vals, err := snap.BatchGet(ctx, keys)
		if err != nil {
			return fmt.Errorf("batch get at %d: %w", ts, err)
		}
		for i, v := range vals {
			b, err := decodeBalance(keys[i], v)
			if err != nil {
				return fmt.Errorf("batch get at %d: %w", ts, err)
			}
			sum += b
			n++
		}
		c.batchGets.Add(1)
	} else {
		for pair, err := range snap.Iter(ctx, accountsLower, accountsUpper) {
			if err != nil {
				return fmt.Errorf("iter at %d: %w", ts, err)
			}
			b, err := decodeBalance(pair.Key, pair.Value)
			if err != nil {
				return fmt.Errorf("iter at %d: %w", ts, err)
			}
			sum += b
			n++
		}
		c.scans.Add(1)
	}
	c.snapshots.Add(1)
	if n != accounts || sum != total {
		return fmt.Errorf("snapshot at %d (%s) sees %d accounts totalling %d, want %d totalling %d",
			ts, [...]string{"batch get", "iter"}[how], n, sum, accounts, total)
	}
	return nil
}
