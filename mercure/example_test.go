package mercure_test

import (
	"log"
	"net/http"
	"time"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/mercure"
)

func Example() {
	h, err := hub.New(hub.Options{}) // an in-memory log
	if err != nil {
		log.Fatal(err)
	}
	m, err := mercure.New(mercure.Options{
		Hub:           h,
		PublisherKey:  []byte("!ChangeThisMercureHubJWTSecretKey!"),
		SubscriberKey: []byte("!ChangeThisMercureHubJWTSecretKey!"),
		Anonymous:     true,
		CORSOrigins:   []string{"https://app.example.com"},
		Subscriptions: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(mercure.Path, m)
	mux.Handle(mercure.Path+"/", m)
	srv := &http.Server{Addr: ":3000", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	_ = srv // srv.ListenAndServe()
}
