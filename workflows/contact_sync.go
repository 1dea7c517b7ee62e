package workflows

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/activities"
)

// A contact sync's workflow: one run of a sync brings a page of HubSpot
// contacts at a time in as members and writes their referral links back
// (activities.SyncContactsPage), its progress committed in the syncs table
// page by page. A one-time sync starts one run; an ongoing sync is a
// Temporal Schedule (sync/<id>) whose every action is a run, so its runs,
// pauses and notes are visible in the Temporal Web UI (Schedules).
//
// This file is its contract: IDs, input, the progress query, and the
// schedule's verbs the API uses. ContactSyncWorkflow itself is in
// contact_sync_workflow.go.

// ContactSyncWorkflowType is the registered name of ContactSyncWorkflow.
const ContactSyncWorkflowType = "ContactSyncWorkflow"

// ContactSyncScheduleID is the ID of an ongoing sync's Temporal Schedule.
func ContactSyncScheduleID(syncID string) string { return "sync/" + syncID }

// ContactSyncWorkflowID is the workflow ID of a sync's runs: a one-time
// sync's run has it as is; the schedule's runs have it with the scheduled
// time appended by Temporal (sync/<id>/run-2026-12-03T14:15:00Z).
func ContactSyncWorkflowID(syncID string) string { return "sync/" + syncID + "/run" }

// ContactSyncInput starts a run. Resumed is set when it continues as new
// (the run's place is in the syncs table).
type ContactSyncInput struct {
	SyncID string
	// HubSpotTaskQueue is where the page activities run (default
	// HubSpotTaskQueue; tests use their own).
	HubSpotTaskQueue string `json:",omitempty"`
	Resumed          bool   `json:",omitempty"`
}

// ContactSyncProgress is where a run stands (the progress query's answer
// and the workflow's result).
type ContactSyncProgress = activities.SyncProgress

// QueryContactSyncProgress is the progress query (progress →
// ContactSyncProgress).
const QueryContactSyncProgress = "progress"

// StartContactSyncRun starts a one-time sync's run on taskQueue; starting it
// twice is harmless.
func StartContactSyncRun(ctx context.Context, c client.Client, taskQueue, hubSpotTaskQueue, syncID, summary string) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       ContactSyncWorkflowID(syncID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            summary,
	}, ContactSyncWorkflowType, ContactSyncInput{SyncID: syncID, HubSpotTaskQueue: hubSpotTaskQueue})
	if err != nil {
		return fmt.Errorf("start the run of sync %s: %w", syncID, err)
	}
	return nil
}

// ContactSyncSchedule describes an ongoing sync's schedule.
type ContactSyncSchedule struct {
	SyncID   string
	CronSpec string
	// Summary names the sync in the Web UI (campaign and source).
	Summary          string
	TaskQueue        string
	HubSpotTaskQueue string
}

// CreateContactSyncSchedule creates an ongoing sync's schedule, which runs
// once at once and then on CronSpec. A run still going when the next is due
// makes the schedule skip that one (overlap SKIP): two runs of one sync
// never race.
func CreateContactSyncSchedule(ctx context.Context, c client.Client, s ContactSyncSchedule) error {
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:   ContactSyncScheduleID(s.SyncID),
		Spec: client.ScheduleSpec{CronExpressions: []string{s.CronSpec}},
		Action: &client.ScheduleWorkflowAction{
			ID:            ContactSyncWorkflowID(s.SyncID),
			Workflow:      ContactSyncWorkflowType,
			Args:          []any{ContactSyncInput{SyncID: s.SyncID, HubSpotTaskQueue: s.HubSpotTaskQueue}},
			TaskQueue:     s.TaskQueue,
			StaticSummary: s.Summary,
		},
		Overlap:            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		TriggerImmediately: true,
		Note:               s.Summary,
	})
	if err != nil {
		return fmt.Errorf("create the schedule of sync %s: %w", s.SyncID, err)
	}
	return nil
}

// PauseContactSyncSchedule pauses a sync's schedule with a note saying why
// (shown in the Web UI).
func PauseContactSyncSchedule(ctx context.Context, c client.Client, syncID, note string) error {
	err := c.ScheduleClient().GetHandle(ctx, ContactSyncScheduleID(syncID)).Pause(ctx, client.SchedulePauseOptions{Note: note})
	if err != nil {
		return fmt.Errorf("pause the schedule of sync %s: %w", syncID, err)
	}
	return nil
}

// ResumeContactSyncSchedule unpauses a sync's schedule.
func ResumeContactSyncSchedule(ctx context.Context, c client.Client, syncID, note string) error {
	err := c.ScheduleClient().GetHandle(ctx, ContactSyncScheduleID(syncID)).Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
	if err != nil {
		return fmt.Errorf("resume the schedule of sync %s: %w", syncID, err)
	}
	return nil
}

// SetContactSyncScheduleCron changes when a sync's schedule runs.
func SetContactSyncScheduleCron(ctx context.Context, c client.Client, syncID, cronSpec string) error {
	err := c.ScheduleClient().GetHandle(ctx, ContactSyncScheduleID(syncID)).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &client.ScheduleSpec{CronExpressions: []string{cronSpec}}
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("change the schedule of sync %s: %w", syncID, err)
	}
	return nil
}

// TriggerContactSyncSchedule runs a sync's schedule now (skipped when a run
// is under way).
func TriggerContactSyncSchedule(ctx context.Context, c client.Client, syncID string) error {
	err := c.ScheduleClient().GetHandle(ctx, ContactSyncScheduleID(syncID)).Trigger(ctx, client.ScheduleTriggerOptions{})
	if err != nil {
		return fmt.Errorf("trigger the schedule of sync %s: %w", syncID, err)
	}
	return nil
}

// DeleteContactSyncSchedule deletes a sync's schedule; one already gone is
// no error. A run under way ends by itself when it finds its sync deleted.
func DeleteContactSyncSchedule(ctx context.Context, c client.Client, syncID string) error {
	err := c.ScheduleClient().GetHandle(ctx, ContactSyncScheduleID(syncID)).Delete(ctx)
	var notFound *serviceerror.NotFound
	if err != nil && !errors.As(err, &notFound) {
		return fmt.Errorf("delete the schedule of sync %s: %w", syncID, err)
	}
	return nil
}

// DescribeContactSyncSchedule reads a sync's schedule: paused or not, its
// note, its recent and next runs.
func DescribeContactSyncSchedule(ctx context.Context, c client.Client, syncID string) (*client.ScheduleDescription, error) {
	d, err := c.ScheduleClient().GetHandle(ctx, ContactSyncScheduleID(syncID)).Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe the schedule of sync %s: %w", syncID, err)
	}
	return d, nil
}
