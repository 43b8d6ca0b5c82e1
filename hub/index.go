package hub

import "strings"

// node is a node of the fan-out index: a radix tree of the literal prefixes
// of the non-exact selectors. The path from the root to a node spells the
// prefix of the entries it holds. Walking an update's topic down the tree
// visits exactly the entries whose prefix the topic starts with, in time
// proportional to the topic's length plus those entries, whatever the
// number of other selectors. The zero value is an empty root.
type node struct {
	label    string  // the edge from the parent; "" only at the root
	children []*node // sorted by label[0], whose values are distinct
	entries  []*selEntry
}

// child returns the index in n.children of the child whose label starts
// with c, and whether there is one.
func (n *node) child(c byte) (int, bool) {
	lo, hi := 0, len(n.children)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.children[m].label[0] < c {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.children) && n.children[lo].label[0] == c
}

// insert files e under prefix, below n.
func (n *node) insert(prefix string, e *selEntry) {
	for prefix != "" {
		i, ok := n.child(prefix[0])
		if !ok {
			c := &node{label: prefix}
			n.children = append(n.children, nil)
			copy(n.children[i+1:], n.children[i:])
			n.children[i] = c
			n = c
			break
		}
		c := n.children[i]
		k := commonPrefixLen(c.label, prefix)
		if k < len(c.label) {
			// Split c's edge where prefix leaves it.
			mid := &node{label: c.label[:k], children: []*node{c}}
			c.label = c.label[k:]
			n.children[i] = mid
			c = mid
		}
		n, prefix = c, prefix[k:]
	}
	e.node, e.pos = n, len(n.entries)
	n.entries = append(n.entries, e)
}

// remove takes e, filed under prefix, out of the tree below n, and prunes
// the nodes left with nothing to hold.
func (n *node) remove(prefix string, e *selEntry) {
	if prefix == "" {
		last := len(n.entries) - 1
		moved := n.entries[last]
		n.entries[e.pos], moved.pos = moved, e.pos
		n.entries[last] = nil
		n.entries = n.entries[:last]
		e.node = nil
		return
	}
	i, ok := n.child(prefix[0])
	if !ok {
		return // not filed here: cannot happen, the index owns e.node
	}
	c := n.children[i]
	c.remove(prefix[len(c.label):], e)
	switch {
	case len(c.entries) > 0:
	case len(c.children) == 0:
		copy(n.children[i:], n.children[i+1:])
		n.children[len(n.children)-1] = nil
		n.children = n.children[:len(n.children)-1]
	case len(c.children) == 1:
		// Merge c into its only child, so that a path of nodes holding
		// nothing never outlives the prefixes that needed it.
		gc := c.children[0]
		gc.label = c.label + gc.label
		n.children[i] = gc
	}
}

// walk calls f for each entry filed under a prefix of topic.
func (n *node) walk(topic string, f func(*selEntry)) {
	for {
		for _, e := range n.entries {
			f(e)
		}
		if topic == "" {
			return
		}
		i, ok := n.child(topic[0])
		if !ok {
			return
		}
		c := n.children[i]
		if !strings.HasPrefix(topic, c.label) {
			return
		}
		n, topic = c, topic[len(c.label):]
	}
}

// size returns the number of entries in the tree below n, for tests.
func (n *node) size() int {
	k := len(n.entries)
	for _, c := range n.children {
		k += c.size()
	}
	return k
}

func commonPrefixLen(a, b string) int {
	k := min(len(a), len(b))
	for i := range k {
		if a[i] != b[i] {
			return i
		}
	}
	return k
}
