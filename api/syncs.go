package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"go.temporal.io/api/serviceerror"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/contactsync"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/workflows"
)

// Contact syncs: HubSpot contacts (all, or one list's) brought in as a
// campaign's members, their referral links written back; once, or on a
// Temporal Schedule (sync/<id>) the API creates, pauses, resumes, changes
// and deletes. Runs and their progress are the workflow's and the syncs
// table's (workflows/contact_sync.go).

// maxSyncFailuresShown bounds the failures a sync's view lists.
const maxSyncFailuresShown = 100

// SyncInput creates a sync.
type SyncInput struct {
	Source   string  `json:"source"`
	ListID   *string `json:"list_id" limit:"100"`
	Mode     string  `json:"mode"`
	CronSpec *string `json:"cron_spec" limit:"100"`
	// Mapping and ReturnFields default to contactsync.DefaultMapping and
	// DefaultReturnFields when left out.
	Mapping      contactsync.Mapping      `json:"mapping"`
	ReturnFields contactsync.ReturnFields `json:"return_fields"`
}

// SyncPatch changes a sync: pause or resume its schedule, change its cron
// spec, its mapping or its return fields (from its next run on).
type SyncPatch struct {
	Paused       *bool                    `json:"paused"`
	CronSpec     *string                  `json:"cron_spec" limit:"100"`
	Mapping      contactsync.Mapping      `json:"mapping"`
	ReturnFields contactsync.ReturnFields `json:"return_fields"`
}

