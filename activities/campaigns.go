package activities

import (
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
)

// CampaignSettings reads a campaign's settings from its row: the one place a
// row's JSON columns become campaign.Settings, for the activities, the admin
// API and the Sales Receiver alike.
func CampaignSettings(c db.Campaign) (campaign.Settings, error) {
	return campaign.FromColumns(c.ID, campaign.Columns{
		LeadSettings: c.LeadSettings, ReferrerSettings: c.ReferrerSettings, StatusRules: c.StatusRules,
		PropertyUpdates: c.PropertyUpdates, ProcessRules: c.ProcessRules, RewardRules: c.RewardRules, PublicSettings: c.PublicSettings, FraudChecks: c.FraudChecks, EmailSettings: c.EmailSettings,
	})
}
