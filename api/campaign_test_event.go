package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/salesreceiver"
)

// "Send a test event" (POST /api/v1/campaigns/{id}/test-event, and its form
// on the campaign's status-rules setup page): a HubSpot property change an
// admin makes up goes through the Sales Receiver to the referrals holding
// its record, whose workflows say what they would do with it. Nothing is
// written and no referral changes (salesreceiver.PreviewTestEvent).

// TestEventInput is the change to try: object_type's record record_id, or
// the record of that type referral_id holds, has property changed to value.
type TestEventInput struct {
	ObjectType string `json:"object_type"`
	RecordID   int64  `json:"record_id,omitempty"`
	ReferralID string `json:"referral_id,omitempty"`
	Property   string `json:"property"`
	Value      string `json:"value"`
}

// TestEventResult is what the Sales Receiver and the referrals' workflows
// would do with a test event. Written is always false: nothing was.
type TestEventResult struct {
	Change         TestEventChange     `json:"change"`
	Receiver       string              `json:"receiver"`
	Notice         string              `json:"notice,omitempty"`
	Referrals      []TestEventReferral `json:"referrals"`
	OtherCampaigns int                 `json:"other_campaigns"`
	Written        bool                `json:"written"`
}

// TestEventChange is the hubspot-change signal the event becomes.
type TestEventChange struct {
	ObjectType string    `json:"object_type"`
	ObjectID   int64     `json:"object_id"`
	Property   string    `json:"property"`
	Value      string    `json:"value"`
	OccurredAt time.Time `json:"occurred_at"`
}

// TestEventReferral is what the change would do to one referral of the
// campaign, as its workflow answers (or note, when it cannot).
type TestEventReferral struct {
	ReferralID    string `json:"referral_id"`
	Status        string `json:"status,omitempty"`
	Outcome       string `json:"outcome,omitempty"`
	MovesTo       string `json:"moves_to,omitempty"`
	HeldForReview bool   `json:"held_for_review,omitempty"`
	CopiesTo      string `json:"copies_to,omitempty"`
	Redelivery    bool   `json:"redelivery,omitempty"`
	Note          string `json:"note,omitempty"`
}

