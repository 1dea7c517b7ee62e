package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// The member workflow's (workflows/member.go) database steps, local
// activities on the workflow queue.

// MemberStarted is what a member's workflow learns on its first step.
type MemberStarted struct {
	// SkipHubSpot says why the member is not sent to HubSpot at all: the
	// campaign's referrers action is none (the default), or the campaign is
	// archived. The workflow then skips its HubSpot steps without spending
	// the HubSpot task queue's rate on them.
	SkipHubSpot string `json:",omitempty"`
	// SkipSend says why the member is not sent (the referrers action is
	// none) while their referral code, link and counts are still written
	// back: the member already has a HubSpot contact (a contact HubSpot
	// enrolled), so the write-back costs one call and puts the link where
	// HubSpot's own emails and workflows can use it.
	SkipSend string `json:",omitempty"`
}

// MarkMemberWorkflowStarted records that a member's workflow (member/<id>)
// ran its first step, so the worker's reconciler does not start it again,
// and says whether the campaign sends its members to HubSpot. Idempotent:
// the first mark's time stays.
func (a *Activities) MarkMemberWorkflowStarted(ctx context.Context, memberID string) (MemberStarted, error) {
	id, err := parseEntityID(memberID, "member")
	if err != nil {
		return MemberStarted{}, err
	}
	if err := a.Queries.MemberMarkWorkflowStarted(ctx, id); err != nil {
		return MemberStarted{}, fmt.Errorf("mark member %s's workflow started: %w", id, err)
	}
	m, err := a.Queries.MemberGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return MemberStarted{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("member %s does not exist", id), ErrorTypeMemberNotFound, err)
	}
	if err != nil {
		return MemberStarted{}, fmt.Errorf("load member %s: %w", id, err)
	}
	row, err := a.Queries.CampaignGetByID(ctx, m.CampaignID)
	if err != nil {
		return MemberStarted{}, fmt.Errorf("load campaign %s of member %s: %w", m.CampaignID, id, err)
	}
	settings, err := CampaignSettings(row)
	if err != nil {
		// SendMemberToHubSpot says what is wrong, and waits.
		return MemberStarted{}, nil
	}
	switch {
	case campaign.Status(row.Status) == campaign.Archived:
		return MemberStarted{SkipHubSpot: "the campaign is archived: nothing is sent to HubSpot"}, nil
	case (settings.Referrers.Action == campaign.ActionNone || settings.Referrers.Action == "") && m.HubspotContactID != nil:
		return MemberStarted{SkipSend: "the campaign's referrers action is none: only the referral code, link and counts are written to the member's contact"}, nil
	case settings.Referrers.Action == campaign.ActionNone || settings.Referrers.Action == "":
		return MemberStarted{SkipHubSpot: "the campaign's referrers action is none: nothing is sent to HubSpot"}, nil
	}
	return MemberStarted{}, nil
}

// MemberWaiting is what a member's workflow waits on: the step, the kind of
// trouble (Cause: the failing activity's error type) and what an admin reads
// (Reason). An empty Step records that it waits on nothing.
type MemberWaiting struct {
	MemberID string
	Step     referral.MemberWaitStep
	Cause    string
	Reason   string
}

// SetMemberWaiting writes what the member's workflow waits on, or clears it
// (Step ""), so the member view shows it and the paths that fix the cause
// (HubSpot connected, campaign settings saved) know whom to wake.
func (a *Activities) SetMemberWaiting(ctx context.Context, w MemberWaiting) error {
	id, err := parseEntityID(w.MemberID, "member")
	if err != nil {
		return err
	}
	if w.Step == "" {
		err = a.Queries.MemberClearWaiting(ctx, id)
	} else {
		if w.Cause == "" {
			w.Cause = "Unknown"
		}
		err = a.Queries.MemberSetWaiting(ctx, db.MemberSetWaitingParams{
			ID: id, WaitingStep: string(w.Step), WaitingCause: w.Cause, WaitingReason: w.Reason,
		})
	}
	if err != nil {
		return fmt.Errorf("record what member %s waits on: %w", w.MemberID, err)
	}
	return nil
}
