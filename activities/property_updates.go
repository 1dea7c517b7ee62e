package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/reward"
)

// PropertyUpdateInput is one HubSpot value to copy onto a referral.
type PropertyUpdateInput struct {
	ReferralID string
	Update     campaign.PropertyUpdate
	Value      string
}

// ApplyPropertyUpdate copies a HubSpot value onto the referral per the
// campaign's property updates: the deal's amount becomes the sale value, and
// so on. A value that does not fit (an amount that is not a number, an email
// already referred in the campaign) is refused for good with the reason, for
// the audit trail; the referral keeps its previous value.
func (a *Activities) ApplyPropertyUpdate(ctx context.Context, in PropertyUpdateInput) error {
	id, err := parseID(in.ReferralID)
	if err != nil {
		return err
	}
	p := db.ReferralUpdateFromHubSpotParams{ID: id}
	value := strings.TrimSpace(in.Value)
	switch in.Update.Field {
	case "sale_value":
		amount, err := reward.ParseAmount(value, in.Update.Currency)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("HubSpot's %s %q is not a sale value: %v", in.Update.Property, value, err), "InvalidPropertyValue", err)
		}
		p.SaleValue = amount.Numeric()
		p.Currency = &in.Update.Currency
	case "external_id":
		p.ExternalID = &value
	case "name":
		p.LeadFirstName = &value
	case "email":
		if err := referral.CheckEmail(value); err != nil {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("HubSpot's %s %q %v", in.Update.Property, value, err), "InvalidPropertyValue", nil)
		}
		normalized := referral.NormalizeEmail(value)
		p.LeadEmail, p.LeadEmailNormalized = &value, &normalized
	default:
		return temporal.NewNonRetryableApplicationError("unknown referral field "+in.Update.Field, "InvalidInput", nil)
	}
	_, err = a.Queries.ReferralUpdateFromHubSpot(ctx, p)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return temporal.NewNonRetryableApplicationError("another referral in the campaign already has the lead email "+value, "DuplicateLead", err)
	}
	if err != nil {
		return fmt.Errorf("update referral %s from HubSpot: %w", in.ReferralID, err)
	}
	return nil
}
