package salesreceiver

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/privacy"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/salesentry"
	"github.com/referflow/referflow/workflows"
)

// erase routes HubSpot's privacy deletion of a contact: every person the
// contact is in the workspace — members and referral leads holding its ID,
// by email — is erased (internal/privacy), each through their erasure
// workflow. The erasures are recorded under the entry's ID, so an entry
// routed again asks for none twice. The entry's actions name the erasures,
// never the emails.
func (d *Dispatcher) erase(ctx context.Context, b *batch, it *item) {
	entry := it.ev.entry
	if entry.ObjectType != hubspotobject.Contact {
		d.ignore(it, fmt.Sprintf("%s events are not used: HubSpot deletes contacts only for privacy", it.ev.row.SubscriptionType))
		return
	}
	if reason := b.down(); reason != "" {
		d.deferOutcome(it, "Temporal unreachable (not tried: "+reason+")")
		return
	}
	ws, err := uuid.Parse(entry.WorkspaceID)
	if err != nil {
		d.ignore(it, "no workspace is connected to the portal: nothing to erase")
		return
	}
	q := db.New(d.Pool)
	members, err := q.MemberEmailsOfHubSpotContact(ctx, db.MemberEmailsOfHubSpotContactParams{WorkspaceID: ws, HubspotContactID: &entry.ObjectID})
	if err != nil {
		d.deferOutcome(it, "find the contact's members: "+err.Error())
		return
	}
	leads, err := q.ReferralLeadEmailsOfHubSpotContact(ctx, db.ReferralLeadEmailsOfHubSpotContactParams{WorkspaceID: ws, HubspotContactID: &entry.ObjectID})
	if err != nil {
		d.deferOutcome(it, "find the contact's referrals: "+err.Error())
		return
	}
	var people []string
	seen := map[string]bool{}
	for _, e := range slices.Concat(members, leads) {
		if n := referral.NormalizeEmail(e); !seen[n] {
			seen[n] = true
			people = append(people, e)
		}
	}
	if len(people) == 0 {
		d.ignore(it, fmt.Sprintf("%s is no member or lead here (or was erased already): nothing to erase", entry.Object()))
		return
	}
	out := &outcome{id: it.ev.row.ID, status: salesentry.Processed}
	entryID := strconv.FormatInt(it.ev.row.ID, 10)
	for _, email := range people {
		erasure, pending, err := d.recordErasure(ctx, ws, email, entryID)
		if err != nil {
			d.deferOutcome(it, err.Error())
			return
		}
		if pending {
			callCtx, cancel := context.WithTimeout(ctx, d.CallTimeout)
			err = workflows.StartPrivacyErasure(callCtx, d.Temporal, d.TaskQueue, ws.String(), erasure.SubjectHash, erasure.ID.String())
			cancel()
			if err != nil {
				reason := temporalError(err, d.CallTimeout)
				if outage(err) {
					b.markDown(reason)
				}
				d.deferOutcome(it, reason)
				return
			}
		}
		out.act(salesentry.StepErasureRequested, fmt.Sprintf("HubSpot deleted %s for privacy: erasing a person it is (erasure %s)", entry.Object(), erasure.ID),
			map[string]any{"erasure_id": erasure.ID.String(), "workflow_id": erasure.WorkflowID})
	}
	*it.out = *out
}

// recordErasure records the erasure of one person the entry names.
func (d *Dispatcher) recordErasure(ctx context.Context, ws uuid.UUID, email, entryID string) (db.PrivacyErasure, bool, error) {
	tx, err := d.Pool.Begin(ctx)
	if err != nil {
		return db.PrivacyErasure{}, false, fmt.Errorf("record an erasure: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	erasure, pending, err := privacy.Record(ctx, db.New(tx), privacy.Request{
		WorkspaceID: ws, Email: email, Source: privacy.SourceHubSpot,
		Actor: "hubspot:sales-entry:" + entryID, SourceKey: "sales-entry:" + entryID,
	}, workflows.PrivacyErasureWorkflowID)
	if err != nil {
		return db.PrivacyErasure{}, false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return db.PrivacyErasure{}, false, fmt.Errorf("record an erasure: %w", err)
	}
	return erasure, pending, nil
}
