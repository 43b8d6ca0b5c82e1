package reliability

import "testing"

// TestVerdictCatchesBrokenDelivery shows the crash tests' checker fails
// on each kind of broken delivery, so that their passing means something.
func TestVerdictCatchesBrokenDelivery(t *testing.T) {
	l := &ledger{}
	for n := range 3 {
		l.add(ack{publisher: 0, seq: n, data: payload(0, n), id: payload(9, n)})
	}
	recv := func(pairs ...[2]string) *resumer {
		s := newResumer("t", "", nil)
		for _, p := range pairs {
			s.got = append(s.got, ack{data: p[0], id: p[1]})
			s.count[p[0]]++
		}
		return s
	}
	good := [][2]string{{"p0-0", "p9-0"}, {"p0-1", "p9-1"}, {"p0-2", "p9-2"}}
	if v := recv(good...).check(l, l.snapshot()); !v.ok() {
		t.Fatalf("correct delivery judged broken: %+v", v)
	}
	for name, c := range map[string]struct {
		got  [][2]string
		want func(verdict) bool
	}{
		"lost":         {good[:2], func(v verdict) bool { return v.lost == 1 }},
		"duplicated":   {append(good, good[0]), func(v verdict) bool { return v.duplicated == 2 }},
		"out of order": {[][2]string{good[1], good[0], good[2]}, func(v verdict) bool { return v.outOfOrder == 1 }},
		"wrong ID":     {[][2]string{good[0], {"p0-1", "x"}, good[2]}, func(v verdict) bool { return v.wrongID == 1 }},
	} {
		v := recv(c.got...).check(l, l.snapshot())
		if v.ok() || !c.want(v) {
			t.Errorf("%s: verdict %+v", name, v)
		}
	}
	if v := recv(append(good, [2]string{"p1-0", "z"})...).check(l, l.snapshot()); !v.ok() || v.unacked != 1 {
		t.Errorf("an unacknowledged extra update: %+v", v)
	}
}
