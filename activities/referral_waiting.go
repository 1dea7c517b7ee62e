package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
)

// ReferralWaiting is what a referral's workflow waits on: a step that needs
// the outside world (Step), the kind of trouble (Cause: an activity's error
// type, a short word metrics group by) and what an admin reads (Reason). An
// empty Step records that it waits on nothing.
type ReferralWaiting struct {
	ReferralID string
	Step       referral.WaitStep
	Cause      string
	Reason     string
}

// SetReferralWaiting writes what the referral's workflow waits on, or clears
// it (Step ""), so the API shows it, metrics count it and the paths that fix
// the cause (HubSpot connected, campaign settings saved) know whom to wake.
func (a *Activities) SetReferralWaiting(ctx context.Context, w ReferralWaiting) error {
	id, err := parseID(w.ReferralID)
	if err != nil {
		return err
	}
	if w.Step == "" {
		_, err = a.Queries.ReferralClearWaiting(ctx, id)
	} else {
		if w.Cause == "" {
			w.Cause = "Unknown"
		}
		_, err = a.Queries.ReferralSetWaiting(ctx, db.ReferralSetWaitingParams{
			ID: id, WaitingStep: string(w.Step), WaitingCause: w.Cause, WaitingReason: w.Reason,
		})
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return temporal.NewNonRetryableApplicationError("referral "+w.ReferralID+" does not exist", ErrorTypeReferralNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("record what referral %s waits on: %w", w.ReferralID, err)
	}
	return nil
}

// FailRewardInput gives up issuing a reward.
type FailRewardInput struct {
	RewardID string
	Reason   string
	Actor    string
}

// FailReward records that an admin gave up issuing a reward whose issue kept
// failing: a pending reward becomes failed (never issued); one already issued
// whose announcement to the fulfilment endpoint kept failing stays issued,
// and the trail says the endpoint was never told. Written once however often
// it is retried.
func (a *Activities) FailReward(ctx context.Context, in FailRewardInput) error {
	id, err := parseEntityID(in.RewardID, "reward")
	if err != nil {
		return err
	}
	if in.Actor == "" {
		in.Actor = "system"
	}
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Queries.WithTx(tx)
		rw, err := lockReward(ctx, q, id)
		if err != nil {
			return err
		}
		details := map[string]any{"reason": in.Reason, "from": rw.Status}
		switch reward.Status(rw.Status) {
		case reward.Pending:
			if rw, err = q.RewardUpdateStatus(ctx, db.RewardUpdateStatusParams{
				ID: id, ExpectedStatus: rw.Status, NewStatus: string(reward.Failed), Reason: &in.Reason,
			}); err != nil {
				return fmt.Errorf("mark reward %s failed: %w", in.RewardID, err)
			}
		case reward.Issued:
			details["announcement"] = "given up: the reward stays issued; the fulfilment endpoint was not told"
		default:
			return nil // cancelled or failed already: nothing to give up
		}
		return recordRewardEvent(ctx, q, rw, referral.EventRewardFailed, in.Actor, "reward_failed:"+in.RewardID, details)
	})
}
