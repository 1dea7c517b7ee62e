package worker

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
)

// heartbeatEvery is how often a running activity tells the server it is
// alive (more often when its heartbeat timeout is under four times that);
// the workflows' activity options give the server a heartbeat timeout of a
// few of these (workflows.activityHeartbeatTimeout).
const heartbeatEvery = 5 * time.Second

// heartbeats keeps every regular activity heartbeating while it runs, so
// that one whose worker dies (kill -9, a lost machine) is retried elsewhere
// after the heartbeat timeout instead of after its whole start-to-close
// timeout. The activities themselves (HubSpot calls, a webhook) have no
// progress to report; being alive is what the server needs to know.
type heartbeats struct {
	interceptor.WorkerInterceptorBase
}

func (*heartbeats) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &heartbeatInbound{}
	i.Next = next
	return i
}

type heartbeatInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

func (i *heartbeatInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	if info.IsLocalActivity {
		return i.Next.ExecuteActivity(ctx, in)
	}
	every := heartbeatEvery
	if t := info.HeartbeatTimeout; t > 0 && t/4 < every {
		every = t / 4
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	defer func() { close(done); <-stopped }()
	return i.Next.ExecuteActivity(ctx, in)
}
