package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/salesentry"
)

// The Sales Receiver's admin API: the log of every HubSpot event received
// (sales entries), one entry with its raw payload and everything done with
// it, and the review queue with its decisions (review_entries.go). Every
// list reads Postgres; decisions go to the workflow holding the entry.

// routeSalesReceiver registers the Sales Receiver's admin API: sales entries, the review queue and decisions.
func (s *Server) routeSalesReceiver(g *echo.Group) {
	g.GET("/sales-entries", s.listSalesEntries)
	g.GET("/sales-entries/:id", s.getSalesEntry)
	g.POST("/sales-entries/:id/rerun", s.rerunSalesEntry)
	g.GET("/review-entries", s.listReviewEntries)
	g.GET("/review-entries/:id", s.getReviewEntry)
	g.POST("/review-entries/:id/decisions", s.decideReviewEntry)
}

// SalesEntryView is a sales entry as the admin API shows it. Payload and
// ReviewEntry are filled on reads of one entry.
type SalesEntryView struct {
	ID               int64            `json:"id"`
	PortalID         int64            `json:"portal_id"`
	EventID          *int64           `json:"event_id,omitempty"`
	SubscriptionType string           `json:"subscription_type"`
	ObjectType       string           `json:"object_type"`
	ObjectID         int64            `json:"object_id"`
	PropertyName     string           `json:"property_name,omitempty"`
	PropertyValue    string           `json:"property_value,omitempty"`
	ChangeSource     string           `json:"change_source,omitempty"`
	AttemptNumber    *int32           `json:"attempt_number,omitempty"`
	OccurredAt       time.Time        `json:"occurred_at"`
	ReceivedAt       time.Time        `json:"received_at"`
	Status           string           `json:"status"`
	CampaignID       *string          `json:"campaign_id"`
	ReferralID       *string          `json:"referral_id"`
	MemberID         *string          `json:"member_id"`
	Actions          json.RawMessage  `json:"actions"`
	Error            string           `json:"error,omitempty"`
	ProcessedAt      *time.Time       `json:"processed_at,omitempty"`
	Dispatch         DispatchView     `json:"dispatch"`
	WorkflowID       string           `json:"workflow_id,omitempty"`
	WorkflowURL      string           `json:"workflow_url,omitempty"`
	Payload          json.RawMessage  `json:"payload,omitempty"`
	ReviewEntry      *ReviewEntryView `json:"review_entry,omitempty"`
	// RerunOf is the entry an admin re-ran as this one; RerunAs the
	// entries this one was re-run as (reads of one entry).
	RerunOf *int64  `json:"rerun_of,omitempty"`
	RerunAs []int64 `json:"rerun_as,omitempty"`
}

// DispatchView is where handing the entry to a workflow stands: the
// receiver records first and dispatches from Postgres, retrying with backoff
// while Temporal is unreachable.
type DispatchView struct {
	Attempts     int32      `json:"attempts"`
	NextAt       *time.Time `json:"next_at,omitempty"`
	Error        string     `json:"error,omitempty"`
	DispatchedAt *time.Time `json:"dispatched_at,omitempty"`
}

func (s *Server) salesEntryView(e db.SalesEntry) SalesEntryView {
	v := SalesEntryView{
		ID: e.ID, PortalID: e.PortalID, EventID: e.EventID, SubscriptionType: e.SubscriptionType,
		ObjectType: e.ObjectType, ObjectID: e.ObjectID, PropertyName: deref(e.PropertyName), PropertyValue: deref(e.PropertyValue),
		ChangeSource: deref(e.ChangeSource), AttemptNumber: e.AttemptNumber, OccurredAt: e.OccurredAt, ReceivedAt: e.ReceivedAt,
		Status: e.Status, CampaignID: uuidString(e.CampaignID), ReferralID: uuidString(e.ReferralID), MemberID: uuidString(e.MemberID),
		Actions: e.Actions, Error: deref(e.Error), ProcessedAt: e.ProcessedAt,
		Dispatch:   DispatchView{Attempts: e.DispatchAttempts, Error: deref(e.DispatchError), DispatchedAt: e.DispatchedAt},
		WorkflowID: deref(e.WorkflowID), RerunOf: e.RerunOf,
	}
	if e.DispatchedAt == nil {
		next := e.NextDispatchAt
		v.Dispatch.NextAt = &next
	}
	if len(v.Actions) == 0 {
		v.Actions = json.RawMessage("[]")
	}
	v.WorkflowURL = s.workflowURL(v.WorkflowID)
	return v
}

