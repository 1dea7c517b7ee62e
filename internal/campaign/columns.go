package campaign

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// Columns are the settings as the campaigns table stores them: one JSON
// object per section.
type Columns struct {
	LeadSettings, ReferrerSettings, StatusRules, PropertyUpdates, ProcessRules, RewardRules, PublicSettings, FraudChecks, EmailSettings json.RawMessage
}

// Columns splits the settings into the table's JSON columns.
func (s Settings) Columns() (Columns, error) {
	var c Columns
	for _, part := range []struct {
		dst *json.RawMessage
		v   any
	}{
		{&c.LeadSettings, s.Leads}, {&c.ReferrerSettings, s.Referrers}, {&c.StatusRules, s.StatusRules},
		{&c.PropertyUpdates, s.PropertyUpdates}, {&c.ProcessRules, s.ProcessRules}, {&c.RewardRules, s.Rewards},
		{&c.PublicSettings, s.Public}, {&c.FraudChecks, s.FraudChecks}, {&c.EmailSettings, s.Emails},
	} {
		raw, err := json.Marshal(part.v)
		if err != nil {
			return Columns{}, fmt.Errorf("encode campaign settings: %w", err)
		}
		*part.dst = raw
	}
	return c, nil
}

// FromColumns reads the settings of campaign id from its stored columns.
// Sections never saved (an empty object) keep their defaults, so a new
// campaign behaves as Defaults says.
func FromColumns(id uuid.UUID, c Columns) (Settings, error) {
	s := Defaults()
	for _, part := range []struct {
		name string
		raw  json.RawMessage
		dst  any
	}{
		{"lead_settings", c.LeadSettings, &s.Leads}, {"referrer_settings", c.ReferrerSettings, &s.Referrers},
		{"status_rules", c.StatusRules, &s.StatusRules}, {"property_updates", c.PropertyUpdates, &s.PropertyUpdates},
		{"process_rules", c.ProcessRules, &s.ProcessRules}, {"reward_rules", c.RewardRules, &s.Rewards},
		{"public_settings", c.PublicSettings, &s.Public}, {"fraud_checks", c.FraudChecks, &s.FraudChecks},
		{"email_settings", c.EmailSettings, &s.Emails},
	} {
		if len(part.raw) == 0 || string(part.raw) == "{}" {
			continue
		}
		if err := json.Unmarshal(part.raw, part.dst); err != nil {
			return Settings{}, fmt.Errorf("campaign %s: stored %s are not readable: %w", id, part.name, err)
		}
	}
	return s, nil
}
