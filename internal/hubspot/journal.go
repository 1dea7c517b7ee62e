package hubspot

// The webhooks journal (2026-03): HubSpot's polled event log, and the only
// way it reports a record added to or removed from a list. Its calls are
// authorised by a client-credentials token of the app (not a portal's OAuth
// token): build the Client with such a token source (hubspotconn does).
//
// Where HubSpot's documentation is silent, this client reads what the
// simulator serves (internal/dev/hubspotsim/journal.go says why): an entry's
// file is a JSON array of events (an object with an "events" array is read
// too); "next" with nothing newer is an empty batch; an offset HubSpot no
// longer has is a *NotFoundError.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// JournalScopes are the client-credentials token's scopes referflow asks
// for: read the journal, read and write its subscriptions.
var JournalScopes = []string{
	"developer.webhooks_journal.read",
	"developer.webhooks_journal.subscriptions.read",
	"developer.webhooks_journal.subscriptions.write",
}

// The journal's list-membership subscription type and actions.
const (
	JournalListMembership  = "LIST_MEMBERSHIP"
	JournalAddedToList     = "ADDED_TO_LIST"
	JournalRemovedFromList = "REMOVED_FROM_LIST"
)

// MaxJournalBatch is the most entries one batch read returns.
const MaxJournalBatch = 100

// JournalSubscription is one of the app's journal subscriptions.
type JournalSubscription struct {
	ID               int64      `json:"id"`
	PortalID         int64      `json:"portalId"`
	SubscriptionType string     `json:"subscriptionType"`
	ObjectTypeID     string     `json:"objectTypeId"`
	Actions          []string   `json:"actions"`
	ListIDs          []flexInt  `json:"listIds"`
	ObjectIDs        []flexInt  `json:"objectIds"`
	CreatedAt        *time.Time `json:"createdAt,omitempty"`
	UpdatedAt        *time.Time `json:"updatedAt,omitempty"`
}

// Lists are the subscription's list IDs as strings.
func (s JournalSubscription) Lists() []string {
	out := make([]string, len(s.ListIDs))
	for i, id := range s.ListIDs {
		out[i] = strconv.FormatInt(int64(id), 10)
	}
	return out
}

// flexInt decodes a JSON number or a string of digits.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return fmt.Errorf("want an integer ID, got %s", b)
	}
	*f = flexInt(n)
	return nil
}

