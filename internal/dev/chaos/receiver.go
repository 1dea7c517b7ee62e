package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/referflow/referflow/internal/outgoing"
)

// Receiver is a campaign's fulfilment endpoint, as a fulfilment service
// would run it: it checks each webhook's signature with the workspace's
// signing secret, answers 2xx to every valid delivery (repeats too, as the
// webhook contract asks) and remembers each delivery by event ID, so a test
// can count rewards announced once, twice or never.
type Receiver struct {
	// URL is where the receiver listens (a campaign's
	// fulfilment_webhook_url).
	URL string

	srv *http.Server
	ln  net.Listener

	mu         sync.Mutex
	secret     []byte
	deliveries map[string][]RewardDelivery
	problems   []string
}

// RewardDelivery is one accepted delivery of a webhook.
type RewardDelivery struct {
	At         time.Time
	Type       string
	ReferralID string
	RewardID   string
}

// NewReceiver listens on a free loopback port. Until SetSecret it answers
// 503, which referflow retries.
func NewReceiver() (*Receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("chaos: fulfilment receiver: %w", err)
	}
	r := &Receiver{URL: "http://" + ln.Addr().String() + "/rewards", ln: ln, deliveries: map[string][]RewardDelivery{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// SetSecret sets the signing secret deliveries must be signed with.
func (r *Receiver) SetSecret(secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = []byte(secret)
}

// Close stops the receiver.
func (r *Receiver) Close() { _ = r.srv.Close() }

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	secret := r.secret
	r.mu.Unlock()
	if secret == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	if err := outgoing.Verify(secret, req.Header.Get(outgoing.SignatureHeader), body, time.Now()); err != nil {
		r.problem("delivery %s refused: %v", req.Header.Get(outgoing.EventIDHeader), err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			ReferralID string `json:"referral_id"`
			RewardID   string `json:"reward_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" {
		r.problem("delivery %s is not an event: %v", req.Header.Get(outgoing.EventIDHeader), errors.Join(err, errors.New("no id")))
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	if h := req.Header.Get(outgoing.EventIDHeader); h != ev.ID {
		r.problem("delivery's %s header %q differs from its body's id %q", outgoing.EventIDHeader, h, ev.ID)
	}
	r.mu.Lock()
	r.deliveries[ev.ID] = append(r.deliveries[ev.ID], RewardDelivery{At: time.Now(), Type: ev.Type, ReferralID: ev.Data.ReferralID, RewardID: ev.Data.RewardID})
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *Receiver) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// Deliveries returns the accepted deliveries by event ID.
func (r *Receiver) Deliveries() map[string][]RewardDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]RewardDelivery, len(r.deliveries))
	for id, ds := range r.deliveries {
		out[id] = append([]RewardDelivery(nil), ds...)
	}
	return out
}

// Problems lists deliveries refused (bad signature, not an event) or
// inconsistent.
func (r *Receiver) Problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.problems...)
}
