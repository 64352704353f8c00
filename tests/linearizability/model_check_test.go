package linearizability_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/transport"
)

// Hand-made histories, built the way runChaos builds them (events through
// history.operations), so the checker itself is tested: linearizable
// histories must pass and the anomalies the chaos run hunts must fail.

func put(c int, v string, call, ret int64, o outcome) event {
	return event{client: c, in: regInput{kind: opPut, key: "k", value: v}, out: regOutput{unknown: o == undetermined}, call: call, ret: ret, outcome: o}
}

func del(c int, call, ret int64, o outcome) event {
	return event{client: c, in: regInput{kind: opDelete, key: "k"}, out: regOutput{unknown: o == undetermined}, call: call, ret: ret, outcome: o}
}

// get reads v ("" for absent).
func get(c int, v string, call, ret int64) event {
	return event{client: c, in: regInput{kind: opGet, key: "k"}, out: regOutput{found: v != "", value: v}, call: call, ret: ret}
}

// cas expects expect ("" for absent), swaps in next, and saw prev ("" for
// absent).
func cas(c int, expect, next string, swapped bool, prev string, call, ret int64, o outcome) event {
	e := event{
		client: c, call: call, ret: ret, outcome: o,
		in: regInput{kind: opCAS, key: "k", value: next, expectAbsent: expect == "", expect: expect},
	}
	if o == undetermined {
		e.out.unknown = true
	} else {
		e.out = regOutput{swapped: swapped, found: prev != "", value: prev}
	}
	return e
}

func TestModelChecksHandMadeHistories(t *testing.T) {
	tests := []struct {
		name string
		h    history
		want bool
	}{
		{"sequential put, get, delete, get, cas", history{
			put(0, "a", 0, 1, definite), get(1, "a", 2, 3), del(0, 4, 5, definite), get(1, "", 6, 7),
			cas(2, "", "b", true, "", 8, 9, definite), get(1, "b", 10, 11),
		}, true},
		{"concurrent puts read in either order", history{
			put(0, "a", 0, 10, definite), put(1, "b", 0, 10, definite), get(2, "b", 2, 3), get(2, "a", 4, 5),
		}, true},
		{"a deleted value comes back after an acknowledged delete", history{
			put(0, "a", 0, 1, definite), del(1, 2, 3, definite), get(2, "a", 4, 5),
		}, false},
		{"a read sees a value nobody wrote", history{get(0, "a", 0, 1)}, false},
		{"a stale read after a newer value was read", history{
			put(0, "a", 0, 1, definite), put(0, "b", 2, 3, definite), get(1, "b", 4, 5), get(1, "a", 6, 7),
		}, false},
		{"an undetermined put applies late", history{
			put(0, "a", 0, 1, undetermined), get(1, "", 2, 3), get(1, "a", 4, 5),
		}, true},
		{"an undetermined put never applies", history{
			put(0, "a", 0, 1, undetermined), get(1, "", 2, 3), get(1, "", 100, 101),
		}, true},
		{"an undetermined put applies once, not twice", history{
			put(0, "a", 0, 1, undetermined), get(1, "a", 2, 3), put(2, "b", 4, 5, definite), get(1, "b", 6, 7), get(1, "a", 8, 9),
		}, false},
		{"a put resent inside its own call is invisible without a read in between", history{
			put(0, "a", 0, 10, definite), put(1, "b", 2, 3, definite), get(2, "a", 11, 12),
		}, true},
		{"a put applied twice across a read of another value", history{
			put(0, "a", 0, 10, definite), get(2, "a", 1, 2), put(1, "b", 3, 4, definite), get(2, "b", 5, 6), get(2, "a", 11, 12),
		}, false},
		{"a put that failed must not be read", history{
			put(0, "a", 0, 1, dropped), get(1, "a", 2, 3),
		}, false},
		{"a delete that failed must not take effect", history{
			put(0, "a", 0, 1, definite), del(1, 2, 3, dropped), get(1, "", 4, 5),
		}, false},
		{"cas swaps against the current value", history{
			put(0, "a", 0, 1, definite), cas(1, "a", "b", true, "a", 2, 3, definite), cas(2, "a", "c", false, "b", 4, 5, definite), get(0, "b", 6, 7),
		}, true},
		{"cas applied twice sees its own value and reports no swap", history{
			cas(0, "", "a", false, "a", 0, 1, definite),
		}, false},
		{"cas reports a swap that did not match", history{
			put(0, "x", 0, 1, definite), cas(1, "", "a", true, "x", 2, 3, definite),
		}, false},
		{"an undetermined cas may have swapped", history{
			cas(0, "", "a", false, "", 0, 1, undetermined), get(1, "a", 2, 3),
		}, true},
		{"an undetermined cas cannot swap when the compare fails", history{
			put(0, "x", 0, 1, definite), cas(1, "", "a", false, "", 2, 3, undetermined), get(0, "a", 4, 5),
		}, false},
	}
	model := registerModel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := tt.h.operations("k")
			if got := porcupine.CheckOperations(model, ops); got != tt.want {
				t.Fatalf("linearizable = %v, want %v; history:\n%s", got, tt.want, tt.h.dump("k"))
			}
		})
	}
}

