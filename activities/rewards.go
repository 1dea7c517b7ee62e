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
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

// Types of the non-retryable errors the reward activities return; a workflow
// tells them apart with temporal.ApplicationError's Type.
const (
	// ErrTypeNoSaleValue: a percentage reward while the referral has no sale
	// value yet. The message says so; wait for the amount, then create again.
	ErrTypeNoSaleValue = "NoSaleValue"
	// ErrTypeInvalidRewardSettings: the campaign's reward settings cannot be
	// computed (unreadable, unknown kind, bad amount or currency).
	ErrTypeInvalidRewardSettings = "InvalidRewardSettings"
	ErrTypeRewardNotFound        = "RewardNotFound"
	// ErrTypeRewardCancelled: IssueReward on a cancelled (or failed) reward.
	// It is never issued.
	ErrTypeRewardCancelled = "RewardCancelled"
	// ErrTypeRewardAlreadyIssued: CancelReward on an issued reward.
	ErrTypeRewardAlreadyIssued = "RewardAlreadyIssued"
	// ErrTypeRewardNotIssued: MarkRewardPaid on a reward that is not issued.
	ErrTypeRewardNotIssued = "RewardNotIssued"
	// ErrTypeInvalidFulfilmentURL: the webhook policy refuses the campaign's
	// fulfilment URL (outgoing.ErrUnsupportedURL). Not retried: the referral
	// waits until the URL or the policy changes, and nothing is issued.
	ErrTypeInvalidFulfilmentURL = "InvalidFulfilmentURL"
)

// RewardIssuedEventID is the Referflow-Event-Id (and body "id") of the
// webhook announcing reward rewardID: the same on every retry, so the
// receiver can deduplicate, and distinct from any later event about the same
// reward.
func RewardIssuedEventID(rewardID string) string {
	return webhookdelivery.EventRewardIssued + ":" + rewardID
}

// CreateRewardsInput asks for the rewards of one conversion of a referral.
type CreateRewardsInput struct {
	ReferralID string
	// Conversion is 1 for the first conversion (0 means 1). Later ones are
	// rewarded only when the campaign rewards every conversion.
	Conversion int
	// HoldUntil is when the rewards may be issued; zero for no hold.
	HoldUntil time.Time
}

// RewardRef is a reward as the workflow tracks it.
type RewardRef struct {
	ID        string
	Recipient string // member or friend
	// Amount is a decimal string with two places, e.g. "123.46".
	Amount         string
	Currency       string
	Status         reward.Status
	Conversion     int
	IdempotencyKey string
	HoldUntil      *time.Time
}

func rewardRef(r db.Reward) RewardRef {
	amount, _, _ := reward.FromNumeric(r.Amount, r.Currency)
	return RewardRef{
		ID: r.ID.String(), Recipient: r.Recipient, Amount: amount.String(), Currency: r.Currency,
		Status: reward.Status(r.Status), Conversion: int(r.ConversionNumber), IdempotencyKey: r.IdempotencyKey, HoldUntil: r.HoldUntil,
	}
}

