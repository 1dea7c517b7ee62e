package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/outgoing"
)

// Campaigns in the admin API: create, list, read, edit details, replace
// settings and rotate the publishable key. Settings are validated as a whole and every problem comes back at
// once, keyed by the field it concerns.

// CampaignView is a campaign as the admin API shows it.
type CampaignView struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Status   string            `json:"status"`
	Settings campaign.Settings `json:"settings"`
	// PublishableKey identifies the campaign to the tracking script on the
	// customer's pages: public, not a secret; rotatable.
	PublishableKey string   `json:"publishable_key"`
	SetupRequired  []string `json:"setup_required"`
	// WebhookSubscriptions are the HubSpot webhook subscriptions its rules
	// need (the connection status lists the workspace's).
	WebhookSubscriptions []campaign.WebhookSubscription `json:"webhook_subscriptions"`
	// AllowedTransitions are the statuses it may move to now
	// (campaign.AllowedTransitions): none once archived.
	AllowedTransitions   []string  `json:"allowed_transitions"`
	FulfilmentWebhookURL string    `json:"fulfilment_webhook_url,omitempty"`
	CreatedAt            time.Time `json:"created_at"`
	UpdatedAt            time.Time `json:"updated_at"`
}

func campaignView(c db.Campaign) (CampaignView, error) {
	s, err := activities.CampaignSettings(c)
	if err != nil {
		return CampaignView{}, err
	}
	v := CampaignView{
		ID: c.ID.String(), Name: c.Name, Status: c.Status, Settings: s, PublishableKey: c.PublishableKey,
		SetupRequired: s.SetupRequired(), WebhookSubscriptions: s.WebhookSubscriptions(), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		AllowedTransitions: words(campaign.AllowedTransitions(campaign.Status(c.Status))),
	}
	if v.SetupRequired == nil {
		v.SetupRequired = []string{}
	}
	if c.FulfilmentWebhookUrl != nil {
		v.FulfilmentWebhookURL = *c.FulfilmentWebhookUrl
	}
	return v, nil
}

// CampaignInput creates a campaign or changes its details; on PATCH, absent
// fields stay as they are.
type CampaignInput struct {
	Name                 *string            `json:"name" limit:"200"`
	Status               *string            `json:"status"`
	FulfilmentWebhookURL *string            `json:"fulfilment_webhook_url" limit:"2048"`
	Settings             *campaign.Settings `json:"settings"`
}

var campaignStatuses = words(campaign.Statuses)

// validate checks the input; creating requires a name. webhooks is the
// operator's policy for fulfilment URLs.
func (in CampaignInput) validate(creating bool, webhooks outgoing.Policy) map[string]string {
	problems := map[string]string{}
	switch {
	case in.Name == nil && creating:
		problems["name"] = "is required"
	case in.Name != nil && strings.TrimSpace(*in.Name) == "":
		problems["name"] = "must not be empty"
	}
	switch {
	case in.Status != nil && !slices.Contains(campaignStatuses, *in.Status):
		problems["status"] = "must be one of " + strings.Join(campaignStatuses, ", ")
	case in.Status != nil && creating && !slices.Contains(campaign.InitialStatuses, campaign.Status(*in.Status)):
		problems["status"] = "a new campaign is " + strings.Join(words(campaign.InitialStatuses), " or ")
	}
	if in.FulfilmentWebhookURL != nil && *in.FulfilmentWebhookURL != "" {
		// The worker's check before sending, so a URL saved is one it sends
		// to (unless its host name resolves to a refused address by then).
		var refused *outgoing.URLError
		if err := webhooks.CheckURL(*in.FulfilmentWebhookURL); errors.As(err, &refused) {
			problems["fulfilment_webhook_url"] = refused.Reason
		} else if err != nil {
			problems["fulfilment_webhook_url"] = "must be an https URL where rewards are announced"
		}
	}
	if in.Settings != nil {
		in.Settings.Normalize()
		for _, p := range in.Settings.Validate() {
			problems["settings."+p.Field] = p.Message
		}
	}
	return problems
}

