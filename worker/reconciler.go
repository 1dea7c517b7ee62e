package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/workflows"
)

// Reconciler starts the workflow of every referral and member that has none
// (OnceMembers: the same for members, whose workflow marks
// members.workflow_started_at). A referral's: one saved
// while Temporal was unreachable (the admin API answered 503, saved), or
// whose start was lost with its process. A referral's workflow marks it on
// its first step (referrals.workflow_started_at); the reconciler reads the
// unmarked rows older than Grace and starts their workflows. Starting is
// idempotent (the workflow ID is the referral's), so several workers may
// reconcile at once. It runs in every worker process, at start-up and then
// every Every.
type Reconciler struct {
	Pool             *pgxpool.Pool
	Temporal         client.Client
	TaskQueue        string
	HubSpotTaskQueue string
	// Every is the pause between passes (default a minute); Grace how old an
	// unmarked referral must be before it counts as lacking its workflow
	// (default 30 s: the add path starts it at once).
	Every  time.Duration
	Grace  time.Duration
	Logger *slog.Logger
}

// reconcileBatch bounds one pass; the next pass takes the rest.
const reconcileBatch = 500

// Run reconciles until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	every := r.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := r.Once(ctx); err != nil && ctx.Err() == nil && r.Logger != nil {
			r.Logger.Error("reconcile referrals without a workflow", "error", err.Error())
		}
		if _, err := r.OnceMembers(ctx); err != nil && ctx.Err() == nil && r.Logger != nil {
			r.Logger.Error("reconcile members without a workflow", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once starts the workflows of the referrals that lack one and says how many
// it started.
func (r *Reconciler) Once(ctx context.Context) (int, error) {
	grace := r.Grace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	ids, err := db.New(r.Pool).ReferralListWithoutWorkflow(ctx, db.ReferralListWithoutWorkflowParams{
		CreatedBefore: time.Now().Add(-grace), MaxResults: reconcileBatch,
	})
	if err != nil {
		return 0, fmt.Errorf("list referrals without a workflow: %w", err)
	}
	started := 0
	for _, id := range ids {
		_, err := workflows.StartReferralWorkflow(ctx, r.Temporal, r.TaskQueue, r.HubSpotTaskQueue, id.String())
		var ended *serviceerror.WorkflowExecutionAlreadyStarted
		switch {
		case errors.As(err, &ended):
			// A run exists that ended before its first step: only
			// `referflow referrals resume` starts it again.
			if r.Logger != nil {
				r.Logger.Warn("referral's workflow ended before its first step; run `referflow referrals resume`", "referral_id", id.String())
			}
			continue
		case err != nil:
			return started, err
		}
		started++
	}
	if started > 0 && r.Logger != nil {
		r.Logger.Info("started the workflows of referrals that had none", "started", started)
	}
	return started, nil
}

// OnceMembers starts the workflows of the members that lack one (a start
// lost with its process, Temporal unreachable when they joined, the members
// a CSV import added; workflows/member.go) and says how many it started. A
// large import's members take several passes, reconcileBatch at a time: the
// HubSpot task queue's rate cap paces their sending anyway.
func (r *Reconciler) OnceMembers(ctx context.Context) (int, error) {
	grace := r.Grace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	ids, err := db.New(r.Pool).MemberListWithoutWorkflow(ctx, db.MemberListWithoutWorkflowParams{
		CreatedBefore: time.Now().Add(-grace), MaxResults: reconcileBatch,
	})
	if err != nil {
		return 0, fmt.Errorf("list members without a workflow: %w", err)
	}
	started := 0
	for _, id := range ids {
		err := workflows.StartMemberWorkflow(ctx, r.Temporal, r.TaskQueue, r.HubSpotTaskQueue, id.String())
		var ended *serviceerror.WorkflowExecutionAlreadyStarted
		switch {
		case errors.As(err, &ended):
			// A run that ended before its first step (terminated): marked,
			// so that it does not hold up the members behind it every pass.
			if r.Logger != nil {
				r.Logger.Warn("member's workflow ended before its first step; it is not started again", "member_id", id.String())
			}
			if err := db.New(r.Pool).MemberMarkWorkflowStarted(ctx, id); err != nil {
				return started, fmt.Errorf("mark member %s's ended workflow: %w", id, err)
			}
			continue
		case err != nil:
			return started, err
		}
		started++
	}
	if started > 0 && r.Logger != nil {
		r.Logger.Info("started the workflows of members that had none", "started", started)
	}
	return started, nil
}