// CreateRewards computes what the campaign's reward settings give the member
// and the referred friend for one conversion of a referral, and records them
// as pending rewards, each with its audit-trail event. One reward per
// referral, recipient and conversion: a retry (or a second call) writes
// nothing and returns the rewards already there, as they are now.
//
// It returns no rewards when the campaign rewards nobody, or when Conversion
// is after the first and the campaign rewards only the first. A percentage
// reward while the sale value is unknown is a non-retryable NoSaleValue
// error, and nothing is written.
func (a *Activities) CreateRewards(ctx context.Context, in CreateRewardsInput) ([]RewardRef, error) {
	id, err := parseEntityID(in.ReferralID, "referral")
	if err != nil {
		return nil, err
	}
	if in.Conversion == 0 {
		in.Conversion = 1
	}
	if in.Conversion < 1 {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("conversion %d: conversions count from 1", in.Conversion), "InvalidInput", nil)
	}
	ref, err := a.Queries.ReferralGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, temporal.NewNonRetryableApplicationError("referral "+in.ReferralID+" does not exist", "ReferralNotFound", err)
	}
	if err != nil {
		return nil, fmt.Errorf("load referral %s: %w", in.ReferralID, err)
	}
	camp, err := a.Queries.CampaignGetByID(ctx, ref.CampaignID)
	if err != nil {
		return nil, fmt.Errorf("load campaign %s: %w", ref.CampaignID, err)
	}
	settings, err := CampaignSettings(camp)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeInvalidRewardSettings, err)
	}
	rules := settings.Rewards
	if in.Conversion > 1 && !rules.EveryConversion {
		return []RewardRef{}, nil
	}
	var sale *reward.Amount
	if ref.Currency != nil {
		s, ok, err := reward.FromNumeric(ref.SaleValue, *ref.Currency)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError("referral "+in.ReferralID+"'s sale value: "+err.Error(), "InvalidSaleValue", err)
		}
		if ok {
			sale = &s
		}
	}

	// Compute everything first: a settings error writes nothing.
	type planned struct {
		recipient string
		memberID  *uuid.UUID
		amount    reward.Amount
	}
	var plan []planned
	for _, p := range []struct {
		recipient string
		rule      *campaign.Reward
		memberID  *uuid.UUID
	}{
		{reward.Member, rules.Member, &ref.MemberID},
		{reward.Friend, rules.Friend, nil},
	} {
		if p.rule == nil {
			continue
		}
		amount, err := reward.Compute(*p.rule, sale)
		if errors.Is(err, reward.ErrNoSaleValue) {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s reward of referral %s: %v", p.recipient, in.ReferralID, err), ErrTypeNoSaleValue, err)
		}
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s reward of campaign %s: %v", p.recipient, camp.ID, err), ErrTypeInvalidRewardSettings, err)
		}
		plan = append(plan, planned{p.recipient, p.memberID, amount})
	}

	var holdUntil *time.Time
	if !in.HoldUntil.IsZero() {
		h := in.HoldUntil.UTC()
		holdUntil = &h
	}
	conversion := int32(in.Conversion)
	refs := make([]RewardRef, 0, len(plan))
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Queries.WithTx(tx)
		refs = refs[:0]
		for _, p := range plan {
			key := reward.IdempotencyKey(in.ReferralID, p.recipient, in.Conversion)
			row, err := q.RewardCreate(ctx, db.RewardCreateParams{
				WorkspaceID: ref.WorkspaceID, ReferralID: ref.ID, CampaignID: ref.CampaignID,
				MemberID: p.memberID, Recipient: p.recipient,
				Amount: p.amount.Numeric(), Currency: p.amount.Currency,
				IdempotencyKey: key, ConversionNumber: &conversion, HoldUntil: holdUntil,
			})
			if errors.Is(err, pgx.ErrNoRows) { // created by an earlier attempt
				row, err = q.RewardGetByIdempotencyKey(ctx, key)
				if err != nil {
					return fmt.Errorf("read existing reward %s: %w", key, err)
				}
				refs = append(refs, rewardRef(row))
				continue
			}
			if err != nil {
				return fmt.Errorf("create reward %s: %w", key, err)
			}
			if err := recordRewardEvent(ctx, q, row, referral.EventRewardCreated, "system", "reward_created:"+key, map[string]any{
				"amount": p.amount.String(), "currency": p.amount.Currency, "hold_until": holdUntil,
			}); err != nil {
				return err
			}
			refs = append(refs, rewardRef(row))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// IssueRewardResult says how an issued reward is announced.
type IssueRewardResult struct {
	RewardID string
	// EventID is the reward.issued webhook's Referflow-Event-Id, queued in
	// the outbox; "" when the campaign has no fulfilment URL.
	EventID string
}

// IssueReward issues a pending reward exactly once and queues its
// announcement with it.
//
// In one transaction it moves the reward pending → issued (the row locked, so
// a concurrent cancel waits and then finds it issued), appends the
// reward_issued event and, when the campaign has a fulfilment URL, puts the signed webhook reward.issued (event
// ID RewardIssuedEventID(rewardID)) in the outbox: the worker's dispatcher
// (internal/webhookdelivery) sends it once the transaction commits and
// retries it for up to 72 hours, so this activity never waits on the
// receiver. A retry finding the reward issued queues the announcement if it
// is not there yet (a reward issued before the outbox existed) and succeeds.
//
// A cancelled or failed reward is never issued (non-retryable
// RewardCancelled). A fulfilment URL the webhook policy refuses
// (WebhookPolicy.CheckURL) is a non-retryable InvalidFulfilmentURL before
// anything is issued; one whose host resolves to a refused address is
// refused by the dispatcher, recorded on the delivery's attempts. The hold period is the
// workflow's timer; this activity does not compare hold_until with the
// database clock.
func (a *Activities) IssueReward(ctx context.Context, rewardID string) (IssueRewardResult, error) {
	id, err := parseEntityID(rewardID, "reward")
	if err != nil {
		return IssueRewardResult{}, err
	}
	res := IssueRewardResult{RewardID: rewardID}
	err = pgx.BeginFunc(ctx, a.Pool, func(tx pgx.Tx) error {
		q := a.Queries.WithTx(tx)
		rw, err := lockReward(ctx, q, id)
		if err != nil {
			return err
		}
		camp, err := q.CampaignGetByID(ctx, rw.CampaignID)
		if err != nil {
			return fmt.Errorf("load campaign %s: %w", rw.CampaignID, err)
		}
		url := deref(camp.FulfilmentWebhookUrl)
		if url != "" {
			if err := a.WebhookPolicy.CheckURL(url); err != nil {
				return temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("campaign %s's fulfilment URL: %v", camp.ID, err), ErrTypeInvalidFulfilmentURL, err)
			}
		}
		switch reward.Status(rw.Status) {
		case reward.Issued:
			// Issued by an earlier attempt, which queued the announcement
			// (or, before the outbox, sent it): queue it if it is not there.
		case reward.Cancelled, reward.Failed:
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("reward %s is %s: it is never issued", rewardID, rw.Status),
				ErrTypeRewardCancelled, nil)
		default:
			if rw, err = q.RewardUpdateStatus(ctx, db.RewardUpdateStatusParams{
				ID: id, ExpectedStatus: string(reward.Pending), NewStatus: string(reward.Issued),
			}); err != nil { // the row is locked: no race can empty this
				return fmt.Errorf("issue reward %s: %w", rewardID, err)
			}
			webhook := "queued for the campaign's fulfilment URL"
			if url == "" {
				webhook = "none: the campaign has no fulfilment URL"
			}
			amount, _, _ := reward.FromNumeric(rw.Amount, rw.Currency)
			if err := recordRewardEvent(ctx, q, rw, referral.EventRewardIssued, "system", "reward_issued:"+rewardID, map[string]any{
				"amount": amount.String(), "currency": rw.Currency, "webhook": webhook,
			}); err != nil {
				return err
			}
		}
		if url == "" {
			return nil
		}
		ev, err := rewardIssuedEvent(ctx, q, rw)
		if err != nil {
			return err
		}
		if _, err := webhookdelivery.Enqueue(ctx, q, rw.WorkspaceID, rw.CampaignID, ev); err != nil {
			return err
		}
		res.EventID = ev.ID
		return nil
	})
	if err != nil {
		return IssueRewardResult{}, err
	}
	return res, nil
}

