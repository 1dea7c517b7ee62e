package salesreceiver

import (
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
)

// Statuses routing gives an entry.
const (
	statusProcessed = "processed"
	statusIgnored   = "ignored"
	statusMatching  = "matching"
	statusFailed    = "failed"
)

// Action is one thing done with a sales entry, as appended to its actions
// column: when, by whom, what (a sentence an admin reads in the Sales
// Receiver log) and, when there is one, the workflow it went to and the
// referral it concerns.
type Action struct {
	At         time.Time `json:"at"`
	By         string    `json:"by"`
	Action     string    `json:"action"`
	ReferralID string    `json:"referral_id,omitempty"`
	WorkflowID string    `json:"workflow_id,omitempty"`
	// Detail is what was sent: the change signalled, or the start input.
	Detail any `json:"detail,omitempty"`
}

// actor is the By of the dispatcher's actions.
const actor = "dispatcher"

// outcome is what one routing attempt did with an entry: dispatched with a
// status, or deferred to be tried again.
type outcome struct {
	id int64

	// Dispatched.
	status     string
	referralID *uuid.UUID
	campaignID *uuid.UUID
	workflowID string
	reason     string // the error column of a failed entry
	actions    []Action

	// Deferred.
	deferred  bool
	attempted bool
	err       string
	delay     time.Duration
}

func (o *outcome) act(text, referralID, workflowID string, detail any) {
	o.actions = append(o.actions, Action{At: time.Now().UTC(), By: actor, Action: text, ReferralID: referralID, WorkflowID: workflowID, Detail: detail})
}

func (o *outcome) actionsJSON() string {
	if o.actions == nil {
		return "[]"
	}
	raw, err := json.Marshal(o.actions)
	if err != nil { // only plain values are ever put in Detail
		return "[]"
	}
	return string(raw)
}

// backoff is the wait before attempt n+1 after n failed attempts: min
// doubling per attempt up to max, with ±20% jitter so entries that failed
// together (a Temporal outage) do not all come back in the same instant.
func backoff(failed int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < failed && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	jittered := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	if jittered > max {
		jittered = max
	}
	return jittered
}
