// Package privacy erases one person's personal data from referflow's
// Postgres and exports it, for GDPR's rights of erasure and access and for
// HubSpot's contact.privacyDeletion.
//
// A person is an email in a workspace, under any spelling of the address
// (internal/referral.NormalizeEmail): the members with that email, in every
// campaign, and the referrals whose lead it is. Erase, the one erasure verb
// (run by the PrivacyErasureWorkflow's ErasePerson activity, whichever way
// the erasure was asked for), keeps every row — counts and reports do not
// change — and replaces their personal columns with placeholders (an email
// becomes erased-<row id>@erased.invalid, names and the like NULL); it then
// scrubs the person's email, names and phone out of the text and JSON of
// every other row that names them (sales entries, review entries, audit
// events, outgoing webhooks and their attempts, emails, CSV import rows and
// errors, sync failures, rewards' reasons), and drops their pending HubSpot
// writes. Erased members and referrals carry erased_at: nothing more about
// them is sent to HubSpot or emailed, and an erased member's referral link
// stops working. HubSpot record IDs stay (they point into the customer's
// CRM, where the person is erased separately; a later contact.deletion must
// still find its referrals).
//
// The person is recorded only as a subject hash: an HMAC of the normalized
// email under a key of the workspace, so an erasure's record and workflow ID
// never hold the email.
package privacy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/referral"
)

// Source is how an erasure was asked for (privacy_erasures.source).
type Source string

// The sources.
const (
	// SourceAdminAPI: an admin's POST /api/v1/privacy/erasures.
	SourceAdminAPI Source = "admin_api"
	// SourceHubSpot: HubSpot's contact.privacyDeletion webhook.
	SourceHubSpot Source = "hubspot_privacy_deletion"
)

// Sources lists them.
var Sources = []Source{SourceAdminAPI, SourceHubSpot}

// Status is where an erasure stands (privacy_erasures.status).
type Status string

// The statuses: requested, then completed; failed when it could not be
// started (Temporal unreachable), its email then forgotten unrun.
const (
	Requested Status = "requested"
	Completed Status = "completed"
	Failed    Status = "failed"
)

// Statuses lists them in lifecycle order.
var Statuses = []Status{Requested, Completed, Failed}

// Erased is what replaces a scrubbed email or name in text.
const Erased = "[erased]"

// SubjectHash names a person without their email: the first 16 bytes of
// HMAC-SHA256 of the normalized email under the workspace's key
// (workspaces.privacy_subject_key), in hex.
func SubjectHash(key []byte, email string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(referral.NormalizeEmail(email)))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// Request is an erasure asked for.
type Request struct {
	WorkspaceID uuid.UUID
	// Email is the person's address, in any spelling.
	Email  string
	Source Source
	// Actor is who asked: admin:<id>, hubspot:sales-entry:<id>.
	Actor string
	// SourceKey makes a request its source may repeat (a sales entry
	// routed again) record one erasure; "" for none.
	SourceKey string
}

// Record records an erasure requested, in the caller's transaction q,
// holding the email until the erasure runs: the caller then starts (or
// signals) the erasure's workflow, whose ID workflowID derives from the
// subject hash. pending is false when a repeated request (same SourceKey)
// finds an erasure that already ran: nothing is to be started.
func Record(ctx context.Context, q *db.Queries, req Request, workflowID func(subjectHash string) string) (erasure db.PrivacyErasure, pending bool, err error) {
	key, err := q.PrivacyErasureSubjectKey(ctx, req.WorkspaceID)
	if err != nil {
		return db.PrivacyErasure{}, false, fmt.Errorf("read the workspace's subject key: %w", err)
	}
	subject := SubjectHash(key, req.Email)
	var sourceKey *string
	if req.SourceKey != "" {
		k := req.SourceKey + ":" + subject
		sourceKey = &k
	}
	erasure, err = q.PrivacyErasureInsert(ctx, db.PrivacyErasureInsertParams{
		WorkspaceID: req.WorkspaceID, SubjectHash: subject, Source: string(req.Source), Actor: req.Actor,
		SourceKey: sourceKey, WorkflowID: workflowID(subject),
	})
	if err != nil {
		return db.PrivacyErasure{}, false, fmt.Errorf("record the erasure: %w", err)
	}
	if Status(erasure.Status) != Requested {
		return erasure, false, nil
	}
	if err := q.PrivacyErasureRequestInsert(ctx, db.PrivacyErasureRequestInsertParams{ErasureID: erasure.ID, Email: strings.TrimSpace(req.Email)}); err != nil {
		return db.PrivacyErasure{}, false, fmt.Errorf("hold the erasure's email: %w", err)
	}
	return erasure, true, nil
}

// Abandon records an erasure whose workflow could not be started as failed,
// and forgets its email.
func Abandon(ctx context.Context, q *db.Queries, erasureID uuid.UUID, reason string) error {
	if err := q.PrivacyErasureRequestDelete(ctx, erasureID); err != nil {
		return fmt.Errorf("forget the email of erasure %s: %w", erasureID, err)
	}
	if err := q.PrivacyErasureFail(ctx, db.PrivacyErasureFailParams{ID: erasureID, Error: &reason}); err != nil {
		return fmt.Errorf("record erasure %s failed: %w", erasureID, err)
	}
	return nil
}
