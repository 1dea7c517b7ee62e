package api

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/referral"
)

// The example campaign is the one a newcomer pastes to see referflow work
// end to end against HubSpot's default deal pipeline (which the simulator
// has too): a deal per lead, with its contact; qualified when the deal moves
// on, approved when it is won (closedwon), denied when it is lost; a fixed
// 50 USD reward to the member on approval. README.md shows it, `GET
// /api/v1/campaigns/example` and `referflow campaign example` print it, and
// a test checks the three are the same and that the API takes it.

// ExampleCampaign is the example campaign as a POST /api/v1/campaigns body.
func ExampleCampaign() CampaignInput {
	name, status := "Friends of Acme", "active"
	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{
		Action:           campaign.ActionCreateDeal,
		AssociateContact: true,
		FieldMapping: []campaign.FieldMapping{
			{Object: "deal", Value: "default", Property: "pipeline"},
			{Object: "deal", Value: "appointmentscheduled", Property: "dealstage"},
			{Object: "deal", Source: "campaign_name", Property: "dealname"},
			{Object: "contact", Source: "email", Property: "email"},
			{Object: "contact", Source: "first_name", Property: "firstname"},
		},
		DuplicateHandling: campaign.DuplicateDoNothing,
	}
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent"}},
		Approved:  &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedwon"}},
		Denied:    &campaign.StatusRule{Object: "deal", Property: "dealstage", Values: []string{"closedlost"}},
	}
	s.PropertyUpdates = campaign.PropertyUpdates{Mappings: []campaign.PropertyUpdate{
		{Object: "deal", Property: "amount", Field: "sale_value", Currency: "USD"},
	}}
	s.Rewards = campaign.Rewards{
		OnStatus: referral.Approved,
		Member:   &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"},
	}
	return CampaignInput{Name: &name, Status: &status, Settings: &s}
}

// ExampleCampaignJSON is ExampleCampaign as README.md shows it: indented
// with two spaces, ending in a newline.
func ExampleCampaignJSON() []byte {
	in := ExampleCampaign()
	body := struct {
		Name     string            `json:"name"`
		Status   string            `json:"status"`
		Settings campaign.Settings `json:"settings"`
	}{*in.Name, *in.Status, *in.Settings}
	raw, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		panic(err) // a fixed value of plain types always marshals
	}
	return append(raw, '\n')
}

func (s *Server) getCampaignExample(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, ExampleCampaignJSON())
}
