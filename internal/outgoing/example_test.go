package outgoing_test

import (
	"io"
	"net/http"
	"time"

	"github.com/referflow/referflow/internal/outgoing"
)

// A receiver in Go: verify the signature over the raw body, then do the work
// once per Referflow-Event-Id and answer 2xx to every repeat.
func ExampleVerify() {
	secret := []byte("the workspace's webhook signing secret")
	seen := map[string]bool{} // use your database in production
	http.HandleFunc("/referflow", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := outgoing.Verify(secret, r.Header.Get(outgoing.SignatureHeader), body, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		id := r.Header.Get(outgoing.EventIDHeader)
		if !seen[id] {
			seen[id] = true
			// ... pay the reward described in body ...
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
