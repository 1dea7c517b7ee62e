package api

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/contactsync"
	"github.com/referflow/referflow/internal/hubspot"
)

// The syncs pages: each campaign's contact syncs with their progress, a
// form to start one (all contacts or a list picked from the connected
// portal's lists, once or on a schedule), and per sync pause, resume,
// change the schedule, run now and delete — through the functions the JSON
// API calls (syncs.go: startSync, changeSync, runSyncNow, removeSync).

const navSyncs = "syncs"

func (s *Server) routeAdminSyncs(g *echo.Group) {
	g.GET("/syncs", s.adminSyncs)
	g.POST("/syncs", s.adminSyncStart)
	g.GET("/syncs/:id", s.adminSync)
	g.POST("/syncs/:id/pause", s.adminSyncPause)
	g.POST("/syncs/:id/resume", s.adminSyncResume)
	g.POST("/syncs/:id/schedule", s.adminSyncSchedule)
	g.POST("/syncs/:id/run", s.adminSyncRun)
	g.POST("/syncs/:id/delete", s.adminSyncDelete)
}

// syncsOfCampaign is one campaign's syncs on the page.
type syncsOfCampaign struct {
	Campaign db.Campaign
	Syncs    []SyncView
}

type syncsPage struct {
	AdminPage
	Campaigns []syncsOfCampaign
	Form      []adminField
	// ListsProblem says why the portal's lists could not be offered.
	ListsProblem string
}

func (s *Server) adminSyncs(c echo.Context) error {
	return s.renderSyncs(c, http.StatusOK, s.newAdminPage(c, "Contact syncs", navSyncs), nil)
}

func (s *Server) renderSyncs(c echo.Context, status int, page AdminPage, form map[string]string) error {
	ctx := c.Request().Context()
	p := syncsPage{AdminPage: page}
	campaigns, err := s.queries().CampaignListByWorkspace(ctx, adminFrom(c).WorkspaceID)
	if err != nil {
		return err
	}
	campaignOpts := []adminOption{}
	for _, cp := range campaigns {
		rows, err := s.queries().SyncListByCampaign(ctx, cp.ID)
		if err != nil {
			return err
		}
		g := syncsOfCampaign{Campaign: cp}
		for _, r := range rows {
			g.Syncs = append(g.Syncs, s.syncView(r))
		}
		p.Campaigns = append(p.Campaigns, g)
		campaignOpts = append(campaignOpts, adminOption{Value: cp.ID.String(), Label: cp.Name, Selected: form["campaign_id"] == cp.ID.String()})
	}
	listOpts := []adminOption{{Value: "", Label: "All contacts"}}
	if s.deps.HubSpot != nil {
		lists, err := s.portalLists(ctx, adminFrom(c).WorkspaceID, false)
		if err != nil {
			p.ListsProblem = "The portal's lists could not be read (" + err.Error() + "): only all contacts can be picked now."
		}
		for _, l := range lists {
			if l.ObjectTypeID != hubspot.ContactObjectTypeID {
				continue
			}
			listOpts = append(listOpts, adminOption{Value: l.ListID, Label: "List: " + l.Name, Selected: form["list_id"] == l.ListID})
		}
	}
	mode := form["mode"]
	cron := form["cron_spec"]
	if cron == "" {
		cron = contactsync.DefaultCronSpec
	}
	p.Form = []adminField{
		{Name: "campaign_id", ID: "sync-campaign", Label: "Campaign", Type: "select", Required: true, Options: campaignOpts},
		{Name: "list_id", ID: "sync-list", Label: "Contacts", Hint: "All of the portal's contacts, or the contacts of one of its lists.", Type: "select", Options: listOpts},
		{Name: "mode", ID: "sync-mode", Label: "When", Type: "select", Required: true, Options: []adminOption{
			{Value: string(contactsync.ModeOneTime), Label: "Once, now", Selected: mode != string(contactsync.ModeOngoing)},
			{Value: string(contactsync.ModeOngoing), Label: "On a schedule", Selected: mode == string(contactsync.ModeOngoing)}}},
		{Name: "cron_spec", ID: "sync-cron", Label: "Schedule (cron, for a scheduled sync)", Hint: "Five fields: minute hour day-of-month month day-of-week. The default runs every 15 minutes.",
			Type: "text", MaxLength: 100, Value: cron, Autocomplete: "off"},
	}
	for i := range p.Form {
		p.Form[i].Error = p.FieldError(p.Form[i].Name)
	}
	if p.FieldError("source") != "" {
		p.Form[1].Error = p.FieldError("source")
	}
	return renderAdmin(c, status, "admin_syncs", p)
}