func invalid(problems map[string]string) error {
	return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid",
		Message: fmt.Sprintf("%d problem(s) with the input; see fields", len(problems)), Fields: problems}
}

func (s *Server) createCampaign(c echo.Context) error {
	defaults := campaign.Defaults()
	in := CampaignInput{Settings: &defaults}
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	row, err := s.newCampaign(c.Request().Context(), adminFrom(c).WorkspaceID, in)
	if err != nil {
		return err
	}
	return s.answerCampaign(c, http.StatusCreated, row)
}

// newCampaign creates a campaign in the workspace (POST /api/v1/campaigns
// and the admin UI): the input is validated, its settings (the defaults when
// nil) checked against the connected portal too; every problem is an
// APIError naming its field.
func (s *Server) newCampaign(ctx context.Context, ws uuid.UUID, in CampaignInput) (db.Campaign, error) {
	if problems := in.validate(true, s.deps.WebhookPolicy); len(problems) > 0 {
		return db.Campaign{}, invalid(problems)
	}
	if in.Settings == nil { // "settings": null
		defaults := campaign.Defaults()
		in.Settings = &defaults
	}
	if problems, err := s.checkSettingsInPortal(ctx, ws, *in.Settings); err != nil {
		return db.Campaign{}, err
	} else if len(problems) > 0 {
		return db.Campaign{}, invalid(problems)
	}
	cols, err := in.Settings.Columns()
	if err != nil {
		return db.Campaign{}, err
	}
	var fulfilment *string
	if in.FulfilmentWebhookURL != nil && *in.FulfilmentWebhookURL != "" {
		fulfilment = in.FulfilmentWebhookURL
	}
	row, err := s.queries().CampaignCreate(ctx, db.CampaignCreateParams{
		WorkspaceID: ws, Name: strings.TrimSpace(*in.Name), Status: in.Status,
		LeadSettings: cols.LeadSettings, ReferrerSettings: cols.ReferrerSettings, StatusRules: cols.StatusRules,
		PropertyUpdates: cols.PropertyUpdates, ProcessRules: cols.ProcessRules, RewardRules: cols.RewardRules, PublicSettings: cols.PublicSettings, FraudChecks: cols.FraudChecks, EmailSettings: cols.EmailSettings,
		FulfilmentWebhookUrl: fulfilment,
	})
	if err != nil {
		return db.Campaign{}, campaignWriteError(err, *in.Name)
	}
	return row, nil
}

func (s *Server) listCampaigns(c echo.Context) error {
	rows, err := s.queries().CampaignListByWorkspace(c.Request().Context(), adminFrom(c).WorkspaceID)
	if err != nil {
		return err
	}
	views := make([]CampaignView, 0, len(rows))
	for _, r := range rows {
		v, err := campaignView(r)
		if err != nil {
			return err
		}
		views = append(views, v)
	}
	return c.JSON(http.StatusOK, map[string]any{"campaigns": views})
}

func (s *Server) getCampaign(c echo.Context) error {
	row, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	return s.answerCampaign(c, http.StatusOK, row)
}

// updateCampaign changes a campaign's details and moves its status, as the
// lifecycle allows (campaign.CheckTransition: 409 naming the allowed moves).
// An archived campaign is read-only (409). The change applies only if the
// status is still the one checked; otherwise 409 and the admin tries again.
func (s *Server) updateCampaign(c echo.Context) error {
	current, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	var in CampaignInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	if in.Settings != nil {
		return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: "settings are replaced with PUT /api/v1/campaigns/{id}/settings",
			Fields: map[string]string{"settings": "not accepted here"}}
	}
	row, err := s.updateCampaignDetails(c.Request().Context(), current, in)
	if errors.Is(err, errCampaignChangedMeanwhile) {
		return s.campaignChangedMeanwhile(c)
	}
	if err != nil {
		return err
	}
	return s.answerCampaign(c, http.StatusOK, row)
}

