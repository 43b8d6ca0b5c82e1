package bolt_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ssehub/ssehub/bolt"
	"github.com/ssehub/ssehub/hub"
)

// A subscriber reconnecting with Last-Event-ID after the hub restarted
// gets what it missed: Find the ID, then Read after its Seq.
func Example_replay() {
	dir, err := os.MkdirTemp("", "ssehub")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "hub.db")
	ctx := context.Background()

	l, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := l.Append(ctx, &hub.Update{ID: id, Topics: []string{"books"}, Data: "data " + id}); err != nil {
			log.Fatal(err)
		}
	}
	l.Close()

	l, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	seq, err := l.Find(ctx, "a") // the client's Last-Event-ID
	if err != nil {
		log.Fatal(err)
	}
	for u, err := range l.Read(ctx, seq) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(u.Seq, u.ID, u.Data)
	}
	// Output:
	// 2 b data b
	// 3 c data c
}
