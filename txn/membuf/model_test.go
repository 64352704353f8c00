package membuf

import (
	"bytes"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tikvgo/tikv/kv"
)

// slot is the model's value slot of a key.
type slot struct {
	kind Kind
	val  string
}

type modelEntry struct {
	slot
	flags Flags
}

// model is the reference: a plain map plus copies of the value slots at
// each stage start and checkpoint, with client-go's rollback rules spelt out
// directly (see Buffer.Cleanup).
type model struct {
	m      map[string]*modelEntry
	stages []modelMark
	cps    []modelMark // checkpoints taken, with the Buffer's own
	real   []Checkpoint
	hist   int // recorded value writes not rolled back: the Buffer's undo length
	// checkpointed mirrors Buffer.checkpointed: writes outside stages are
	// recorded (count in hist) only after the first checkpoint.
	checkpointed bool
	trace        []string
}

type modelMark struct {
	slots map[string]slot
	hist  int
	dead  bool // a rollback went below it: the state it names is gone
}

func newModel() *model { return &model{m: map[string]*modelEntry{}} }

func (m *model) mark() modelMark {
	s := make(map[string]slot, len(m.m))
	for k, e := range m.m {
		if e.kind != KindNone {
			s[k] = e.slot
		}
	}
	return modelMark{slots: s, hist: m.hist}
}

func (m *model) write(k string, s slot, isValue bool, ops []FlagsOp) {
	e := m.m[k]
	if e == nil {
		e = &modelEntry{}
		m.m[k] = e
	}
	if isValue {
		e.flags = ApplyFlagsOps(e.flags, DelNeedConstraintCheckInPrewrite)
		e.slot = s
		if len(m.stages) > 0 || m.checkpointed {
			m.hist++
		}
	}
	e.flags = ApplyFlagsOps(e.flags, ops...)
}

func (m *model) revert(mk modelMark) {
	for k, e := range m.m {
		old := mk.slots[k]
		if e.slot == old {
			continue
		}
		e.slot = old
		if old.kind == KindNone {
			e.flags = e.flags.Persistent()
			if e.flags == 0 {
				delete(m.m, k)
			}
		}
	}
	m.hist = mk.hist
	for i := range m.cps {
		if m.cps[i].hist > mk.hist {
			m.cps[i].dead = true
		}
	}
}

func (m *model) lenSize() (n, size int) {
	for k, e := range m.m {
		n++
		size += len(k) + len(e.val)
	}
	return n, size
}

// snapshotSlot is the stage-0 view of k.
func (m *model) snapshotSlot(k string) slot {
	if len(m.stages) > 0 {
		return m.stages[0].slots[k]
	}
	if e := m.m[k]; e != nil {
		return e.slot
	}
	return slot{}
}

// opReader turns fuzz bytes into operations.
type opReader struct{ b []byte }

