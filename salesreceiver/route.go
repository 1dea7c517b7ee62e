package salesreceiver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
	"github.com/referflow/referflow/workflows"
)

// batch is what the routes of one batch share: once a Temporal call failed
// because Temporal is unavailable, the batch's other entries do not each
// wait CallTimeout for the same outage; they are deferred at once.
type batch struct {
	mu           sync.Mutex
	temporalDown string
}

func (b *batch) down() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.temporalDown
}

func (b *batch) markDown(reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.temporalDown == "" {
		b.temporalDown = reason
	}
}

// route decides one entry whose referrals are resolved and records the
// outcome in it.out.
func (d *Dispatcher) route(ctx context.Context, b *batch, it *item) {
	ev := it.ev
	own := ev.entry.Object()
	switch ev.entry.Kind() {
	case salesentry.Creation:
		if refs := distinct(it.refs[own]); len(refs) > 0 {
			d.alreadyLinked(it, refs)
			return
		}
		d.startMatching(ctx, b, it)
	case salesentry.PropertyChange:
		if refs := it.refs[own]; len(refs) > 0 {
			d.signal(ctx, b, it, targetsOf(it.refs, own))
			return
		}
		d.startMatching(ctx, b, it)
	case salesentry.Deletion:
		if len(it.refs[own]) > 0 {
			d.signal(ctx, b, it, targetsOf(it.refs, own))
			return
		}
		d.ignore(it, fmt.Sprintf("%s is not linked to any referral: its deletion is recorded only", own))
	case salesentry.Merge:
		if targets := targetsOf(it.refs, ev.merged()...); len(targets) > 0 {
			d.signal(ctx, b, it, targets)
			return
		}
		if refs := distinct(it.refs[ev.survivor()]); len(refs) > 0 {
			d.alreadyLinked(it, refs)
			return
		}
		d.ignore(it, fmt.Sprintf("no referral holds %s %s: the merge is recorded only", own.Type, joinIDs(append(slices.Clone(ev.entry.MergedObjectIDs), ev.entry.SurvivingObjectID))))
	case salesentry.AssociationChange:
		from, to := ev.entry.AssociationFrom, ev.entry.AssociationTo
		if !from.Type.Known() || !to.Type.Known() {
			d.ignore(it, fmt.Sprintf("association %s→%s of %s %d and %d is not used: referrals link contacts, deals and companies",
				from.Type, to.Type, ev.row.ObjectType, from.ID, to.ID))
			return
		}
		if targets := targetsOf(it.refs, from, to); len(targets) > 0 {
			d.signal(ctx, b, it, targets)
			return
		}
		d.ignore(it, fmt.Sprintf("neither %s nor %s is linked to a referral", from, to))
	case salesentry.AddedToList:
		// Enrolling is the sales-entry workflow's (it reads the contact):
		// started whether or not referrals hold the contact.
		d.startMatching(ctx, b, it)
	case salesentry.PrivacyDeletion:
		d.erase(ctx, b, it)
	case salesentry.RemovedFromList:
		d.ignore(it, fmt.Sprintf("%s left list %s: a member stays a member when removed from a list; the removal is recorded only", own, ev.entry.ListID))
	default:
		d.ignore(it, fmt.Sprintf("%s events are not used", ev.row.SubscriptionType))
	}
}

// target is a referral to signal and the object of the entry it holds.
type target struct {
	ref  referralRef
	held hubspotobject.Ref
}

// targetsOf lists the referrals holding any of objs, each once (through the
// first object that found it).
func targetsOf(refs map[hubspotobject.Ref][]referralRef, objs ...hubspotobject.Ref) []target {
	seen := map[uuid.UUID]bool{}
	var out []target
	for _, obj := range objs {
		for _, r := range refs[obj] {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, target{r, obj})
			}
		}
	}
	return out
}

