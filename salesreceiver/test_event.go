package salesreceiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
	"github.com/referflow/referflow/workflows"
)

// A test event is a HubSpot property change an admin makes up on a
// campaign's setup pages to see what the campaign's rules make of it
// (Referral Rock's test step). It goes the way a real one would — built as
// HubSpot's webhook event, parsed by the intake's parser, made the sales
// entry and then the hubspot-change signal routing makes of it, sent to the
// referrals holding its record as routing finds them — except that nothing
// is written and nothing is signalled: each referral's workflow is asked
// what the change would do (its preview-change query, the decision the
// signal executes). It leaves no trace but a log line with IDs.

// TestEvent is the change to try: a property of a HubSpot contact or deal
// changing to Value. The record is RecordID, or the record of that type
// held by ReferralID, a referral of the campaign.
type TestEvent struct {
	ObjectType hubspotobject.Type
	RecordID   int64
	ReferralID uuid.UUID
	Property   string
	Value      string
}

// TestEventObjects are the records a test event can be about: those the
// campaigns' status rules and property updates read.
var TestEventObjects = []hubspotobject.Type{hubspotobject.Deal, hubspotobject.Contact}

// TestEventError is a test event that cannot be tried: Field (object_type,
// record_id, referral_id, property, value) says which part, Problem what is
// wrong with it.
type TestEventError struct {
	Field, Problem string
}

func (e *TestEventError) Error() string { return e.Field + " " + e.Problem }

// TestEventResult is what the Sales Receiver and the referrals' workflows
// would do with a test event.
type TestEventResult struct {
	// Change is the hubspot-change signal the event becomes.
	Change workflows.HubSpotChange
	// Receiver says what the Sales Receiver would do with the event: send
	// it to referrals, start matching its record, or ignore it, and why.
	Receiver string
	// Notice says why real events would not arrive as tried ("" when they
	// would): the workspace is not connected to HubSpot.
	Notice string
	// Referrals are the campaign's referrals holding the record, with what
	// the change would do to each.
	Referrals []TestEventReferral
	// OtherCampaigns counts the referrals of the workspace's other
	// campaigns holding the record: they would get the change too.
	OtherCampaigns int
}

// TestEventReferral is what a test event would do to one referral:
// Preview, or Note when its workflow cannot answer (it has ended).
type TestEventReferral struct {
	ReferralID string
	Preview    *workflows.ChangePreview
	Note       string
}

// maxTestEventReferrals bounds the workflows one test event asks.
const maxTestEventReferrals = 20

// testEventSource is the changeSource of a test event's made-up webhook
// event.
const testEventSource = "REFERFLOW_TEST_EVENT"

// PreviewTestEvent tries a test event on a campaign of a workspace (see
// TestEvent): it writes nothing to sales_entries or referrals and signals
// nothing. A *TestEventError says what is wrong with the event; other errors
// are Postgres's or Temporal's.
func PreviewTestEvent(ctx context.Context, q *db.Queries, tc client.Client, logger *slog.Logger, workspaceID, campaignID uuid.UUID, te TestEvent) (TestEventResult, error) {
	var res TestEventResult
	if err := te.check(); err != nil {
		return res, err
	}
	if te.ReferralID != uuid.Nil {
		r, err := q.ReferralGetByID(ctx, te.ReferralID)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && (r.WorkspaceID != workspaceID || r.CampaignID != campaignID)) {
			return res, &TestEventError{"referral_id", "is not a referral of this campaign"}
		}
		if err != nil {
			return res, err
		}
		te.RecordID = hubspotobject.IDs{Contact: r.HubspotContactID, Deal: r.HubspotDealID, Company: r.HubspotCompanyID}.Of(te.ObjectType)
		if te.RecordID == 0 {
			return res, &TestEventError{"referral_id", fmt.Sprintf("names a referral that holds no HubSpot %s yet; give a record ID instead", te.ObjectType)}
		}
	}

	// The portal the events would come from; an unconnected workspace gets
	// none, and the event is tried under a stand-in portal.
	portalID := int64(1)
	conn, err := q.HubSpotConnectionGetByWorkspace(ctx, workspaceID)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || (err == nil && conn.DisconnectedAt != nil):
		res.Notice = "This workspace is not connected to HubSpot: real events would be recorded but sent nowhere until it is. Shown: what the rules would do once connected."
	case err != nil:
		return res, err
	default:
		portalID = conn.PortalID
	}

	ev, err := testEntry(te, portalID, workspaceID)
	if err != nil {
		return res, err
	}
	res.Change, _ = ev.entry.ChangeFor(ev.entry.Object())

	// Routing: a property no rule of the workspace reads is ignored; a
	// record no referral holds is matched; else the referrals holding it
	// get the change.
	rules, err := loadRules(ctx, q, logger, map[uuid.UUID]bool{workspaceID: true})
	if err != nil {
		return res, err
	}
	own := ev.entry.Object()
	if !rules.uses(workspaceID, own.Type, te.Property) {
		res.Receiver = "The Sales Receiver would ignore this event: " + noRuleReads(own.Type, te.Property) + " (no campaign of the workspace uses it)."
		logTestEvent(logger, workspaceID, campaignID, own, nil)
		return res, nil
	}
	it := &item{ev: ev}
	if err := resolve(ctx, q, []*item{it}); err != nil {
		return res, err
	}
	targets := targetsOf(it.refs, own)
	if len(targets) == 0 {
		res.Receiver = fmt.Sprintf("No referral holds %s: the Sales Receiver would start matching it (a campaign's matching rules may add a referral from HubSpot, or the entry waits in the review queue), as for any record referflow does not know yet.", own)
		logTestEvent(logger, workspaceID, campaignID, own, nil)
		return res, nil
	}
	var asked []string
	for _, t := range targets {
		if t.ref.CampaignID != campaignID {
			res.OtherCampaigns++
			continue
		}
		if len(res.Referrals) == maxTestEventReferrals {
			continue
		}
		id := t.ref.ID.String()
		asked = append(asked, id)
		r, err := previewOn(ctx, tc, id, res.Change)
		if err != nil {
			return res, err
		}
		res.Referrals = append(res.Referrals, r)
	}
	res.Receiver = fmt.Sprintf("The Sales Receiver would send the %s to the %d referral(s) holding %s.", describeChange(res.Change), len(targets), own)
	if len(res.Referrals) == 0 {
		res.Receiver += " None of them is a referral of this campaign."
	}
	logTestEvent(logger, workspaceID, campaignID, own, asked)
	return res, nil
}

