package membuf

import "unsafe"

// Kind says what the buffer holds for a key.
type Kind uint8

// The kinds.
const (
	// KindNone: no value is buffered for the key: it was never written, or
	// it carries flags only. A reader must consult the snapshot.
	KindNone Kind = iota
	// KindPut: the transaction wrote a value (possibly empty).
	KindPut
	// KindDelete: the transaction deleted the key (a tombstone). A reader
	// must treat the key as absent without consulting the snapshot.
	KindDelete
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindPut:
		return "put"
	case KindDelete:
		return "delete"
	}
	return "none"
}

// Limits bounds a Buffer; a zero field means unlimited. A write that would
// exceed a limit returns a *TooLargeError and changes nothing.
//
// client-go applies the write first and then reports ErrTxnTooLarge with the
// buffer already over the limit (art/art.go Set); we check first, so a
// refused write leaves no trace and the caller may continue with a smaller
// one. client-go also caps keys at 65535 bytes because its ART leaf stores the
// key length in 16 bits; this buffer has no such bound of its own, the cap is
// MaxKeySize. TiKV's own bounds (raft entry size, txn entry size) belong to the
// caller that knows the cluster's configuration.
type Limits struct {
	// MaxKeySize bounds len(key) of any write, including UpdateFlags.
	MaxKeySize uint64
	// MaxEntrySize bounds len(key)+len(value) of Set and Delete
	// (client-go's entrySizeLimit, TiDB's txn-entry-size-limit).
	MaxEntrySize uint64
	// MaxEntries bounds Len.
	MaxEntries uint64
	// MaxSize bounds Size (client-go's bufferSizeLimit,
	// TiDB's txn-total-size-limit).
	MaxSize uint64
}

// entry is one buffered key. The key and value bytes live in the arenas.
type entry struct {
	key   ref
	val   ref    // refNone, refTombstone or the value
	last  uint32 // newest undo record of this entry, or noUndo
	flags Flags
	// present: the key counts in Len/Size and is visible to GetFlags. False
	// only for a key whose every write was rolled back (the index keeps it).
	present bool
}

const noUndo = ^uint32(0)

// undoRec records the value an entry had before one value write, so that
// Cleanup and RevertToCheckpoint can restore it and the stage-0 view can
// read it. Records of one entry are chained through prev.
type undoRec struct {
	id   uint32
	prev uint32
	old  ref
}

// Buffer is the ordered in-memory buffer of one transaction's writes:
// values, tombstones and per-key Flags, with nested stages (savepoints) that
// can be released into their parent or rolled back.
//
// A Buffer is not safe for concurrent use: like client-go's memdb it belongs
// to one transaction and that transaction's goroutine. Byte slices it
// returns are read-only and stay valid and unchanged until Reset, even after
// the key is overwritten or rolled back (the arena never reuses bytes); the
// slices a caller passes in are copied.
type Buffer struct {
	idx     orderedIndex
	keys    arena
	vals    arena
	entries []entry
	undo    []undoRec
	stages  []int // undo length when each open stage began
	limits  Limits
	len     int
	size    int
	// writeSeq changes on every modification; iterators compare it to
	// detect writes made while they were open. snapSeq changes only on
	// modifications visible in the stage-0 view.
	writeSeq uint64
	snapSeq  uint64
	dirty    bool
	// gen changes on Reset, so a Checkpoint taken before cannot be used.
	gen uint64
	// reverts numbers rollbacks; truncs says how far recent ones went, so
	// RevertToCheckpoint can refuse a checkpoint into rolled-back history.
	reverts uint64
	truncs  []truncation
	// checkpointed is set by the first Checkpoint. Until then a write made
	// with no stage open can never be rolled back, so it is not recorded:
	// a transaction that uses neither stages nor checkpoints pays no undo
	// log at all.
	checkpointed bool
	// memHook, when set, hears every change of Mem (memReported is the
	// figure it heard last); see SetMemoryFootprintChangeHook.
	memHook     func(mem uint64)
	memReported int
}

// Option configures New.
type Option func(*Buffer)

// WithLimits sets the buffer's limits (default: unlimited).
func WithLimits(l Limits) Option { return func(b *Buffer) { b.limits = l } }

// withIndex picks the index implementation; tests and benchmarks use it.
func withIndex(k indexKind) Option {
	return func(b *Buffer) { b.idx = newIndex(k, b.indexDeps()) }
}

