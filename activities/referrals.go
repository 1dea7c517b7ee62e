package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/personaldata"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// Referral is what a referral workflow loads about its referral.
type Referral struct {
	ID           string
	WorkspaceID  string
	CampaignID   string
	MemberID     string
	MemberCode   string
	LeadEmail    string `personal:""`
	Status       referral.Status
	DeniedReason string
	// CannotQualifyReason is set when the lead can never qualify (e.g. it was
	// already in HubSpot and the campaign's duplicate handling is do_nothing).
	CannotQualifyReason string
	// StatusRules and ReviewDeniedToQualified are the campaign's rules as of
	// loading; the workflow applies HubSpot changes with them.
	StatusRules             campaign.StatusRules
	ReviewDeniedToQualified bool
	// LeadsAction is the campaign's leads action (create_contact,
	// create_deal or none): with none, no HubSpot activity is needed.
	LeadsAction string
	// Rewards are the campaign's reward settings; PropertyUpdates say which
	// HubSpot values are copied onto the referral.
	Rewards         campaign.Rewards
	PropertyUpdates campaign.PropertyUpdates
	// ExpiresAt is when a still-pending referral is denied as expired (the
	// campaign's expire_after_days after the referral was added); zero: never.
	ExpiresAt time.Time
	// Source is referrals.source; referral.SourceColumnHubSpot means its
	// lead is already in HubSpot (added by a matching rule or an admin's
	// review decision), so nothing is sent there.
	Source string `json:",omitempty"`
	// Recorded are the referral's rewards already recorded, oldest first: a
	// run started after an earlier one failed (referflow referrals resume)
	// carries on from them instead of creating them again.
	Recorded []RewardRef `json:",omitempty"`
	// PaidRewards are the IDs of Recorded rewards an admin marked paid.
	PaidRewards []string `json:",omitempty"`
}

// MarshalJSON seals the lead's email under the lead's key in Temporal's
// histories (internal/personaldata).
func (r Referral) MarshalJSON() ([]byte, error) {
	type plain Referral
	return personaldata.MarshalFields(plain(r), r.LeadEmail)
}

// UnmarshalJSON reads what MarshalJSON wrote; an erased lead's email reads
// as "".
func (r *Referral) UnmarshalJSON(b []byte) error {
	type plain Referral
	_, err := personaldata.UnmarshalFields(b, (*plain)(r))
	return err
}

// LoadReferral reads the referral a workflow was started for. A referral that
// does not exist will never exist, so that error is not retried.
func (a *Activities) LoadReferral(ctx context.Context, referralID string) (Referral, error) {
	id, err := parseID(referralID)
	if err != nil {
		return Referral{}, err
	}
	row, err := a.Queries.ReferralGetDetail(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Referral{}, temporal.NewNonRetryableApplicationError("referral "+referralID+" does not exist", "ReferralNotFound", err)
	}
	if err != nil {
		return Referral{}, fmt.Errorf("load referral %s: %w", referralID, err)
	}
	r := row.Referral
	camp, err := a.Queries.CampaignGetByID(ctx, r.CampaignID)
	if err != nil {
		return Referral{}, fmt.Errorf("load campaign of referral %s: %w", referralID, err)
	}
	settings, err := CampaignSettings(camp)
	if err != nil {
		return Referral{}, temporal.NewNonRetryableApplicationError(err.Error(), "CampaignSettingsUnreadable", err)
	}
	rewards, err := a.Queries.RewardListByReferral(ctx, id)
	if err != nil {
		return Referral{}, fmt.Errorf("load rewards of referral %s: %w", referralID, err)
	}
	var refs []RewardRef
	var paid []string
	for _, rw := range rewards {
		refs = append(refs, rewardRef(rw))
		if rw.PaidAt != nil {
			paid = append(paid, rw.ID.String())
		}
	}
	return Referral{
		Recorded:                refs,
		PaidRewards:             paid,
		ID:                      r.ID.String(),
		WorkspaceID:             r.WorkspaceID.String(),
		CampaignID:              r.CampaignID.String(),
		MemberID:                r.MemberID.String(),
		MemberCode:              row.MemberReferralCode,
		LeadEmail:               r.LeadEmail,
		Status:                  referral.Status(r.Status),
		DeniedReason:            deref(r.DeniedReason),
		CannotQualifyReason:     deref(r.CannotQualifyReason),
		StatusRules:             settings.StatusRules,
		ReviewDeniedToQualified: settings.ProcessRules.ReviewDeniedToQualified,
		ExpiresAt:               expiry(r.CreatedAt, settings.Rewards.ExpireAfterDays),
		LeadsAction:             settings.Leads.Action,
		Rewards:                 settings.Rewards,
		PropertyUpdates:         settings.PropertyUpdates,
		Source:                  r.Source,
	}, nil
}

