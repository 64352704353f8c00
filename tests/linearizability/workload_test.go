package linearizability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tikvgo/tikv/kv"
	"github.com/tikvgo/tikv/raw"
)

// workload drives one worker's operations on the shared key set. Each
// worker draws its operations from its own generator seeded from the run's
// seed and its id, so the sequence of choices is fixed by the seed; what
// the operations return (and so the values a CAS expects) depends on
// timing.
type workload struct {
	client    *raw.Client
	keys      []string
	clock     clock
	opTimeout time.Duration
	// maxOps stops a worker after that many calls (0: no limit).
	maxOps int
	mix    []weighted
	// nextCall numbers the calls (withCallID), for attemptLog.
	nextCall atomic.Uint64
}

// callKind is a client method the workload calls.
type callKind string

const (
	callGet      callKind = "get"
	callPut      callKind = "put"
	callDelete   callKind = "delete"
	callBatchPut callKind = "batchput"
	callCAS      callKind = "cas"
)

// defaultMix is the operation mix: each kind's relative weight.
func defaultMix() []weighted {
	return []weighted{{callGet, 30}, {callPut, 20}, {callDelete, 10}, {callBatchPut, 10}, {callCAS, 30}}
}

type weighted struct {
	kind   callKind
	weight int
}

// parseMix keeps the kinds of defaultMix named in list ("get,cas"); an
// empty list keeps them all.
func parseMix(list string) ([]weighted, error) {
	all := defaultMix()
	if list == "" {
		return all, nil
	}
	var mix []weighted
	for _, name := range strings.Split(list, ",") {
		i := slices.IndexFunc(all, func(w weighted) bool { return string(w.kind) == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown operation %q (want get, put, delete, batchput, cas)", name)
		}
		mix = append(mix, all[i])
	}
	return mix, nil
}

// pick draws a kind from the mix.
func (w *workload) pick(r *rand.Rand) callKind {
	total := 0
	for _, m := range w.mix {
		total += m.weight
	}
	p := r.IntN(total)
	for _, m := range w.mix {
		if p < m.weight {
			return m.kind
		}
		p -= m.weight
	}
	panic("empty operation mix")
}

// run issues operations until stop is set or it has made maxOps calls,
// and returns what it saw. ctx
// bounds each call (with opTimeout); stop is checked between calls only,
// so the run never cancels a call in flight.
func (w *workload) run(ctx context.Context, id int, seed uint64, stop *atomic.Bool) history {
	r := rand.New(rand.NewPCG(seed, uint64(id)+1))
	// seen is the last value this worker saw or wrote per key: what its
	// CompareAndSwaps expect, so that some of them succeed.
	seen := map[string]register{}
	var h history
	for seq := 0; !stop.Load() && (w.maxOps == 0 || seq < w.maxOps); seq++ {
		// A pause of 0-29 ms between calls spreads a worker's calls over
		// the round, so the nemesis acts between them even where calls
		// take microseconds (in-process).
		time.Sleep(time.Duration(r.IntN(30)) * time.Millisecond)
		if stop.Load() {
			break
		}
		val := fmt.Sprintf("c%02d-%d", id, seq)
		key := w.keys[r.IntN(len(w.keys))]
		switch w.pick(r) {
		case callGet:
			h = append(h, w.get(ctx, id, key, seen))
		case callPut:
			e := w.write(ctx, id, regInput{kind: opPut, key: key, value: val}, func(ctx context.Context) error {
				return w.client.Put(ctx, []byte(key), []byte(val))
			})
			if e.outcome == definite {
				seen[key] = register{present: true, value: val}
			}
			h = append(h, e)
		case callDelete:
			e := w.write(ctx, id, regInput{kind: opDelete, key: key}, func(ctx context.Context) error {
				return w.client.Delete(ctx, []byte(key))
			})
			if e.outcome == definite {
				seen[key] = register{}
			}
			h = append(h, e)
		case callBatchPut:
			h = append(h, w.batchPut(ctx, id, r, val, seen)...)
		case callCAS:
			in := regInput{kind: opCAS, key: key, value: val}
			if last := seen[key]; !last.present || r.IntN(4) == 0 {
				in.expectAbsent = true
			} else {
				in.expect = last.value
			}
			e := w.cas(ctx, id, in)
			if e.outcome == definite {
				seen[key] = register{present: e.out.found, value: e.out.value}
				if e.out.swapped {
					seen[key] = register{present: true, value: val}
				}
			}
			h = append(h, e)
		}
	}
	return h
}

func (w *workload) get(ctx context.Context, id int, key string, seen map[string]register) event {
	ctx, cancel := context.WithTimeout(ctx, w.opTimeout)
	defer cancel()
	e := event{client: id, in: regInput{kind: opGet, key: key}, callID: w.nextCall.Add(1)}
	ctx = withCallID(ctx, e.callID)
	e.call = w.clock.now()
	v, err := w.client.Get(ctx, []byte(key))
	e.ret, e.err, e.outcome = w.clock.now(), err, classifyRead(err)
	if err == nil {
		e.out = regOutput{found: true, value: string(v)}
	}
	if e.outcome == definite {
		seen[key] = register{present: e.out.found, value: e.out.value}
	}
	if errors.Is(err, kv.ErrNotFound) {
		e.err = nil
	}
	return e
}

func (w *workload) write(ctx context.Context, id int, in regInput, do func(context.Context) error) event {
	ctx, cancel := context.WithTimeout(ctx, w.opTimeout)
	defer cancel()
	e := event{client: id, in: in, callID: w.nextCall.Add(1)}
	ctx = withCallID(ctx, e.callID)
	e.call = w.clock.now()
	err := do(ctx)
	e.ret, e.err, e.outcome = w.clock.now(), err, classifyWrite(err)
	e.out.unknown = e.outcome == undetermined
	return e
}

func (w *workload) cas(ctx context.Context, id int, in regInput) event {
	ctx, cancel := context.WithTimeout(ctx, w.opTimeout)
	defer cancel()
	var prev []byte
	if !in.expectAbsent {
		prev = []byte(in.expect)
	}
	e := event{client: id, in: in, callID: w.nextCall.Add(1)}
	ctx = withCallID(ctx, e.callID)
	e.call = w.clock.now()
	old, swapped, err := w.client.CompareAndSwap(ctx, []byte(in.key), prev, []byte(in.value))
	e.ret, e.err, e.outcome = w.clock.now(), err, classifyWrite(err)
	switch e.outcome {
	case definite:
		e.out = regOutput{swapped: swapped, found: old != nil, value: string(old)}
	case undetermined:
		e.out.unknown = true
	}
	return e
}

// batchPut writes two or three distinct keys in one BatchPut and records
// one put per key, all with the call's times.
func (w *workload) batchPut(ctx context.Context, id int, r *rand.Rand, val string, seen map[string]register) []event {
	n := 2 + r.IntN(2)
	perm := r.Perm(len(w.keys))[:n]
	keys, values := make([][]byte, n), make([][]byte, n)
	for i, p := range perm {
		keys[i], values[i] = []byte(w.keys[p]), []byte(val)
	}
	ctx, cancel := context.WithTimeout(ctx, w.opTimeout)
	defer cancel()
	callID := w.nextCall.Add(1)
	ctx = withCallID(ctx, callID)
	call := w.clock.now()
	err := w.client.BatchPut(ctx, keys, values)
	ret := w.clock.now()
	evs := make([]event, n)
	for i, p := range perm {
		k := w.keys[p]
		o := classifyBatchPut(err, k)
		evs[i] = event{
			client: id, callID: callID, call: call, ret: ret, outcome: o, err: err,
			in:  regInput{kind: opPut, key: k, value: val, batch: val},
			out: regOutput{unknown: o == undetermined},
		}
		if o == definite {
			seen[k] = register{present: true, value: val}
		}
	}
	return evs
}
