package workflows

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// HubSpotSetupWorkflowID is the workflow ID of a workspace's HubSpot
// property setup: one at a time per workspace.
func HubSpotSetupWorkflowID(workspaceID string) string { return "hubspot-setup/" + workspaceID }

// HubSpotSetupInput starts a property setup.
type HubSpotSetupInput struct {
	WorkspaceID string
	PortalID    int64
	// HubSpotTaskQueue is where the HubSpot activities run (default
	// HubSpotTaskQueue; tests use their own).
	HubSpotTaskQueue string
}

// HubSpotSetupResult lists what the setup created in the portal (nothing
// when everything existed).
type HubSpotSetupResult struct {
	Created []string
}

// SetUpHubSpotPortalWorkflow creates referflow's property group and
// properties on contacts and deals in a newly connected portal, where they
// are missing, then its association labels (found and reused when the
// portal has them; their type IDs stored on the connection), and records
// the outcome on the connection. Its HubSpot
// activities run on the rate-capped HubSpot task queue and are retried after
// HubSpot's wait on a 429 for as long as it takes; an error no retry can fix
// (a broken connection, a missing scope) ends it as failed.
func SetUpHubSpotPortalWorkflow(ctx workflow.Context, in HubSpotSetupInput) (HubSpotSetupResult, error) {
	w := &hubSpotSetupWorkflow{}
	if err := w.setup(in); err != nil {
		return HubSpotSetupResult{}, err
	}
	return w.run(ctx)
}

type hubSpotSetupWorkflow struct {
	in HubSpotSetupInput
}

func (w *hubSpotSetupWorkflow) setup(in HubSpotSetupInput) error {
	if in.WorkspaceID == "" || in.PortalID <= 0 {
		return temporal.NewNonRetryableApplicationError("HubSpot setup started without a workspace or portal", "InvalidInput", nil)
	}
	if in.HubSpotTaskQueue == "" {
		in.HubSpotTaskQueue = HubSpotTaskQueue
	}
	w.in = in
	return nil
}

func (w *hubSpotSetupWorkflow) run(ctx workflow.Context) (HubSpotSetupResult, error) {
	opts := hubSpotActivityOptions
	opts.TaskQueue = w.in.HubSpotTaskQueue
	hctx := workflow.WithActivityOptions(ctx, opts)
	dbctx := workflow.WithLocalActivityOptions(ctx, databaseActivityOptions)

	var result HubSpotSetupResult
	for _, t := range hubspotobject.PropertyTypes {
		var got activities.EnsurePropertiesResult
		err := workflow.ExecuteActivity(hctx, hubspotActs.EnsureHubSpotProperties, activities.EnsurePropertiesInput{
			WorkspaceID: w.in.WorkspaceID, PortalID: w.in.PortalID, ObjectType: t.Plural(),
		}).Get(ctx, &got)
		result.Created = append(result.Created, got.Created...)
		if err != nil {
			outcome := activities.PropertySetupOutcome{
				WorkspaceID: w.in.WorkspaceID, PortalID: w.in.PortalID, Error: failureMessage(err),
			}
			if recErr := workflow.ExecuteLocalActivity(dbctx, acts.RecordHubSpotPropertySetup, outcome).Get(ctx, nil); recErr != nil {
				return result, recErr
			}
			return result, err
		}
	}
	if workflow.GetVersion(ctx, associationLabelsChange, workflow.DefaultVersion, 1) == 1 {
		var got activities.LabelsResult
		err := workflow.ExecuteActivity(hctx, hubspotActs.EnsureHubSpotAssociationLabels, activities.LabelsInput{
			WorkspaceID: w.in.WorkspaceID, PortalID: w.in.PortalID,
		}).Get(ctx, &got)
		result.Created = append(result.Created, got.Created...)
		if err != nil {
			outcome := activities.PropertySetupOutcome{
				WorkspaceID: w.in.WorkspaceID, PortalID: w.in.PortalID, Error: failureMessage(err),
			}
			if recErr := workflow.ExecuteLocalActivity(dbctx, acts.RecordHubSpotPropertySetup, outcome).Get(ctx, nil); recErr != nil {
				return result, recErr
			}
			return result, err
		}
	}
	done := activities.PropertySetupOutcome{WorkspaceID: w.in.WorkspaceID, PortalID: w.in.PortalID}
	if err := workflow.ExecuteLocalActivity(dbctx, acts.RecordHubSpotPropertySetup, done).Get(ctx, nil); err != nil {
		return result, err
	}
	return result, nil
}

// associationLabelsChange versions creating referflow's association labels
// ("Referrer" / "Referred", "Referred by") after the properties.
const associationLabelsChange = "association-labels"

// StartHubSpotSetup starts the property setup of a workspace's newly
// connected portal. A setup still running for the workspace (an earlier
// connect) is replaced: the new connection is the one that counts.
func StartHubSpotSetup(ctx context.Context, c client.Client, taskQueue string, in HubSpotSetupInput) (client.WorkflowRun, error) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       HubSpotSetupWorkflowID(in.WorkspaceID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            fmt.Sprintf("HubSpot property setup of portal %d", in.PortalID),
	}, SetUpHubSpotPortalWorkflow, in)
	if err != nil {
		return nil, fmt.Errorf("start HubSpot property setup of workspace %s: %w", in.WorkspaceID, err)
	}
	return run, nil
}
