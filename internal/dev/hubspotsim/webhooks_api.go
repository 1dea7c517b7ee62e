package hubspotsim

// The webhooks settings API, as HubSpot serves it for an app:
//
//	GET|PUT|DELETE /webhooks/v3/{appId}/settings
//	GET|POST       /webhooks/v3/{appId}/subscriptions
//	GET|PATCH|DELETE /webhooks/v3/{appId}/subscriptions/{subscriptionId}
//	POST           /webhooks/v3/{appId}/subscriptions/batch/update
//
// and the same under /webhooks/2026-03/. HubSpot authenticates these with
// the developer account's API key (?hapikey=); the simulator accepts
// Options.DeveloperAPIKey as ?hapikey= or as a bearer token, and nothing
// else (not the client secret, which only signs deliveries; not portal
// tokens, which act for a portal rather than the app).

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func (s *Simulator) webhookRoutes(mux *http.ServeMux) {
	for _, v := range []string{"v3", apiVersion} {
		base := "/webhooks/" + v + "/{appId}"
		mux.HandleFunc("GET "+base+"/settings", s.webhookAPI(hWebhookSettingsGet))
		mux.HandleFunc("PUT "+base+"/settings", s.webhookAPI(hWebhookSettingsPut))
		mux.HandleFunc("DELETE "+base+"/settings", s.webhookAPI(hWebhookSettingsDelete))
		mux.HandleFunc("GET "+base+"/subscriptions", s.webhookAPI(hSubscriptionList))
		mux.HandleFunc("POST "+base+"/subscriptions", s.webhookAPI(hSubscriptionCreate))
		mux.HandleFunc("GET "+base+"/subscriptions/{subscriptionId}", s.webhookAPI(hSubscriptionGet))
		mux.HandleFunc("PATCH "+base+"/subscriptions/{subscriptionId}", s.webhookAPI(hSubscriptionUpdate))
		mux.HandleFunc("DELETE "+base+"/subscriptions/{subscriptionId}", s.webhookAPI(hSubscriptionDelete))
		mux.HandleFunc("POST "+base+"/subscriptions/batch/update", s.webhookAPI(hSubscriptionBatchUpdate))
	}
}

type webhookReq struct {
	s    *Simulator
	r    *http.Request
	body []byte
}

type webhookHandler func(c *webhookReq) (int, any)

func (s *Simulator) webhookAPI(h webhookHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("hapikey")
		if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && key == "" {
			key = strings.TrimSpace(b)
		}
		if key == "" || subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.DeveloperAPIKey)) != 1 {
			writeErr(w, newErr(http.StatusUnauthorized, "INVALID_AUTHENTICATION",
				"The API key provided is invalid: the webhooks API needs the app's developer API key as ?hapikey="))
			return
		}
		if r.PathValue("appId") != strconv.FormatInt(s.opts.AppID, 10) {
			writeErr(w, notFoundErr(fmt.Sprintf("No app with ID %s exists for this developer account", r.PathValue("appId"))))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeErr(w, validationErr("cannot read request body"))
			return
		}
		status, payload := h(&webhookReq{s: s, r: r, body: body})
		if e, ok := payload.(*apiError); ok {
			writeErr(w, e)
			return
		}
		writeJSON(w, status, payload)
	}
}

func (c *webhookReq) decode(v any) *apiError {
	if len(strings.TrimSpace(string(c.body))) == 0 {
		return validationErr("Invalid input JSON: the request body is empty")
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return invalidJSONErr(err)
	}
	return nil
}

func apiErrOf(err error) *apiError {
	if e, ok := err.(*APIError); ok {
		return newErr(e.Status, e.Category, e.Message)
	}
	return newErr(http.StatusInternalServerError, "INTERNAL_ERROR", err.Error())
}

// settingsJSON is HubSpot's webhook settings body.
type settingsJSON struct {
	TargetURL  string         `json:"targetUrl"`
	Throttling throttlingJSON `json:"throttling"`
	CreatedAt  string         `json:"createdAt"`
	UpdatedAt  string         `json:"updatedAt"`
}

type throttlingJSON struct {
	MaxConcurrentRequests int    `json:"maxConcurrentRequests"`
	Period                string `json:"period"`
}

