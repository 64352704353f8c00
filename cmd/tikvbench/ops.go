package main

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/tikvgo/tikv/raw"
	"github.com/tikvgo/tikv/txn"
)

// opBudget hands out the run's -operationcount operations; with no
// limit it always grants. Safe for concurrent use.
type opBudget struct {
	limit int64 // 0: unlimited
	taken atomic.Int64
}

func (b *opBudget) take() bool { return b.limit == 0 || b.taken.Add(1) <= b.limit }

// driver runs units of work against one client. A unit is one operation
// in raw mode and one transaction of up to -txnbatch operations in txn
// mode. It records every attempt in stats and reports false when the
// budget is spent.
type driver interface {
	unit(ctx context.Context, r *rand.Rand, stopping func() bool) bool
	// load writes records [from, to) as one batch.
	load(ctx context.Context, r *rand.Rand, from, to int64) error
}

// rawDriver drives raw.Client: one request per operation.
type rawDriver struct {
	c      *raw.Client
	w      *workload
	budget *opBudget
	stats  *phaseStats
}

func (d *rawDriver) unit(ctx context.Context, r *rand.Rand, _ func() bool) bool {
	op := d.w.nextOp(r)
	if !d.budget.take() {
		return false
	}
	start := time.Now()
	err := d.do(ctx, r, op)
	d.stats.record(op.String(), time.Since(start), err)
	return true
}

func (d *rawDriver) do(ctx context.Context, r *rand.Rand, op opKind) error {
	w := d.w
	switch op {
	case opRead:
		_, err := d.c.Get(ctx, w.key(w.nextRecord(r)))
		return err
	case opUpdate:
		return d.c.Put(ctx, w.key(w.nextRecord(r)), w.value(r))
	case opInsert:
		k := w.seq.Claim()
		defer w.seq.Done(k)
		return d.c.Put(ctx, w.key(k), w.value(r))
	case opScan:
		for _, err := range d.c.Scan(ctx, w.key(w.nextRecord(r)), w.keyUpper, w.scanLength(r)) {
			if err != nil {
				return err
			}
		}
		return nil
	default: // opReadModifyWrite
		key := w.key(w.nextRecord(r))
		if _, err := d.c.Get(ctx, key); err != nil {
			return err
		}
		return d.c.Put(ctx, key, w.value(r))
	}
}

func (d *rawDriver) load(ctx context.Context, r *rand.Rand, from, to int64) error {
	var keys, vals [][]byte
	for k := from; k < to; k++ {
		keys = append(keys, d.w.key(k))
		vals = append(vals, d.w.value(r))
	}
	return d.c.BatchPut(ctx, keys, vals)
}

// txnDriver drives txn.Client: each unit begins a transaction, runs up to
// -txnbatch operations in it and commits. An operation's latency is its
// own statement (an optimistic write only buffers, so it is near zero;
// a pessimistic one includes its lock); COMMIT and TXN rows time the
// commit and the whole transaction.
type txnDriver struct {
	c      *txn.Client
	w      *workload
	budget *opBudget
	stats  *phaseStats
	begin  []txn.BeginOption
}

func (d *txnDriver) pessimistic() bool { return d.w.cfg.TxnMode == Pessimistic }

func (d *txnDriver) unit(ctx context.Context, r *rand.Rand, stopping func() bool) bool {
	op := d.w.nextOp(r)
	if !d.budget.take() {
		return false
	}
	began := time.Now()
	t, err := d.c.Begin(ctx, d.begin...)
	if err != nil {
		// The claimed operation is counted as failed with the begin's
		// error, so every granted operation appears in exactly one row.
		d.stats.record(op.String(), time.Since(began), err)
		d.stats.record(rowTxn, time.Since(began), err)
		return true
	}
	var inserts []int64
	defer func() {
		// After commit or rollback: the inserted records exist now (or
		// never will; reads of those count as not_found).
		for _, k := range inserts {
			d.w.seq.Done(k)
		}
	}()
	for i := 0; i < d.w.cfg.TxnBatch; i++ {
		if i > 0 {
			op = d.w.nextOp(r)
			if stopping() || !d.budget.take() {
				break
			}
		}
		start := time.Now()
		err := d.do(ctx, t, r, op, &inserts)
		d.stats.record(op.String(), time.Since(start), err)
		if err != nil {
			_ = t.Rollback()
			d.stats.record(rowTxn, time.Since(began), err)
			return true
		}
	}
	start := time.Now()
	err = t.Commit(ctx)
	d.stats.record(rowCommit, time.Since(start), err)
	d.stats.record(rowTxn, time.Since(began), err)
	return true
}

func (d *txnDriver) write(ctx context.Context, t *txn.Txn, key, value []byte) error {
	if d.pessimistic() {
		if err := t.LockKeys(ctx, nil, key); err != nil {
			return err
		}
	}
	return t.Set(key, value)
}

func (d *txnDriver) do(ctx context.Context, t *txn.Txn, r *rand.Rand, op opKind, inserts *[]int64) error {
	w := d.w
	switch op {
	case opRead:
		_, err := t.Get(ctx, w.key(w.nextRecord(r)))
		return err
	case opUpdate:
		return d.write(ctx, t, w.key(w.nextRecord(r)), w.value(r))
	case opInsert:
		k := w.seq.Claim()
		*inserts = append(*inserts, k)
		return d.write(ctx, t, w.key(k), w.value(r))
	case opScan:
		n, limit := 0, w.scanLength(r)
		for _, err := range t.Iter(ctx, w.key(w.nextRecord(r)), w.keyUpper) {
			if err != nil {
				return err
			}
			if n++; n >= limit {
				break
			}
		}
		return nil
	default: // opReadModifyWrite
		key := w.key(w.nextRecord(r))
		if d.pessimistic() {
			// Lock first so the read sees the value the write replaces.
			if err := t.LockKeys(ctx, nil, key); err != nil {
				return err
			}
		}
		if _, err := t.Get(ctx, key); err != nil {
			return err
		}
		return t.Set(key, w.value(r))
	}
}

// load writes the batch in one optimistic transaction (the records are
// new: nothing to lock against).
func (d *txnDriver) load(ctx context.Context, r *rand.Rand, from, to int64) error {
	t, err := d.c.Begin(ctx)
	if err != nil {
		return err
	}
	for k := from; k < to; k++ {
		if err := t.Set(d.w.key(k), d.w.value(r)); err != nil {
			_ = t.Rollback()
			return err
		}
	}
	return t.Commit(ctx)
}
