package hubspotsim

// App cards' requests to the app's own backend: hubspot.fetch as HubSpot
// serves it to a UI extension (an app card on a CRM record). The card's
// React code runs in HubSpot; each hubspot.fetch goes through HubSpot, which
//
//   - refuses a URL not under one of the app's permittedUrls.fetch,
//   - appends userId, portalId, userEmail and appId to the URL's query,
//   - signs the request with the app's client secret: X-HubSpot-Signature-v3
//     (base64 HMAC-SHA256 of method + URL + body + timestamp) with
//     X-HubSpot-Request-Timestamp, and the older X-HubSpot-Signature (v2) with
//     X-HubSpot-Signature-Version for backwards compatibility,
//   - sends the body (a JSON object) as application/json, and no header of
//     the card's own,
//   - waits 15 seconds at most (the card's timeout option may only lower
//     it), connection included, and retries once within that time when the
//     connection fails or the answer is a 5XX,
//   - refuses request bodies and answers over 1 MB,
//   - lets an app have 20 requests in flight per account: more are answered
//     429 at once, with HubSpot's error body.
//
// (HubSpot's fetching-data guide for UI extensions; hubspot-contract.md,
// "Platform features beyond the CRM API".) Where the guide is silent the
// simulator chooses, and says so: an answer over 1 MB, a timeout and a
// failed connection reject the card's promise (CardFetch's error), as a
// network failure does in a browser; a URL already carrying one of the
// appended parameters is sent with both (HubSpot appends, it does not
// replace). Unlike HubSpot it lets permitted URLs be http and on loopback,
// because tests serve the backend on httptest servers; SetCardPermittedURLs
// still decides which URLs a card may reach.
//
// CardFetch is the Go method; POST /portals/{portalId}/card-fetches is the
// control API's (cardRoutes) for a simulator run as its own process.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/referflow/referflow/internal/hubspot/signature"
)

// HubSpot's hubspot.fetch limits.
const (
	// CardFetchTimeout is the longest HubSpot waits for an answer.
	CardFetchTimeout = 15 * time.Second
	// CardFetchMaxBytes caps request bodies and answers.
	CardFetchMaxBytes = 1 << 20
	// CardFetchConcurrency is the requests an app may have in flight per
	// account.
	CardFetchConcurrency = 20
)

// Why a card's fetch failed without an answer (its promise rejected).
var (
	ErrCardURLNotPermitted  = errors.New("hubspot.fetch: the URL is not in the app's permittedUrls.fetch")
	ErrCardWrongApp         = errors.New("hubspot.fetch: the card belongs to another app than this simulator's")
	ErrCardNoRecord         = errors.New("hubspot.fetch: the card's record does not exist in the portal")
	ErrCardRequestTooLarge  = errors.New("hubspot.fetch: the request body is larger than 1 MB")
	ErrCardAnswerTooLarge   = errors.New("hubspot.fetch: the answer is larger than 1 MB")
	ErrCardTimeout          = errors.New("hubspot.fetch: no answer within the timeout")
	ErrCardConnectionFailed = errors.New("hubspot.fetch: the backend could not be reached")
)

// CardFetchRequest is one hubspot.fetch call of an app card.
type CardFetchRequest struct {
	PortalID int64
	// AppID is the card's app; 0 is the simulator's (Options.AppID).
	AppID int64
	// URL is what the card passes to hubspot.fetch, before HubSpot appends
	// its parameters.
	URL string
	// Method is GET (default), POST, PUT, PATCH or DELETE.
	Method string
	// Body is the options' body, sent as JSON; nil sends none.
	Body any
	// UserID and UserEmail are the HubSpot user viewing the card.
	UserID    int64
	UserEmail string
	// Timeout is the options' timeout; 0 or more than CardFetchTimeout
	// means CardFetchTimeout.
	Timeout time.Duration
	// Record, when set, is the record the card is on: it must exist.
	Record *CardRecord
}

// CardRecord is a CRM record a card is shown on.
type CardRecord struct {
	ObjectType string // contacts, deals, companies (or HubSpot's other names for them)
	ObjectID   string
}

// CardFetchResponse is what the card's hubspot.fetch resolves with.
type CardFetchResponse struct {
	Status int
	Body   []byte
	// ContentType is the answer's Content-Type.
	ContentType string
	// Attempts is how many times HubSpot sent the request (2 after a retry).
	Attempts int
}

// JSON decodes the answer's body into v.
func (r CardFetchResponse) JSON(v any) error { return json.Unmarshal(r.Body, v) }

// cardState is the simulator's app card configuration and traffic.
type cardState struct {
	mu        sync.Mutex
	permitted []string
	inFlight  map[int64]int
	client    *http.Client
	fetches   int
}

