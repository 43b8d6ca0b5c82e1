package hub

// positionsKept is how many of the newest updates fanned out the hub
// remembers for [Subscriber.LastEventID].
const positionsKept = 64

// positions is what the hub remembers of the newest updates it fanned out,
// so that a live-only subscriber is told the newest one it may see as the
// update it starts after, and never the ID of a private update it may not
// see: that ID would disclose the update (publishers choose IDs, and a UUID
// v7 carries its time). Its zero value is empty. Under Hub.mu.
type positions struct {
	ring  [positionsKept]position
	n     int    // entries in use
	next  int    // where the next one goes
	pubID string // ID of the newest public update known
}

type position struct {
	id      string
	topics  []string // the update's own slice: never modified
	private bool
}

// add records u as the newest update fanned out. It keeps no reference to
// u's data, only its ID and topics.
func (p *positions) add(u *Update) {
	p.ring[p.next] = position{id: u.ID, topics: u.Topics, private: u.Private}
	p.next = (p.next + 1) % positionsKept
	p.n = min(p.n+1, positionsKept)
	if !u.Private {
		p.pubID = u.ID
	}
}

// visibleTo returns the ID of the newest update remembered that a
// subscriber with the compiled authorized selectors auth may see, so that every update
// fanned out after it is one the subscriber may not see and it misses
// nothing by starting there. Past the updates remembered, it is the newest
// public update's ID, older than the subscriber's start when private
// updates it may see came in between (a resumption from it replays them);
// "" when no update the subscriber may see is known.
func (p *positions) visibleTo(auth []*selEntry) string {
	for i := range p.n {
		e := &p.ring[(p.next-1-i+positionsKept)%positionsKept]
		if !e.private || (len(auth) > 0 && matchAny(auth, e.topics)) {
			return e.id
		}
	}
	return p.pubID
}