func settingsView(ws WebhookSettings) settingsJSON {
	return settingsJSON{
		TargetURL:  ws.TargetURL,
		Throttling: throttlingJSON{MaxConcurrentRequests: ws.MaxConcurrentRequests, Period: "SECONDLY"},
		CreatedAt:  hsTime(ws.CreatedAt), UpdatedAt: hsTime(ws.UpdatedAt),
	}
}

// subscriptionJSON is HubSpot's subscription body; id is a string there.
type subscriptionJSON struct {
	ID           string `json:"id"`
	EventType    string `json:"eventType"`
	PropertyName string `json:"propertyName,omitempty"`
	Active       bool   `json:"active"`
	CreatedAt    string `json:"createdAt"`
	UpdatedAt    string `json:"updatedAt"`
}

func subscriptionView(sub WebhookSubscription) subscriptionJSON {
	return subscriptionJSON{
		ID: strconv.FormatInt(sub.ID, 10), EventType: sub.EventType, PropertyName: sub.PropertyName,
		Active: !sub.Paused, CreatedAt: hsTime(sub.CreatedAt), UpdatedAt: hsTime(sub.UpdatedAt),
	}
}

func settingsNotFound() *apiError {
	return notFoundErr("No webhook settings are configured for this app")
}

// GET .../settings
func hWebhookSettingsGet(c *webhookReq) (int, any) {
	ws := c.s.WebhookSettings()
	if ws.TargetURL == "" {
		return errResult(settingsNotFound())
	}
	return http.StatusOK, settingsView(ws)
}

// PUT .../settings {"targetUrl","throttling":{"maxConcurrentRequests","period"}}
func hWebhookSettingsPut(c *webhookReq) (int, any) {
	var in struct {
		TargetURL  *string `json:"targetUrl"`
		Throttling *struct {
			MaxConcurrentRequests *int   `json:"maxConcurrentRequests"`
			Period                string `json:"period"`
		} `json:"throttling"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	if in.TargetURL == nil || *in.TargetURL == "" {
		return errResult(validationErr("targetUrl is required"))
	}
	if e := checkTargetURL(*in.TargetURL); e != nil {
		return errResult(e)
	}
	w := c.s.wh
	now := c.s.now()
	w.mu.Lock()
	if in.Throttling != nil && in.Throttling.MaxConcurrentRequests != nil {
		n := *in.Throttling.MaxConcurrentRequests
		if n < 1 {
			w.mu.Unlock()
			return errResult(validationErr(fmt.Sprintf("throttling.maxConcurrentRequests must be at least 1, got %d", n)))
		}
		w.settings.MaxConcurrentRequests = n
	}
	w.settings.TargetURL = *in.TargetURL
	if w.settings.CreatedAt.IsZero() {
		w.settings.CreatedAt = now
	}
	w.settings.UpdatedAt = now
	w.changedLocked()
	ws := w.settingsLocked()
	w.mu.Unlock()
	return http.StatusOK, settingsView(ws)
}

// DELETE .../settings: webhooks off (subscriptions are kept, as HubSpot
// keeps them; nothing is delivered without a target).
func hWebhookSettingsDelete(c *webhookReq) (int, any) {
	w := c.s.wh
	w.mu.Lock()
	w.settings.TargetURL = ""
	w.settings.MaxConcurrentRequests = 0
	w.settings.CreatedAt, w.settings.UpdatedAt = time.Time{}, time.Time{}
	w.changedLocked()
	w.mu.Unlock()
	return http.StatusNoContent, nil
}

// GET .../subscriptions → {"results":[...]}
func hSubscriptionList(c *webhookReq) (int, any) {
	ws := c.s.WebhookSettings()
	out := make([]subscriptionJSON, 0, len(ws.Subscriptions))
	for _, sub := range ws.Subscriptions {
		out = append(out, subscriptionView(sub))
	}
	return http.StatusOK, map[string]any{"results": out}
}

// POST .../subscriptions {"eventType","propertyName","active"}. Like a
// subscription made in HubSpot's app settings, one created without
// "active": true starts paused.
func hSubscriptionCreate(c *webhookReq) (int, any) {
	var in struct {
		EventType    string `json:"eventType"`
		PropertyName string `json:"propertyName"`
		Active       bool   `json:"active"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	if in.EventType == "" {
		return errResult(validationErr("eventType is required"))
	}
	sub, err := c.s.wh.subscribe(in.EventType, in.PropertyName, in.Active, c.s.now())
	if err != nil {
		return errResult(apiErrOf(err))
	}
	return http.StatusCreated, subscriptionView(sub)
}

func (c *webhookReq) subscriptionID() (int64, *apiError) {
	raw := c.r.PathValue("subscriptionId")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, notFoundErr(fmt.Sprintf("No subscription with ID %s exists", raw))
	}
	return id, nil
}