// UpsertListMembershipSubscription creates the portal's LIST_MEMBERSHIP
// subscription, or updates it (HubSpot's POST is an upsert), to report
// actions on the records of lists.
func (c *Client) UpsertListMembershipSubscription(ctx context.Context, portalID int64, listIDs []string, actions []string) (*JournalSubscription, error) {
	ids := make([]int64, 0, len(listIDs))
	for _, l := range listIDs {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: list ID %q is not a number", ErrInvalidRequest, l)
		}
		ids = append(ids, n)
	}
	body := map[string]any{
		"subscriptionType": JournalListMembership, "portalId": portalID,
		"listIds": ids, "objectIds": []int64{}, "actions": actions,
	}
	var out JournalSubscription
	if err := c.do(ctx, request{method: http.MethodPost, path: "/webhooks-journal/subscriptions/" + APIVersion, body: body}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// JournalSubscriptions lists the app's journal subscriptions (all of them:
// HubSpot does not page them).
func (c *Client) JournalSubscriptions(ctx context.Context) ([]JournalSubscription, error) {
	var out struct {
		Results []JournalSubscription `json:"results"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/webhooks-journal/subscriptions/" + APIVersion}, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// DeleteJournalSubscription deletes one; one already gone is not an error.
func (c *Client) DeleteJournalSubscription(ctx context.Context, id int64) error {
	err := c.do(ctx, request{method: http.MethodDelete, path: "/webhooks-journal/subscriptions/" + APIVersion + "/" + strconv.FormatInt(id, 10)}, nil)
	var gone *NotFoundError
	if errors.As(err, &gone) {
		return nil
	}
	return err
}

// JournalEntry is one entry of the journal: its offset and where its file
// is (a short-lived URL, fetched without the token).
type JournalEntry struct {
	Offset    string    `json:"currentOffset"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type journalBatch struct {
	Status  string         `json:"status"`
	Results []JournalEntry `json:"results"`
}

func journalCount(count int) error {
	if count < 1 || count > MaxJournalBatch {
		return fmt.Errorf("%w: journal batch of %d: HubSpot reads 1 to %d", ErrInvalidRequest, count, MaxJournalBatch)
	}
	return nil
}

// JournalEarliest reads the oldest entries (up to count) the portal's local
// journal still holds.
func (c *Client) JournalEarliest(ctx context.Context, portalID int64, count int) ([]JournalEntry, error) {
	if err := journalCount(count); err != nil {
		return nil, err
	}
	var out journalBatch
	q := url.Values{"installPortalId": {strconv.FormatInt(portalID, 10)}}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/webhooks-journal/journal-local/" + APIVersion + "/batch/earliest/" + strconv.Itoa(count), query: q}, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// JournalNext reads the entries (up to count) after offset in the portal's
// local journal; none when nothing is newer. An offset the journal no
// longer holds (older than its 3 days) is a *NotFoundError.
func (c *Client) JournalNext(ctx context.Context, portalID int64, offset string, count int) ([]JournalEntry, error) {
	if err := journalCount(count); err != nil {
		return nil, err
	}
	var out journalBatch
	q := url.Values{"installPortalId": {strconv.FormatInt(portalID, 10)}}
	path := "/webhooks-journal/journal-local/" + APIVersion + "/batch/" + url.PathEscape(offset) + "/next/" + strconv.Itoa(count)
	if err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// JournalEvent is one event of a journal entry's file.
type JournalEvent struct {
	EventID          int64
	SubscriptionID   int64
	PortalID         int64
	AppID            int64
	OccurredAt       time.Time
	SubscriptionType string
	Action           string
	ObjectTypeID     string
	ObjectID         int64
	ListID           int64
	// Raw is the event's JSON as HubSpot wrote it.
	Raw json.RawMessage
}

type journalEventJSON struct {
	EventID          flexInt `json:"eventId"`
	SubscriptionID   flexInt `json:"subscriptionId"`
	PortalID         flexInt `json:"portalId"`
	AppID            flexInt `json:"appId"`
	OccurredAt       flexInt `json:"occurredAt"`
	SubscriptionType string  `json:"subscriptionType"`
	Action           string  `json:"action"`
	ObjectTypeID     string  `json:"objectTypeId"`
	ObjectID         flexInt `json:"objectId"`
	ListID           flexInt `json:"listId"`
}

// maxJournalFileBytes bounds one entry's file.
const maxJournalFileBytes = 32 << 20

// JournalFile downloads an entry's events. The URL is pre-signed: the
// request carries no token, and does not count against HubSpot's API limits
// (no limiter wait). An expired URL is an *APIError (403): read the entry
// again for a fresh one.
func (c *Client) JournalFile(ctx context.Context, e JournalEntry) ([]JournalEvent, error) {
	if c.configErr != nil {
		return nil, c.configErr
	}
	r := request{method: http.MethodGet, path: "journal file of " + e.Offset}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("hubspot: journal file of %s: %w", e.Offset, err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &TransportError{Method: r.method, Path: r.path, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJournalFileBytes))
	if err != nil {
		return nil, &TransportError{Method: r.method, Path: r.path, Err: fmt.Errorf("reading the file: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.decodeError(r, resp, data)
	}
	return ParseJournalFile(data)
}

// ParseJournalFile reads a journal file: a JSON array of events, or an
// object holding them in "events".
func ParseJournalFile(data []byte) ([]JournalEvent, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		var wrapped struct {
			Events []json.RawMessage `json:"events"`
		}
		if err2 := json.Unmarshal(data, &wrapped); err2 != nil {
			return nil, fmt.Errorf("hubspot: journal file is not a JSON array of events: %w", err)
		}
		raws = wrapped.Events
	}
	out := make([]JournalEvent, 0, len(raws))
	for i, raw := range raws {
		var w journalEventJSON
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("hubspot: journal event %d: %w", i, err)
		}
		out = append(out, JournalEvent{
			EventID: int64(w.EventID), SubscriptionID: int64(w.SubscriptionID), PortalID: int64(w.PortalID), AppID: int64(w.AppID),
			OccurredAt: time.UnixMilli(int64(w.OccurredAt)).UTC(), SubscriptionType: w.SubscriptionType, Action: w.Action,
			ObjectTypeID: w.ObjectTypeID, ObjectID: int64(w.ObjectID), ListID: int64(w.ListID), Raw: raw,
		})
	}
	return out, nil
}