func (s *Server) adminSyncStart(c echo.Context) error {
	form := map[string]string{}
	for _, name := range []string{"campaign_id", "list_id", "mode", "cron_spec"} {
		form[name] = adminFormValue(c, name)
	}
	page := s.newAdminPage(c, "Contact syncs", navSyncs)
	fail := func(err error) error {
		if !page.SetProblems(err) {
			return err
		}
		return s.renderSyncs(c, statusOf(err), page, form)
	}
	id, err := uuid.Parse(form["campaign_id"])
	if err != nil {
		return fail(invalid(map[string]string{"campaign_id": "pick a campaign"}))
	}
	camp, err := s.queries().CampaignGetByID(c.Request().Context(), id)
	if err != nil || camp.WorkspaceID != adminFrom(c).WorkspaceID {
		return fail(invalid(map[string]string{"campaign_id": "pick a campaign of this workspace"}))
	}
	in := SyncInput{Source: string(contactsync.SourceAllContacts), Mode: form["mode"]}
	if form["list_id"] != "" {
		in.Source, in.ListID = string(contactsync.SourceList), ptrString(form["list_id"])
	}
	if in.Mode == string(contactsync.ModeOngoing) {
		in.CronSpec = ptrString(form["cron_spec"])
	}
	row, err := s.startSync(c.Request().Context(), camp, in)
	if err != nil {
		return fail(err)
	}
	return s.redirectWithFlash(c, "/admin/syncs/"+row.ID.String(), "The sync is started.")
}

func ptrString(v string) *string { return &v }

type syncPage struct {
	AdminPage
	Sync     SyncView
	Campaign string
	Cron     adminField
}

func (s *Server) adminSync(c echo.Context) error {
	return s.renderSync(c, http.StatusOK, s.newAdminPage(c, "Contact sync", navSyncs), "")
}

func (s *Server) renderSync(c echo.Context, status int, page AdminPage, cron string) error {
	row, err := s.syncOfAdmin(c)
	if err != nil {
		return err
	}
	v, err := s.syncDetail(c.Request().Context(), row)
	if err != nil {
		return err
	}
	p := syncPage{AdminPage: page, Sync: v}
	if cp, err := s.queries().CampaignGetByID(c.Request().Context(), row.CampaignID); err == nil {
		p.Campaign = cp.Name
	}
	if cron == "" {
		cron = v.CronSpec
	}
	p.Cron = adminField{Name: "cron_spec", ID: "sync-cron", Label: "Schedule (cron)", Hint: "Five fields: minute hour day-of-month month day-of-week.",
		Type: "text", Required: true, MaxLength: 100, Value: cron, Error: page.FieldError("cron_spec"), Autocomplete: "off"}
	return renderAdmin(c, status, "admin_sync", p)
}

// adminSyncAction runs one action on the path's sync and comes back to its
// page saying what was done, or why not.
func (s *Server) adminSyncAction(c echo.Context, done string, act func(db.Sync) error) error {
	row, err := s.syncOfAdmin(c)
	if err != nil {
		return err
	}
	if err := act(row); err != nil {
		page := s.newAdminPage(c, "Contact sync", navSyncs)
		if !page.SetProblems(err) {
			return err
		}
		return s.renderSync(c, statusOf(err), page, adminFormValue(c, "cron_spec"))
	}
	return s.redirectWithFlash(c, "/admin/syncs/"+row.ID.String(), done)
}

func (s *Server) adminSyncPause(c echo.Context) error {
	paused := true
	return s.adminSyncAction(c, "The sync is paused: its schedule starts no run until it is resumed.", func(row db.Sync) error {
		_, err := s.changeSync(c.Request().Context(), row, SyncPatch{Paused: &paused})
		return err
	})
}

func (s *Server) adminSyncResume(c echo.Context) error {
	paused := false
	return s.adminSyncAction(c, "The sync is resumed.", func(row db.Sync) error {
		_, err := s.changeSync(c.Request().Context(), row, SyncPatch{Paused: &paused})
		return err
	})
}

func (s *Server) adminSyncSchedule(c echo.Context) error {
	cron := adminFormValue(c, "cron_spec")
	return s.adminSyncAction(c, "The schedule is changed to "+cron+".", func(row db.Sync) error {
		_, err := s.changeSync(c.Request().Context(), row, SyncPatch{CronSpec: &cron})
		return err
	})
}

func (s *Server) adminSyncRun(c echo.Context) error {
	return s.adminSyncAction(c, "A run is started now.", func(row db.Sync) error {
		return s.runSyncNow(c.Request().Context(), row)
	})
}

func (s *Server) adminSyncDelete(c echo.Context) error {
	row, err := s.syncOfAdmin(c)
	if err != nil {
		return err
	}
	if err := s.removeSync(c.Request().Context(), row); err != nil {
		return err
	}
	return s.redirectWithFlash(c, "/admin/syncs", "The sync is deleted: its schedule is gone; the members it brought in stay.")
}