// ReferralEvent is one entry for a referral's audit trail.
type ReferralEvent struct {
	ReferralID string
	Kind       referral.EventKind
	Actor      string
	Details    map[string]any
	// IdempotencyKey makes a retried write a no-op.
	IdempotencyKey string
	// SalesEntryID is the sales entry (the HubSpot event) that caused it, if
	// one did.
	SalesEntryID int64 `json:",omitempty"`
}

// RecordReferralEvent appends an event to the referral's audit trail, once
// per idempotency key however often it is retried.
func (a *Activities) RecordReferralEvent(ctx context.Context, ev ReferralEvent) error {
	id, err := parseID(ev.ReferralID)
	if err != nil {
		return err
	}
	if ev.Details == nil {
		ev.Details = map[string]any{}
	}
	details, err := json.Marshal(ev.Details)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("event details are not JSON", "InvalidInput", err)
	}
	ref, err := a.Queries.ReferralGetByID(ctx, id)
	if err != nil {
		return fmt.Errorf("record %s event for referral %s: %w", ev.Kind, ev.ReferralID, err)
	}
	_, err = a.Queries.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
		ReferralID:     id,
		WorkspaceID:    ref.WorkspaceID,
		Kind:           string(ev.Kind),
		Actor:          ev.Actor,
		Details:        details,
		IdempotencyKey: &ev.IdempotencyKey,
		SalesEntryID:   salesEntryRef(ev.SalesEntryID),
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) { // ErrNoRows: written by an earlier attempt
		return fmt.Errorf("record %s event for referral %s: %w", ev.Kind, ev.ReferralID, err)
	}
	if ev.Kind == referral.EventWorkflowStarted {
		// The reconciler starts the workflow of referrals without this mark.
		if err := a.Queries.ReferralMarkWorkflowStarted(ctx, id); err != nil {
			return fmt.Errorf("mark referral %s's workflow started: %w", ev.ReferralID, err)
		}
	}
	return nil
}

// ErrTypeDuplicateChange: ChangeReferralStatus found its idempotency key
// already recorded for the referral (the same change, applied before) and
// changed nothing; the workflow treats it as a no-op.
const ErrTypeDuplicateChange = "DuplicateChange"

// StatusChange moves a referral from one status to another.
type StatusChange struct {
	ReferralID     string
	From, To       referral.Status
	Reason         string
	Actor          string
	IdempotencyKey string
	// Cause describes what caused the change (e.g. the HubSpot change), for
	// the audit trail; SalesEntryID is the sales entry it came from, if any.
	Cause        map[string]any
	SalesEntryID int64 `json:",omitempty"`
}

// ChangeReferralStatus writes a status change and its audit-trail event in
// one transaction, so the trail never misses a change nor shows one that did
// not happen; in it too the member's referral counts are recomputed, the
// referral and (when its counts changed) the member are marked for HubSpot
// (migration 0023's triggers: the worker's HubSpot writer then writes the
// lead records' referflow_referral_status and the member's counts), and,
// when the campaign notifies on status changes, the referral.status_changed
// webhook is queued in the outbox. A retry after a commit whose answer was
// lost finds its event already written and succeeds without changing
// anything again.
func (a *Activities) ChangeReferralStatus(ctx context.Context, ch StatusChange) error {
	id, err := parseID(ch.ReferralID)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Queries.WithTx(tx)
		var deniedReason *string
		if ch.To == referral.Denied {
			deniedReason = &ch.Reason
		}
		ref, err := q.ReferralUpdateStatus(ctx, db.ReferralUpdateStatusParams{
			ID:             id,
			ExpectedStatus: string(ch.From),
			NewStatus:      string(ch.To),
			DeniedReason:   deniedReason,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return a.explainStatusConflict(ctx, q, id, ch)
		}
		if err != nil {
			return fmt.Errorf("change referral %s from %s to %s: %w", ch.ReferralID, ch.From, ch.To, err)
		}
		from, to := string(ch.From), string(ch.To)
		details, err := json.Marshal(map[string]any{"reason": ch.Reason, "cause": ch.Cause})
		if err != nil {
			return temporal.NewNonRetryableApplicationError("status change cause is not JSON", "InvalidInput", err)
		}
		row, err := q.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
			ReferralID:     id,
			WorkspaceID:    ref.WorkspaceID,
			Kind:           string(referral.EventStatusChanged),
			FromStatus:     &from,
			ToStatus:       &to,
			Actor:          ch.Actor,
			Details:        details,
			IdempotencyKey: &ch.IdempotencyKey,
			SalesEntryID:   salesEntryRef(ch.SalesEntryID),
		})
		if errors.Is(err, pgx.ErrNoRows) {
			// The key was used by an earlier change: roll this one back.
			return temporal.NewNonRetryableApplicationError("status change "+ch.IdempotencyKey+" was already recorded for this referral", ErrTypeDuplicateChange, nil)
		}
		if err != nil {
			return fmt.Errorf("record status change of referral %s: %w", ch.ReferralID, err)
		}
		if err := queueStatusChanged(ctx, q, ref, row, ch); err != nil {
			return err
		}
		// Last: the member's row stays locked from here to the commit.
		return countReferralChange(ctx, q, ref.MemberID, ch.From, ch.To)
	})
}

