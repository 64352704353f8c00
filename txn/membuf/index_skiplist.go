package membuf

import "bytes"

// skipList is an index candidate kept for the benchmark comparison in
// doc.go: a skip list whose nodes are the entry ids themselves, with every
// tower stored in one flat slice so that a node costs no allocation. Entry
// ids are dense and assigned in insert order, which the flat layout needs.
type skipList struct {
	keyOf  keyFunc
	head   [slMaxHeight]uint32 // first node at each level
	height int
	tower  []uint32 // tower[id] = offset of id's links in links
	links  []uint32 // next pointers, level 0 first
	prevs  []uint32 // level-0 predecessor of each node, for reverse walks
	tail   uint32   // last node at level 0
	rnd    uint64   // xorshift state for tower heights
}

const (
	slMaxHeight = 24
	slNil       = ^uint32(0)
)

func newSkipList(keyOf keyFunc) *skipList {
	s := &skipList{keyOf: keyOf}
	s.reset()
	return s
}

func (s *skipList) reset() {
	for i := range s.head {
		s.head[i] = slNil
	}
	s.height = 1
	s.tower, s.links, s.prevs = s.tower[:0], s.links[:0], s.prevs[:0]
	s.tail = slNil
	s.rnd = 0x9e3779b97f4a7c15
}

func (s *skipList) randomHeight() int {
	// Each level is kept with probability 1/4, the usual choice for a
	// pointer-light skip list.
	s.rnd ^= s.rnd << 13
	s.rnd ^= s.rnd >> 7
	s.rnd ^= s.rnd << 17
	h, r := 1, s.rnd
	for h < slMaxHeight && r&3 == 0 {
		h++
		r >>= 2
	}
	return h
}

func (s *skipList) nextAt(id uint32, level int) uint32 {
	if id == slNil {
		return s.head[level]
	}
	return s.links[s.tower[id]+uint32(level)]
}

func (s *skipList) setNext(id uint32, level int, to uint32) {
	if id == slNil {
		s.head[level] = to
		return
	}
	s.links[s.tower[id]+uint32(level)] = to
}

// findLT fills preds with the last node < key at each level (slNil = head)
// and returns the node after preds[0].
func (s *skipList) findLT(key []byte, preds *[slMaxHeight]uint32) uint32 {
	x := slNil
	var nx uint32
	for level := s.height - 1; level >= 0; level-- {
		for {
			nx = s.nextAt(x, level)
			if nx == slNil || bytes.Compare(s.keyOf(nx), key) >= 0 {
				break
			}
			x = nx
		}
		if preds != nil {
			preds[level] = x
		}
	}
	return nx
}

func (s *skipList) lookup(key []byte) (uint32, bool) {
	n := s.findLT(key, nil)
	if n != slNil && bytes.Equal(s.keyOf(n), key) {
		return n, true
	}
	return 0, false
}

func (s *skipList) upsert(key []byte, _ ref, id uint32) (uint32, bool) {
	var preds [slMaxHeight]uint32
	if n := s.findLT(key, &preds); n != slNil && bytes.Equal(s.keyOf(n), key) {
		return n, false
	}
	h := s.randomHeight()
	for s.height < h {
		preds[s.height] = slNil
		s.height++
	}
	for uint32(len(s.tower)) <= id {
		s.tower = append(s.tower, 0)
		s.prevs = append(s.prevs, slNil)
	}
	s.tower[id] = uint32(len(s.links))
	for level := 0; level < h; level++ {
		s.links = append(s.links, s.nextAt(preds[level], level))
		s.setNext(preds[level], level, id)
	}
	s.prevs[id] = preds[0]
	if nx := s.links[s.tower[id]]; nx != slNil {
		s.prevs[nx] = id
	} else {
		s.tail = id
	}
	return id, true
}

func (s *skipList) set(c *cursor, id uint32) { c.valid, c.id = id != slNil, id }

func (s *skipList) seekGE(c *cursor, key []byte) {
	if key == nil {
		s.set(c, s.head[0])
		return
	}
	s.set(c, s.findLT(key, nil))
}

func (s *skipList) seekLT(c *cursor, key []byte) {
	if key == nil {
		s.set(c, s.tail)
		return
	}
	var preds [slMaxHeight]uint32
	s.findLT(key, &preds)
	s.set(c, preds[0])
}

func (s *skipList) next(c *cursor) { s.set(c, s.links[s.tower[c.id]]) }
func (s *skipList) prev(c *cursor) { s.set(c, s.prevs[c.id]) }