func (w *webhooks) subByIDLocked(id int64) *WebhookSubscription {
	for i := range w.settings.Subscriptions {
		if w.settings.Subscriptions[i].ID == id {
			return &w.settings.Subscriptions[i]
		}
	}
	return nil
}

// GET .../subscriptions/{subscriptionId}
func hSubscriptionGet(c *webhookReq) (int, any) {
	id, e := c.subscriptionID()
	if e != nil {
		return errResult(e)
	}
	w := c.s.wh
	w.mu.Lock()
	defer w.mu.Unlock()
	sub := w.subByIDLocked(id)
	if sub == nil {
		return errResult(notFoundErr(fmt.Sprintf("No subscription with ID %d exists", id)))
	}
	return http.StatusOK, subscriptionView(*sub)
}

// setActive pauses or resumes subscriptions; all or nothing.
func (w *webhooks) setActive(ids []int64, active []bool, now time.Time) ([]WebhookSubscription, *apiError) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if w.subByIDLocked(id) == nil {
			return nil, notFoundErr(fmt.Sprintf("No subscription with ID %d exists", id))
		}
	}
	out := make([]WebhookSubscription, 0, len(ids))
	for i, id := range ids {
		sub := w.subByIDLocked(id)
		sub.Paused = !active[i]
		sub.UpdatedAt = now
		out = append(out, *sub)
	}
	w.changedLocked()
	return out, nil
}

// PATCH .../subscriptions/{subscriptionId} {"active":bool}
func hSubscriptionUpdate(c *webhookReq) (int, any) {
	id, e := c.subscriptionID()
	if e != nil {
		return errResult(e)
	}
	var in struct {
		Active *bool `json:"active"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	if in.Active == nil {
		return errResult(validationErr("active is required"))
	}
	subs, e := c.s.wh.setActive([]int64{id}, []bool{*in.Active}, c.s.now())
	if e != nil {
		return errResult(e)
	}
	return http.StatusOK, subscriptionView(subs[0])
}

// DELETE .../subscriptions/{subscriptionId}
func hSubscriptionDelete(c *webhookReq) (int, any) {
	id, e := c.subscriptionID()
	if e != nil {
		return errResult(e)
	}
	if !c.s.Unsubscribe(id) {
		return errResult(notFoundErr(fmt.Sprintf("No subscription with ID %d exists", id)))
	}
	return http.StatusNoContent, nil
}

// POST .../subscriptions/batch/update {"inputs":[{"id":1,"active":true}]}
func hSubscriptionBatchUpdate(c *webhookReq) (int, any) {
	started := c.s.now()
	var in struct {
		Inputs []struct {
			ID     json.Number `json:"id"`
			Active *bool       `json:"active"`
		} `json:"inputs"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	if len(in.Inputs) == 0 {
		return errResult(validationErr("inputs must not be empty"))
	}
	if e := batchSizeErr(len(in.Inputs), 100); e != nil {
		return errResult(e)
	}
	ids := make([]int64, 0, len(in.Inputs))
	active := make([]bool, 0, len(in.Inputs))
	for _, x := range in.Inputs {
		id, err := strconv.ParseInt(x.ID.String(), 10, 64)
		if err != nil || x.Active == nil {
			return errResult(validationErr("each input needs a numeric id and active"))
		}
		ids, active = append(ids, id), append(active, *x.Active)
	}
	subs, e := c.s.wh.setActive(ids, active, c.s.now())
	if e != nil {
		return errResult(e)
	}
	results := make([]subscriptionJSON, 0, len(subs))
	for _, sub := range subs {
		results = append(results, subscriptionView(sub))
	}
	return http.StatusOK, map[string]any{
		"status": "COMPLETE", "results": results,
		"startedAt": hsTime(started), "completedAt": hsTime(c.s.now()),
	}
}
