package linearizability_test

import (
	"fmt"
	"strings"

	"github.com/anishathalye/porcupine"
)

// diagnose explains a failed check of key in words, to go with the full
// dump: where porcupine's longest partial linearization got stuck, and
// which known anomalies the history shows (a value read whose write
// failed, a CAS that found its own value). It is a reading aid only; the
// verdict is porcupine's.
func diagnose(h history, key string, ops []porcupine.Operation, info porcupine.LinearizationInfo) string {
	var b strings.Builder
	if parts := info.PartialLinearizations(); len(parts) > 0 {
		var longest []int
		for _, lin := range parts[0] {
			if len(lin) > len(longest) {
				longest = lin
			}
		}
		placed := make(map[int]bool, len(longest))
		for _, id := range longest {
			placed[id] = true
		}
		// The unplaced operation that returned first is the one no
		// extension of the longest linearization could take.
		stuck := -1
		for i, op := range ops {
			if !placed[i] && (stuck < 0 || op.Return < ops[stuck].Return) {
				stuck = i
			}
		}
		fmt.Fprintf(&b, "longest linearization: %d of %d operations, ending with:\n", len(longest), len(ops))
		for _, id := range longest[max(0, len(longest)-4):] {
			fmt.Fprintf(&b, "    %s\n", opLine(ops[id]))
		}
		if stuck >= 0 {
			fmt.Fprintf(&b, "  then cannot place: %s\n", opLine(ops[stuck]))
		}
	}
	writers := map[string]event{}
	for _, e := range h {
		if e.in.key == key && e.in.kind != opGet {
			writers[e.in.value] = e
		}
	}
	for _, e := range h {
		if e.in.key != key || e.outcome != definite || !e.out.found {
			continue
		}
		if e.in.kind == opCAS && e.out.value == e.in.value {
			fmt.Fprintf(&b, "  anomaly: c%02d %s found its own value: the CAS applied before the attempt that answered (sent twice)\n",
				e.client, describeOp(e.in, e.out))
		}
		if w, ok := writers[e.out.value]; ok && w.outcome == dropped {
			fmt.Fprintf(&b, "  anomaly: c%02d %s at %.3fms reads the value of a write that failed (claimed not applied): c%02d %s err=%s\n",
				e.client, describeOp(e.in, e.out), float64(e.call)/1e6, w.client, describeCall(w.in), errText(w.err))
		}
	}
	resurfaced(&b, h, key, writers)
	return b.String()
}

// resurfaced reports a value that is observed, then overwritten (another
// value observed strictly later), then observed again strictly later still.
// Values are unique per write, so a register can show a value only during
// one interval: seeing it come back means its write applied twice, e.g.
// resent after an attempt whose outcome was unknown.
func resurfaced(b *strings.Builder, h history, key string, writers map[string]event) {
	var obs []event // definite observations of key
	for _, e := range h {
		if e.in.key == key && e.outcome == definite && (e.in.kind == opGet || e.in.kind == opCAS) {
			obs = append(obs, e)
		}
	}
	// For each value: the earliest return and the latest call among the
	// calls that saw it.
	type span struct {
		firstRet, lastCall int64
		first, last        event
	}
	spans := map[string]*span{}
	var order []string
	for _, e := range obs {
		if !e.out.found {
			continue
		}
		sp := spans[e.out.value]
		if sp == nil {
			sp = &span{firstRet: e.ret, lastCall: e.call, first: e, last: e}
			spans[e.out.value] = sp
			order = append(order, e.out.value)
		}
		if e.ret < sp.firstRet {
			sp.firstRet, sp.first = e.ret, e
		}
		if e.call > sp.lastCall {
			sp.lastCall, sp.last = e.call, e
		}
	}
	// Replacements: another value observed, or a definite write of
	// another value that took effect (a put, a delete, a swap).
	type replacement struct {
		e   event
		reg register
		how string
	}
	var repl []replacement
	for _, e := range obs {
		repl = append(repl, replacement{e, register{present: e.out.found, value: e.out.value}, "read"})
	}
	for _, e := range h {
		if e.in.key != key || e.outcome != definite {
			continue
		}
		switch {
		case e.in.kind == opPut, e.in.kind == opCAS && e.out.swapped:
			repl = append(repl, replacement{e, register{present: true, value: e.in.value}, "written"})
		case e.in.kind == opDelete:
			repl = append(repl, replacement{e, register{}, "deleted"})
		}
	}
	for _, v := range order {
		sp := spans[v]
		for _, r := range repl {
			if r.e.call > sp.firstRet && r.e.ret < sp.lastCall && r.reg != (register{present: true, value: v}) {
				fmt.Fprintf(b, "  anomaly: %s came back: read by c%02d at %.3fms, then %s %s (c%02d [%.3f, %.3f]), then read again by c%02d at %.3fms; its write %s\n",
					v, sp.first.client, float64(sp.first.call)/1e6, r.reg, r.how, r.e.client, float64(r.e.call)/1e6, float64(r.e.ret)/1e6,
					sp.last.client, float64(sp.last.call)/1e6, writerLine(writers, v))
				break
			}
		}
	}
}

func writerLine(writers map[string]event, v string) string {
	w, ok := writers[v]
	if !ok {
		return "is not in the history"
	}
	return fmt.Sprintf("was c%02d %s [%.3f, %.3f]", w.client, describeOp(w.in, w.out), float64(w.call)/1e6, float64(w.ret)/1e6)
}

func opLine(op porcupine.Operation) string {
	ret := fmt.Sprintf("%.3f", float64(op.Return)/1e6)
	return fmt.Sprintf("[%.3f, %s] c%02d %s", float64(op.Call)/1e6, ret, op.ClientId,
		describeOp(op.Input.(regInput), op.Output.(regOutput)))
}