// TestUndeterminedReturnsLast: an undetermined call returns after every
// other call in the checked history, and a dropped call is left out.
func TestUndeterminedReturnsLast(t *testing.T) {
	h := history{put(0, "a", 0, 1, undetermined), put(0, "b", 2, 3, dropped), get(1, "", 5, 9)}
	ops := h.operations("k")
	if len(ops) != 2 {
		t.Fatalf("checked %d operations, want 2 (the dropped put left out)", len(ops))
	}
	if ops[0].Return <= 9 {
		t.Fatalf("undetermined put returns at %d, want after the last return (9)", ops[0].Return)
	}
}

func TestClassify(t *testing.T) {
	notSent := fmt.Errorf("%w: store 1 is down", transport.ErrNotSent)
	undet := kv.Undetermined(errors.New("connection reset"))
	plain := errors.New("deadline exceeded")
	partial := fmt.Errorf("batch put: %w", &kv.PartialWriteError{
		Op: "BatchPut", Applied: []kv.Key{kv.Key("a")}, NotApplied: []kv.Key{kv.Key("n")}, Undetermined: []kv.Key{kv.Key("u")}, Cause: undet,
	})
	batch := func(key string) func(error) outcome {
		return func(err error) outcome { return classifyBatchPut(err, key) }
	}
	tests := []struct {
		name     string
		classify func(error) outcome
		err      error
		want     outcome
	}{
		{"read ok", classifyRead, nil, definite},
		{"read not found", classifyRead, fmt.Errorf("get: %w", kv.ErrNotFound), definite},
		{"read failed", classifyRead, plain, dropped},
		{"write ok", classifyWrite, nil, definite},
		{"write undetermined", classifyWrite, fmt.Errorf("put: %w", undet), undetermined},
		{"write failed", classifyWrite, plain, dropped},
		{"write not sent", classifyWrite, notSent, dropped},
		{"batchput ok", batch("a"), nil, definite},
		{"batchput in one region, not sent", batch("a"), notSent, dropped},
		{"batchput in one region, failed", batch("a"), plain, dropped},
		{"batchput in one region, undetermined", batch("a"), undet, undetermined},
		{"batchput partly failed, key applied", batch("a"), partial, definite},
		{"batchput partly failed, key not applied", batch("n"), partial, dropped},
		{"batchput partly failed, key undetermined", batch("u"), partial, undetermined},
		{"batchput partly failed, key not listed", batch("x"), partial, undetermined},
	}
	for _, tt := range tests {
		if got := tt.classify(tt.err); got != tt.want {
			t.Errorf("%s: outcome %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestStuckOnUnsentAttempts(t *testing.T) {
	notSent := fmt.Errorf("%w: store 2 is down", transport.ErrNotSent)
	rpc := &kv.BackoffExhaustedError{Policy: "tikvRPC", Attempts: 5, Slept: 1900 * time.Millisecond, Cause: notSent}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"tikvRPC backoff on unsent attempts", rpc, true},
		{"nested under a regionMiss backoff", &kv.BackoffExhaustedError{Policy: "regionMiss", Cause: rpc}, true},
		{"ServerIsBusy backoff, last attempt unsent", &kv.BackoffExhaustedError{Policy: "tikvServerBusy", Slept: 1900 * time.Millisecond, Cause: notSent}, false},
		{"short tikvRPC backoff", &kv.BackoffExhaustedError{Policy: "tikvRPC", Slept: 100 * time.Millisecond, Cause: notSent}, false},
		{"tikvRPC backoff on sent attempts", &kv.BackoffExhaustedError{Policy: "tikvRPC", Slept: 1900 * time.Millisecond, Cause: errors.New("reset")}, false},
		{"not a backoff", notSent, false},
	}
	for _, tt := range tests {
		if got := stuckOnUnsentAttempts(tt.err); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFailoverViolations: only a call stuck on unsent attempts to a store
// that was down for the whole call counts; the same call aimed at a store
// that was up (reconnecting) for part of it does not.
func TestFailoverViolations(t *testing.T) {
	notSent := fmt.Errorf("%w: store 2 is down", transport.ErrNotSent)
	stuckErr := &kv.BackoffExhaustedError{Policy: "tikvRPC", Attempts: 5, Slept: 1900 * time.Millisecond, Cause: notSent}
	ms := int64(time.Millisecond)
	nem := &nemesis{downs: []downSpan{{store: 2, from: 100 * ms, to: 3000 * ms}, {store: 3, from: 0, to: 500 * ms}}}
	attempts := newAttemptLog()
	attempts.last[1], attempts.last[2], attempts.last[3], attempts.last[4] = 2, 3, 2, 2
	h := history{
		{callID: 1, in: regInput{kind: opGet, key: "k"}, call: 200 * ms, ret: 2200 * ms, err: stuckErr, outcome: dropped},
		{callID: 2, in: regInput{kind: opGet, key: "k"}, call: 200 * ms, ret: 2200 * ms, err: stuckErr, outcome: dropped},
		{callID: 3, in: regInput{kind: opPut, key: "k", batch: "b"}, call: 300 * ms, ret: 2300 * ms, err: stuckErr, outcome: dropped},
		{callID: 3, in: regInput{kind: opPut, key: "j", batch: "b"}, call: 300 * ms, ret: 2300 * ms, err: stuckErr, outcome: dropped},
		{callID: 4, in: regInput{kind: opGet, key: "k"}, call: 200 * ms, ret: 1200 * ms, err: stuckErr, outcome: dropped},
	}
	stuck, example := failoverViolations(h, nem, attempts)
	if len(stuck) != 2 || stuck["get"] != 1 || stuck["batchput"] != 1 || len(example) != 2 {
		t.Fatalf("violations %v (%q), want one get (call 1) and one batchput (call 3)", stuck, example)
	}
}