func (te TestEvent) check() error {
	switch {
	case te.ObjectType != hubspotobject.Deal && te.ObjectType != hubspotobject.Contact:
		return &TestEventError{"object_type", `must be "deal" or "contact"`}
	case te.Property == "":
		return &TestEventError{"property", "is required: the HubSpot property that changes"}
	case te.RecordID < 0:
		return &TestEventError{"record_id", "must be a positive HubSpot record ID"}
	case te.RecordID == 0 && te.ReferralID == uuid.Nil:
		return &TestEventError{"record_id", "is required, or referral_id: the record whose property changes"}
	case te.RecordID != 0 && te.ReferralID != uuid.Nil:
		return &TestEventError{"referral_id", "cannot go with record_id: give one of them"}
	}
	return nil
}

// testEntry makes the sales entry a test event would be recorded as: the
// webhook event HubSpot would send, read by the intake's parser, made the
// entry Record stores and read back as routing reads it.
func testEntry(te TestEvent, portalID int64, workspaceID uuid.UUID) (event, error) {
	now := time.Now().UTC()
	body, err := json.Marshal([]map[string]any{{
		"eventId": now.UnixNano(), "portalId": portalID, "occurredAt": now.UnixMilli(), "attemptNumber": 0,
		"subscriptionType": string(te.ObjectType) + ".propertyChange", "objectId": te.RecordID,
		"propertyName": te.Property, "propertyValue": te.Value, "changeSource": testEventSource,
	}})
	if err != nil {
		return event{}, err
	}
	events, err := Parse(body)
	var pe *ParseError
	if errors.As(err, &pe) {
		field := map[string]string{"objectId": "record_id", "propertyName": "property", "propertyValue": "value"}[pe.Field]
		if field == "" {
			field = "property"
		}
		return event{}, &TestEventError{field, pe.Problem}
	}
	if err != nil {
		return event{}, err
	}
	row, _ := entryRowOf(events[0]) // a contact or a deal: never skipped
	return readEvent(db.SalesEntry{
		PortalID: row.PortalID, WorkspaceID: &workspaceID, DedupeKey: row.DedupeKey, EventID: row.EventID,
		SubscriptionType: row.SubscriptionType, ObjectType: string(row.ObjectType), ObjectID: row.ObjectID,
		PropertyName: row.PropertyName, PropertyValue: row.PropertyValue, OccurredAt: row.OccurredAt,
		ChangeSource: row.ChangeSource, Payload: row.Payload, Status: string(salesentry.Received),
	})
}

// previewOn asks a referral's workflow what the change would do. A
// workflow that is not running would not take the signal: the change would
// be recorded only. Only a failure to describe the workflow is an error.
func previewOn(ctx context.Context, tc client.Client, referralID string, change workflows.HubSpotChange) (TestEventReferral, error) {
	r := TestEventReferral{ReferralID: referralID}
	wfID := workflows.ReferralWorkflowID(referralID)
	ctx, cancel := context.WithTimeout(ctx, DefaultCallTimeout)
	defer cancel()
	desc, err := tc.DescribeWorkflowExecution(ctx, wfID, "")
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		r.Note = "its workflow has not started or is gone: the change would wait for it, or be recorded only"
		return r, nil
	case err != nil:
		return r, fmt.Errorf("describe %s: %w", wfID, err)
	case desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		r.Note = "its workflow has ended: the change would be recorded only"
		return r, nil
	}
	// A workflow that cannot answer (its worker is down, it has not
	// loaded its referral yet) is said so; the other referrals still are.
	var p workflows.ChangePreview
	v, err := tc.QueryWorkflow(ctx, wfID, "", workflows.QueryPreviewChange, change)
	if err == nil {
		err = v.Get(&p)
	}
	if err != nil {
		r.Note = "its workflow did not answer: " + temporalError(err, DefaultCallTimeout)
		return r, nil
	}
	r.Preview = &p
	return r, nil
}

// logTestEvent leaves the one trace a test event leaves: IDs only (the
// value may be personal data).
func logTestEvent(logger *slog.Logger, workspaceID, campaignID uuid.UUID, record hubspotobject.Ref, referralIDs []string) {
	logger.Info("sales receiver: test event previewed; nothing written or signalled",
		"workspace_id", workspaceID, "campaign_id", campaignID, "object_type", record.Type, "object_id", record.ID, "referral_ids", referralIDs)
}

// noRuleReads is why routing ignores a property change no rule reads.
func noRuleReads(object hubspotobject.Type, property string) string {
	return fmt.Sprintf("no rule reads %s.%s", object, property)
}
