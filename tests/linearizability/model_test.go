package linearizability_test

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// opKind is what a recorded operation did to its key. BatchPut is recorded
// as one put per key (see record.go), so the model never sees it whole.
type opKind uint8

const (
	opGet opKind = iota
	opPut
	opDelete
	opCAS
)

func (k opKind) String() string {
	return [...]string{"get", "put", "delete", "cas"}[k]
}

// regInput is what a worker asked of one key. Values are unique per write
// (worker and sequence number), so a value read names the write that
// produced it.
type regInput struct {
	kind opKind
	key  string
	// value is the value a put writes, or the value a CAS swaps in.
	value string
	// expectAbsent and expect are the CAS's comparison: swap when the key
	// is absent (expectAbsent), or when it holds expect.
	expectAbsent bool
	expect       string
	// batch names the BatchPut a put came from ("" for a plain Put), for
	// the dumps only.
	batch string
}

// regOutput is what the call returned. unknown marks a write whose outcome
// the client could not know (kv.ErrUndetermined, or a failed BatchPut): the
// history gives it a return time after every other operation, so porcupine
// may place it anywhere after its call, including after everything else,
// where it has no visible effect. That is porcupine's idiom for "may or may
// not have applied" (its own etcd test does the same).
type regOutput struct {
	unknown bool
	// found and value: a get's result, or the value a CAS found.
	found bool
	value string
	// swapped is a CAS's verdict.
	swapped bool
}

// register is one key's state: absent, or holding value. It is comparable,
// so porcupine's default == equality applies.
type register struct {
	present bool
	value   string
}

func (r register) String() string {
	if !r.present {
		return "<absent>"
	}
	return r.value
}

// registerModel is the sequential specification of a raw key under atomic
// mode: every operation on a key is serialized by TiKV's latches, so each
// key behaves as a register with compare-and-swap. Histories are
// partitioned by key: a per-key history is linearizable on its own, since
// no operation the workers issue is atomic across keys.
func registerModel() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return register{} },
		Step: func(state, input, output any) (bool, any) {
			return step(state.(register), input.(regInput), output.(regOutput))
		},
		DescribeOperation: func(input, output any) string {
			return describeOp(input.(regInput), output.(regOutput))
		},
		DescribeState: func(state any) string { return state.(register).String() },
		DescribeOperationMetadata: func(info any) string {
			if info == nil {
				return ""
			}
			return fmt.Sprint(info)
		},
	}
}

// step applies one operation to a key's state and says whether the call's
// output is possible from it.
func step(st register, in regInput, out regOutput) (bool, register) {
	switch in.kind {
	case opGet:
		// Failed reads never reach the history, so a get always has a
		// definite result.
		return !out.unknown && out.found == st.present && (!st.present || out.value == st.value), st
	case opPut:
		// Definite or unknown, a put linearized here applies; porcupine
		// covers "never applied" by placing an unknown put last.
		return true, register{present: true, value: in.value}
	case opDelete:
		return true, register{}
	case opCAS:
		match := (in.expectAbsent && !st.present) || (!in.expectAbsent && st.present && st.value == in.expect)
		next := st
		if match {
			next = register{present: true, value: in.value}
		}
		if out.unknown {
			return true, next
		}
		// TiKV reports the value it compared against whether or not it
		// swapped (raw_compare_and_swap's previous_value and
		// previous_not_exist).
		ok := out.swapped == match && out.found == st.present && (!st.present || out.value == st.value)
		return ok, next
	}
	panic(fmt.Sprintf("unknown op kind %d", in.kind))
}

// partitionByKey splits a history into one history per key.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var order []string
	for _, op := range history {
		k := op.Input.(regInput).key
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	out := make([][]porcupine.Operation, 0, len(order))
	for _, k := range order {
		out = append(out, byKey[k])
	}
	return out
}

// describeOp renders an operation for the visualization and the text dump.
func describeOp(in regInput, out regOutput) string {
	return describeCall(in) + " -> " + describeResult(in, out)
}

// describeCall renders what an operation asked.
func describeCall(in regInput) string {
	switch in.kind {
	case opGet:
		return fmt.Sprintf("get(%s)", in.key)
	case opPut:
		if in.batch != "" {
			return fmt.Sprintf("batchput[%s](%s=%s)", in.batch, in.key, in.value)
		}
		return fmt.Sprintf("put(%s=%s)", in.key, in.value)
	case opDelete:
		return fmt.Sprintf("delete(%s)", in.key)
	default:
		exp := in.expect
		if in.expectAbsent {
			exp = "<absent>"
		}
		return fmt.Sprintf("cas(%s: %s->%s)", in.key, exp, in.value)
	}
}

// describeResult renders what an operation returned.
func describeResult(in regInput, out regOutput) string {
	switch {
	case out.unknown:
		return "unknown"
	case in.kind == opGet:
		return register{present: out.found, value: out.value}.String()
	case in.kind == opCAS:
		return fmt.Sprintf("swapped=%v prev=%s", out.swapped, register{present: out.found, value: out.value})
	default:
		return "ok"
	}
}
