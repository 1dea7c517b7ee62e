package workflows

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// The privacy erasure's contract: everything another process needs to have
// a person erased. PrivacyErasureWorkflow itself is in
// privacy_erasure_workflow.go.
//
// An erasure is asked for by an admin (POST /api/v1/privacy/erasures) or by
// HubSpot (contact.privacyDeletion, routed by the Sales Receiver). Either
// records it first (internal/privacy.Record: a privacy_erasures row, and the
// email held in Postgres until it runs), then calls StartPrivacyErasure with
// the erasure's ID. The workflow runs the ErasePerson activity once per
// erasure it is signalled. Temporal never sees the email: the workflow ID
// and input carry the subject hash (a keyed hash of the normalized email),
// the signal the erasure's ID.

// PrivacyErasureWorkflowType names the workflow.
const PrivacyErasureWorkflowType = "PrivacyErasureWorkflow"

// SignalPrivacyErasure asks the person's workflow to run one more erasure
// (its payload is a PrivacyErasureSignal).
const SignalPrivacyErasure = "privacy-erasure"

// PrivacyErasureWorkflowID is the workflow ID of a person's erasures: one
// at a time per person, named by their subject hash, never their email.
func PrivacyErasureWorkflowID(subjectHash string) string { return "privacy-erasure/" + subjectHash }

// PrivacyErasureInput starts a person's erasure workflow.
type PrivacyErasureInput struct {
	WorkspaceID string
	SubjectHash string
}

// PrivacyErasureSignal is one erasure to run.
type PrivacyErasureSignal struct {
	ErasureID string
}

// PrivacyErasureResult counts the erasures a run ran.
type PrivacyErasureResult struct {
	Erasures int
}

// StartPrivacyErasure sends the erasure to its person's workflow, starting
// the workflow when none runs (signal-with-start: one run erases a person
// at a time, and a request made while it runs is run by it too).
func StartPrivacyErasure(ctx context.Context, c client.Client, taskQueue, workspaceID, subjectHash, erasureID string) error {
	_, err := c.SignalWithStartWorkflow(ctx, PrivacyErasureWorkflowID(subjectHash), SignalPrivacyErasure,
		PrivacyErasureSignal{ErasureID: erasureID},
		client.StartWorkflowOptions{
			TaskQueue:             taskQueue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			StaticSummary:         "Privacy erasure of person " + subjectHash,
		},
		PrivacyErasureWorkflowType, PrivacyErasureInput{WorkspaceID: workspaceID, SubjectHash: subjectHash})
	if err != nil {
		return fmt.Errorf("start privacy erasure %s: %w", erasureID, err)
	}
	return nil
}