func (s *Server) campaignTestEvent(c echo.Context) error {
	row, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	var in TestEventInput
	if err := decodeStrict(c, &in); err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnprocessableEntity {
			apiErr.Status, apiErr.Code = http.StatusBadRequest, "bad_request"
		}
		return err
	}
	res, err := s.tryTestEvent(c, row, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// tryTestEvent checks the input and tries it on the campaign; a problem with
// the input is a 400 naming its field.
func (s *Server) tryTestEvent(c echo.Context, row db.Campaign, in TestEventInput) (TestEventResult, error) {
	te := salesreceiver.TestEvent{ObjectType: hubspotobject.Type(strings.TrimSpace(in.ObjectType)), RecordID: in.RecordID,
		Property: strings.TrimSpace(in.Property), Value: in.Value}
	if id := strings.TrimSpace(in.ReferralID); id != "" {
		ref, err := uuid.Parse(id)
		if err != nil {
			return TestEventResult{}, testEventProblem("referral_id", "must be a referral's ID (a UUID)")
		}
		te.ReferralID = ref
	}
	if s.deps.Temporal == nil {
		return TestEventResult{}, NewError(http.StatusServiceUnavailable, "unavailable", "Temporal is not configured: the referrals' workflows cannot be asked")
	}
	res, err := salesreceiver.PreviewTestEvent(c.Request().Context(), s.queries(), s.deps.Temporal, s.deps.Logger,
		adminFrom(c).WorkspaceID, row.ID, te)
	var bad *salesreceiver.TestEventError
	if errors.As(err, &bad) {
		return TestEventResult{}, testEventProblem(bad.Field, bad.Problem)
	}
	if err != nil {
		return TestEventResult{}, err
	}
	return testEventView(res), nil
}

func testEventProblem(field, problem string) error {
	return &APIError{Status: http.StatusBadRequest, Code: "bad_request", Message: field + " " + problem,
		Fields: map[string]string{field: problem}}
}

func testEventView(res salesreceiver.TestEventResult) TestEventResult {
	v := TestEventResult{
		Change: TestEventChange{ObjectType: string(res.Change.ObjectType), ObjectID: res.Change.ObjectID, Property: res.Change.Property,
			Value: res.Change.Value, OccurredAt: res.Change.OccurredAt},
		Receiver: res.Receiver, Notice: res.Notice, OtherCampaigns: res.OtherCampaigns, Referrals: []TestEventReferral{},
	}
	for _, r := range res.Referrals {
		rv := TestEventReferral{ReferralID: r.ReferralID, Note: r.Note}
		if p := r.Preview; p != nil {
			rv.Status, rv.Outcome, rv.MovesTo, rv.HeldForReview = string(p.Status), p.Outcome, string(p.MovesTo), p.HeldForReview
			rv.CopiesTo, rv.Redelivery = p.CopiesTo, p.Redelivery
		}
		v.Referrals = append(v.Referrals, rv)
	}
	return v
}

// ---------------------------------------------------------------- admin UI

// testEventForm is the "send a test event" form of the status-rules page,
// with the last result.
type testEventForm struct {
	Fields []adminField
	// Error is what is wrong with the test event; Result what it did.
	Error  string
	Result *TestEventResult
}

// newTestEventForm offers the properties the campaign's status rules and
// property updates read ("deal.dealstage"), a value, and a record or
// referral ID.
func newTestEventForm(s campaign.Settings, target, value, record string, errs map[string]string) *testEventForm {
	opts := []adminOption{}
	seen := map[string]bool{}
	add := func(object hubspotobject.Type, property, why string) {
		v := string(object) + "." + property
		if property == "" || seen[v] {
			return
		}
		seen[v] = true
		opts = append(opts, adminOption{Value: v, Label: v + " (" + why + ")", Selected: v == target})
	}
	for _, r := range []struct {
		why  string
		rule *campaign.StatusRule
	}{{"qualified rule", s.StatusRules.Qualified}, {"approved rule", s.StatusRules.Approved}, {"denied rule", s.StatusRules.Denied}} {
		if r.rule != nil {
			add(r.rule.Object, r.rule.Property, r.why)
		}
	}
	for _, u := range s.PropertyUpdates.Mappings {
		add(u.Object, u.Property, "copied to "+strings.ReplaceAll(u.Field, "_", " "))
	}
	property := adminField{Name: "test_property", Label: "HubSpot property that changes", Type: "select", Options: opts, Required: true,
		Error: errs["test_property"]}
	if len(opts) == 0 {
		property.Type, property.Value, property.Hint = "text", target, "object.property, e.g. deal.dealstage (no rule is set up yet)."
	}
	return &testEventForm{Fields: []adminField{
		property,
		{Name: "test_value", Label: "Changes to this value", Type: "text", Value: value, MaxLength: 500, Hint: "The internal value, e.g. closedwon.",
			Error: errs["test_value"]},
		{Name: "test_record", Label: "HubSpot record ID or referral ID", Type: "text", Value: record, Required: true, MaxLength: 100,
			Hint: "The record whose property changes, or a referral of this campaign (its record is used).", Error: errs["test_record"]},
	}}
}

// adminCampaignTestEvent tries the form's test event and shows the
// status-rules page with the result, or with what to fix.
func (s *Server) adminCampaignTestEvent(c echo.Context) error {
	row, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	section, _ := sectionBySlug("status-rules")
	settings, err := activities.CampaignSettings(row)
	if err != nil {
		return err
	}
	target, value, record := adminFormValue(c, "test_property"), adminFormValue(c, "test_value"), adminFormValue(c, "test_record")
	object, property, _ := strings.Cut(target, ".")
	in := TestEventInput{ObjectType: object, Property: property, Value: value}
	if id, err := strconv.ParseInt(strings.TrimSpace(record), 10, 64); err == nil {
		in.RecordID = id
	} else {
		in.ReferralID = record
	}
	page := s.newAdminPage(c, row.Name, navCampaigns)
	res, err := s.tryTestEvent(c, row, in)
	status := http.StatusOK
	var result *TestEventResult
	if err != nil {
		if !page.SetProblems(err) {
			return err
		}
		page.Fields = testEventFieldErrors(page.Fields)
		status = http.StatusBadRequest
	} else {
		result = &res
	}
	form := newTestEventForm(settings, target, value, record, page.Fields)
	form.Result, form.Error, page.Error = result, page.Error, ""
	return s.renderCampaignSectionWith(c, status, row, section, settings, page, false, form)
}

// testEventFieldErrors keys the API's problems by the form's inputs.
func testEventFieldErrors(fields map[string]string) map[string]string {
	names := map[string]string{"object_type": "test_property", "property": "test_property", "value": "test_value",
		"record_id": "test_record", "referral_id": "test_record"}
	out := map[string]string{}
	for k, v := range fields {
		if n, ok := names[k]; ok {
			out[n] = v
		} else {
			out[k] = v
		}
	}
	return out
}
