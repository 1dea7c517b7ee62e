package workflows

import (
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
)

// enrolVersion marks the sales entry workflows that enrol members: runs
// started before it (replayed from older histories) skip the step.
const enrolVersion = "enrol-members"

// enrol makes the entry's contact a member of every active campaign whose
// process_rules.enrol_members the event meets (activities.EnrolContact), on
// a contact's creation, a change of its lifecyclestage or its addition to a
// list (from the webhooks journal), before matching: a new contact may be
// both a member and a referral's lead. What it did is recorded in the
// entry's actions.
func (w *salesEntryWorkflow) enrol(ctx workflow.Context) error {
	created := w.entry.Kind() == salesentry.Creation
	stageChanged := w.entry.Kind() == salesentry.PropertyChange && w.entry.PropertyName == campaign.LifecycleStageProperty
	addedToList := w.entry.Kind() == salesentry.AddedToList
	if w.entry.ObjectType != hubspotobject.Contact || !(created || stageChanged || addedToList) {
		return nil
	}
	if workflow.GetVersion(ctx, enrolVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)
	var got []activities.Enrolment
	if err := workflow.ExecuteLocalActivity(dbctx, acts.EnrolContact, activities.EnrolInput{
		WorkspaceID: w.entry.WorkspaceID, Contact: w.object, Created: created, AddedToList: w.entry.ListID,
	}).Get(ctx, &got); err != nil {
		return err
	}
	if len(got) == 0 {
		return nil
	}
	w.enrolled = got
	if err := w.record(ctx, salesentry.StepEnrolled, describeEnrolments(got), "system", map[string]any{"enrolments": got}); err != nil {
		return err
	}
	w.startMemberWorkflows(ctx)
	return nil
}

// startMemberWorkflows starts the workflow (member/<id>) of each member who
// joined, at once rather than at the reconciler's next pass, as the admin
// API does: it writes the member's code and link to their contact. The
// workflow outlives the entry (abandoned on close). One that cannot start
// is left to the reconciler, which starts every member's that never ran.
func (w *salesEntryWorkflow) startMemberWorkflows(ctx workflow.Context) {
	for _, e := range w.enrolled {
		if !e.Joined {
			continue
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            MemberWorkflowID(e.MemberID),
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			StaticSummary:         "Member " + e.MemberID,
		})
		child := workflow.ExecuteChildWorkflow(cctx, MemberWorkflow, MemberInput{MemberID: e.MemberID, HubSpotTaskQueue: w.in.HubSpotTaskQueue})
		if err := child.GetChildWorkflowExecution().Get(ctx, nil); err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			workflow.GetLogger(ctx).Warn("member's workflow not started; the reconciler will", "member_id", e.MemberID, "error", err.Error())
		}
	}
}

// describeEnrolments says what enrolling did, campaign by campaign (IDs
// only: the entry's actions are shown to admins and logged).
func describeEnrolments(es []activities.Enrolment) string {
	parts := make([]string, 0, len(es))
	for _, e := range es {
		switch {
		case e.NotEnrolled != "":
			parts = append(parts, fmt.Sprintf("campaign %s: not enrolled: %s", e.CampaignID, e.NotEnrolled))
		case e.Joined:
			parts = append(parts, fmt.Sprintf("campaign %s: joined as member %s", e.CampaignID, e.MemberID))
		default:
			parts = append(parts, fmt.Sprintf("campaign %s: already member %s", e.CampaignID, e.MemberID))
		}
	}
	return "enrolment: " + strings.Join(parts, "; ")
}

// listEntryDone closes an entry of a contact added to a list: enrolling is
// all such an entry is for (the contact is no lead because it joined a
// list), so it is not matched to referrals. It is processed when a campaign
// enrolled the contact, ignored when none enrols on that list (a campaign
// that stopped since the journal subscription was made).
func (w *salesEntryWorkflow) listEntryDone(ctx workflow.Context) error {
	if len(w.enrolled) > 0 {
		return w.enrolledOnly(ctx)
	}
	return w.ignore(ctx, fmt.Sprintf("no active campaign enrols contacts added to list %s", w.entry.ListID))
}

// enrolledOnly closes an entry that enrolled its contact and matched no
// referral: processed, since what HubSpot said was acted on, rather than
// ignored.
func (w *salesEntryWorkflow) enrolledOnly(ctx workflow.Context) error {
	e := w.enrolled[0]
	for _, x := range w.enrolled {
		if x.MemberID != "" {
			e = x
			break
		}
	}
	detail := describeEnrolments(w.enrolled) + "; no referral matches"
	w.campaignID = e.CampaignID
	if err := w.recordStep(ctx, activities.SalesEntryStep{
		Status: salesentry.Processed, CampaignID: e.CampaignID, MemberID: e.MemberID,
	}, salesentry.StepProcessed, detail, "system", map[string]any{"enrolments": w.enrolled}); err != nil {
		return err
	}
	w.state.Status, w.state.Reason = salesentry.Processed, detail
	w.publish(ctx)
	return nil
}
