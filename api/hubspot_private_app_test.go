package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/hubspotconn"
	"github.com/referflow/referflow/internal/referral"
)

// TestConnectWithAPrivateAppToken: a self-hosted install with no HubSpot
// OAuth app connects with the portal's private-app token. A token HubSpot
// refuses is a 422 and stores nothing; the real one connects the portal it
// belongs to, sets referflow's properties up and sends leads with it;
// another workspace cannot take the portal; when the token is rotated in
// HubSpot the connection shows broken with the reason, and saving the new
// token sends the lead that waited. No token ever reaches the log.
func TestConnectWithAPrivateAppToken(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHubSpotAPI(t, "") // no HUBSPOT_CLIENT_ID: private app only
	ws := h.workspace(t, "Acme")
	_, browser, key := h.admin(t, ws, "ops@acme.test")
	a := apiClient{t: t, url: h.url, key: key}
	h.runDispatcher(t)
	token := h.portal.PrivateAppToken
	save := func(a apiClient, tok string) (int, []byte) {
		return a.do("POST", "/api/v1/hubspot/private-app-token", `{"access_token":"`+tok+`"}`)
	}

	// A token HubSpot does not know: 422 saying so, nothing stored.
	wrong := "pat-na1-00000000-0000-0000-0000-000000000000"
	code, body := save(a, wrong)
	var e ErrorBody
	if code != http.StatusUnprocessableEntity || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error.Message, "HubSpot refused") ||
		!strings.Contains(e.Error.Fields["access_token"], "HTTP 401") {
		t.Fatalf("save a wrong token = %d %s", code, body)
	}
	if strings.Contains(string(body), wrong) {
		t.Fatalf("the answer echoes the token: %s", body)
	}
	if code, body := save(a, "pat na1 with spaces"); code != http.StatusUnprocessableEntity {
		t.Fatalf("save a token with spaces = %d %s", code, body)
	}
	if st := h.status(t, browser); st.Status != hubspotconn.StatusNotConnected || st.Kind != "" {
		t.Fatalf("status after refused tokens: %+v", st)
	}

	// The portal's token: connected to its portal, kind private_app.
	code, body = save(a, token)
	var st hubspotconn.Status
	if code != http.StatusOK || json.Unmarshal(body, &st) != nil {
		t.Fatalf("save the token = %d %s", code, body)
	}
	if st.Status != hubspotconn.StatusConnected || st.Kind != hubspotconn.KindPrivateApp || st.PortalID != h.portal.ID ||
		len(st.MissingScopes) != 0 || len(st.Scopes) != len(hubspotconn.PrivateAppCheckedScopes) {
		t.Fatalf("status after saving the token: %+v", st)
	}
	if strings.Contains(string(body), token) {
		t.Fatalf("the answer echoes the token: %s", body)
	}
	row, err := h.db.Queries.HubSpotConnectionGetByWorkspace(ctx, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Kind != hubspotconn.KindPrivateApp || row.RefreshTokenCiphertext != nil || row.AccessTokenExpiresAt != nil || row.PortalTimeZone == nil {
		t.Fatalf("stored connection: %+v", row)
	}
	if strings.Contains(string(row.AccessTokenCiphertext), token) {
		t.Fatal("the token is stored in the clear")
	}
	if opened, err := h.box.Open(row.AccessTokenCiphertext, []byte(ws.ID.String())); err != nil || string(opened) != token {
		t.Fatalf("the sealed token does not open to the token: %v", err)
	}
	// The property setup runs as after the OAuth callback.
	for st := h.status(t, browser); st.PropertySetup == nil || st.PropertySetup.Status != hubspotconn.SetupDone; st = h.status(t, browser) {
		if ctx.Err() != nil || (st.PropertySetup != nil && st.PropertySetup.Status == hubspotconn.SetupFailed) {
			t.Fatalf("property setup: %+v", st.PropertySetup)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Another workspace cannot take the portal.
	_, _, keyB := h.admin(t, h.workspace(t, "Beta"), "ops@beta.test")
	b := apiClient{t: t, url: h.url, key: keyB}
	if code, body := save(b, token); code != http.StatusConflict || !strings.Contains(string(body), "already connected to another referflow workspace") || strings.Contains(string(body), "Acme") {
		t.Fatalf("another workspace saves the token = %d %s", code, body)
	}

	// A referral's lead reaches HubSpot with the token (no OAuth app exists).
	code, example := a.do("GET", "/api/v1/campaigns/example", "")
	if code != http.StatusOK {
		t.Fatalf("GET the example = %d", code)
	}
	code, body = a.do("POST", "/api/v1/campaigns", string(example))
	var c CampaignView
	if code != http.StatusCreated || json.Unmarshal(body, &c) != nil || c.Status != "active" {
		t.Fatalf("POST the example = %d %s", code, body)
	}
	if code, body := a.do("POST", "/api/v1/campaigns/"+c.ID+"/members", `{"email":"maya@example.com","first_name":"Maya","referral_code":"MAYA"}`); code != http.StatusCreated {
		t.Fatalf("add member = %d %s", code, body)
	}
	addReferral := func(email, name string) ReferralView {
		t.Helper()
		code, body := a.do("POST", "/api/v1/campaigns/"+c.ID+"/referrals", `{"member_code":"MAYA","lead":{"email":"`+email+`","first_name":"`+name+`"}}`)
		var v ReferralView
		if code != http.StatusCreated || json.Unmarshal(body, &v) != nil {
			t.Fatalf("add referral = %d %s", code, body)
		}
		return v
	}
	first := addReferral("nia@example.org", "Nia")
	a.await(ctx, first.ID, "sends its lead", func(v ReferralView) bool { return v.HubSpotContactID != "" && v.HubSpotDealID != "" })
	if contact, ok := h.sim.FindContactByEmail(h.portal.ID, "nia@example.org"); !ok || contact.Properties["firstname"] != "Nia" {
		t.Fatalf("the lead's contact in HubSpot = %+v (found %v)", contact, ok)
	}

	// The token is rotated in HubSpot: the next call is refused, the
	// connection shows broken with the reason, and the lead waits.
	rotated, ok := h.sim.RotatePrivateAppToken(h.portal.ID)
	if !ok {
		t.Fatal("rotate the token")
	}
	second := addReferral("omar@example.org", "Omar")
	v := a.await(ctx, second.ID, "waits for HubSpot", func(v ReferralView) bool { return v.Waiting != nil })
	if v.Waiting.Step != string(referral.WaitSendLead) || v.Waiting.Cause != "HubSpotConnectionBroken" {
		t.Fatalf("waiting = %+v", v.Waiting)
	}
	st2 := h.status(t, browser)
	if st2.Status != hubspotconn.StatusBroken || st2.Kind != hubspotconn.KindPrivateApp || st2.BrokenReason == nil ||
		!strings.Contains(*st2.BrokenReason, "private app's access token") || !strings.Contains(*st2.BrokenReason, "401") {
		t.Fatalf("status after the token was rotated: %+v", st2)
	}

	// Saving the new token connects again, and the waiting lead goes.
	if code, body := save(a, rotated); code != http.StatusOK {
		t.Fatalf("save the rotated token = %d %s", code, body)
	}
	a.await(ctx, second.ID, "sends its lead after the new token", func(v ReferralView) bool { return v.HubSpotContactID != "" && v.Waiting == nil })
	if _, ok := h.sim.FindContactByEmail(h.portal.ID, "omar@example.org"); !ok {
		t.Fatal("the waiting lead did not reach HubSpot after the new token was saved")
	}

	// Disconnecting says referflow cannot revoke a private app's token.
	code, body = a.do("POST", "/api/v1/hubspot/disconnect", "")
	var dv DisconnectView
	if code != http.StatusOK || json.Unmarshal(body, &dv) != nil || dv.Revoked || !strings.Contains(dv.RevokeError, "private app") {
		t.Fatalf("disconnect = %d %s", code, body)
	}

	logs := h.logs.String()
	for _, tok := range []string{token, rotated, wrong} {
		if strings.Contains(logs, tok) {
			t.Fatalf("a token is in the log:\n%s", logs)
		}
	}
	if !strings.Contains(logs, "private app") {
		t.Fatalf("the log says nothing of the private app connection:\n%s", logs)
	}
}
