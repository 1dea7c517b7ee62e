package salesreceiver

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/activities"
)

// Statuses routing gives an entry.
const (
	statusProcessed = "processed"
	statusIgnored   = "ignored"
	statusMatching  = "matching"
	statusFailed    = "failed"
)

// Action is one thing done with a sales entry, as appended to its actions
// column: the sales-entry workflow's step (key, step, detail, actor, at,
// data), so one shape runs through the array, plus Action, the same sentence
// as Detail, under the name the dispatcher's entries first used.
type Action struct {
	activities.SalesEntryAction
	Action string `json:"action"`
}

// Steps of the dispatcher's actions.
const (
	StepIgnored         = "ignored"
	StepFailed          = "failed"
	StepAlreadyLinked   = "already_linked"
	StepSignalled       = "signalled"
	StepWorkflowEnded   = "workflow_ended"
	StepMatchingStarted = "matching_started"
)

// Actor is the actor of the dispatcher's actions.
const Actor = "dispatcher"

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

func (o *outcome) act(step, text string, data map[string]any) {
	o.actions = append(o.actions, Action{Action: text, SalesEntryAction: activities.SalesEntryAction{
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