func (r *opReader) next() (byte, bool) {
	if len(r.b) == 0 {
		return 0, false
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, true
}

func (r *opReader) byte() byte { c, _ := r.next(); return c }

func (r *opReader) key() []byte {
	c := r.byte()
	k := []byte{'a' + c%6}
	if c&0x08 != 0 {
		k = append(k, 'a'+(c>>4)%4)
	}
	return k
}

func (r *opReader) value() []byte {
	c := r.byte()
	return bytes.Repeat([]byte{'0' + c>>2%10}, int(c%4))
}

func (r *opReader) ops() []FlagsOp {
	c := r.byte()
	if c%3 == 0 {
		return nil
	}
	return []FlagsOp{FlagsOp(1 + int(c>>2)%int(flagsOpEnd-1)), FlagsOp(1 + int(c>>5)%int(flagsOpEnd-1))}
}

// universe lists every key opReader can produce, plus bounds between them.
var universe = func() []string {
	var ks []string
	for a := byte(0); a < 6; a++ {
		ks = append(ks, string([]byte{'a' + a}))
		for b := byte(0); b < 4; b++ {
			ks = append(ks, string([]byte{'a' + a, 'a' + b}))
		}
	}
	return ks
}()

// runModel applies the operations encoded in data to a Buffer and the model
// and fails at the first difference.
func runModel(t *testing.T, kind indexKind, data []byte) {
	b := New(withIndex(kind))
	m := newModel()
	r := &opReader{b: data}
	step := 0
	for {
		op, ok := r.next()
		if !ok {
			break
		}
		step++
		var desc string
		switch op % 14 {
		case 0, 1, 2:
			k, v := r.key(), r.value()
			desc = fmt.Sprintf("Set(%q,%q)", k, v)
			mustNil(t, b.Set(k, v))
			m.write(string(k), slot{KindPut, string(v)}, true, nil)
		case 3:
			k, v, ops := r.key(), r.value(), r.ops()
			desc = fmt.Sprintf("SetWithFlags(%q,%q,%v)", k, v, ops)
			mustNil(t, b.SetWithFlags(k, v, ops...))
			m.write(string(k), slot{KindPut, string(v)}, true, ops)
		case 4, 5:
			k := r.key()
			desc = fmt.Sprintf("Delete(%q)", k)
			mustNil(t, b.Delete(k))
			m.write(string(k), slot{kind: KindDelete}, true, nil)
		case 6:
			k, ops := r.key(), r.ops()
			desc = fmt.Sprintf("UpdateFlags(%q,%v)", k, ops)
			mustNil(t, b.UpdateFlags(k, ops...))
			m.write(string(k), slot{}, false, ops)
		case 7, 8:
			desc = "Staging"
			m.stages = append(m.stages, m.mark())
			if h := b.Staging(); h != len(m.stages) {
				t.Fatalf("step %d: Staging = %d, want %d", step, h, len(m.stages))
			}
		case 9:
			desc = "Release"
			if n := len(m.stages); n > 0 {
				b.Release(n)
				m.stages = m.stages[:n-1]
			}
		case 10:
			desc = "Cleanup"
			if n := len(m.stages); n > 0 {
				b.Cleanup(n)
				m.revert(m.stages[n-1])
				m.stages = m.stages[:n-1]
			}
		case 11:
			desc = "Checkpoint"
			m.checkpointed = true
			m.cps = append(m.cps, m.mark())
			m.real = append(m.real, b.Checkpoint())
		case 12:
			if len(m.cps) == 0 {
				continue
			}
			i := int(r.byte()) % len(m.cps)
			desc = fmt.Sprintf("RevertToCheckpoint(%d)", i)
			mk := m.cps[i]
			valid := !mk.dead && (len(m.stages) == 0 || mk.hist >= m.stages[len(m.stages)-1].hist)
			if !valid {
				func() {
					defer func() {
						if recover() == nil {
							t.Fatalf("step %d: RevertToCheckpoint of a stale checkpoint did not panic", step)
						}
					}()
					b.RevertToCheckpoint(m.real[i])
				}()
				continue
			}
			b.RevertToCheckpoint(m.real[i])
			m.revert(mk)
		case 13:
			lo, hi := r.key(), r.key()
			desc = fmt.Sprintf("iterate [%q,%q)", lo, hi)
			checkIter(t, step, b, m, lo, hi)
			checkIter(t, step, b, m, nil, hi)
			checkIter(t, step, b, m, lo, nil)
		}
		m.trace = append(m.trace, desc)
		checkState(t, step, desc, b, m)
	}
	checkIter(t, step, b, m, nil, nil)
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func checkState(t *testing.T, step int, desc string, b *Buffer, m *model) {
	t.Helper()
	n, size := m.lenSize()
	if b.Len() != n || b.Size() != size {
		t.Fatalf("step %d %s: Len/Size = %d/%d, model %d/%d\n%v", step, desc, b.Len(), b.Size(), n, size, m.trace)
	}
	if b.Stages() != len(m.stages) {
		t.Fatalf("step %d %s: Stages = %d, model %d", step, desc, b.Stages(), len(m.stages))
	}
	for _, k := range universe {
		v, kind := b.Get([]byte(k))
		want := slot{}
		e := m.m[k]
		if e != nil {
			want = e.slot
		}
		if kind != want.kind || string(v) != want.val {
			t.Fatalf("step %d %s: Get(%q) = %v %q, model %v %q", step, desc, k, kind, v, want.kind, want.val)
		}
		f, ok := b.GetFlags([]byte(k))
		if ok != (e != nil) || (e != nil && f != e.flags) {
			t.Fatalf("step %d %s: GetFlags(%q) = %v %v, model %+v", step, desc, k, f, ok, e)
		}
		sv, skind := b.SnapshotGet([]byte(k))
		ws := m.snapshotSlot(k)
		if skind != ws.kind || string(sv) != ws.val {
			t.Fatalf("step %d %s: SnapshotGet(%q) = %v %q, model %v %q", step, desc, k, skind, sv, ws.kind, ws.val)
		}
	}
}

func inRange(k string, lo, hi []byte) bool {
	return (lo == nil || k >= string(lo)) && (hi == nil || k < string(hi))
}

func checkIter(t *testing.T, step int, b *Buffer, m *model, lo, hi []byte) {
	t.Helper()
	var want, wantAll, wantSnap []string
	keys := make([]string, 0, len(m.m))
	for k := range m.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !inRange(k, lo, hi) {
			continue
		}
		e := m.m[k]
		s := fmt.Sprintf("%s=%v:%s", k, e.kind, e.val)
		wantAll = append(wantAll, s+fmt.Sprint(e.flags))
		if e.kind != KindNone {
			want = append(want, s)
		}
	}
	for _, k := range universe {
		if s := m.snapshotSlot(k); s.kind != KindNone && inRange(k, lo, hi) {
			wantSnap = append(wantSnap, fmt.Sprintf("%s=%v:%s", k, s.kind, s.val))
		}
	}
	slices.Sort(wantSnap)
	got := func(it *Iterator, flags bool) []string {
		var out []string
		for ; it.Valid(); it.Next() {
			s := fmt.Sprintf("%s=%v:%s", it.Key(), it.Kind(), it.Value())
			if flags {
				s += fmt.Sprint(it.Flags())
			}
			out = append(out, s)
		}
		if it.Err() != nil {
			t.Fatalf("step %d: %v", step, it.Err())
		}
		return out
	}
	rev := func(s []string) []string { s = slices.Clone(s); slices.Reverse(s); return s }

	// The union over a fixed snapshot holding every third universe key.
	snap := fakeSnapshot{}
	for i, k := range universe {
		if i%3 == 0 {
			snap[k] = "s" + k
		}
	}
	var wantUnion []string
	for _, k := range universe { // universe is not sorted; sort below
		if !inRange(k, lo, hi) {
			continue
		}
		e := m.m[k]
		switch {
		case e != nil && e.kind == KindPut:
			wantUnion = append(wantUnion, k+"="+e.val)
		case e != nil && e.kind == KindDelete:
		default:
			if v, ok := snap[k]; ok {
				wantUnion = append(wantUnion, k+"="+v)
			}
		}
	}
	slices.Sort(wantUnion)
	gotUnion := func(seq iter.Seq2[kv.KeyValue, error]) []string {
		var out []string
		for p, err := range seq {
			if err != nil {
				t.Fatalf("step %d: union: %v", step, err)
			}
			out = append(out, string(p.Key)+"="+string(p.Value))
		}
		return out
	}
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"Iter", got(b.Iter(lo, hi), false), want},
		{"IterReverse", got(b.IterReverse(hi, lo), false), rev(want)},
		{"IterWithFlags", got(b.IterWithFlags(lo, hi), true), wantAll},
		{"SnapshotIter", got(b.SnapshotIter(lo, hi), false), wantSnap},
		{"SnapshotIterReverse", got(b.SnapshotIterReverse(hi, lo), false), rev(wantSnap)},
		{"Union", gotUnion(b.Union(lo, hi, snap.scan(lo, hi, false))), wantUnion},
		{"UnionReverse", gotUnion(b.UnionReverse(hi, lo, snap.scan(lo, hi, true))), rev(wantUnion)},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Fatalf("step %d: %s[%q,%q) = %v, model %v", step, c.name, lo, hi, c.got, c.want)
		}
	}
}

// TestRandomAgainstModel is client-go's memdb_norace_test.go TestRandom /
// TestRandomDerive (random writes and nested staging checked against a
// golden leveldb memdb) against a sorted-map model, with a fixed seed.
func TestRandomAgainstModel(t *testing.T) {
	for _, k := range indexKinds {
		t.Run(k.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(10, 2026))
			for round := 0; round < 12; round++ {
				data := make([]byte, 2500)
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
				runModel(t, k.kind, data)
			}
		})
	}
}

// FuzzMembufAgainstModel runs the model comparison on fuzzed operation
// streams; the seed corpus in testdata/fuzz runs as a plain test.
func FuzzMembufAgainstModel(f *testing.F) {
	f.Add([]byte{0, 1, 5, 7, 0, 1, 9, 4, 1, 10, 13, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Longer streams add run time, not coverage: 16 keys and a few
		// stages are exhausted well within this.
		if len(data) > 4096 {
			data = data[:4096]
		}
		for _, k := range indexKinds {
			runModel(t, k.kind, data)
		}
	})
}
