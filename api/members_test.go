package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/referflow/referflow/db"
)

// A member's HubSpot contact shows in the member view once referflow knows
// it, as a referral's does; before that the field is left out.
func TestMemberViewCarriesTheHubSpotContactID(t *testing.T) {
	t.Parallel()
	w := newAdminWorld(t)
	path := "/api/v1/campaigns/" + w.fx.Campaign.ID.String() + "/members"
	list := func() MemberView {
		t.Helper()
		rec := w.api.call("GET", path, "")
		var out struct {
			Members []json.RawMessage `json:"members"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); rec.Code != http.StatusOK || err != nil {
			t.Fatalf("list members = %d %s", rec.Code, rec.Body)
		}
		for _, raw := range out.Members {
			var m MemberView
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			if m.ID == w.fx.Member.ID.String() {
				if m.HubSpotContactID == "" && strings.Contains(string(raw), "hubspot_contact_id") {
					t.Fatalf("an unknown contact is shown: %s", raw)
				}
				return m
			}
		}
		t.Fatalf("member %s not listed", w.fx.Member.ID)
		return MemberView{}
	}
	if m := list(); m.HubSpotContactID != "" {
		t.Fatalf("member without a contact shows %q", m.HubSpotContactID)
	}
	contact := int64(90210)
	if _, err := w.d.Queries.MemberSetHubSpotContact(context.Background(), db.MemberSetHubSpotContactParams{ID: w.fx.Member.ID, HubspotContactID: &contact}); err != nil {
		t.Fatal(err)
	}
	if m := list(); m.HubSpotContactID != strconv.FormatInt(contact, 10) {
		t.Fatalf("hubspot_contact_id = %q, want %d", m.HubSpotContactID, contact)
	}
}
