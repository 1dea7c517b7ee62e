package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/referral"
)

// The referral list: a workspace's referrals from Postgres (lists never ask
// Temporal), filtered and keyset paged, newest first. The same paging and
// query-parameter checks serve the Sales Receiver's lists.

// Page sizes of every admin list.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// routeReferralList registers the referral list with its filters and paging.
func (s *Server) routeReferralList(g *echo.Group) {
	g.GET("/referrals", s.listReferrals)
}

// ReferralList is one page of referrals; NextCursor, when not null, fetches
// the next page.
type ReferralList struct {
	Referrals  []ReferralView `json:"referrals"`
	NextCursor *string        `json:"next_cursor"`
}

func (s *Server) listReferrals(c echo.Context) error {
	out, err := s.referralList(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// referralList is the page of referrals the request's query asks for
// (campaign_id, status, member_id, email, limit, cursor): the JSON list and
// the admin UI's referrals page both read it.
func (s *Server) referralList(c echo.Context) (ReferralList, error) {
	q := newListQuery(c, "campaign_id", "status", "member_id", "email", "since", "until", "limit", "cursor")
	campaignID := q.uuid("campaign_id")
	params := db.ReferralListFilteredParams{
		WorkspaceID: adminFrom(c).WorkspaceID,
		MemberID:    q.uuid("member_id"),
		Status:      q.oneOf("status", words(referral.Statuses)),
		// The first page starts after every referral.
		BeforeCreatedAt: endOfTime, BeforeID: maxUUID,
	}
	if email := q.get("email"); email != "" {
		if err := referral.CheckEmail(email); err != nil {
			q.problems["email"] = err.Error()
		}
		// Mailbox match: the same normal form the duplicate-lead check uses,
		// so "Ana.Lopez+x@gmail.com" finds the referral of analopez@gmail.com.
		norm := referral.NormalizeEmail(email)
		params.LeadEmailNormalized = &norm
	}
	// A period: until is where the first page starts (created strictly
	// before it); since ends the pages (newest first, the first referral
	// older than since ends the list), so neither changes the query's plan.
	since, until := q.time("since"), q.time("until")
	if since != nil && until != nil && !until.After(*since) {
		q.problems["until"] = "must be later than since"
	}
	if until != nil {
		params.BeforeCreatedAt, params.BeforeID = *until, uuid.Nil
	}
	limit := q.limit()
	if cur, ok := q.cursor("referrals"); ok {
		params.BeforeCreatedAt, params.BeforeID = cur.timeAndUUID(q)
	}
	if err := q.err(); err != nil {
		return ReferralList{}, err
	}
	params.PageSize = limit + 1
	var rows []db.Referral
	var err error
	switch {
	case params.LeadEmailNormalized != nil:
		// Its own query, so that the lead's index serves every plan.
		rows, err = s.queries().ReferralListOfLeadFiltered(c.Request().Context(), db.ReferralListOfLeadFilteredParams{
			WorkspaceID: params.WorkspaceID, LeadEmailNormalized: *params.LeadEmailNormalized, CampaignID: campaignID,
			Status: params.Status, MemberID: params.MemberID, BeforeCreatedAt: params.BeforeCreatedAt, BeforeID: params.BeforeID,
			PageSize: params.PageSize,
		})
	case campaignID != nil:
		// Its own query, so that the campaign's index serves every plan.
		rows, err = s.queries().ReferralListOfCampaignFiltered(c.Request().Context(), db.ReferralListOfCampaignFilteredParams{
			CampaignID: *campaignID, WorkspaceID: params.WorkspaceID, Status: params.Status, MemberID: params.MemberID,
			LeadEmailNormalized: params.LeadEmailNormalized, BeforeCreatedAt: params.BeforeCreatedAt, BeforeID: params.BeforeID,
			PageSize: params.PageSize,
		})
	default:
		rows, err = s.queries().ReferralListFiltered(c.Request().Context(), params)
	}
	if err != nil {
		return ReferralList{}, fmt.Errorf("list referrals: %w", err)
	}
	out := ReferralList{Referrals: make([]ReferralView, 0, min(len(rows), int(limit)))}
	for i, r := range rows {
		if since != nil && r.CreatedAt.Before(*since) {
			break
		}
		if i == int(limit) {
			last := rows[i-1]
			out.NextCursor = pageCursor{Kind: "referrals", At: &last.CreatedAt, ID: last.ID.String()}.encode()
			break
		}
		v := referralView(r)
		v.WorkflowURL = s.workflowURL(v.WorkflowID)
		out.Referrals = append(out.Referrals, v)
	}
	return out, nil
}

// Where keyset pages start when there is no cursor. The queries always
// compare against a cursor, so the comparison stays usable by an index in
// every plan the server caches.
var (
	endOfTime   = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	startOfTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxUUID     = uuid.Max
)

// words lists a vocabulary's values (statuses, object types, actions) as
// the strings a query parameter or a message holds.
func words[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// workflowURL links a workflow to its page in the Temporal Web UI, where an
// operator sees its history, pending activities and current details.
func (s *Server) workflowURL(workflowID string) string {
	if workflowID == "" {
		return ""
	}
	return strings.TrimRight(s.deps.TemporalUIURL, "/") + "/namespaces/" + url.PathEscape(s.deps.TemporalNamespace) +
		"/workflows/" + url.PathEscape(workflowID)
}

// listQuery reads a list's query parameters and collects every problem, so
// one 400 names each bad parameter at once. A parameter the list does not
// know is a problem too: a misspelt filter must not silently list everything.
type listQuery struct {
	values   url.Values
	problems map[string]string
}

// maxQueryValueLength caps a list's query parameter: an email address, an
// ID, a cursor.
const maxQueryValueLength = 512

func newListQuery(c echo.Context, known ...string) *listQuery {
	q := &listQuery{values: c.QueryParams(), problems: map[string]string{}}
	for name, vals := range q.values {
		switch {
		case !slices.Contains(known, name):
			q.problems[name] = "is not a parameter of this list (known: " + strings.Join(known, ", ") + ")"
		case len(vals) > 1:
			q.problems[name] = "is given more than once"
		case strings.IndexByte(vals[0], 0) >= 0 || !utf8.ValidString(vals[0]):
			q.problems[name] = badText
		case len(vals[0]) > maxQueryValueLength:
			q.problems[name] = fmt.Sprintf("is %d bytes long; at most %d", len(vals[0]), maxQueryValueLength)
		default:
			continue
		}
		q.values.Del(name) // reported: no later check reads it
	}
	return q
}

func (q *listQuery) get(name string) string { return strings.TrimSpace(q.values.Get(name)) }

// err is the 400 naming every bad parameter, or nil.
func (q *listQuery) err() error {
	if len(q.problems) == 0 {
		return nil
	}
	names := make([]string, 0, len(q.problems))
	for name := range q.problems {
		names = append(names, name)
	}
	sort.Strings(names)
	return &APIError{Status: http.StatusBadRequest, Code: "bad_request",
		Message: "invalid query parameter(s): " + strings.Join(names, ", ") + "; see fields", Fields: q.problems}
}

func (q *listQuery) uuid(name string) *uuid.UUID {
	raw := q.get(name)
	if raw == "" {
		return nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		q.problems[name] = "must be a UUID"
		return nil
	}
	return &id
}

func (q *listQuery) oneOf(name string, allowed []string) *string {
	raw := strings.ToLower(q.get(name))
	if raw == "" {
		return nil
	}
	if !slices.Contains(allowed, raw) {
		q.problems[name] = "must be one of " + strings.Join(allowed, ", ")
		return nil
	}
	return &raw
}

func (q *listQuery) positiveInt(name string) *int64 {
	raw := q.get(name)
	if raw == "" {
		return nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 {
		q.problems[name] = "must be a positive whole number"
		return nil
	}
	return &n
}

func (q *listQuery) time(name string) *time.Time {
	raw := q.get(name)
	if raw == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		q.problems[name] = "must be an RFC 3339 time such as 2026-11-20T09:00:00Z"
		return nil
	}
	return &t
}

// limit is the page size: defaultPageSize unless given, at most maxPageSize.
func (q *listQuery) limit() int32 {
	raw := q.get("limit")
	if raw == "" {
		return defaultPageSize
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxPageSize {
		q.problems["limit"] = fmt.Sprintf("must be a whole number from 1 to %d", maxPageSize)
		return defaultPageSize
	}
	return int32(n)
}

// pageCursor is where the previous page ended. Clients treat it as opaque;
// it names its list so a cursor of one list is refused by another.
type pageCursor struct {
	Kind string     `json:"k"`
	At   *time.Time `json:"t,omitempty"`
	ID   string     `json:"id"`
}

func (p pageCursor) encode() *string {
	b, _ := json.Marshal(p)
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

// cursor decodes the cursor parameter of list kind; ok is false when there
// is none or it is malformed (then a problem is recorded).
func (q *listQuery) cursor(kind string) (pageCursor, bool) {
	raw := q.get("cursor")
	if raw == "" {
		return pageCursor{}, false
	}
	var p pageCursor
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || p.Kind != kind || p.ID == "" {
		q.problems["cursor"] = "is not a cursor of this list: pass next_cursor from the previous page unchanged"
		return pageCursor{}, false
	}
	return p, true
}

// timeAndUUID is the sort key of a list ordered by (created_at, id uuid).
func (p pageCursor) timeAndUUID(q *listQuery) (time.Time, uuid.UUID) {
	id, err := uuid.Parse(p.ID)
	if err != nil || p.At == nil {
		q.problems["cursor"] = "is not a cursor of this list: pass next_cursor from the previous page unchanged"
		return time.Time{}, uuid.Nil
	}
	return *p.At, id
}

// int64ID is the sort key of a list ordered by a bigint id.
func (p pageCursor) int64ID(q *listQuery) int64 {
	id, err := strconv.ParseInt(p.ID, 10, 64)
	if err != nil {
		q.problems["cursor"] = "is not a cursor of this list: pass next_cursor from the previous page unchanged"
	}
	return id
}