// RewardIssuedData is the "data" of a reward.issued webhook: what a
// fulfilment service needs to pay the reward to the right person.
type RewardIssuedData struct {
	RewardID   string `json:"reward_id"`
	Recipient  string `json:"recipient"` // member or friend
	Amount     string `json:"amount"`    // decimal string, two places
	Currency   string `json:"currency"`
	Conversion int    `json:"conversion"`
	IssuedAt   string `json:"issued_at"`
	CampaignID string `json:"campaign_id"`
	ReferralID string `json:"referral_id"`
	// Member is the referrer (for a friend reward too, for context).
	Member struct {
		ID           string  `json:"id"`
		Email        string  `json:"email"`
		FirstName    *string `json:"first_name"`
		LastName     *string `json:"last_name"`
		ReferralCode string  `json:"referral_code"`
		ExternalID   *string `json:"external_id"`
	} `json:"member"`
	// Friend is the referred lead: the recipient of a friend reward.
	Friend struct {
		Email     string  `json:"email"`
		FirstName *string `json:"first_name"`
		LastName  *string `json:"last_name"`
	} `json:"friend"`
}

// rewardIssuedEvent builds the announcement of an issued reward. Its ID and
// created_at (the issue time) are the same on every retry.
func rewardIssuedEvent(ctx context.Context, q *db.Queries, rw db.Reward) (outgoing.Event, error) {
	ref, err := q.ReferralGetByID(ctx, rw.ReferralID)
	if err != nil {
		return outgoing.Event{}, fmt.Errorf("load referral %s: %w", rw.ReferralID, err)
	}
	m, err := q.MemberGetByID(ctx, ref.MemberID)
	if err != nil {
		return outgoing.Event{}, fmt.Errorf("load member %s: %w", ref.MemberID, err)
	}
	amount, _, err := reward.FromNumeric(rw.Amount, rw.Currency)
	if err != nil {
		return outgoing.Event{}, fmt.Errorf("reward %s's amount: %w", rw.ID, err)
	}
	issuedAt := rw.UpdatedAt
	if rw.IssuedAt != nil {
		issuedAt = *rw.IssuedAt
	}
	issuedAt = issuedAt.UTC()
	d := RewardIssuedData{
		RewardID: rw.ID.String(), Recipient: rw.Recipient, Amount: amount.String(), Currency: rw.Currency,
		Conversion: int(rw.ConversionNumber), IssuedAt: issuedAt.Format(time.RFC3339Nano),
		CampaignID: rw.CampaignID.String(), ReferralID: rw.ReferralID.String(),
	}
	d.Member.ID, d.Member.Email, d.Member.FirstName, d.Member.LastName = m.ID.String(), m.Email, m.FirstName, m.LastName
	d.Member.ReferralCode, d.Member.ExternalID = m.ReferralCode, m.ExternalID
	d.Friend.Email, d.Friend.FirstName, d.Friend.LastName = ref.LeadEmail, ref.LeadFirstName, ref.LeadLastName
	return outgoing.Event{ID: RewardIssuedEventID(rw.ID.String()), Type: webhookdelivery.EventRewardIssued, CreatedAt: issuedAt, Data: d}, nil
}

