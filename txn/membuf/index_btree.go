package membuf

import "bytes"

// btree is an in-memory B-tree of entry ids ordered by their keys. Nodes hold
// up to btMaxItems items; inserts split full nodes on the way down, so an
// insert never walks back up. No deletes (see orderedIndex).
//
// Each item keeps the arena ref of its key next to the id, so a comparison
// reads the key bytes directly instead of going through the entry table:
// at 1M random keys that removes a cache miss per comparison (measured:
// see doc.go).
type btree struct {
	root     *btNode
	keys     *arena
	maxItems int // btMaxItems; tests use 3 to get deep trees from few keys
}

type btItem struct {
	key ref
	id  uint32
}

const btMaxItems = 63 // odd, so a split leaves 31 on each side of the median

type btNode struct {
	items    []btItem
	children []*btNode // nil for a leaf; else len(items)+1
}

// btFrame is one level of a cursor's path. Above the top frame, i is the
// child being visited; in the top frame it is the current item. In forward
// order the item pending after child i is items[i], in reverse items[i-1].
type btFrame struct {
	n *btNode
	i int
}

func newBTree(keys *arena, maxItems int) *btree {
	return &btree{keys: keys, maxItems: maxItems}
}

func (t *btree) reset() { t.root = nil }

func (t *btree) newNode(leaf bool) *btNode {
	n := &btNode{items: make([]btItem, 0, t.maxItems)}
	if !leaf {
		n.children = make([]*btNode, 0, t.maxItems+1)
	}
	return n
}

// search returns the first index whose key is >= key, and whether it is equal.
func (t *btree) search(n *btNode, key []byte) (int, bool) {
	lo, hi := 0, len(n.items)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(t.keys.get(n.items[m].key), key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.items) && bytes.Equal(t.keys.get(n.items[lo].key), key)
}

func (t *btree) lookup(key []byte) (uint32, bool) {
	n := t.root
	for n != nil {
		i, eq := t.search(n, key)
		if eq {
			return n.items[i].id, true
		}
		if n.children == nil {
			return 0, false
		}
		n = n.children[i]
	}
	return 0, false
}

func (t *btree) upsert(key []byte, kref ref, id uint32) (uint32, bool) {
	if t.root == nil {
		t.root = t.newNode(true)
	}
	if len(t.root.items) == t.maxItems {
		r := t.newNode(false)
		r.children = append(r.children, t.root)
		t.split(r, 0)
		t.root = r
	}
	n := t.root
	for {
		i, eq := t.search(n, key)
		if eq {
			return n.items[i].id, false
		}
		if n.children == nil {
			n.items = append(n.items, btItem{})
			copy(n.items[i+1:], n.items[i:])
			n.items[i] = btItem{key: kref, id: id}
			return id, true
		}
		if len(n.children[i].items) == t.maxItems {
			t.split(n, i)
			switch c := bytes.Compare(key, t.keys.get(n.items[i].key)); {
			case c == 0:
				return n.items[i].id, false
			case c > 0:
				i++
			}
		}
		n = n.children[i]
	}
}

// split moves the upper half of the full child i of p into a new sibling and
// lifts the median into p.
func (t *btree) split(p *btNode, i int) {
	c := p.children[i]
	mid := t.maxItems / 2
	median := c.items[mid]
	right := t.newNode(c.children == nil)
	right.items = append(right.items, c.items[mid+1:]...)
	c.items = c.items[:mid]
	if c.children != nil {
		right.children = append(right.children, c.children[mid+1:]...)
		clear(c.children[mid+1:])
		c.children = c.children[:mid+1]
	}
	p.items = append(p.items, btItem{})
	copy(p.items[i+1:], p.items[i:])
	p.items[i] = median
	p.children = append(p.children, nil)
	copy(p.children[i+2:], p.children[i+1:])
	p.children[i+1] = right
}

func (t *btree) seekGE(c *cursor, key []byte) {
	c.path = c.path[:0]
	for n := t.root; n != nil; {
		i := 0
		if key != nil {
			var eq bool
			i, eq = t.search(n, key)
			if eq {
				c.path = append(c.path, btFrame{n, i})
				break
			}
		}
		c.path = append(c.path, btFrame{n, i})
		if n.children == nil {
			break
		}
		n = n.children[i]
	}
	t.settleForward(c)
}

// settleForward pops exhausted frames: the parent's pending item becomes
// current.
func (t *btree) settleForward(c *cursor) {
	for len(c.path) > 0 {
		top := c.path[len(c.path)-1]
		if top.i < len(top.n.items) {
			c.valid, c.id = true, top.n.items[top.i].id
			return
		}
		c.path = c.path[:len(c.path)-1]
	}
	c.valid = false
}

func (t *btree) next(c *cursor) {
	top := &c.path[len(c.path)-1]
	top.i++
	if top.n.children != nil {
		for n := top.n.children[top.i]; ; n = n.children[0] {
			c.path = append(c.path, btFrame{n, 0})
			if n.children == nil {
				break
			}
		}
	}
	t.settleForward(c)
}

func (t *btree) seekLT(c *cursor, key []byte) {
	c.path = c.path[:0]
	for n := t.root; n != nil; {
		i := len(n.items)
		if key != nil {
			i, _ = t.search(n, key)
		}
		if n.children == nil {
			c.path = append(c.path, btFrame{n, i - 1})
			break
		}
		c.path = append(c.path, btFrame{n, i})
		n = n.children[i]
	}
	t.settleReverse(c)
}

// settleReverse pops exhausted frames: a parent visiting child i has item
// i-1 pending, which becomes current.
func (t *btree) settleReverse(c *cursor) {
	for len(c.path) > 0 {
		top := &c.path[len(c.path)-1]
		if top.i >= 0 {
			c.valid, c.id = true, top.n.items[top.i].id
			return
		}
		c.path = c.path[:len(c.path)-1]
		if len(c.path) > 0 {
			c.path[len(c.path)-1].i--
		}
	}
	c.valid = false
}

func (t *btree) prev(c *cursor) {
	top := &c.path[len(c.path)-1]
	if top.n.children != nil {
		// The predecessor of items[i] is the last key of children[i]; the
		// frame now visits child i, with items[i-1] pending.
		for n := top.n.children[top.i]; ; {
			if n.children == nil {
				c.path = append(c.path, btFrame{n, len(n.items) - 1})
				break
			}
			c.path = append(c.path, btFrame{n, len(n.children) - 1})
			n = n.children[len(n.children)-1]
		}
	} else {
		top.i--
	}
	t.settleReverse(c)
}
