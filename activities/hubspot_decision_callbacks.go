package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotaction"
)

// HubSpot workflows waiting for a referral's decision: a "Wait for referral
// decision" action answered BLOCK is stored (hubspot_action_executions,
// state blocked) against the referral, and the referral's workflow, once
// the referral is approved or denied, completes it through HubSpot's
// callback API with the decision.

// DecisionCallbacks asks to complete a referral's blocked executions with
// its decision (approved or denied).
type DecisionCallbacks struct {
	ReferralID string
	Decision   string
}

// CallbacksCompleted is what completing did: callbacks completed, and those
// HubSpot no longer knew (expired there: it stopped waiting).
type CallbacksCompleted struct {
	Completed int `json:",omitempty"`
	Expired   int `json:",omitempty"`
}

// CountDecisionCallbacks counts the referral's executions waiting for its
// decision: the workflow asks HubSpot only when one waits. A local
// activity.
func (a *Activities) CountDecisionCallbacks(ctx context.Context, referralID string) (int, error) {
	id, err := parseEntityID(referralID, "referral")
	if err != nil {
		return 0, err
	}
	n, err := a.Queries.HubSpotActionExecutionCountBlocked(ctx, &id)
	if err != nil {
		return 0, fmt.Errorf("count the decision callbacks of referral %s: %w", referralID, err)
	}
	return int(n), nil
}

// CompleteDecisionCallbacks completes every execution of the referral that
// waits for its decision, with output fields decision and referral_id, and
// records each as completed (or expired, when HubSpot answers 404: it no
// longer waits). Idempotent: a completed one is not blocked any more, and
// HubSpot's answer to a callback completed before (a lost answer) counts as
// completed. A failure returns the error as the referral's workflow reads
// HubSpot errors (hubspot.TemporalError): it retries, then waits.
func (h *HubSpot) CompleteDecisionCallbacks(ctx context.Context, in DecisionCallbacks) (CallbacksCompleted, error) {
	var out CallbacksCompleted
	id, err := parseEntityID(in.ReferralID, "referral")
	if err != nil {
		return out, err
	}
	blocked, err := h.Queries.HubSpotActionExecutionListBlocked(ctx, &id)
	if err != nil {
		return out, fmt.Errorf("list the decision callbacks of referral %s: %w", in.ReferralID, err)
	}
	if len(blocked) == 0 {
		return out, nil
	}
	c, err := h.client(ctx, blocked[0].WorkspaceID)
	if err != nil {
		return out, err
	}
	for _, ex := range blocked {
		if ex.WorkspaceID != blocked[0].WorkspaceID {
			// A referral has one workspace; a row of another is not ours to send.
			continue
		}
		state := "completed"
		err := c.CompleteCallback(ctx, ex.CallbackID, hubspotaction.Decided(in.ReferralID, in.Decision))
		var notFound *hubspot.NotFoundError
		switch {
		case errors.As(err, &notFound):
			state = "expired"
		case err != nil && alreadyCompleted(err):
		case err != nil:
			return out, hubspot.TemporalError(err)
		}
		if err := h.finishCallback(ctx, ex.CallbackID, state, in.Decision); err != nil {
			return out, err
		}
		if state == "expired" {
			out.Expired++
		} else {
			out.Completed++
		}
	}
	return out, nil
}

// alreadyCompleted tells HubSpot's refusal of a callback completed before
// (our earlier attempt's answer was lost).
func alreadyCompleted(err error) bool {
	var v *hubspot.ValidationError
	return errors.As(err, &v) && strings.Contains(strings.ToLower(v.Message), "already")
}

func (h *HubSpot) finishCallback(ctx context.Context, callbackID, state, decision string) error {
	_, err := h.Queries.HubSpotActionExecutionFinish(ctx, db.HubSpotActionExecutionFinishParams{
		CallbackID: callbackID, State: state, Decision: &decision,
	})
	if err != nil {
		return fmt.Errorf("record callback %s %s: %w", callbackID, state, err)
	}
	return nil
}
