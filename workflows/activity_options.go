package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/referflow/referflow/activities"
)

// acts and hubspotActs name activities by their methods: workflows pass
// acts.LoadReferral, hubspotActs.SendLeadToHubSpot and the like to
// ExecuteActivity or ExecuteLocalActivity, and only the method matters. The
// pointers stay nil; the worker registers the real values (acts' on
// TaskQueue, hubspotActs' on HubSpotTaskQueue).
var (
	acts        *activities.Activities
	hubspotActs *activities.HubSpot
)

// activityHeartbeatTimeout: every regular activity heartbeats every 5 s
// while it runs (the worker's heartbeat interceptor), so one whose worker
// died is retried on another after 20 s, not after its start-to-close
// timeout (two minutes for HubSpot calls, found by the chaos suite's kill -9
// of a worker).
const activityHeartbeatTimeout = 20 * time.Second

// databaseActivityOptions fit activities that only touch Postgres: quick, and
// retried with backoff while the database is unreachable. They run as local
// activities, in the worker that runs the workflow, recorded in its history
// as markers: no activity task goes through the server, so a conversion
// (status change, rewards, audit events) costs a few server round trips
// instead of a dozen. Each is idempotent (keys enforced by the database), as
// a local activity may run again when its workflow task is retried.
//
// ScheduleToCloseTimeout must be set: left at zero, the SDK makes it equal
// to StartToCloseTimeout, so a database slow or locked for 15 s in all
// (chaos seed 658035530195: referrals of one member queued on its row lock
// to recount) ended the retries and failed the referral's workflow. A day
// of retries outlasts any outage the operator would not see first.
var databaseActivityOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout:    15 * time.Second,
	ScheduleToCloseTimeout: 24 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    200 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumInterval:    30 * time.Second,
	},
}

// hubSpotActivityOptions fit activities that call HubSpot: a few requests
// each, retried without end while HubSpot is rate limiting or down (a 429
// sets its own NextRetryDelay). There is deliberately no
// ScheduleToCloseTimeout: a DAILY limit asks to wait for up to a day.
var hubSpotActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 2 * time.Minute,
	HeartbeatTimeout:    activityHeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
	},
}

// referralHubSpotActivityOptions fit the HubSpot calls of a referral's
// workflow (sending the lead, writing the member) and of a member's
// (workflows/member.go): the same, but bounded to
// ten attempts (about five minutes, or longer when HubSpot's limits ask to
// wait), after which the step waits in the workflow on its own durable
// timer, saying why (referral_waiting.go), instead of retrying unseen.
var referralHubSpotActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: hubSpotActivityOptions.StartToCloseTimeout,
	HeartbeatTimeout:    activityHeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    10,
	},
}

// issueRewardActivityOptions fit IssueReward when its first, local attempt
// failed (Postgres unreachable, a worker restart): a regular activity
// retried with backoff up to 10 minutes apart, ten attempts (about 17
// minutes); then the reward waits in the workflow on its durable timer,
// saying why. The reward's webhook is not sent here: IssueReward queues it
// in the outbox and the worker's dispatcher sends it.
var issueRewardActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	HeartbeatTimeout:    activityHeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    10 * time.Minute,
		MaximumAttempts:    10,
	},
}

// issueRewardLocallyChange versions the switch to a first, local attempt of
// IssueReward: runs that issued rewards as a regular activity only replay
// as they ran.
const issueRewardLocallyChange = "issue-reward-locally"

// issueRewardLocalActivityOptions fit IssueReward's first attempt, run as a
// local activity in the workflow's worker: a conversion then costs the
// server no activity task. Three quick tries; then the regular activity
// (issueRewardActivityOptions) takes over with its long backoff.
var issueRewardLocalActivityOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout: 15 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    200 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumAttempts:    3,
	},
}

// reviewNotifyActivityOptions fit NotifyReview, which only runs from
// before the outbox call (reviewNotifyOutboxChange): retried with backoff
// up to 10 minutes apart while the entry waits in review.
var reviewNotifyActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	HeartbeatTimeout:    activityHeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    10 * time.Minute,
	},
}

// failureMessage is what admins see of a failed activity (a HubSpot setup, a
// sales entry's step): the activity's own error (HubSpot's message, never a
// token), with its type.
func failureMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Type() + ": " + appErr.Message()
	}
	return err.Error()
}

// asApplicationError finds the Temporal application error in err's chain
// (an activity's error arrives wrapped in an ActivityError).
func asApplicationError(err error, target **temporal.ApplicationError) bool {
	return errors.As(err, target)
}
