package browser_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/dev/browser"
)

// An admin signs in, creates an API key on the settings page and sees it
// once (not when the page is opened again), then opens the rewards page,
// filters it, and its export link gives finance the CSV of those rewards.
// Each page is saved as a screenshot and has no accessibility problem.
func TestAdminSettingsAndRewardsExport(t *testing.T) {
	t.Parallel()
	browser.Require(t)
	st := newStack(t)
	ctx := context.Background()
	_, key, err := adminauth.CreateAdmin(ctx, st.d.Queries, st.fx.Workspace.ID, "ops@acme.test", "")
	if err != nil {
		t.Fatal(err)
	}
	var amount pgtype.Numeric
	if err := amount.Scan("25"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.d.Queries.RewardCreate(ctx, db.RewardCreateParams{
		WorkspaceID: st.fx.Workspace.ID, ReferralID: st.fx.Referral.ID, CampaignID: st.fx.Campaign.ID,
		MemberID: &st.fx.Member.ID, Recipient: "member", Amount: amount, Currency: "EUR", IdempotencyKey: "browser-" + uuid.NewString(),
	}); err != nil {
		t.Fatal(err)
	}
	b := browser.New(t)
	dir := screenshots(t)
	check := func(name string) {
		t.Helper()
		b.CheckAccessible(name)
		b.Screenshot(filepath.Join(dir, "admin-"+name+".png"))
	}

	b.Open(st.url + "/login?next=/admin/settings")
	b.Type(`input[name="api_key"]`, key)
	if status := b.Submit(`form[action="/login"] [type="submit"]`); status != http.StatusOK || !strings.Contains(b.Location(), "/admin/settings") {
		t.Fatalf("sign in answered %d at %s: %s", status, b.Location(), b.Text("body"))
	}
	check("settings")
	b.Type(`#f-key-name`, "finance export")
	if status := b.Submit(`form[action="/admin/settings/api-keys"] [type="submit"]`); status != http.StatusCreated {
		t.Fatalf("create key answered %d: %s", status, b.Text("body"))
	}
	newKey := strings.TrimSpace(b.Text("#new-api-key"))
	if !strings.HasPrefix(newKey, adminauth.KeyPrefix) {
		t.Fatalf("the new key is not shown: %s", b.Text("body"))
	}
	check("settings-new-key")
	b.Open(st.url + "/admin/settings")
	if body := b.Text("body"); strings.Contains(body, newKey) || !strings.Contains(body, "finance export") {
		t.Fatalf("the settings page shown again has the key, or not its name: %s", body)
	}

	b.Open(st.url + "/admin/rewards?recipient=member")
	if body := b.Text("body"); !strings.Contains(body, "25.00 EUR") || !strings.Contains(body, st.fx.Member.Email) {
		t.Fatalf("the rewards page: %s", body)
	}
	check("rewards")
	href := b.Attribute(`a[href^="/api/v1/rewards?"]`, "href")
	if !strings.Contains(href, "format=csv") || !strings.Contains(href, "recipient=member") {
		t.Fatalf("the export link %q does not keep the filters", href)
	}
	// A download is not a page the tab can show: the link is fetched as
	// finance's script would, with the key the settings page gave.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.url+href, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+newKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if resp.StatusCode != http.StatusOK || err != nil || len(rows) != 2 || !strings.Contains(strings.Join(rows[1], ","), "25.00,EUR") {
		t.Fatalf("the export = %d %v %q", resp.StatusCode, err, rows)
	}
}
