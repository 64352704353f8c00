package membuf

// orderedIndex maps keys to entry ids in byte order. It is the one part of
// the buffer with more than one implementation (btree, skiplist), chosen by
// benchmark (see doc.go). Keys are not stored in the index: it asks keyOf,
// so a key lives once, in the buffer's arena.
//
// The index only grows: the buffer never removes a key from it (a key whose
// write is rolled back is marked absent in its entry instead, as client-go's
// memdb marks the leaf deleted), which keeps both implementations small.
type orderedIndex interface {
	// lookup returns the id stored for key.
	lookup(key []byte) (id uint32, ok bool)
	// upsert returns the id stored for key if there is one; otherwise it
	// stores id for key (whose bytes the buffer keeps at kref) and returns
	// it with inserted = true. One descent serves both, which halves the
	// cost of a Set of a new key.
	upsert(key []byte, kref ref, id uint32) (got uint32, inserted bool)
	// seekGE positions c at the first key >= key (nil: the first key).
	seekGE(c *cursor, key []byte)
	// seekLT positions c at the last key < key (nil: the last key).
	seekLT(c *cursor, key []byte)
	// next and prev move c; they may only be called on a valid cursor.
	next(c *cursor)
	prev(c *cursor)
	// reset empties the index.
	reset()
}

// cursor is a position in an orderedIndex. Its fields belong to the
// implementation that positioned it; a cursor is invalidated by any insert.
type cursor struct {
	valid bool
	id    uint32
	path  []btFrame // btree
}

// keyFunc returns the key of an entry id.
type keyFunc func(id uint32) []byte

// indexDeps is what an index may use to read keys: the skip list finds them
// through entry ids, the B-tree keeps each key's arena ref in its items.
type indexDeps struct {
	keyOf keyFunc
	keys  *arena
}

// indexKind selects the orderedIndex implementation.
type indexKind uint8

const (
	indexBTree indexKind = iota
	indexSkipList
	indexBTreeTiny // B-tree with 3-item nodes: deep trees for tests
)

func newIndex(kind indexKind, d indexDeps) orderedIndex {
	switch kind {
	case indexSkipList:
		return newSkipList(d.keyOf)
	case indexBTreeTiny:
		return newBTree(d.keys, 3)
	}
	return newBTree(d.keys, btMaxItems)
}