func distinct(refs []referralRef) []referralRef {
	seen := map[uuid.UUID]bool{}
	var out []referralRef
	for _, r := range refs {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out
}

func (d *Dispatcher) ignore(it *item, why string) {
	it.out.status = salesentry.Ignored
	it.out.act(salesentry.StepIgnored, why, nil)
}

// alreadyLinked: a creation (or a merge keeping the record) of an object
// referrals already hold needs nothing sent.
func (d *Dispatcher) alreadyLinked(it *item, refs []referralRef) {
	it.out.status = salesentry.Processed
	it.out.referralID, it.out.campaignID = &refs[0].ID, &refs[0].CampaignID
	for _, r := range refs {
		it.out.act(salesentry.StepAlreadyLinked, "already linked to referral "+r.ID.String(), map[string]any{"referral_id": r.ID.String()})
	}
}

// signal sends the entry's change to each referral's workflow. A workflow
// that has ended cannot take it; the entry is processed all the same, the
// change recorded only. Any other failure defers the whole entry: the
// signals already sent are sent again on the next attempt, which the
// referral workflow drops by the change's dedupe key.
func (d *Dispatcher) signal(ctx context.Context, b *batch, it *item, targets []target) {
	if reason := b.down(); reason != "" {
		d.deferOutcome(it, "Temporal unreachable (not tried: "+reason+")")
		return
	}
	out := &outcome{id: it.ev.row.ID, status: salesentry.Processed}
	for _, t := range targets {
		change, _ := it.ev.entry.ChangeFor(t.held)
		id := t.ref.ID.String()
		wfID := workflows.ReferralWorkflowID(id)
		callCtx, cancel := context.WithTimeout(ctx, d.CallTimeout)
		err := d.Temporal.SignalWorkflow(callCtx, wfID, "", workflows.SignalHubSpotChange, change)
		cancel()
		var notFound *serviceerror.NotFound
		switch {
		case err == nil:
			out.act(salesentry.StepSignalled, fmt.Sprintf("sent the %s to referral %s", describeChange(change), id),
				map[string]any{"referral_id": id, "workflow_id": wfID, "signal": workflows.SignalHubSpotChange, "change": change})
		case errors.As(err, &notFound):
			if wait := d.notStartedYet(ctx, t.ref, wfID); wait != "" {
				d.deferOutcome(it, wait)
				return
			}
			out.act(salesentry.StepWorkflowEnded, fmt.Sprintf("referral %s's workflow has ended; change recorded only", id),
				map[string]any{"referral_id": id, "workflow_id": wfID})
		default:
			reason := fmt.Sprintf("signal %s: %s", wfID, temporalError(err, d.CallTimeout))
			if outage(err) {
				b.markDown(reason)
			}
			d.deferOutcome(it, reason)
			return
		}
		if out.referralID == nil {
			out.referralID, out.campaignID, out.workflowID = &t.ref.ID, &t.ref.CampaignID, wfID
		}
	}
	*it.out = *out
}

// StartGrace is how long after a referral is added a missing workflow is
// taken to be starting (the sales-entry workflow links the object, then
// starts the referral's workflow) rather than gone: a change for it waits.
const StartGrace = 10 * time.Minute

// notStartedYet tells, when a referral's workflow would not take a signal,
// whether the workflow has yet to start — then the entry waits for it and
// the reason is returned — or has ended ("").
func (d *Dispatcher) notStartedYet(ctx context.Context, ref referralRef, wfID string) string {
	callCtx, cancel := context.WithTimeout(ctx, d.CallTimeout)
	defer cancel()
	desc, err := d.Temporal.DescribeWorkflowExecution(callCtx, wfID, "")
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		if desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return fmt.Sprintf("%s started while it was being signalled; signal again", wfID)
		}
		return ""
	case errors.As(err, &notFound):
		if time.Since(ref.CreatedAt) < StartGrace {
			return fmt.Sprintf("%s has not started yet (the referral was added %s ago)", wfID, time.Since(ref.CreatedAt).Round(time.Second))
		}
		return "" // long gone: past the namespace's retention
	default:
		return fmt.Sprintf("describe %s: %s", wfID, temporalError(err, d.CallTimeout))
	}
}

