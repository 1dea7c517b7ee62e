// Package workflows holds referflow's Temporal workflows: deterministic code
// the worker replays from history. There are seven: one per referral
// (ReferralWorkflow, the referral's whole life), one per member
// (MemberWorkflow: the member sent to HubSpot and their link written back),
// one per sales entry about a HubSpot object referflow does not know yet
// (SalesEntryWorkflow, matching and review), one per HubSpot property setup
// of a newly connected portal (SetUpHubSpotPortalWorkflow), one per CSV
// import (CSVImportWorkflow, its rows added in batches), one per email to a
// member (MemberEmailWorkflow), and one per contact sync run
// (ContactSyncWorkflow, started once or by its Temporal Schedule).
//
// A workflow's contract — its ID, input and state, and the names and
// payloads of its signals, updates and queries: all another process needs to
// start it and talk to it — is in the file named for it: referral.go,
// sales_entry.go, member.go, member_email.go, contact_sync.go, csv_import.go
// and hubspot_setup.go (which, being small, holds its code too).
// The rest of its code is in files named <workflow>_<role>.go:
//
//   - referral_workflow.go: ReferralWorkflow, its setup and first steps (load,
//     publish, fraud checks, the lead sent to HubSpot)
//   - referral_loop.go: listening for changes and decisions, deadlines,
//     expiry, continue-as-new, and when the life ends
//   - referral_status.go: set-status and apply, the one way the status moves
//   - referral_changes.go: HubSpot changes (status rules, property updates,
//     deleted, merged and associated records)
//   - referral_review.go: a change held for review, and resolve-review
//   - referral_rewards.go: conversions, rewards and their hold, issuing,
//     cancel-reward and mark-reward-paid
//   - sales_entry_workflow.go: SalesEntryWorkflow, reading the object,
//     matching, and the campaign's process rules
//   - sales_entry_attach.go: acting on a match (linking the object, adding a
//     referral from HubSpot, forwarding the change)
//   - sales_entry_review.go: review, notifying admins, and admins' decisions
//   - sales_entry_steps.go: recording the entry's steps and status
//   - csv_import_workflow.go: CSVImportWorkflow, its batches, the rate of
//     imported referrals' workflow starts, and continue-as-new
//
// activity_options.go is what every workflow shares for running activities;
// taskqueues.go and searchattributes.go name the task queues and search
// attributes.
package workflows