// SyncView is a sync as the admin API shows it.
type SyncView struct {
	ID           string                   `json:"id"`
	CampaignID   string                   `json:"campaign_id"`
	Source       contactsync.Source       `json:"source"`
	ListID       string                   `json:"list_id,omitempty"`
	Mode         contactsync.Mode         `json:"mode"`
	CronSpec     string                   `json:"cron_spec,omitempty"`
	Status       contactsync.Status       `json:"status"`
	PausedReason string                   `json:"paused_reason,omitempty"`
	Mapping      contactsync.Mapping      `json:"mapping"`
	ReturnFields contactsync.ReturnFields `json:"return_fields"`
	// Watermark: an ongoing all-contacts sync's next run reads the contacts
	// modified since.
	Watermark     *time.Time   `json:"watermark,omitempty"`
	RunsCompleted int32        `json:"runs_completed"`
	LastRun       *SyncRunView `json:"last_run"`
	// Failures are the last run's contacts that could not be synced, with
	// why (GET /api/v1/syncs/{id} only; at most 100).
	Failures    []SyncFailureView `json:"failures,omitempty"`
	ScheduleID  string            `json:"schedule_id,omitempty"`
	ScheduleURL string            `json:"schedule_url,omitempty"`
	WorkflowID  string            `json:"workflow_id"`
	WorkflowURL string            `json:"workflow_url,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// SyncRunView is a sync's last run.
type SyncRunView struct {
	Status     contactsync.RunStatus `json:"status"`
	StartedAt  *time.Time            `json:"started_at"`
	FinishedAt *time.Time            `json:"finished_at"`
	// Error is why the run failed, or why it waits.
	Error string            `json:"error,omitempty"`
	Stats contactsync.Stats `json:"stats"`
}

// SyncFailureView is one contact a run could not sync.
type SyncFailureView struct {
	HubSpotContactID string    `json:"hubspot_contact_id"`
	Reason           string    `json:"reason"`
	At               time.Time `json:"at"`
}

func (s *Server) routeSyncs(admin *echo.Group) {
	admin.POST("/campaigns/:id/syncs", s.createSync)
	admin.GET("/campaigns/:id/syncs", s.listSyncs)
	admin.GET("/syncs/:id", s.getSync)
	admin.PATCH("/syncs/:id", s.updateSync)
	admin.DELETE("/syncs/:id", s.deleteSync)
	admin.POST("/syncs/:id/run", s.runSync)
}

func (s *Server) syncView(row db.Sync) SyncView {
	v := SyncView{
		ID: row.ID.String(), CampaignID: row.CampaignID.String(), Source: contactsync.Source(row.Source),
		ListID: deref(row.ListID), Mode: contactsync.Mode(row.Mode), CronSpec: deref(row.CronSpec),
		Status: contactsync.Status(row.Status), PausedReason: deref(row.PausedReason),
		Watermark: row.Watermark, RunsCompleted: row.RunsCompleted,
		WorkflowID: workflows.ContactSyncWorkflowID(row.ID.String()), CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt,
	}
	_ = json.Unmarshal(row.Mapping, &v.Mapping)
	_ = json.Unmarshal(row.ReturnFields, &v.ReturnFields)
	if row.LastRunStatus != nil {
		run := &SyncRunView{Status: contactsync.RunStatus(*row.LastRunStatus), StartedAt: row.LastRunStartedAt,
			FinishedAt: row.LastRunFinishedAt, Error: deref(row.LastRunError)}
		_ = json.Unmarshal(row.LastRunStats, &run.Stats)
		v.LastRun = run
	}
	if row.ScheduleID != nil {
		v.ScheduleID = *row.ScheduleID
		v.ScheduleURL = strings.TrimRight(s.deps.TemporalUIURL, "/") + "/namespaces/" + url.PathEscape(s.deps.TemporalNamespace) +
			"/schedules/" + url.PathEscape(v.ScheduleID)
	} else {
		v.WorkflowURL = s.workflowURL(v.WorkflowID)
	}
	return v
}

// syncOfAdmin loads the sync named in the path, in the admin's workspace.
func (s *Server) syncOfAdmin(c echo.Context) (db.Sync, error) {
	notFound := NewError(http.StatusNotFound, "not_found", "no such sync in your workspace")
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return db.Sync{}, notFound
	}
	row, err := s.queries().SyncGetByID(c.Request().Context(), id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.WorkspaceID != adminFrom(c).WorkspaceID) {
		return db.Sync{}, notFound
	}
	return row, err
}

func (s *Server) requireSyncDeps() error {
	if s.deps.Temporal == nil || s.deps.HubSpot == nil {
		return NewError(http.StatusServiceUnavailable, "unavailable", "contact syncs need Temporal and HubSpot configured on this server")
	}
	return nil
}

// requireConnected refuses a sync while the workspace's HubSpot is not
// connected: there would be nothing to read.
func (s *Server) requireConnected(ctx context.Context, ws uuid.UUID) error {
	st, err := s.deps.HubSpot.Status(ctx, ws)
	if err != nil {
		return err
	}
	if st.Status != hubspotconn.StatusConnected {
		return NewError(http.StatusConflict, "hubspot_not_connected", "HubSpot is "+strings.ReplaceAll(st.Status, "_", " ")+" for this workspace: connect it first (GET /oauth/hubspot/connect)")
	}
	return nil
}

func (s *Server) createSync(c echo.Context) error {
	if err := s.requireSyncDeps(); err != nil {
		return err
	}
	camp, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	var in SyncInput
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	row, err := s.startSync(c.Request().Context(), camp, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.syncView(row))
}

// startSync creates a sync of the campaign and starts it: its one run, or
// its schedule. The JSON API and the syncs page both call it.
func (s *Server) startSync(ctx context.Context, camp db.Campaign, in SyncInput) (db.Sync, error) {
	if err := s.requireSyncDeps(); err != nil {
		return db.Sync{}, err
	}
	if in.Mode == "" {
		in.Mode = string(contactsync.ModeOneTime)
	}
	if in.Mapping == nil {
		in.Mapping = contactsync.DefaultMapping()
	}
	if in.ReturnFields == nil {
		in.ReturnFields = contactsync.DefaultReturnFields()
	}
	problems := map[string]string{}
	switch contactsync.Source(in.Source) {
	case contactsync.SourceAllContacts:
		if in.ListID != nil {
			problems["list_id"] = "is only for source list"
		}
	case contactsync.SourceList:
		if in.ListID == nil || strings.TrimSpace(*in.ListID) == "" {
			problems["list_id"] = "is required for source list: a HubSpot list's ID (GET /api/v1/hubspot/lists)"
		}
	default:
		problems["source"] = "must be all_contacts or list"
	}
	switch contactsync.Mode(in.Mode) {
	case contactsync.ModeOneTime:
		if in.CronSpec != nil {
			problems["cron_spec"] = "is only for mode ongoing"
		}
	case contactsync.ModeOngoing:
		if in.CronSpec == nil {
			spec := contactsync.DefaultCronSpec
			in.CronSpec = &spec
		}
		if p := cronProblem(*in.CronSpec); p != "" {
			problems["cron_spec"] = p
		}
	default:
		problems["mode"] = "must be one_time or ongoing"
	}
	for k, v := range in.Mapping.Validate("mapping") {
		problems[k] = v
	}
	for k, v := range in.ReturnFields.Validate("return_fields") {
		problems[k] = v
	}
	if len(problems) > 0 {
		return db.Sync{}, invalid(problems)
	}
	if err := campaign.CheckTakesNew(campaign.Status(camp.Status)); err != nil {
		var notActive *campaign.NotActiveError
		if errors.As(err, &notActive) {
			return db.Sync{}, notActiveAnswer(notActive)
		}
		return db.Sync{}, err
	}
	if err := s.requireConnected(ctx, camp.WorkspaceID); err != nil {
		return db.Sync{}, err
	}
	summary := fmt.Sprintf("Contact sync of campaign %q from all contacts", camp.Name)
	if in.ListID != nil {
		if err := s.checkSyncList(ctx, camp.WorkspaceID, *in.ListID); err != nil {
			return db.Sync{}, err
		}
		summary = fmt.Sprintf("Contact sync of campaign %q from HubSpot list %s", camp.Name, *in.ListID)
	}
	mapping, _ := json.Marshal(in.Mapping)
	returns, _ := json.Marshal(in.ReturnFields)
	id := uuid.New()
	arg := db.SyncCreateParams{
		ID: id, WorkspaceID: camp.WorkspaceID, CampaignID: camp.ID, Source: in.Source, ListID: in.ListID,
		Mode: in.Mode, CronSpec: in.CronSpec, Mapping: mapping, ReturnFields: returns,
	}
	if contactsync.Mode(in.Mode) == contactsync.ModeOngoing {
		sid := workflows.ContactSyncScheduleID(id.String())
		arg.ScheduleID = &sid
	}
	row, err := s.queries().SyncCreate(ctx, arg)
	if err != nil {
		return db.Sync{}, err
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if contactsync.Mode(in.Mode) == contactsync.ModeOngoing {
		err = workflows.CreateContactSyncSchedule(tctx, s.deps.Temporal, workflows.ContactSyncSchedule{
			SyncID: row.ID.String(), CronSpec: *in.CronSpec, Summary: summary,
			TaskQueue: s.deps.TaskQueue, HubSpotTaskQueue: s.deps.HubSpotTaskQueue,
		})
	} else {
		err = workflows.StartContactSyncRun(tctx, s.deps.Temporal, s.deps.TaskQueue, s.deps.HubSpotTaskQueue, row.ID.String(), summary)
	}
	if err != nil {
		// Nothing runs it: take it back, and say why.
		_ = s.queries().SyncDelete(context.WithoutCancel(ctx), row.ID)
		var invalidArg *serviceerror.InvalidArgument
		if errors.As(err, &invalidArg) {
			return db.Sync{}, invalid(map[string]string{"cron_spec": "Temporal refused it: " + invalidArg.Message})
		}
		return db.Sync{}, NewError(http.StatusServiceUnavailable, "unavailable", "the sync could not be started (Temporal): "+err.Error())
	}
	return row, nil
}

// cronProblem checks a cron spec's shape (five fields, or a @ shorthand
// Temporal knows); Temporal checks the rest when the schedule is saved.
func cronProblem(spec string) string {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return "must not be empty"
	case strings.HasPrefix(spec, "@"):
		return ""
	case len(strings.Fields(spec)) != 5:
		return `must be a cron spec of five fields (minute hour day-of-month month day-of-week), e.g. "*/15 * * * *"`
	}
	return ""
}

// checkSyncList checks that the list exists in the connected portal and
// holds contacts.
func (s *Server) checkSyncList(ctx context.Context, ws uuid.UUID, listID string) error {
	client, _, err := s.deps.HubSpot.Client(ctx, ws)
	if err != nil {
		return NewError(http.StatusConflict, "hubspot_not_connected", err.Error())
	}
	l, err := client.GetList(ctx, listID)
	var notFound *hubspot.NotFoundError
	var validation *hubspot.ValidationError
	switch {
	case errors.As(err, &notFound), errors.As(err, &validation):
		return invalid(map[string]string{"list_id": "is not a list of the connected HubSpot portal (GET /api/v1/hubspot/lists)"})
	case err != nil:
		return NewError(http.StatusBadGateway, "hubspot_unavailable", "HubSpot could not be asked about the list: "+err.Error())
	case l.ObjectTypeID != hubspot.ContactObjectTypeID:
		return invalid(map[string]string{"list_id": "is a list of " + l.ObjectTypeID + " records, not of contacts"})
	}
	return nil
}

func (s *Server) listSyncs(c echo.Context) error {
	camp, err := s.campaignOfAdmin(c)
	if err != nil {
		return err
	}
	rows, err := s.queries().SyncListByCampaign(c.Request().Context(), camp.ID)
	if err != nil {
		return err
	}
	views := make([]SyncView, 0, len(rows))
	for _, r := range rows {
		views = append(views, s.syncView(r))
	}
	return c.JSON(http.StatusOK, map[string]any{"syncs": views})
}

func (s *Server) getSync(c echo.Context) error {
	row, err := s.syncOfAdmin(c)
	if err != nil {
		return err
	}
	v, err := s.syncDetail(c.Request().Context(), row)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// syncDetail is a sync's view with its last run's failures.
func (s *Server) syncDetail(ctx context.Context, row db.Sync) (SyncView, error) {
	v := s.syncView(row)
	failures, err := s.queries().SyncFailureListBySync(ctx, db.SyncFailureListBySyncParams{SyncID: row.ID, MaxRows: maxSyncFailuresShown})
	if err != nil {
		return v, err
	}
	v.Failures = make([]SyncFailureView, 0, len(failures))
	for _, f := range failures {
		v.Failures = append(v.Failures, SyncFailureView{HubSpotContactID: f.HubspotContactID, Reason: f.Reason, At: f.CreatedAt})
	}
	return v, nil
}

func (s *Server) updateSync(c echo.Context) error {
	if err := s.requireSyncDeps(); err != nil {
		return err
	}
	row, err := s.syncOfAdmin(c)
	if err != nil {
		return err
	}
	var in SyncPatch
	if err := decodeStrict(c, &in); err != nil {
		return err
	}
	if row, err = s.changeSync(c.Request().Context(), row, in); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.syncView(row))
}

// changeSync pauses, resumes or changes a sync (PATCH /syncs/{id} and the
// syncs page).
func (s *Server) changeSync(ctx context.Context, row db.Sync, in SyncPatch) (db.Sync, error) {
	if err := s.requireSyncDeps(); err != nil {
		return row, err
	}
	var err error
	ongoing := contactsync.Mode(row.Mode) == contactsync.ModeOngoing
	problems := map[string]string{}
	if in.Paused != nil && !ongoing {
		problems["paused"] = "only an ongoing sync (a schedule) can be paused or resumed"
	}
	if in.CronSpec != nil {
		if !ongoing {
			problems["cron_spec"] = "is only for mode ongoing"
		} else if p := cronProblem(*in.CronSpec); p != "" {
			problems["cron_spec"] = p
		}
	}
	if in.Mapping != nil {
		for k, v := range in.Mapping.Validate("mapping") {
			problems[k] = v
		}
	}
	if in.ReturnFields != nil {
		for k, v := range in.ReturnFields.Validate("return_fields") {
			problems[k] = v
		}
	}
	if len(problems) > 0 {
		return row, invalid(problems)
	}
	if in.Paused != nil && !*in.Paused {
		if err := s.requireConnected(ctx, row.WorkspaceID); err != nil {
			return row, err
		}
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id := row.ID.String()
	if in.CronSpec != nil || in.Mapping != nil || in.ReturnFields != nil {
		arg := db.SyncUpdateSettingsParams{ID: row.ID, CronSpec: row.CronSpec, Mapping: row.Mapping, ReturnFields: row.ReturnFields}
		if in.CronSpec != nil {
			if err := workflows.SetContactSyncScheduleCron(tctx, s.deps.Temporal, id, *in.CronSpec); err != nil {
				var invalidArg *serviceerror.InvalidArgument
				if errors.As(err, &invalidArg) {
					return row, invalid(map[string]string{"cron_spec": "Temporal refused it: " + invalidArg.Message})
				}
				return row, err
			}
			arg.CronSpec = in.CronSpec
		}
		if in.Mapping != nil {
			arg.Mapping, _ = json.Marshal(in.Mapping)
		}
		if in.ReturnFields != nil {
			arg.ReturnFields, _ = json.Marshal(in.ReturnFields)
		}
		if row, err = s.queries().SyncUpdateSettings(ctx, arg); err != nil {
			return row, err
		}
	}
	if in.Paused != nil {
		status, note := contactsync.StatusActive, "resumed by an admin"
		if *in.Paused {
			status, note = contactsync.StatusPaused, "paused by an admin"
			err = workflows.PauseContactSyncSchedule(tctx, s.deps.Temporal, id, note)
		} else {
			err = workflows.ResumeContactSyncSchedule(tctx, s.deps.Temporal, id, note)
		}
		if err != nil {
			return row, err
		}
		if row, err = s.queries().SyncSetStatus(ctx, db.SyncSetStatusParams{ID: row.ID, Status: string(status)}); err != nil {
			return row, err
		}
		if !*in.Paused {
			s.wakeSyncRuns(tctx, id)
		}
	}
	return row, nil
}

// wakeSyncRuns makes a resumed sync's runs that wait (HubSpot was
// disconnected) try again now rather than at their timer.
func (s *Server) wakeSyncRuns(ctx context.Context, syncID string) {
	d, err := workflows.DescribeContactSyncSchedule(ctx, s.deps.Temporal, syncID)
	if err != nil {
		return
	}
	for _, run := range d.Info.RunningWorkflows {
		_ = s.deps.Temporal.SignalWorkflow(ctx, run.WorkflowID, "", workflows.SignalContactSyncRetry, nil)
	}
}

// wakeWaitingSyncs makes the workspace's runs that wait on HubSpot try
// again now (HubSpot was just connected).
func (s *Server) wakeWaitingSyncs(ctx context.Context, ws uuid.UUID) {
	if s.deps.Temporal == nil {
		return
	}
	rows, err := s.queries().SyncListWaitingByWorkspace(ctx, ws)
	if err != nil {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, r := range rows {
		if r.ScheduleID != nil {
			s.wakeSyncRuns(tctx, r.ID.String())
			continue
		}
		_ = s.deps.Temporal.SignalWorkflow(tctx, workflows.ContactSyncWorkflowID(r.ID.String()), "", workflows.SignalContactSyncRetry, nil)
	}
}

func (s *Server) deleteSync(c echo.Context) error {
	if err := s.requireSyncDeps(); err != nil {
		return err
	}
	row, err := s.syncOfAdmin(c)
	if err != nil {
		return err
	}
	if err := s.removeSync(c.Request().Context(), row); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// removeSync deletes a sync and its schedule.
func (s *Server) removeSync(ctx context.Context, row db.Sync) error {
	if err := s.requireSyncDeps(); err != nil {
		return err
	}
	if row.ScheduleID != nil {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := workflows.DeleteContactSyncSchedule(tctx, s.deps.Temporal, row.ID.String()); err != nil {
			return err
		}
	}
	return s.queries().SyncDelete(ctx, row.ID)
}

// runSync runs an ongoing sync now, besides its schedule (skipped by the
// schedule when a run is under way).
func (s *Server) runSync(c echo.Context) error {
	if err := s.requireSyncDeps(); err != nil {
		return err
	}
	row, err := s.syncOfAdmin(c)
	if err != nil {
		return err
	}
	if err := s.runSyncNow(c.Request().Context(), row); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, s.syncView(row))
}

// runSyncNow runs an ongoing sync now (POST /syncs/{id}/run and the page).
func (s *Server) runSyncNow(ctx context.Context, row db.Sync) error {
	if err := s.requireSyncDeps(); err != nil {
		return err
	}
	if contactsync.Mode(row.Mode) != contactsync.ModeOngoing {
		return NewError(http.StatusConflict, "conflict", "a one-time sync runs once, when it is created: create another to run it again")
	}
	if contactsync.Status(row.Status) == contactsync.StatusPaused {
		return NewError(http.StatusConflict, "conflict", "the sync is paused: resume it first (PATCH {\"paused\": false})")
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return workflows.TriggerContactSyncSchedule(tctx, s.deps.Temporal, row.ID.String())
}

// pauseSyncsOnDisconnect pauses every running schedule of the workspace
// when HubSpot is disconnected (a hubspotconn.DisconnectHook), saying why;
// they stay paused until an admin resumes them after reconnecting.
func (s *Server) pauseSyncsOnDisconnect(ctx context.Context, ws uuid.UUID) error {
	rows, err := s.queries().SyncListActiveSchedulesByWorkspace(ctx, ws)
	if err != nil {
		return err
	}
	var errs []error
	reason := contactsync.PausedOnDisconnect
	for _, r := range rows {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := workflows.PauseContactSyncSchedule(tctx, s.deps.Temporal, r.ID.String(), reason)
		cancel()
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			errs = append(errs, err)
			continue
		}
		if _, err := s.queries().SyncSetStatus(ctx, db.SyncSetStatusParams{ID: r.ID, Status: string(contactsync.StatusPaused), PausedReason: &reason}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
