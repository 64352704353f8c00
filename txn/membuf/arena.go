package membuf

import "math"

// ref locates bytes in an arena: chunk index, offset, length. Two chunk
// values are reserved so that a value slot can also say "no value" and
// "tombstone" without a separate field.
type ref struct {
	chunk uint32
	off   uint32
	n     uint32
}

const (
	chunkNone      = math.MaxUint32     // no value: absent or flags-only
	chunkTombstone = math.MaxUint32 - 1 // deleted by this transaction
)

var (
	refNone      = ref{chunk: chunkNone}
	refTombstone = ref{chunk: chunkTombstone}
)

func (r ref) isNone() bool      { return r.chunk == chunkNone }
func (r ref) isTombstone() bool { return r.chunk == chunkTombstone }

// hasBytes reports a real (possibly empty) value.
func (r ref) hasBytes() bool { return r.chunk < chunkTombstone }

// kind maps the slot to the public Kind.
func (r ref) kind() Kind {
	switch r.chunk {
	case chunkNone:
		return KindNone
	case chunkTombstone:
		return KindDelete
	}
	return KindPut
}

// arena is an append-only store of byte strings in large chunks, so that a
// buffered key or value costs no allocation of its own. Bytes are never
// overwritten or reused until reset: a slice handed out stays valid (and
// unchanged) for the life of the buffer, even across Cleanup, which makes it
// safe for callers to keep values returned by Get or an iterator.
type arena struct {
	chunks [][]byte
	cur    int // index of the chunk being filled; -1 before the first
	next   int // size of the next regular chunk
	// reserved is the sum of the chunks' capacities, kept as chunks come
	// and go so that Buffer.Mem (called after every write when a footprint
	// hook is set) costs no walk over the chunks.
	reserved int
}

const (
	arenaFirstChunk = 4 << 10
	arenaMaxChunk   = 4 << 20
)

func (a *arena) init() { a.cur = -1; a.next = arenaFirstChunk }

// add copies b into the arena.
func (a *arena) add(b []byte) ref {
	if a.cur >= 0 {
		c := a.chunks[a.cur]
		if len(c)+len(b) <= cap(c) {
			off := len(c)
			a.chunks[a.cur] = append(c, b...)
			return ref{chunk: uint32(a.cur), off: uint32(off), n: uint32(len(b))}
		}
	}
	if len(b) > a.next/4 && len(b) > arenaFirstChunk {
		// A big string gets a chunk of its own, so the partly filled
		// regular chunk keeps serving small ones.
		c := append([]byte(nil), b...)
		a.chunks = append(a.chunks, c)
		a.reserved += cap(c)
		return ref{chunk: uint32(len(a.chunks) - 1), n: uint32(len(b))}
	}
	c := make([]byte, 0, a.next)
	if a.next < arenaMaxChunk {
		a.next *= 2
	}
	a.chunks = append(a.chunks, append(c, b...))
	a.reserved += cap(c)
	a.cur = len(a.chunks) - 1
	return ref{chunk: uint32(a.cur), n: uint32(len(b))}
}

// get returns the bytes of r, capacity-limited so an append by the caller
// cannot scribble over the next string. r must hold bytes.
func (a *arena) get(r ref) []byte {
	c := a.chunks[r.chunk]
	return c[r.off : r.off+r.n : r.off+r.n]
}

// capacity is the bytes reserved by the arena.
func (a *arena) capacity() int { return a.reserved }

// arenaMark is a position to rewind an arena to.
type arenaMark struct {
	chunks int
	cur    int
	curLen int
	next   int
}

func (a *arena) mark() arenaMark {
	m := arenaMark{chunks: len(a.chunks), cur: a.cur, next: a.next}
	if a.cur >= 0 {
		m.curLen = len(a.chunks[a.cur])
	}
	return m
}

// rewind gives back everything added since m; nothing handed out since m
// may still be in use.
func (a *arena) rewind(m arenaMark) {
	for _, c := range a.chunks[m.chunks:] {
		a.reserved -= cap(c)
	}
	clear(a.chunks[m.chunks:])
	a.chunks = a.chunks[:m.chunks]
	a.cur, a.next = m.cur, m.next
	if a.cur >= 0 {
		a.chunks[a.cur] = a.chunks[a.cur][:m.curLen]
	}
}