// CancelRewardInput cancels a pending reward.
type CancelRewardInput struct {
	RewardID string
	// Reason is shown with the reward and in the audit trail, e.g. "the
	// deal left the winning stage during the hold".
	Reason string
	// Actor is "system" (the workflow) or "admin:<id>"; "" means system.
	Actor string
}

// CancelReward moves a pending (or failed) reward to cancelled, with its
// reward_cancelled event, in one transaction. Cancelling a cancelled reward
// succeeds and changes nothing. An issued reward cannot be cancelled: that is
// a non-retryable RewardAlreadyIssued error.
func (a *Activities) CancelReward(ctx context.Context, in CancelRewardInput) error {
	id, err := parseEntityID(in.RewardID, "reward")
	if err != nil {
		return err
	}
	if in.Reason == "" {
		return temporal.NewNonRetryableApplicationError("cancelling a reward needs a reason", "InvalidInput", nil)
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
		switch reward.Status(rw.Status) {
		case reward.Cancelled:
			return nil
		case reward.Issued:
			return temporal.NewNonRetryableApplicationError(
				"reward "+in.RewardID+" is already issued: an issued reward cannot be cancelled", ErrTypeRewardAlreadyIssued, nil)
		}
		from := rw.Status
		if rw, err = q.RewardUpdateStatus(ctx, db.RewardUpdateStatusParams{
			ID: id, ExpectedStatus: from, NewStatus: string(reward.Cancelled), Reason: &in.Reason,
		}); err != nil {
			return fmt.Errorf("cancel reward %s: %w", in.RewardID, err)
		}
		return recordRewardEvent(ctx, q, rw, referral.EventRewardCancelled, in.Actor, "reward_cancelled:"+in.RewardID,
			map[string]any{"reason": in.Reason, "from": from})
	})
}

// MarkRewardPaidInput records that an issued reward was paid out.
type MarkRewardPaidInput struct {
	RewardID string
	// Actor is "admin:<id>" or "system"; "" means system.
	Actor string
}

// MarkRewardPaid sets an issued reward's paid_at, with its reward_paid
// event, in one transaction. A reward already paid keeps its first paid_at
// and the call succeeds. A reward that is not issued is a non-retryable
// RewardNotIssued error.
func (a *Activities) MarkRewardPaid(ctx context.Context, in MarkRewardPaidInput) error {
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
		if reward.Status(rw.Status) != reward.Issued {
			return temporal.NewNonRetryableApplicationError(
				"reward "+in.RewardID+" is "+rw.Status+", not issued: only an issued reward can be marked paid", ErrTypeRewardNotIssued, nil)
		}
		if rw.PaidAt != nil {
			return nil
		}
		if rw, err = q.RewardMarkPaid(ctx, id); err != nil {
			return fmt.Errorf("mark reward %s paid: %w", in.RewardID, err)
		}
		return recordRewardEvent(ctx, q, rw, referral.EventRewardPaid, in.Actor, "reward_paid:"+in.RewardID, map[string]any{})
	})
}

// recordRewardEvent appends a reward's event to its referral's audit trail, once
// per key (an existing key is an earlier attempt's write: success).
// lockReward reads a reward and locks its row for the transaction; a reward
// that does not exist never will (non-retryable RewardNotFound).
func lockReward(ctx context.Context, q *db.Queries, id uuid.UUID) (db.Reward, error) {
	rw, err := q.RewardGetForUpdate(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return rw, temporal.NewNonRetryableApplicationError("reward "+id.String()+" does not exist", ErrTypeRewardNotFound, err)
	}
	if err != nil {
		return rw, fmt.Errorf("load reward %s: %w", id, err)
	}
	return rw, nil
}

func recordRewardEvent(ctx context.Context, q *db.Queries, rw db.Reward, kind referral.EventKind, actor, key string, details map[string]any) error {
	details["reward_id"] = rw.ID.String()
	details["recipient"] = rw.Recipient
	details["conversion"] = rw.ConversionNumber
	raw, err := json.Marshal(details)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("event details are not JSON", "InvalidInput", err)
	}
	_, err = q.ReferralEventInsert(ctx, db.ReferralEventInsertParams{
		ReferralID: rw.ReferralID, WorkspaceID: rw.WorkspaceID, Kind: string(kind), Actor: actor,
		Details: raw, IdempotencyKey: &key,
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("record %s event of reward %s: %w", kind, rw.ID, err)
	}
	return nil
}