// SetCardPermittedURLs sets the app's permittedUrls.fetch: a card may fetch
// a URL that starts with one of them. With none set, no URL is permitted.
func (s *Simulator) SetCardPermittedURLs(urls ...string) {
	s.cards.mu.Lock()
	defer s.cards.mu.Unlock()
	s.cards.permitted = append([]string(nil), urls...)
}

// CardFetches counts the requests CardFetch sent to a backend (retries
// included).
func (s *Simulator) CardFetches() int {
	s.cards.mu.Lock()
	defer s.cards.mu.Unlock()
	return s.cards.fetches
}

func (c *cardState) httpClient() *http.Client {
	if c.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 2 * CardFetchConcurrency
		t.IdleConnTimeout = 30 * time.Second
		c.client = &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return c.client
}

// CardFetch sends a card's hubspot.fetch to the app's backend as HubSpot
// does and returns what the card gets: an answer (any status, 429 when the
// portal already has CardFetchConcurrency requests in flight), or an error
// when the promise rejects (ErrCard...). ctx cancels the wait, as closing
// the record page would.
func (s *Simulator) CardFetch(ctx context.Context, req CardFetchRequest) (CardFetchResponse, error) {
	var none CardFetchResponse
	if req.AppID != 0 && req.AppID != s.opts.AppID {
		return none, ErrCardWrongApp
	}
	if s.Portal(req.PortalID) == nil {
		return none, errNoPortal
	}
	if req.Record != nil {
		if _, ok := s.GetObject(req.PortalID, req.Record.ObjectType, req.Record.ObjectID); !ok {
			return none, ErrCardNoRecord
		}
	}
	method := strings.ToUpper(req.Method)
	switch method {
	case "":
		method = http.MethodGet
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return none, fmt.Errorf("hubspot.fetch: method %q is not one of GET, POST, PUT, PATCH, DELETE", req.Method)
	}
	target, err := url.Parse(req.URL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return none, fmt.Errorf("hubspot.fetch: %q is not an absolute http(s) URL", req.URL)
	}
	if !s.cardURLPermitted(req.URL) {
		return none, ErrCardURLNotPermitted
	}
	var body []byte
	if req.Body != nil {
		if body, err = json.Marshal(req.Body); err != nil {
			return none, fmt.Errorf("hubspot.fetch: the body is not JSON: %w", err)
		}
		if len(body) > CardFetchMaxBytes {
			return none, ErrCardRequestTooLarge
		}
	}
	full := appendCardParams(req.URL, req, s.opts.AppID)

	release, ok := s.cardSlot(req.PortalID)
	if !ok {
		e := newErr(http.StatusTooManyRequests, "RATE_LIMITS",
			fmt.Sprintf("You have reached the limit of %d concurrent hubspot.fetch requests for this account.", CardFetchConcurrency))
		e.ErrorType = "RATE_LIMIT"
		e.CorrelationID = uuid.NewString()
		raw, _ := json.Marshal(e)
		return CardFetchResponse{Status: http.StatusTooManyRequests, Body: raw, ContentType: "application/json;charset=utf-8"}, nil
	}
	defer release()

	timeout := req.Timeout
	if timeout <= 0 || timeout > CardFetchTimeout {
		timeout = CardFetchTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res CardFetchResponse
	for attempt := 1; attempt <= 2; attempt++ {
		res, err = s.sendCardFetch(ctx, method, full, body)
		res.Attempts = attempt
		retry := errors.Is(err, ErrCardConnectionFailed) || (err == nil && res.Status >= 500)
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return res, err
}

// cardURLPermitted: the URL starts with a permitted URL, at a path boundary.
func (s *Simulator) cardURLPermitted(raw string) bool {
	s.cards.mu.Lock()
	defer s.cards.mu.Unlock()
	for _, p := range s.cards.permitted {
		p = strings.TrimRight(p, "/")
		if raw == p || strings.HasPrefix(raw, p+"/") || strings.HasPrefix(raw, p+"?") {
			return true
		}
	}
	return false
}

// appendCardParams appends HubSpot's parameters to the card's URL, after
// the query the card wrote (left as the card encoded it).
func appendCardParams(raw string, req CardFetchRequest, appID int64) string {
	params := url.Values{}
	add := func(k, v string) { params[k] = append(params[k], v) }
	add("userId", strconv.FormatInt(req.UserID, 10))
	add("portalId", strconv.FormatInt(req.PortalID, 10))
	add("userEmail", req.UserEmail)
	add("appId", strconv.FormatInt(appID, 10))
	var b strings.Builder
	for i, k := range []string{"userId", "portalId", "userEmail", "appId"} {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(params.Get(k)))
	}
	frag := ""
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw, frag = raw[:i], raw[i:]
	}
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
		if strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "&") {
			sep = ""
		}
	}
	return raw + sep + b.String() + frag
}