// startMatching starts the entry's sales-entry workflow, which matches the
// unknown object (and may hold the entry in review). The workflow ID is
// derived from the entry, so a start repeated after a lost answer or a
// failed write finds the first one.
func (d *Dispatcher) startMatching(ctx context.Context, b *batch, it *item) {
	if reason := b.down(); reason != "" {
		d.deferOutcome(it, "Temporal unreachable (not tried: "+reason+")")
		return
	}
	id := it.ev.row.ID
	wfID := workflows.SalesEntryWorkflowID(id)
	callCtx, cancel := context.WithTimeout(ctx, d.CallTimeout)
	defer cancel()
	input := workflows.SalesEntryInput{SalesEntryID: id, HubSpotTaskQueue: d.HubSpotTaskQueue}
	_, err := d.Temporal.ExecuteWorkflow(callCtx, client.StartWorkflowOptions{
		ID:                       wfID,
		TaskQueue:                d.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		StaticSummary:            fmt.Sprintf("Sales entry %d: %s %d", id, it.ev.row.SubscriptionType, it.ev.row.ObjectID),
	}, workflows.SalesEntryWorkflowType, input)
	if err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		reason := fmt.Sprintf("start %s: %s", wfID, temporalError(err, d.CallTimeout))
		if outage(err) {
			b.markDown(reason)
		}
		d.deferOutcome(it, reason)
		return
	}
	*it.out = outcome{id: id, status: salesentry.Matching, workflowID: wfID}
	it.out.act(salesentry.StepMatchingStarted, fmt.Sprintf("%s is not linked to any referral: matching it", it.ev.entry.Object()),
		map[string]any{"workflow_id": wfID, "input": input})
}

// outage tells whether a failed call says Temporal itself is unavailable
// (so the batch's other calls would fail the same way) rather than refusing
// this one call.
func outage(err error) bool {
	var unavailable *serviceerror.Unavailable
	var exhausted *serviceerror.ResourceExhausted
	var deadline *serviceerror.DeadlineExceeded
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &unavailable) || errors.As(err, &exhausted) || errors.As(err, &deadline)
}

// temporalError says why a Temporal call failed; a deadline means the
// server did not answer (the SDK retries an unreachable one until then).
func temporalError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("Temporal did not answer within %s: %v", timeout, err)
	}
	return err.Error()
}

func describeChange(c workflows.HubSpotChange) string {
	switch c.Kind {
	case salesentry.ChangeProperty:
		return fmt.Sprintf("change of %s %d %s", c.ObjectType, c.ObjectID, c.Property)
	case salesentry.ChangeDeletion:
		return fmt.Sprintf("deletion of %s %d", c.ObjectType, c.ObjectID)
	case salesentry.ChangeMerge:
		return fmt.Sprintf("merge of %s %d into %d", c.ObjectType, c.ObjectID, c.SurvivingObjectID)
	case salesentry.ChangeAssociation:
		verb := "association"
		if c.AssociationRemoved {
			verb = "removed association"
		}
		return fmt.Sprintf("%s of %s %d with %s %d", verb, c.ObjectType, c.ObjectID, c.ToObjectType, c.ToObjectID)
	}
	return "change"
}

func joinIDs(ids []int64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, ", ")
}

// maxLoggedIDs bounds the sales entry IDs one log line lists.
const maxLoggedIDs = 20

// logBatch logs what a batch did, by IDs and counts only: entries carry
// personal data. The entries put off are named (the first maxLoggedIDs). Entries that failed ErrorAfterAttempts times or more are
// logged one by one at error level.
func (d *Dispatcher) logBatch(rows []db.SalesEntry, outcomes []outcome, took time.Duration) {
	counts := map[string]int{}
	firstError := ""
	var deferredIDs []int64
	for i, o := range outcomes {
		if !o.deferred {
			counts[string(o.status)]++
			continue
		}
		counts["deferred"]++
		if len(deferredIDs) < maxLoggedIDs {
			deferredIDs = append(deferredIDs, o.id)
		}
		if firstError == "" {
			firstError = o.err
		}
		if attempts := int(rows[i].DispatchAttempts) + 1; o.attempted && attempts >= ErrorAfterAttempts {
			d.Logger.Error("sales receiver: an entry still cannot be routed; it keeps being retried",
				"sales_entry_id", o.id, "attempts", attempts, "error", o.err, "retry_in", o.delay)
		}
	}
	args := []any{"entries", len(rows), "took", took}
	for _, s := range []string{string(salesentry.Processed), string(salesentry.Matching), string(salesentry.Ignored), string(salesentry.Failed), "deferred"} {
		if counts[s] > 0 {
			args = append(args, s, counts[s])
		}
	}
	if firstError != "" {
		d.Logger.Warn("sales receiver: some entries could not be routed and will be retried", append(args, "sales_entry_ids", joinIDs(deferredIDs), "error", firstError)...)
		return
	}
	d.Logger.Debug("sales receiver: entries routed", args...)
}