// SalesEntryList is one page of sales entries; NextCursor, when not null,
// fetches the next page.
type SalesEntryList struct {
	SalesEntries []SalesEntryView `json:"sales_entries"`
	NextCursor   *string          `json:"next_cursor"`
}

func (s *Server) listSalesEntries(c echo.Context) error {
	out, err := s.salesEntryList(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// salesEntryList is the page of the Sales Receiver's log the request's
// query asks for: the JSON list's and the admin UI's.
func (s *Server) salesEntryList(c echo.Context) (SalesEntryList, error) {
	q := newListQuery(c, "status", "campaign_id", "object_type", "object_id", "since", "until", "limit", "cursor")
	params := db.SalesEntryListFilteredParams{
		WorkspaceID: adminFrom(c).WorkspaceID,
		Status:      q.oneOf("status", words(salesentry.Statuses)),
		CampaignID:  q.uuid("campaign_id"),
		ObjectType:  q.oneOf("object_type", words(hubspotobject.Types)),
		ObjectID:    q.positiveInt("object_id"),
		Since:       q.time("since"),
		Until:       q.time("until"),
		BeforeID:    math.MaxInt64, // the first page starts after every entry
	}
	if params.Since != nil && params.Until != nil && !params.Until.After(*params.Since) {
		q.problems["until"] = "must be later than since"
	}
	limit := q.limit()
	if cur, ok := q.cursor("sales_entries"); ok {
		params.BeforeID = cur.int64ID(q)
	}
	if err := q.err(); err != nil {
		return SalesEntryList{}, err
	}
	params.PageSize = limit + 1
	rows, err := s.queries().SalesEntryListFiltered(c.Request().Context(), params)
	if err != nil {
		return SalesEntryList{}, fmt.Errorf("list sales entries: %w", err)
	}
	out := SalesEntryList{SalesEntries: make([]SalesEntryView, 0, min(len(rows), int(limit)))}
	for i, e := range rows {
		if i == int(limit) {
			out.NextCursor = pageCursor{Kind: "sales_entries", ID: strconv.FormatInt(rows[i-1].ID, 10)}.encode()
			break
		}
		out.SalesEntries = append(out.SalesEntries, s.salesEntryView(e))
	}
	return out, nil
}

// getSalesEntry is one entry with HubSpot's raw payload, what was done with
// it, and the review entry it went to, if any.
func (s *Server) getSalesEntry(c echo.Context) error {
	v, err := s.salesEntryDetail(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// salesEntryDetail is the sales entry in the path (of the admin's
// workspace) with its payload and review entry: the JSON API's and the
// admin UI's.
func (s *Server) salesEntryDetail(c echo.Context) (SalesEntryView, error) {
	ctx := c.Request().Context()
	notFound := NewError(http.StatusNotFound, "not_found", "no such sales entry in your workspace")
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return SalesEntryView{}, NewError(http.StatusNotFound, "not_found", "no such sales entry: sales entry IDs are positive whole numbers")
	}
	e, err := s.queries().SalesEntryGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (e.WorkspaceID == nil || *e.WorkspaceID != adminFrom(c).WorkspaceID)) {
		return SalesEntryView{}, notFound
	}
	if err != nil {
		return SalesEntryView{}, fmt.Errorf("load sales entry: %w", err)
	}
	v := s.salesEntryView(e)
	v.Payload = e.Payload
	if v.RerunAs, err = s.queries().SalesEntryListReruns(ctx, &e.ID); err != nil {
		return SalesEntryView{}, fmt.Errorf("list the sales entry's re-runs: %w", err)
	}
	review, err := s.queries().ReviewEntryGetLatestOfSalesEntry(ctx, &e.ID)
	switch {
	case err == nil:
		rv := s.reviewEntryView(review)
		v.ReviewEntry = &rv
	case !errors.Is(err, pgx.ErrNoRows):
		return SalesEntryView{}, fmt.Errorf("load the sales entry's review entry: %w", err)
	}
	return v, nil
}