// updateCampaignDetails changes a campaign's name, status and fulfilment URL
// (PATCH /api/v1/campaigns/{id} and the admin UI); absent fields stay.
func (s *Server) updateCampaignDetails(ctx context.Context, current db.Campaign, in CampaignInput) (db.Campaign, error) {
	if problems := in.validate(false, s.deps.WebhookPolicy); len(problems) > 0 {
		return db.Campaign{}, invalid(problems)
	}
	from := campaign.Status(current.Status)
	if in.Status != nil {
		if err := campaign.CheckTransition(from, campaign.Status(*in.Status)); err != nil {
			return db.Campaign{}, &APIError{Status: http.StatusConflict, Code: "conflict", Message: err.Error(), Fields: map[string]string{"status": err.Error()}}
		}
	}
	if !from.Editable() {
		return db.Campaign{}, campaignReadOnly(from)
	}
	if in.Name != nil {
		trimmed := strings.TrimSpace(*in.Name)
		in.Name = &trimmed
	}
	row, err := s.queries().CampaignUpdateDetails(ctx, db.CampaignUpdateDetailsParams{
		ID: current.ID, WorkspaceID: current.WorkspaceID, Name: in.Name, Status: in.Status, FulfilmentWebhookUrl: in.FulfilmentWebhookURL,
		ExpectedStatus: &current.Status,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Campaign{}, errCampaignChangedMeanwhile
	}
	if err != nil {
		name := ""
		if in.Name != nil {
			name = *in.Name
		}
		return db.Campaign{}, campaignWriteError(err, name)
	}
	if in.FulfilmentWebhookURL != nil {
		// Rewards waiting on a refused fulfilment URL try the new one now.
		s.wakeWaitingReferrals(ctx, row.WorkspaceID, &row.ID, "campaign fulfilment URL saved")
	} else if from != campaign.Active && campaign.Status(row.Status) == campaign.Active {
		// Leads waiting for a draft to become active are sent now.
		s.wakeWaitingReferrals(ctx, row.WorkspaceID, &row.ID, "campaign activated")
	}
	return row, nil
}

func (s *Server) replaceCampaignSettings(c echo.Context) error {
	current, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	if st := campaign.Status(current.Status); !st.Editable() {
		return campaignReadOnly(st)
	}
	// Sections and fields left out keep their defaults.
	settings := campaign.Defaults()
	if err := decodeStrictAt(c, &settings, "settings"); err != nil {
		return err
	}
	row, err := s.saveCampaignSettings(c.Request().Context(), current, settings)
	if errors.Is(err, errCampaignChangedMeanwhile) {
		return s.campaignChangedMeanwhile(c)
	}
	if err != nil {
		return err
	}
	return s.answerCampaign(c, http.StatusOK, row)
}

// errCampaignChangedMeanwhile: the campaign was deleted or archived between
// reading and writing it.
var errCampaignChangedMeanwhile = errors.New("the campaign changed meanwhile")

// saveCampaignSettings replaces a campaign's settings (PUT
// /api/v1/campaigns/{id}/settings and the admin UI's setup pages): they are
// validated as a whole and against the connected portal (an APIError naming
// every problem's field, "settings.…"), saved, and the leads and members
// waiting on setup are sent with them.
func (s *Server) saveCampaignSettings(ctx context.Context, current db.Campaign, settings campaign.Settings) (db.Campaign, error) {
	if st := campaign.Status(current.Status); !st.Editable() {
		return db.Campaign{}, campaignReadOnly(st)
	}
	if problems := (CampaignInput{Settings: &settings}).validate(false, s.deps.WebhookPolicy); len(problems) > 0 {
		return db.Campaign{}, invalid(problems)
	}
	if problems, err := s.checkSettingsInPortal(ctx, current.WorkspaceID, settings); err != nil {
		return db.Campaign{}, err
	} else if len(problems) > 0 {
		return db.Campaign{}, invalid(problems)
	}
	cols, err := settings.Columns()
	if err != nil {
		return db.Campaign{}, err
	}
	row, err := s.queries().CampaignUpdateSettings(ctx, db.CampaignUpdateSettingsParams{
		ID: current.ID, WorkspaceID: current.WorkspaceID,
		LeadSettings: cols.LeadSettings, ReferrerSettings: cols.ReferrerSettings, StatusRules: cols.StatusRules,
		PropertyUpdates: cols.PropertyUpdates, ProcessRules: cols.ProcessRules, RewardRules: cols.RewardRules, PublicSettings: cols.PublicSettings, FraudChecks: cols.FraudChecks, EmailSettings: cols.EmailSettings,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Campaign{}, errCampaignChangedMeanwhile
	}
	if err != nil {
		return db.Campaign{}, campaignWriteError(err, current.Name)
	}
	// Leads waiting on setup (missing mapping rows, a refused property) are
	// sent with the new settings now.
	s.wakeWaitingReferrals(ctx, row.WorkspaceID, &row.ID, "campaign settings saved")
	s.wakeWaitingMembers(ctx, row.WorkspaceID, &row.ID, "campaign settings saved")
	return row, nil
}

// rotatePublishableKey gives the campaign a new publishable key: the old one
// no longer identifies it to a tracking script (pages still carrying it have
// their conversions refused until they carry the new one).
func (s *Server) rotatePublishableKey(c echo.Context) error {
	current, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	if st := campaign.Status(current.Status); !st.Editable() {
		return campaignReadOnly(st)
	}
	row, err := s.queries().CampaignRotatePublishableKey(c.Request().Context(), db.CampaignRotatePublishableKeyParams{
		ID: current.ID, WorkspaceID: adminFrom(c).WorkspaceID,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return campaignNotFound()
	}
	if err != nil {
		return err
	}
	return s.answerCampaign(c, http.StatusOK, row)
}

func (s *Server) answerCampaign(c echo.Context, status int, row db.Campaign) error {
	v, err := campaignView(row)
	if err != nil {
		return err
	}
	return c.JSON(status, v)
}

// campaignOfAdmin loads the campaign named in the path if it belongs to the
// admin's workspace; another workspace's campaign is "not found", never
// "forbidden", so IDs reveal nothing.
func (s *Server) campaignOfAdmin(c echo.Context) (db.Campaign, error) {
	id, err := campaignID(c)
	if err != nil {
		return db.Campaign{}, err
	}
	row, err := s.queries().CampaignGetByID(c.Request().Context(), id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.WorkspaceID != adminFrom(c).WorkspaceID) {
		return db.Campaign{}, campaignNotFound()
	}
	return row, err
}

func campaignID(c echo.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, NewError(http.StatusNotFound, "not_found", fmt.Sprintf("no campaign %q: campaign IDs are UUIDs", c.Param("id")))
	}
	return id, nil
}

// campaignReadOnly refuses an edit of an archived campaign.
func campaignReadOnly(st campaign.Status) error {
	return NewError(http.StatusConflict, "conflict", "the campaign is "+string(st)+": it is read-only (no edits, no new members or referrals)")
}

// campaignChangedMeanwhile answers an update that found no row to change:
// the campaign was deleted, or archived or moved to another status between
// the check and the write.
func (s *Server) campaignChangedMeanwhile(c echo.Context) error {
	row, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	if st := campaign.Status(row.Status); !st.Editable() {
		return campaignReadOnly(st)
	}
	return NewError(http.StatusConflict, "conflict", "the campaign's status changed meanwhile (it is "+row.Status+" now); read it and try again")
}

// notActiveAnswer answers a new member or referral of a campaign that takes
// none.
func notActiveAnswer(err *campaign.NotActiveError) error {
	return NewError(http.StatusConflict, "campaign_not_active", err.Error())
}

func campaignNotFound() error {
	return NewError(http.StatusNotFound, "not_found", "no such campaign in your workspace")
}

// campaignWriteError answers a campaign write that broke a uniqueness rule
// of the workspace: its name, or its public slug.
func campaignWriteError(err error, name string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "campaigns_workspace_id_public_slug_key" {
		return &APIError{Status: http.StatusConflict, Code: "conflict", Message: "another campaign of this workspace already has this public slug",
			Fields: map[string]string{"settings.public.slug": "is already used by another campaign of this workspace"}}
	}
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "campaigns_workspace_id_name_key" {
		return &APIError{Status: http.StatusConflict, Code: "conflict", Message: fmt.Sprintf("a campaign named %q already exists in this workspace", name),
			Fields: map[string]string{"name": "is already used"}}
	}
	return err
}