// ReferralStatusChangedEventID is the Referflow-Event-Id of the
// announcement of one status change: its audit-trail event's ID.
func ReferralStatusChangedEventID(referralEventID int64) string {
	return fmt.Sprintf("%s:%d", webhookdelivery.EventReferralStatusChanged, referralEventID)
}

// ReferralStatusChangedData is the "data" of a referral.status_changed
// webhook: IDs and statuses, no personal data.
type ReferralStatusChangedData struct {
	ReferralID string `json:"referral_id"`
	CampaignID string `json:"campaign_id"`
	MemberID   string `json:"member_id"`
	From       string `json:"from"`
	To         string `json:"to"`
	Reason     string `json:"reason,omitempty"`
	ChangedAt  string `json:"changed_at"`
}

// queueStatusChanged puts a status change's referral.status_changed webhook
// in the outbox, in the change's transaction, when the campaign notifies on
// status changes and has a fulfilment URL.
func queueStatusChanged(ctx context.Context, q *db.Queries, ref db.Referral, ev db.ReferralEvent, ch StatusChange) error {
	camp, err := q.CampaignGetByID(ctx, ref.CampaignID)
	if err != nil {
		return fmt.Errorf("load campaign %s: %w", ref.CampaignID, err)
	}
	settings, err := CampaignSettings(camp)
	if err != nil || !settings.ProcessRules.NotifyOnStatusChange || deref(camp.FulfilmentWebhookUrl) == "" {
		return nil // unreadable settings announce nothing; the change stands
	}
	at := ev.OccurredAt.UTC()
	_, err = webhookdelivery.Enqueue(ctx, q, ref.WorkspaceID, camp.ID, outgoing.Event{
		ID: ReferralStatusChangedEventID(ev.ID), Type: webhookdelivery.EventReferralStatusChanged, CreatedAt: at,
		Data: ReferralStatusChangedData{
			ReferralID: ref.ID.String(), CampaignID: camp.ID.String(), MemberID: ref.MemberID.String(),
			From: string(ch.From), To: string(ch.To), Reason: ch.Reason, ChangedAt: at.Format(time.RFC3339Nano),
		},
	})
	return err
}

// explainStatusConflict decides what a failed compare-and-set means: an
// earlier attempt of this very change committed (success), or the referral
// moved under us (a non-retryable conflict).
func (a *Activities) explainStatusConflict(ctx context.Context, q *db.Queries, id uuid.UUID, ch StatusChange) error {
	ref, err := q.ReferralGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return temporal.NewNonRetryableApplicationError("referral "+ch.ReferralID+" does not exist", "ReferralNotFound", err)
	}
	if err != nil {
		return fmt.Errorf("read referral %s: %w", ch.ReferralID, err)
	}
	if ref.Status == string(ch.To) {
		events, err := q.ReferralEventListByReferral(ctx, id)
		if err != nil {
			return fmt.Errorf("read audit trail of referral %s: %w", ch.ReferralID, err)
		}
		for _, ev := range events {
			if ev.IdempotencyKey != nil && *ev.IdempotencyKey == ch.IdempotencyKey {
				return nil
			}
		}
	}
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("referral %s is %s, not %s: it changed since the decision was made", ch.ReferralID, ref.Status, ch.From),
		"StatusConflict", nil)
}

// SetReferralInReview puts a referral on hold for an admin (or takes it off):
// lists show it in the review queue while the workflow waits.
func (a *Activities) SetReferralInReview(ctx context.Context, referralID string, inReview bool) error {
	id, err := parseID(referralID)
	if err != nil {
		return err
	}
	if _, err := a.Queries.ReferralSetInReview(ctx, db.ReferralSetInReviewParams{ID: id, InReview: inReview}); err != nil {
		return fmt.Errorf("set referral %s in review=%v: %w", referralID, inReview, err)
	}
	return nil
}

// salesEntryRef is referral_events.sales_entry_id for a sales entry ID (0:
// none).
func salesEntryRef(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func expiry(created time.Time, days int) time.Time {
	if days <= 0 {
		return time.Time{}
	}
	return created.AddDate(0, 0, days)
}
