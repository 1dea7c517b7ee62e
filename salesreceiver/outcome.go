package salesreceiver

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/internal/salesentry"
)

// Action is one thing the dispatcher did with a sales entry, as appended to
// its actions column: a salesentry.Action (key, step, detail, actor, at,
// data), the shape the sales-entry workflow's steps have too, plus "action",
// the same sentence as Detail, under the name the dispatcher's entries first
// used.
type Action struct {
	salesentry.Action
	Sentence string `json:"action"`
}

// Actor is the actor of the dispatcher's actions.
const Actor = "dispatcher"

// outcome is what one routing attempt did with an entry: dispatched with a
// status, or deferred to be tried again.
type outcome struct {
	id int64

	// Dispatched.
	status     salesentry.Status
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

func (o *outcome) act(step salesentry.Step, text string, data map[string]any) {
	o.actions = append(o.actions, Action{Sentence: text, Action: salesentry.Action{
		Key: fmt.Sprintf("dispatch:%s:%d", step, len(o.actions)), Step: step, Detail: text,
		Actor: Actor, At: time.Now().UTC(), Data: data,
	}})
}

func (o *outcome) actionsJSON() string {
	if o.actions == nil {
		return "[]"
	}
	raw, err := json.Marshal(o.actions)
	if err != nil { // only plain values are ever put in Data
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
