package worker

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/workflows"
)

// activityFailureLog logs every failed local activity at ERROR with the
// referral's (or sales entry's) ID. Most of referflow's database activities
// run as local activities, whose failures the Temporal SDK records in the
// workflow's history but does not log; failed regular activities it logs
// itself ("Activity error." with the WorkflowID, which names the referral).
//
// A log line carries IDs, the activity, the attempt and the error's type;
// the message only when it is referflow's own: HubSpot's messages can quote
// the values it refused (an email address), so of those only the status,
// category and correlation ID are logged.
type activityFailureLog struct {
	interceptor.WorkerInterceptorBase
	logger *slog.Logger
}

func (w *activityFailureLog) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &activityFailureLogInbound{logger: w.logger}
	i.Next = next
	return i
}

type activityFailureLogInbound struct {
	interceptor.ActivityInboundInterceptorBase
	logger *slog.Logger
}

func (i *activityFailureLogInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := i.Next.ExecuteActivity(ctx, in)
	if err == nil || errors.Is(err, context.Canceled) {
		return res, err
	}
	info := activity.GetInfo(ctx)
	if !info.IsLocalActivity {
		return res, err
	}
	i.logger.LogAttrs(ctx, slog.LevelError, "local activity failed", failureAttrs(info, err)...)
	return res, err
}

// failureAttrs describes a failed activity by IDs and error type, never by
// personal data.
func failureAttrs(info activity.Info, err error) []slog.Attr {
	wfID := info.WorkflowExecution.ID
	attrs := []slog.Attr{
		slog.String("workflow_id", wfID),
		slog.String("activity_type", info.ActivityType.Name),
		slog.Int("attempt", int(info.Attempt)),
	}
	if id, ok := strings.CutPrefix(wfID, workflows.ReferralWorkflowID("")); ok {
		attrs = append(attrs, slog.String("referral_id", id))
	} else if id, ok := strings.CutPrefix(wfID, "sales-entry/"); ok {
		attrs = append(attrs, slog.String("sales_entry_id", id))
	}
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return append(attrs, slog.String("error", err.Error()))
	}
	attrs = append(attrs, slog.String("error_type", appErr.Type()), slog.Bool("non_retryable", appErr.NonRetryable()))
	if !strings.HasPrefix(appErr.Type(), "HubSpot") {
		return append(attrs, slog.String("error", appErr.Message()))
	}
	var d hubspot.ErrorDetails
	if appErr.HasDetails() && appErr.Details(&d) == nil && d.StatusCode != 0 {
		attrs = append(attrs, slog.Int("hubspot_status", d.StatusCode), slog.String("hubspot_category", d.Category),
			slog.String("hubspot_correlation_id", d.CorrelationID))
	}
	return attrs
}
