// Package activities does the side effects of referflow's workflows: every
// write to Postgres, every HubSpot call, matching, and the outgoing webhooks.
// Each activity is idempotent — by a database key, or by reading before it
// writes — because Temporal retries it until it succeeds, and a local
// activity may run again when its workflow task is retried.
//
// A file's name says the task queue its activities run on. Those on the
// HubSpot task queue, whose dispatch rate the Temporal server caps across
// all workers, are methods of HubSpot and live in hubspot_*.go:
// hubspot_setup.go (referflow's properties in a new portal),
// hubspot_leads.go (a lead to the CRM), hubspot_members.go (a member's
// counts), hubspot_matching.go (reading a sales entry's record),
// hubspot_decision_callbacks.go (telling HubSpot workflows a referral's
// decision). Every other
// file holds methods of Activities, on the workflow task queue — most run as
// local activities, in the worker that runs the workflow: referrals.go,
// referral_review.go, referral_hubspot_objects.go, fraud.go,
// property_updates.go, rewards.go (IssueReward runs locally first, then as
// a regular activity if that fails), sales_entries.go, sales_matching.go,
// review_notify.go, property_setup.go; csv_import.go (a CSV import's
// batches, regular activities heartbeating); member_emails.go (emails to
// members: QueueMemberEmail local, SendMemberEmail regular, one SMTP
// conversation each). No activity sends a webhook: the
// changes announced queue theirs in the outbox (internal/webhookdelivery),
// in their own transaction, and the worker's dispatcher sends them.
//
// Five functions are not activities but verbs every path shares:
// AddReferral (referral_add.go), the one way a referral is added, which the
// admin API calls too; AddMember (member_add.go), the one way a member is
// added, with AddMembers its batched form for CSV imports; EnrolContactIn
// (member_enrolment.go), the one way a HubSpot contact is enrolled (a
// campaign's enrol rules, the "Enrol as member" workflow action);
// CampaignSettings (campaigns.go), the one way a campaign row's settings
// are read; and SalesEntryOf (sales_entries.go), the
// one way a sales entry's row becomes a salesentry.Entry.
package activities

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/email"
	"github.com/referflow/referflow/internal/outgoing"
	"github.com/referflow/referflow/internal/personaldata"
)

// Activities holds what activities depend on. The worker registers one value;
// workflows refer to its methods through a nil pointer of this type.
type Activities struct {
	Pool    *pgxpool.Pool
	Queries *db.Queries
	// WebhookPolicy says where fulfilment webhooks may go (the worker's
	// REFERFLOW_WEBHOOK_ALLOW_HTTP and REFERFLOW_WEBHOOK_ALLOWED_NETWORKS);
	// the zero value allows https to public addresses only. IssueReward
	// refuses a URL it refuses; the outbox's dispatcher sends with it.
	WebhookPolicy outgoing.Policy
	// StartReferralWorkflow starts a referral's workflow (idempotently: one
	// already started is no error). The worker sets it (activities cannot
	// import workflows); a CSV import starts its referrals' workflows with
	// it, at its own pace.
	StartReferralWorkflow func(ctx context.Context, referralID string) error
	// Email sends the emails to members (member_emails.go); nil when
	// REFERFLOW_SMTP_URL is unset: then none is queued or sent.
	Email *email.Sender
	// EmailLinks makes the links those emails carry.
	EmailLinks EmailLinks
	// PersonalData holds the per-person keys of personal data in Temporal's
	// histories: erasing a person forgets their key. nil when the worker was
	// given no encryption key (tests that never erase anyone).
	PersonalData *personaldata.Keyring
}

// New builds the activities over a connection pool.
func New(pool *pgxpool.Pool) *Activities {
	return &Activities{Pool: pool, Queries: db.New(pool)}
}

func parseWorkspaceID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a workspace ID", s), "InvalidInput", err)
	}
	return id, nil
}

func parseID(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a referral ID", s), "InvalidInput", err)
	}
	return id, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func parseEntityID(s, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a %s ID", s, what), "InvalidInput", err)
	}
	return id, nil
}

func actorOr(actor string) string {
	if actor == "" {
		return "system"
	}
	return actor
}
