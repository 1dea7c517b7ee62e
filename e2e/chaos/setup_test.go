package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	sdklog "go.temporal.io/sdk/log"

	"github.com/referflow/referflow/internal/campaign"
	"github.com/referflow/referflow/internal/dev/chaos"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/internal/hubspotobject"
	"github.com/referflow/referflow/internal/referral"
)

// apiClient calls the admin API as a script with an API key would.
type apiClient struct {
	base, key string
	http      *http.Client
}

// do sends a JSON request and decodes a 2xx answer into out. It returns
// the status and body whatever they are; err is only a failure to get an
// answer at all (the API is down).
func (a *apiClient) do(ctx context.Context, method, path string, in, out any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, raw, err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("%s %s: decode %s: %w", method, path, raw, err)
		}
	}
	return resp.StatusCode, raw, nil
}

// must is do for set-up steps, which run before any fault: anything but
// want fails the test.
func (a *apiClient) must(t *testing.T, ctx context.Context, want int, method, path string, in, out any) {
	t.Helper()
	status, raw, err := a.do(ctx, method, path, in, out)
	if err != nil || status != want {
		t.Fatalf("%s %s = %d %s, %v; want %d", method, path, status, raw, err, want)
	}
}

// workspace is what set-up made: the admin's API client, the campaigns
// with their members, and the HubSpot portal the workspace is connected
// to.
type workspace struct {
	api       *apiClient
	portalID  int64
	campaigns []chaosCampaign
}

type chaosCampaign struct {
	id, name    string
	memberCodes []string
}

var apiKeyRE = regexp.MustCompile(`rfk_[A-Za-z0-9_-]+`)

// setUpWorkspace does what an admin does on day one: creates the workspace
// and its admin (`referflow admin create`), connects HubSpot through the
// OAuth flow (the simulator's consent page), waits for referflow's
// properties to be set up, and creates two campaigns whose leads become
// HubSpot contacts (an existing contact is updated, so one person referred
// in both campaigns is one contact for two referrals), qualified at
// lifecycle stage opportunity, approved at customer, rewarding the member
// 50 USD at once through the receiver.
func setUpWorkspace(t *testing.T, ctx context.Context, st *chaos.Stack, pool *pgxpool.Pool, recv *chaos.Receiver) *workspace {
	t.Helper()
	out, err := st.Run(ctx, "admin", "create", "--workspace", "Chaos", "--email", "ops@chaos.example")
	if err != nil {
		t.Fatalf("referflow admin create: %v\n%s", err, out)
	}
	key := apiKeyRE.FindString(out)
	if key == "" {
		t.Fatalf("referflow admin create printed no API key:\n%s", out)
	}
	w := &workspace{api: &apiClient{base: st.APIURL, key: key, http: &http.Client{Timeout: 30 * time.Second}}, portalID: st.PortalID}

	var secret string
	if err := pool.QueryRow(ctx, `SELECT webhook_signing_secret FROM workspaces WHERE name = 'Chaos'`).Scan(&secret); err != nil {
		t.Fatalf("the workspace's signing secret: %v", err)
	}
	recv.SetSecret(secret)

	connectHubSpot(t, ctx, w, st.PortalID)

	s := campaign.Defaults()
	s.Leads = campaign.CRMSettings{
		Action: campaign.ActionCreateContact, DuplicateHandling: campaign.DuplicateUpdateExisting,
		FieldMapping: []campaign.FieldMapping{
			{Object: hubspotobject.Contact, Source: "email", Property: "email"},
			{Object: hubspotobject.Contact, Source: "first_name", Property: "firstname"},
		},
	}
	s.StatusRules = campaign.StatusRules{
		Qualified: &campaign.StatusRule{Object: hubspotobject.Contact, Property: "lifecyclestage", Values: []string{stageQualified}},
		Approved:  &campaign.StatusRule{Object: hubspotobject.Contact, Property: "lifecyclestage", Values: []string{stageApproved}},
	}
	s.Rewards = campaign.Rewards{OnStatus: referral.Approved, Member: &campaign.Reward{Kind: campaign.RewardFixed, Amount: "50", Currency: "USD"}}
	for i, name := range []string{"Spring referrals", "Partner referrals"} {
		var c struct {
			ID            string   `json:"id"`
			SetupRequired []string `json:"setup_required"`
		}
		active, url := "active", recv.URL
		w.api.must(t, ctx, http.StatusCreated, http.MethodPost, "/api/v1/campaigns",
			map[string]any{"name": name, "status": active, "settings": s, "fulfilment_webhook_url": url}, &c)
		if len(c.SetupRequired) > 0 {
			t.Fatalf("campaign %s needs setup: %v", name, c.SetupRequired)
		}
		cc := chaosCampaign{id: c.ID, name: name}
		for j := range membersPerCampaign {
			var m struct {
				ReferralCode string `json:"referral_code"`
			}
			first := fmt.Sprintf("Member%d", j+1)
			w.api.must(t, ctx, http.StatusCreated, http.MethodPost, "/api/v1/campaigns/"+c.ID+"/members",
				map[string]any{"email": fmt.Sprintf("member-%d-%d@chaos.example", i+1, j+1), "first_name": first}, &m)
			cc.memberCodes = append(cc.memberCodes, m.ReferralCode)
		}
		w.campaigns = append(w.campaigns, cc)
	}
	return w
}

// The lifecycle stages the campaigns' status rules match.
const (
	stageQualified = "opportunity"
	stageApproved  = "customer"
)

const membersPerCampaign = 4

// connectHubSpot goes through "Connect HubSpot" as an admin in a browser
// does, and waits until referflow's properties are set up in the portal.
func connectHubSpot(t *testing.T, ctx context.Context, w *workspace, portalID int64) {
	t.Helper()
	noFollow := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.api.base+"/oauth/hubspot/connect", nil)
	req.Header.Set("Authorization", "Bearer "+w.api.key)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("connect HubSpot = %d, want a redirect to HubSpot", resp.StatusCode)
	}
	back := testenv.HubSpotConsent(t, &http.Client{Timeout: 30 * time.Second}, resp.Header.Get("Location"), portalID, "allow")
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, back, nil)
	req.Header.Set("Authorization", "Bearer "+w.api.key)
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("OAuth callback = %d: %s", resp.StatusCode, page)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var st struct {
			Status        string `json:"status"`
			PropertySetup *struct {
				Status string  `json:"status"`
				Error  *string `json:"error"`
			} `json:"property_setup"`
		}
		w.api.must(t, ctx, http.StatusOK, http.MethodGet, "/api/v1/hubspot/status", nil, &st)
		if st.Status != "connected" {
			t.Fatalf("HubSpot status after connecting: %+v", st)
		}
		if st.PropertySetup != nil && st.PropertySetup.Status == "done" {
			return
		}
		if st.PropertySetup != nil && st.PropertySetup.Status == "failed" {
			t.Fatalf("HubSpot property setup failed: %v", *st.PropertySetup.Error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("HubSpot property setup not done within 2 minutes: %+v", st.PropertySetup)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}
