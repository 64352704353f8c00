package membuf

import "bytes"

// btree is an in-memory B-tree of entry ids ordered by their keys. Nodes hold
// up to btMaxItems ids; inserts split full nodes on the way down, so an insert
// never walks back up. No deletes (see orderedIndex).
type btree struct {
	root  *btNode
	keyOf keyFunc
}

const btMaxItems = 63 // odd, so a split leaves 31 on each side of the median

type btNode struct {
	items    []uint32
	children []*btNode // nil for a leaf; else len(items)+1
}

// btFrame is one level of a cursor's path. Above the top frame, i is the
// child being visited; in the top frame it is the current item. In forward
// order the item pending after child i is items[i], in reverse items[i-1].
type btFrame struct {
	n *btNode
	i int
}

func newBTree(keyOf keyFunc) *btree { return &btree{keyOf: keyOf} }

func (t *btree) reset() { t.root = nil }

func newBTNode(leaf bool) *btNode {
	n := &btNode{items: make([]uint32, 0, btMaxItems)}
	if !leaf {
		n.children = make([]*btNode, 0, btMaxItems+1)
	}
	return n
}

// search returns the first index whose key is >= key, and whether it is equal.
func (t *btree) search(n *btNode, key []byte) (int, bool) {
	lo, hi := 0, len(n.items)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bytes.Compare(t.keyOf(n.items[m]), key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.items) && bytes.Equal(t.keyOf(n.items[lo]), key)
}

func (t *btree) lookup(key []byte) (uint32, bool) {
	n := t.root
	for n != nil {
		i, eq := t.search(n, key)
		if eq {
			return n.items[i], true
		}
		if n.children == nil {
			return 0, false
		}
		n = n.children[i]
	}
	return 0, false
}

func (t *btree) insert(key []byte, id uint32) {
	if t.root == nil {
		t.root = newBTNode(true)
	}
	if len(t.root.items) == btMaxItems {
		r := newBTNode(false)
		r.children = append(r.children, t.root)
		t.split(r, 0)
		t.root = r
	}
	n := t.root
	for {
		i, _ := t.search(n, key)
		if n.children == nil {
			n.items = append(n.items, 0)
			copy(n.items[i+1:], n.items[i:])
			n.items[i] = id
			return
		}
		if len(n.children[i].items) == btMaxItems {
			t.split(n, i)
			if bytes.Compare(key, t.keyOf(n.items[i])) > 0 {
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
	const mid = btMaxItems / 2
	median := c.items[mid]
	right := newBTNode(c.children == nil)
	right.items = append(right.items, c.items[mid+1:]...)
	c.items = c.items[:mid]
	if c.children != nil {
		right.children = append(right.children, c.children[mid+1:]...)
		clear(c.children[mid+1:])
		c.children = c.children[:mid+1]
	}
	p.items = append(p.items, 0)
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
			c.valid, c.id = true, top.n.items[top.i]
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
			c.valid, c.id = true, top.n.items[top.i]
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
