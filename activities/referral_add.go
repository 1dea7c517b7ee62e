package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
)

// Lead is the referred person: as an admin, a form or a HubSpot record
// gives it.
type Lead struct {
	Email     string `json:",omitempty"`
	FirstName string `json:",omitempty"`
	LastName  string `json:",omitempty"`
	Company   string `json:",omitempty"`
	Phone     string `json:",omitempty"`
}

// NewReferral is a referral to add: who referred whom, and how it came in.
type NewReferral struct {
	// Member is the member who referred; the referral joins their campaign
	// and workspace.
	Member db.Member
	// Lead is the referred person; the email is required.
	Lead       Lead
	ExternalID *string
	// Source is the way in, recorded with the added event; its Column is
	// stored on the referral.
	Source referral.Source
	// HubSpot are the records the lead already has in HubSpot (a referral
	// added from HubSpot holds the record it was added for).
	HubSpot hubspotobject.IDs
	// Actor added it, for the audit trail: "admin:<id>", "system".
	Actor string
	// Note is what the member wrote about the lead (hosted form, portal).
	Note string
	// VisitorHash is the keyed hash of the IP address and user agent of the
	// public request that added the referral (nil otherwise): the fraud
	// checks count referrals per visitor.
	VisitorHash []byte
	// SalesEntryID is the sales entry the referral was added for, if any;
	// Details are added to the event's (source, and how it was matched).
	SalesEntryID int64
	Details      map[string]any
}

// DuplicateLeadError says the campaign already has a referral of the lead
// (the same email in any case): nothing was added.
type DuplicateLeadError struct {
	Existing db.Referral
}

func (e *DuplicateLeadError) Error() string {
	return fmt.Sprintf("campaign %s already has this lead as referral %s", e.Existing.CampaignID, e.Existing.ID)
}

// AddReferral is the one way a referral is added, whatever the way in (the
// admin API, a HubSpot matching rule or review decision, and the forms and
// imports): in one transaction it inserts the referral, writes its
// added event with its source, and counts it on the member (countReferralChange).
// It returns the referral; starting its workflow
// (workflows.StartReferralWorkflow, or a child of the workflow that added it)
// is the caller's next step.
//
// Only an active campaign takes referrals: for a draft, paused or archived
// one it returns a *campaign.NotActiveError saying why, and nothing is
// written. The campaign's row is held (CampaignLockStatus) while the referral
// is inserted, so a referral never lands in a campaign paused meanwhile.
//
// A lead the campaign already has is a *DuplicateLeadError naming that
// referral, and nothing is written, whatever the campaign's status: so a
// retried addition stays idempotent after the campaign is paused.
func AddReferral(ctx context.Context, pool *pgxpool.Pool, in NewReferral) (db.Referral, error) {
	email := strings.TrimSpace(in.Lead.Email)
	if email == "" {
		return db.Referral{}, errors.New("a referral needs the lead's email")
	}
	details := map[string]any{}
	for k, v := range in.Details {
		details[k] = v
	}
	details["source"] = in.Source
	rawDetails, err := json.Marshal(details)
	if err != nil {
		return db.Referral{}, fmt.Errorf("encode the added event's details: %w", err)
	}
	m := in.Member
	var added db.Referral
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := CheckCampaignTakesNew(ctx, q, m.CampaignID); err != nil {
			// A retry of an addition that succeeded before the campaign left
			// active is answered with that referral, as any repeat is.
			if existing, gerr := q.ReferralGetByLeadEmail(ctx, db.ReferralGetByLeadEmailParams{CampaignID: m.CampaignID, LeadEmail: email}); gerr == nil {
				return &DuplicateLeadError{Existing: existing}
			}
			return err
		}
		row, err := q.ReferralInsert(ctx, db.ReferralInsertParams{
			WorkspaceID: m.WorkspaceID, CampaignID: m.CampaignID, MemberID: m.ID,
			LeadEmail: email, LeadEmailNormalized: referral.NormalizeEmail(email),
			LeadFirstName: optional(in.Lead.FirstName), LeadLastName: optional(in.Lead.LastName), LeadCompany: optional(in.Lead.Company),
			LeadPhone: optional(in.Lead.Phone), Note: optional(in.Note),
			Source: in.Source.Column(), ExternalID: in.ExternalID, VisitorHash: in.VisitorHash,
			HubspotContactID: in.HubSpot.Contact, HubspotDealID: in.HubSpot.Deal, HubspotCompanyID: in.HubSpot.Company,
		})
		if err != nil {
			return err
		}
		key := string(referral.EventAdded) + ":" + row.ID.String()
		p := db.ReferralEventInsertParams{
			ReferralID: row.ID, WorkspaceID: row.WorkspaceID, Kind: string(referral.EventAdded), Actor: actorOr(in.Actor),
			Details: rawDetails, IdempotencyKey: &key,
		}
		if in.SalesEntryID != 0 {
			p.SalesEntryID = &in.SalesEntryID
		}
		if _, err := q.ReferralEventInsert(ctx, p); err != nil {
			return fmt.Errorf("record referral %s added: %w", row.ID, err)
		}
		if err := countReferralChange(ctx, q, m.ID, "", referral.Status(row.Status)); err != nil {
			return err
		}
		added = row
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		existing, gerr := db.New(pool).ReferralGetByLeadEmail(ctx, db.ReferralGetByLeadEmailParams{CampaignID: m.CampaignID, LeadEmail: email})
		if gerr != nil {
			return db.Referral{}, fmt.Errorf("find the referral a duplicate lead collides with: %w", gerr)
		}
		return db.Referral{}, &DuplicateLeadError{Existing: existing}
	}
	if err != nil {
		return db.Referral{}, fmt.Errorf("add a referral of member %s: %w", m.ID, err)
	}
	return added, nil
}

// CheckCampaignTakesNew holds the campaign's row for the rest of the
// transaction q runs in and returns a *campaign.NotActiveError unless it is
// active: what every way of adding a member or a referral calls before
// writing it.
func CheckCampaignTakesNew(ctx context.Context, q *db.Queries, campaignID uuid.UUID) error {
	status, err := q.CampaignLockStatus(ctx, campaignID)
	if err != nil {
		return fmt.Errorf("read the status of campaign %s: %w", campaignID, err)
	}
	return campaign.CheckTakesNew(campaign.Status(status))
}

func optional(s string) *string {
	if s = strings.TrimSpace(s); s == "" {
		return nil
	}
	return &s
}