// New returns an empty Buffer. It allocates no arena memory until the first
// write, so a read-only transaction's buffer stays small.
func New(opts ...Option) *Buffer {
	b := &Buffer{}
	b.keys.init()
	b.vals.init()
	b.idx = newIndex(indexBTree, b.indexDeps())
	for _, o := range opts {
		o(b)
	}
	return b
}

func (b *Buffer) keyOf(id uint32) []byte { return b.keys.get(b.entries[id].key) }

func (b *Buffer) indexDeps() indexDeps { return indexDeps{keyOf: b.keyOf, keys: &b.keys} }

func (b *Buffer) value(r ref) []byte {
	if !r.hasBytes() {
		return nil
	}
	return b.vals.get(r)
}

// SetLimits replaces the limits. Entries already buffered are not checked.
func (b *Buffer) SetLimits(l Limits) { b.limits = l }

// Limits returns the current limits.
func (b *Buffer) Limits() Limits { return b.limits }

// Len is the number of buffered keys: keys with a value, tombstones and
// flags-only keys, as client-go's memdb Len counts them.
func (b *Buffer) Len() int { return b.len }

// Size is the sum of len(key)+len(value) over the buffered keys (a tombstone
// or a flags-only key counts its key), as client-go's memdb Size.
func (b *Buffer) Size() int { return b.size }

// Mem is the memory reserved by the buffer's arenas and tables, in bytes
// (the index's nodes are not counted); it is an estimate for accounting,
// not an exact heap figure.
func (b *Buffer) Mem() int {
	return b.keys.capacity() + b.vals.capacity() +
		cap(b.entries)*int(unsafe.Sizeof(entry{})) + cap(b.undo)*int(unsafe.Sizeof(undoRec{}))
}

// Dirty reports whether the buffer holds anything a commit must send:
// a write made outside any stage, a stage released into the buffer with
// value writes, or a persistent flag (a lock TiKV holds) set at any time.
// Writes still inside a stage, or rolled back, do not count. Client-go's
// memdb Dirty, used to skip the commit of a transaction that wrote nothing.
func (b *Buffer) Dirty() bool { return b.dirty }

// Get returns what the buffer holds for key: KindPut with the value,
// KindDelete for a tombstone, KindNone when the buffer has no value for it
// (absent, or flags-only).
func (b *Buffer) Get(key []byte) ([]byte, Kind) {
	id, ok := b.idx.lookup(key)
	if !ok || !b.entries[id].present {
		return nil, KindNone
	}
	e := &b.entries[id]
	return b.value(e.val), e.val.kind()
}

// GetFlags returns the key's flags; ok is false when the key is not
// buffered at all.
func (b *Buffer) GetFlags(key []byte) (flags Flags, ok bool) {
	id, ok := b.idx.lookup(key)
	if !ok || !b.entries[id].present {
		return 0, false
	}
	return b.entries[id].flags, true
}

// Set buffers value for key. An empty (or nil) value is a value, not a
// delete: see the package doc on tombstones.
func (b *Buffer) Set(key, value []byte) error { return b.write(key, value, false, true, nil) }

// SetWithFlags buffers value for key and applies ops to its flags.
func (b *Buffer) SetWithFlags(key, value []byte, ops ...FlagsOp) error {
	return b.write(key, value, false, true, ops)
}

// Delete buffers a tombstone for key.
func (b *Buffer) Delete(key []byte) error { return b.write(key, nil, true, true, nil) }

// DeleteWithFlags buffers a tombstone for key and applies ops to its flags.
func (b *Buffer) DeleteWithFlags(key []byte, ops ...FlagsOp) error {
	return b.write(key, nil, true, true, ops)
}

// UpdateFlags applies ops to key's flags without touching its value; a key
// not yet buffered is added as a flags-only key (as in client-go, even when
// the resulting flags are zero). Flag changes are not undone by Cleanup.
func (b *Buffer) UpdateFlags(key []byte, ops ...FlagsOp) error {
	return b.write(key, nil, false, false, ops)
}

