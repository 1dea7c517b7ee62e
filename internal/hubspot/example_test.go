package hubspot_test

import (
	"context"

	"golang.org/x/oauth2"

	"github.com/referflow/referflow/internal/hubspot"
)

// One Limiter per process, shared by every client; one client per portal.
var limiter = hubspot.NewLimiter(hubspot.DefaultLimits, nil)

// A HubSpot activity makes its call and hands the error to TemporalError,
// which tells Temporal whether and when to retry.
func Example() {
	const portalID = 100001
	tokens := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "pat-na1-..."}) // or the connection's refreshing source
	client := hubspot.New("http://127.0.0.1:8090", tokens, hubspot.WithLimiter(limiter, portalID))

	markApproved := func(ctx context.Context, contactID string) error {
		_, err := client.Update(ctx, hubspot.Contacts, contactID, map[string]string{"referflow_referral_status": "approved"})
		return hubspot.TemporalError(err)
	}
	_ = markApproved
}
