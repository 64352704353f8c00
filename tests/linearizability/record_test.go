package linearizability_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tikvgo/tikv/kv"
)

// outcome is how a call's result enters the history.
type outcome uint8

const (
	// definite: the call returned a result (or a definite failure the
	// model treats as "not applied", see dropped).
	definite outcome = iota
	// undetermined: the write may or may not have applied.
	undetermined
	// dropped: the call had no effect on the register: a failed read, or a
	// write that failed with an error other than kv.ErrUndetermined. It
	// stays out of the checked history (it changes nothing) but is shown in
	// the dump, since a dropped write whose value is read later is exactly
	// the bug the checker exists to catch.
	dropped
)

// event is one recorded call on one key, times in nanoseconds since the
// run started (monotonic clock).
type event struct {
	client int
	// callID names the client call (one BatchPut is several events).
	callID    uint64
	in        regInput
	out       regOutput
	call, ret int64
	outcome   outcome
	err       error
}

// clock gives the run's monotonic timestamps.
type clock struct{ start time.Time }

func (c clock) now() int64 { return int64(time.Since(c.start)) }

// classifyRead: a failed read has no effect and is dropped; kv.ErrNotFound
// is the definite answer "absent".
func classifyRead(err error) outcome {
	if err == nil || errors.Is(err, kv.ErrNotFound) {
		return definite
	}
	return dropped
}

// classifyWrite is the rule for Put, Delete and CompareAndSwap: only
// kv.ErrUndetermined says "may have applied"; any other failure claims the
// write did not happen, and the checker holds the client to that claim.
func classifyWrite(err error) outcome {
	switch {
	case err == nil:
		return definite
	case errors.Is(err, kv.ErrUndetermined):
		return undetermined
	default:
		return dropped
	}
}

// classifyBatchPut is the rule for one key of a BatchPut, which is not
// atomic across regions (raw.Client.BatchPut): when pieces to several
// regions fail in part, the *kv.PartialWriteError lists each key as
// applied, not applied or undetermined, and the key gets that outcome (a
// key the error does not list is undetermined); any other failure is a
// single-region failure and follows the rule for Put.
func classifyBatchPut(err error, key string) outcome {
	var pw *kv.PartialWriteError
	if err == nil || !errors.As(err, &pw) {
		return classifyWrite(err)
	}
	has := func(keys []kv.Key) bool {
		return slices.ContainsFunc(keys, func(k kv.Key) bool { return string(k) == key })
	}
	switch {
	case has(pw.Applied):
		return definite
	case has(pw.NotApplied):
		return dropped
	default:
		return undetermined
	}
}

// history is a run's events, for checking and for dumps.
type history []event

// operations returns the checked history of key: dropped events left out,
// undetermined ones returning after every other event (porcupine's
// "return time +infinity").
func (h history) operations(key string) []porcupine.Operation {
	var last int64
	for _, e := range h {
		last = max(last, e.ret)
	}
	var ops []porcupine.Operation
	for _, e := range h {
		if e.in.key != key || e.outcome == dropped {
			continue
		}
		ret := e.ret
		if e.outcome == undetermined {
			ret = last + 1
		}
		ops = append(ops, porcupine.Operation{
			ClientId: e.client, Input: e.in, Output: e.out, Call: e.call, Return: ret,
			Metadata: errText(e.err),
		})
	}
	return ops
}

// keys returns the keys the history touches, sorted.
func (h history) keys() []string {
	var ks []string
	for _, e := range h {
		if !slices.Contains(ks, e.in.key) {
			ks = append(ks, e.in.key)
		}
	}
	slices.Sort(ks)
	return ks
}

// dump renders every event on key, dropped ones included, in call order:
// one line each, with times in milliseconds.
func (h history) dump(key string) string {
	var evs []event
	for _, e := range h {
		if e.in.key == key {
			evs = append(evs, e)
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return cmp.Compare(a.call, b.call) })
	var b strings.Builder
	for _, e := range evs {
		ret := fmt.Sprintf("%9.3f", float64(e.ret)/1e6)
		if e.outcome == undetermined {
			ret = fmt.Sprintf("%9.3f(inf)", float64(e.ret)/1e6)
		}
		line := describeOp(e.in, e.out)
		if e.outcome == dropped {
			line = describeCall(e.in) + " -> failed (not applied)"
		}
		fmt.Fprintf(&b, "  [%9.3f, %s] c%02d %s", float64(e.call)/1e6, ret, e.client, line)
		if e.err != nil {
			fmt.Fprintf(&b, "  err=%s", errText(e.err))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// errText is err's message on one line ("" for nil).
func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", " | ")
}
