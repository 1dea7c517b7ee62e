package privacy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
)

// Export is one person's data in a workspace, as the right of access asks:
// their member records, the referrals whose lead they are (in full) and
// those they made as a member (without the leads' details, which are other
// people's), the rewards of both, the emails sent to them, the sales
// entries, review entries and outgoing webhooks that name them, and the
// audit events of their referrals. After an erasure it holds nothing: the
// erased rows no longer carry the email.
type Export struct {
	GeneratedAt         time.Time                     `json:"generated_at"`
	Members             []db.Member                   `json:"members"`
	ReferralsAsLead     []db.Referral                 `json:"referrals_as_lead"`
	ReferralsAsReferrer []db.ReferralListOfMembersRow `json:"referrals_as_referrer"`
	Rewards             []db.Reward                   `json:"rewards"`
	Emails              []db.Email                    `json:"emails"`
	SalesEntries        []db.SalesEntry               `json:"sales_entries"`
	ReviewEntries       []db.ReviewEntry              `json:"review_entries"`
	WebhookDeliveries   []ExportedDelivery            `json:"webhook_deliveries"`
	AuditEvents         []db.ReferralEvent            `json:"audit_events"`
}

// ExportedDelivery is an outgoing webhook that names the person: the body
// as the JSON it is.
type ExportedDelivery struct {
	ID          uuid.UUID       `json:"id"`
	CampaignID  uuid.UUID       `json:"campaign_id"`
	EventID     string          `json:"event_id"`
	EventType   string          `json:"event_type"`
	Status      string          `json:"status"`
	CreatedAt   time.Time       `json:"created_at"`
	DeliveredAt *time.Time      `json:"delivered_at"`
	Body        json.RawMessage `json:"body"`
}

// Empty tells whether the export found nothing of the person.
func (e Export) Empty() bool {
	return len(e.Members)+len(e.ReferralsAsLead)+len(e.ReferralsAsReferrer)+len(e.Rewards)+len(e.Emails)+
		len(e.SalesEntries)+len(e.ReviewEntries)+len(e.WebhookDeliveries)+len(e.AuditEvents) == 0
}

// ExportPerson reads the person with this email in the workspace.
func ExportPerson(ctx context.Context, q *db.Queries, workspaceID uuid.UUID, email string) (Export, error) {
	p, err := find(ctx, q, workspaceID, email)
	if err != nil {
		return Export{}, err
	}
	out := Export{GeneratedAt: time.Now().UTC(), Members: p.members, ReferralsAsLead: p.referrals}
	memberIDs, referralIDs := p.memberIDs(), p.referralIDs()
	if out.ReferralsAsReferrer, err = q.ReferralListOfMembers(ctx, memberIDs); err != nil {
		return Export{}, fmt.Errorf("export the person's referrals as referrer: %w", err)
	}
	if out.Rewards, err = q.RewardListOfPerson(ctx, db.RewardListOfPersonParams{ReferralIds: referralIDs, MemberIds: memberIDs}); err != nil {
		return Export{}, fmt.Errorf("export the person's rewards: %w", err)
	}
	if out.Emails, err = q.EmailListOfMembers(ctx, memberIDs); err != nil {
		return Export{}, fmt.Errorf("export the emails to the person: %w", err)
	}
	if out.SalesEntries, err = q.SalesEntryListOfPerson(ctx, db.SalesEntryListOfPersonParams{WorkspaceID: &workspaceID,
		ContactIds: p.contactIDs, ReferralIds: referralIDs, MemberIds: memberIDs, Patterns: p.patterns}); err != nil {
		return Export{}, fmt.Errorf("export the sales entries naming the person: %w", err)
	}
	if out.ReviewEntries, err = q.ReviewEntryListOfPerson(ctx, db.ReviewEntryListOfPersonParams{WorkspaceID: workspaceID,
		ReferralIds: referralIDs, ContactIds: p.contactIDs, Patterns: p.patterns}); err != nil {
		return Export{}, fmt.Errorf("export the review entries naming the person: %w", err)
	}
	deliveries, err := q.WebhookDeliveryListOfPerson(ctx, db.WebhookDeliveryListOfPersonParams{WorkspaceID: workspaceID, Patterns: p.idPatterns})
	if err != nil {
		return Export{}, fmt.Errorf("export the webhooks naming the person: %w", err)
	}
	for _, d := range deliveries {
		body := json.RawMessage(d.Body)
		if !json.Valid(body) {
			body, _ = json.Marshal(string(d.Body))
		}
		out.WebhookDeliveries = append(out.WebhookDeliveries, ExportedDelivery{ID: d.ID, CampaignID: d.CampaignID, EventID: d.EventID,
			EventType: d.EventType, Status: d.Status, CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt, Body: body})
	}
	if out.AuditEvents, err = q.ReferralEventListOfReferrals(ctx, referralIDs); err != nil {
		return Export{}, fmt.Errorf("export the audit events of the person's referrals: %w", err)
	}
	out.fill()
	return out, nil
}

// fill makes every list a list, empty rather than null.
func (e *Export) fill() {
	if e.Members == nil {
		e.Members = []db.Member{}
	}
	if e.ReferralsAsLead == nil {
		e.ReferralsAsLead = []db.Referral{}
	}
	if e.ReferralsAsReferrer == nil {
		e.ReferralsAsReferrer = []db.ReferralListOfMembersRow{}
	}
	if e.Rewards == nil {
		e.Rewards = []db.Reward{}
	}
	if e.Emails == nil {
		e.Emails = []db.Email{}
	}
	if e.SalesEntries == nil {
		e.SalesEntries = []db.SalesEntry{}
	}
	if e.ReviewEntries == nil {
		e.ReviewEntries = []db.ReviewEntry{}
	}
	if e.WebhookDeliveries == nil {
		e.WebhookDeliveries = []ExportedDelivery{}
	}
	if e.AuditEvents == nil {
		e.AuditEvents = []db.ReferralEvent{}
	}
}