// write is the one mutation path. A value write (Set/Delete) also clears
// FlagNeedConstraintCheckInPrewrite before applying ops, as client-go's memdb
// does (art/art.go setValue): writing the key supersedes the postponed check.
func (b *Buffer) write(key, value []byte, tombstone, isValue bool, ops []FlagsOp) error {
	if b.mayExceed(key, value, isValue) {
		// Only a write that might break a limit pays for a separate
		// lookup: the limit must be checked before the index changes.
		id, found := b.idx.lookup(key)
		var e *entry
		if found {
			e = &b.entries[id]
		}
		if err := b.checkLimits(key, value, e, isValue); err != nil {
			return err
		}
	}
	// The key's bytes go into the arena before we know whether the key is
	// new; for an existing key they are given back at once (the arena's
	// tail is simply rewound).
	mark := b.keys.mark()
	kref := b.keys.add(key)
	newID := uint32(len(b.entries))
	id, inserted := b.idx.upsert(key, kref, newID)
	if inserted {
		b.entries = append(b.entries, entry{key: kref, val: refNone, last: noUndo})
	} else {
		b.keys.rewind(mark)
	}
	e := &b.entries[id]
	b.writeSeq++
	if len(b.stages) == 0 {
		b.snapSeq++
		b.dirty = true
	}
	if !e.present {
		e.present = true
		b.len++
		b.size += int(e.key.n)
	}
	if isValue {
		e.flags = applyFlagsOp(e.flags, DelNeedConstraintCheckInPrewrite)
	}
	e.flags = ApplyFlagsOps(e.flags, ops...)
	if e.flags.Persistent() != 0 {
		b.dirty = true
	}
	if !isValue {
		b.noteMem()
		return nil
	}
	nv := refTombstone
	if !tombstone {
		nv = b.vals.add(value)
	}
	b.size += int(nv.n) - int(e.val.n)
	if len(b.stages) > 0 || b.checkpointed {
		b.undo = append(b.undo, undoRec{id: id, prev: e.last, old: e.val})
		e.last = uint32(len(b.undo) - 1)
	}
	e.val = nv
	b.noteMem()
	return nil
}

// mayExceed reports whether the write could break a limit if the key were
// new and its old value empty (the worst case).
func (b *Buffer) mayExceed(key, value []byte, isValue bool) bool {
	l := &b.limits
	if *l == (Limits{}) {
		return false
	}
	add := uint64(len(key))
	if isValue {
		add += uint64(len(value))
	}
	return (l.MaxKeySize > 0 && uint64(len(key)) > l.MaxKeySize) ||
		(isValue && l.MaxEntrySize > 0 && add > l.MaxEntrySize) ||
		(l.MaxEntries > 0 && uint64(b.len)+1 > l.MaxEntries) ||
		(l.MaxSize > 0 && uint64(b.size)+add > l.MaxSize)
}

func (b *Buffer) checkLimits(key, value []byte, e *entry, isValue bool) error {
	l := &b.limits
	if l.MaxKeySize > 0 && uint64(len(key)) > l.MaxKeySize {
		return &TooLargeError{Limit: LimitKeySize, Max: l.MaxKeySize, Want: uint64(len(key))}
	}
	entry := uint64(len(key) + len(value))
	if isValue && l.MaxEntrySize > 0 && entry > l.MaxEntrySize {
		return &TooLargeError{Limit: LimitEntrySize, Max: l.MaxEntrySize, Want: entry}
	}
	newLen, newSize := b.len, b.size
	if e == nil || !e.present {
		newLen++
		newSize += len(key)
	}
	if isValue {
		newSize += len(value)
		if e != nil {
			newSize -= int(e.val.n)
		}
	}
	if l.MaxEntries > 0 && uint64(newLen) > l.MaxEntries {
		return &TooLargeError{Limit: LimitEntries, Max: l.MaxEntries, Want: uint64(newLen)}
	}
	if l.MaxSize > 0 && uint64(newSize) > l.MaxSize {
		return &TooLargeError{Limit: LimitTotalSize, Max: l.MaxSize, Want: uint64(newSize)}
	}
	return nil
}

// Reset empties the buffer, drops all stages and invalidates every
// iterator, stage handle and Checkpoint. Slices returned before stay
// readable (their memory is released to the garbage collector, not reused).
func (b *Buffer) Reset() {
	b.idx.reset()
	b.keys = arena{}
	b.vals = arena{}
	b.keys.init()
	b.vals.init()
	b.entries = nil
	b.undo = nil
	b.stages = nil
	b.truncs = nil
	b.checkpointed = false
	b.len, b.size = 0, 0
	b.dirty = false
	b.writeSeq++
	b.snapSeq++
	b.gen++
	b.noteMem()
}
