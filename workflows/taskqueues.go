package workflows

// Task queues. Workflows and the activities that touch only Postgres run on
// TaskQueue. Every activity that calls HubSpot runs on HubSpotTaskQueue, whose
// workers cap the dispatch rate for the whole queue (TaskQueueActivitiesPerSecond
// is enforced by the Temporal server across all workers), so however many
// worker processes run, together they stay under HubSpot's rate limits.
const (
	TaskQueue        = "referflow"
	HubSpotTaskQueue = "referflow-hubspot"
)