// cardSlot takes one of the portal's in-flight slots.
func (s *Simulator) cardSlot(portal int64) (release func(), ok bool) {
	c := &s.cards
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inFlight == nil {
		c.inFlight = map[int64]int{}
	}
	if c.inFlight[portal] >= CardFetchConcurrency {
		return nil, false
	}
	c.inFlight[portal]++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.inFlight[portal]--
	}, true
}

// sendCardFetch sends one signed attempt and reads its answer.
func (s *Simulator) sendCardFetch(ctx context.Context, method, target string, body []byte) (CardFetchResponse, error) {
	var none CardFetchResponse
	httpReq, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return none, fmt.Errorf("%w: %v", ErrCardConnectionFailed, err)
	}
	if body == nil {
		httpReq.Body, httpReq.ContentLength = http.NoBody, 0
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if body != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	httpReq.Header.Set("User-Agent", "HubSpot UI Extensions (hubspotsim)")
	httpReq.Header.Set(signature.HeaderV3, signature.V3(s.opts.ClientSecret, method, target, body, ts))
	httpReq.Header.Set(signature.HeaderTimestamp, ts)
	httpReq.Header.Set(signature.HeaderV1V2, signature.V2(s.opts.ClientSecret, method, target, body))
	httpReq.Header.Set(signature.HeaderVersion, "v2")

	s.cards.mu.Lock()
	client := s.cards.httpClient()
	s.cards.fetches++
	s.cards.mu.Unlock()
	resp, err := client.Do(httpReq)
	if err != nil {
		return none, cardNetErr(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, CardFetchMaxBytes+1))
	if err != nil {
		return none, cardNetErr(ctx, err)
	}
	if len(raw) > CardFetchMaxBytes {
		return none, ErrCardAnswerTooLarge
	}
	return CardFetchResponse{Status: resp.StatusCode, Body: raw, ContentType: resp.Header.Get("Content-Type")}, nil
}

func cardNetErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrCardTimeout
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ErrCardTimeout
	}
	return fmt.Errorf("%w: %v", ErrCardConnectionFailed, err)
}

// The control API's card fetch:
//
//	POST /portals/{portalId}/card-fetches  {"appId","url","method","body","userId","userEmail","timeoutMs","record":{"objectType","objectId"}}
//	  → 200 {"status": N, "body": <the answer, JSON when it is JSON, else a string>, "contentType", "attempts"}
//	  → 502 HubSpot's error body (category CARD_FETCH_FAILED) when the card's promise rejects, naming why
func (s *Simulator) cardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /portals/{portalId}/card-fetches", s.control(hControlCardFetch))
}

type controlCardFetch struct {
	AppID     int64           `json:"appId"`
	URL       string          `json:"url"`
	Method    string          `json:"method"`
	Body      json.RawMessage `json:"body"`
	UserID    int64           `json:"userId"`
	UserEmail string          `json:"userEmail"`
	TimeoutMS int64           `json:"timeoutMs"`
	Record    *struct {
		ObjectType string `json:"objectType"`
		ObjectID   string `json:"objectId"`
	} `json:"record"`
}

func hControlCardFetch(s *Simulator, r *http.Request) (int, any) {
	portal, e := portalParam(r)
	if e != nil {
		return errResult(e)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 2*CardFetchMaxBytes))
	if err != nil {
		return errResult(validationErr("cannot read request body"))
	}
	var in controlCardFetch
	if err := json.Unmarshal(raw, &in); err != nil {
		return errResult(invalidJSONErr(err))
	}
	if in.URL == "" || in.UserID <= 0 {
		return errResult(validationErr("url and userId are required: the URL the card fetches and the HubSpot user viewing it"))
	}
	req := CardFetchRequest{PortalID: portal, AppID: in.AppID, URL: in.URL, Method: in.Method,
		UserID: in.UserID, UserEmail: in.UserEmail, Timeout: time.Duration(in.TimeoutMS) * time.Millisecond}
	if len(in.Body) > 0 && string(in.Body) != "null" {
		req.Body = in.Body
	}
	if in.Record != nil {
		req.Record = &CardRecord{ObjectType: in.Record.ObjectType, ObjectID: in.Record.ObjectID}
	}
	res, err := s.CardFetch(r.Context(), req)
	switch {
	case errors.Is(err, errNoPortal):
		return errResult(notFoundErr(fmt.Sprintf("portal %d not found", portal)))
	case err != nil:
		return errResult(newErr(http.StatusBadGateway, "CARD_FETCH_FAILED", err.Error()))
	}
	out := map[string]any{"status": res.Status, "contentType": res.ContentType, "attempts": res.Attempts}
	if json.Valid(res.Body) && len(res.Body) > 0 {
		out["body"] = json.RawMessage(res.Body)
	} else {
		out["body"] = string(res.Body)
	}
	return http.StatusOK, out
}
