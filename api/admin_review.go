package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/review"
)

// The admin UI's review queue: the open entries (reviewEntryList), and an
// entry's page with what HubSpot sent, what the rules propose and the
// decisions (approve, edit and re-match, attach to a referral or a member,
// dismiss, reject a held change), each sent by decideReview — the JSON
// API's workflow updates; a validator's refusal shows on the page.

const navReview = "review"

func (s *Server) routeAdminReview(g *echo.Group) {
	g.GET("/review", s.adminReviewQueue)
	g.GET("/review/:id", s.adminReviewEntry)
	g.POST("/review/:id/decision", s.adminDecideReviewEntry)
}

type reviewQueuePage struct {
	AdminPage
	Statuses []adminOption
	Entries  []ReviewEntryView
	NextPage string
}

func (s *Server) adminReviewQueue(c echo.Context) error {
	p := reviewQueuePage{AdminPage: s.newAdminPage(c, "Review queue", navReview)}
	status := strings.TrimSpace(c.QueryParam("status"))
	for _, st := range review.Statuses {
		p.Statuses = append(p.Statuses, adminOption{Value: string(st), Label: string(st), Selected: string(st) == status})
	}
	list, err := s.reviewEntryList(c)
	code := http.StatusOK
	if err != nil {
		if !p.SetProblems(err) {
			return err
		}
		code = statusOf(err)
	}
	p.Entries = list.ReviewEntries
	if list.NextCursor != nil {
		p.NextPage = "/admin/review?status=" + status + "&cursor=" + *list.NextCursor
	}
	return renderAdmin(c, code, "admin_review_queue", &p)
}

type reviewEntryPage struct {
	AdminPage
	Entry ReviewEntryView
	// Data is the entry's matching data and proposal, indented; Payload
	// what HubSpot sent (the sales entry's raw payload), when it has one.
	Data, Payload string
	Open          bool
	HeldChange    bool
	EditFields    []adminField
	ReasonField   adminField
	ReferralField adminField
	MemberField   adminField
}

func (s *Server) adminReviewEntry(c echo.Context) error {
	return s.renderReviewEntry(c, http.StatusOK, nil)
}

func (s *Server) renderReviewEntry(c echo.Context, status int, failed error) error {
	entry, err := s.reviewEntryOfAdmin(c)
	if err != nil {
		return err
	}
	p := reviewEntryPage{AdminPage: s.newAdminPage(c, "Review entry", navReview), Entry: s.reviewEntryView(entry),
		Open: review.Status(entry.Status) == review.Open, HeldChange: strings.HasPrefix(deref(entry.WorkflowID), "referral/")}
	if failed != nil && !p.SetProblems(failed) {
		return failed
	}
	p.Data = indentJSON(entry.Data)
	if entry.SalesEntryID != nil {
		e, err := s.queries().SalesEntryGetByID(c.Request().Context(), *entry.SalesEntryID)
		switch {
		case err == nil && e.WorkspaceID != nil && *e.WorkspaceID == entry.WorkspaceID:
			p.Payload = indentJSON(e.Payload)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
	}
	var data map[string]any
	_ = json.Unmarshal(entry.Data, &data)
	for _, k := range review.EditKeys {
		v := adminFormValue(c, "data."+k)
		if v == "" {
			if sv, ok := data[k].(string); ok {
				v = sv
			}
		}
		p.EditFields = append(p.EditFields, adminField{Name: "data." + k, ID: "data-" + k, Label: strings.ReplaceAll(k, "_", " "),
			Type: "text", MaxLength: 254, Value: v, Error: p.FieldError("data." + k)})
	}
	p.ReasonField = adminField{Name: "reason", ID: "reason", Label: "Reason", Type: "text", MaxLength: 1000, Value: adminFormValue(c, "reason"), Error: p.FieldError("reason")}
	p.ReferralField = adminField{Name: "referral_id", ID: "referral_id", Label: "Referral ID", Type: "text", MaxLength: 100, Required: true, Value: adminFormValue(c, "referral_id"), Error: p.FieldError("referral_id")}
	p.MemberField = adminField{Name: "member_id", ID: "member_id", Label: "Member ID", Type: "text", MaxLength: 100, Required: true, Value: adminFormValue(c, "member_id"), Error: p.FieldError("member_id")}
	return renderAdmin(c, status, "admin_review_entry", &p)
}

// indentJSON is a JSON document for people to read.
func indentJSON(raw []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, raw, "", "  ") != nil {
		return string(raw)
	}
	return out.String()
}

func (s *Server) adminDecideReviewEntry(c echo.Context) error {
	entry, err := s.reviewEntryOfAdmin(c)
	if err != nil {
		return err
	}
	in := ReviewDecisionInput{Action: review.Action(adminFormValue(c, "action")), ReferralID: adminFormValue(c, "referral_id"),
		MemberID: adminFormValue(c, "member_id"), Reason: adminFormValue(c, "reason")}
	problems := map[string]string{}
	if len(in.Reason) > 1000 {
		problems["reason"] = "is too long: at most 1000 characters"
	}
	if in.Action == review.Edit {
		in.Data = map[string]string{}
		for _, k := range review.EditKeys {
			if v := adminFormValue(c, "data."+k); v != "" {
				if len(v) > 254 {
					problems["data."+k] = "is too long: at most 254 characters"
				}
				in.Data[k] = v
			}
		}
	}
	if len(problems) > 0 {
		return s.renderReviewEntry(c, http.StatusUnprocessableEntity, invalid(problems))
	}
	if !slices.Contains(review.Actions, in.Action) {
		return s.renderReviewEntry(c, http.StatusUnprocessableEntity, invalid(map[string]string{"action": "choose what to do with the entry"}))
	}
	if _, err := s.decideReview(c, entry, in); err != nil {
		return s.renderReviewEntry(c, statusOf(err), err)
	}
	return s.redirectWithFlash(c, "/admin/review/"+entry.ID.String(), "Your decision ("+strings.ReplaceAll(string(in.Action), "_", " ")+") was sent.")
}
