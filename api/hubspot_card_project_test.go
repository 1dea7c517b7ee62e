package api

import (
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/referflow/referflow/internal/hubspotconn"
)

// projectDir is the HubSpot developer project of referflow's app card.
const projectDir = "../hubspot-project"

// TestHubSpotProjectMatchesTheServer keeps the app card shipped in
// hubspot-project/ and the server from drifting apart: every JSON file of
// the project parses; the card is on contacts, deals and companies and its
// entry point exists; the URL the card calls (referflow.json's baseUrl) is
// an https URL HubSpot accepts and is the app's only permitted fetch URL
// and its OAuth redirect's host; the paths it calls are the server's card
// routes with the methods it uses; the query and body names it sends are
// the ones the server reads; and the app asks for every scope referflow's
// connect flow requests. HubSpot's CLI cannot run here: this is the check
// that an upload would not fail on what the server expects.
func TestHubSpotProjectMatchesTheServer(t *testing.T) {
	t.Parallel()
	files := map[string][]byte{}
	err := filepath.WalkDir(projectDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !json.Valid(raw) {
			t.Errorf("%s is not valid JSON", path)
		}
		rel, _ := filepath.Rel(projectDir, path)
		files[filepath.ToSlash(rel)] = raw
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(name string, v any) {
		t.Helper()
		raw, ok := files[name]
		if !ok {
			t.Fatalf("hubspot-project/%s is missing", name)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("hubspot-project/%s: %v", name, err)
		}
	}

	var project struct{ Name, SrcDir, PlatformVersion string }
	decode("hsproject.json", &project)
	if project.Name == "" || project.SrcDir != "src" || project.PlatformVersion == "" {
		t.Errorf("hsproject.json = %+v: needs a name, srcDir src and a platformVersion", project)
	}

	var app struct {
		UID, Type string
		Config    struct {
			Auth struct {
				Type           string
				RedirectUrls   []string
				RequiredScopes []string
			}
			PermittedUrls struct{ Fetch []string }
		}
	}
	decode("src/app/app-hsmeta.json", &app)
	var cfg struct {
		BaseURL    string `json:"baseUrl"`
		CardPath   string `json:"cardPath"`
		ActionPath string `json:"actionPath"`
		TimeoutMS  int    `json:"timeoutMs"`
	}
	decode("src/app/cards/referflow.json", &cfg)
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || base.Scheme != "https" || base.Host == "" || base.Path != "" || strings.Contains(base.Host, "localhost") {
		t.Errorf("referflow.json baseUrl %q: HubSpot fetches only https URLs that are not localhost, and the base has no path", cfg.BaseURL)
	}
	if app.Type != "app" || app.UID == "" {
		t.Errorf("app-hsmeta.json: type %q uid %q", app.Type, app.UID)
	}
	if !slices.Equal(app.Config.PermittedUrls.Fetch, []string{cfg.BaseURL}) {
		t.Errorf("app-hsmeta.json permittedUrls.fetch = %v, want exactly referflow.json's baseUrl %q (the card can only fetch permitted URLs)", app.Config.PermittedUrls.Fetch, cfg.BaseURL)
	}
	if app.Config.Auth.Type != "oauth" || !slices.Equal(app.Config.Auth.RedirectUrls, []string{cfg.BaseURL + hubspotconn.CallbackPath}) {
		t.Errorf("app-hsmeta.json auth = %+v, want oauth redirecting to %s", app.Config.Auth, cfg.BaseURL+hubspotconn.CallbackPath)
	}
	for _, scope := range hubspotconn.Scopes {
		if !slices.Contains(app.Config.Auth.RequiredScopes, scope) {
			t.Errorf("app-hsmeta.json requiredScopes lacks %s, which referflow's connect flow asks for (hubspotconn.Scopes)", scope)
		}
	}
	if cfg.TimeoutMS <= 0 || cfg.TimeoutMS > 15000 {
		t.Errorf("referflow.json timeoutMs %d: HubSpot allows at most 15 s", cfg.TimeoutMS)
	}

	var card struct {
		UID, Type string
		Config    struct {
			Name, Location, Entrypoint string
			ObjectTypes                []string
		}
	}
	decode("src/app/cards/referral-card-hsmeta.json", &card)
	if card.Type != "card" || card.UID == "" || card.Config.Name == "" || !strings.HasPrefix(card.Config.Location, "crm.record.") {
		t.Errorf("card = %+v", card)
	}
	for _, ot := range []string{"contacts", "deals", "companies"} {
		if !slices.Contains(card.Config.ObjectTypes, ot) {
			t.Errorf("the card is not on %s records", ot)
		}
	}
	entry, err := os.ReadFile(filepath.Join(projectDir, "src", filepath.FromSlash(card.Config.Entrypoint)))
	if err != nil {
		t.Fatalf("the card's entrypoint %s: %v", card.Config.Entrypoint, err)
	}
	var pkg struct{ Dependencies map[string]string }
	decode("src/app/cards/package.json", &pkg)
	if pkg.Dependencies["@hubspot/ui-extensions"] == "" || pkg.Dependencies["react"] == "" {
		t.Errorf("cards/package.json needs @hubspot/ui-extensions and react: %v", pkg.Dependencies)
	}

	// The paths the card calls are the server's card routes.
	if cfg.CardPath != CardPath || cfg.ActionPath != CardActionPath {
		t.Errorf("referflow.json calls %s and %s; the server serves %s and %s", cfg.CardPath, cfg.ActionPath, CardPath, CardActionPath)
	}
	srv := New(Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	routes := map[string]bool{}
	for _, r := range srv.Handler().(*echo.Echo).Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	for _, want := range []string{"GET " + cfg.CardPath, "POST " + cfg.ActionPath} {
		if !routes[want] {
			t.Errorf("the card calls %s, which the server does not route", want)
		}
	}
	// And it says what the server reads: the record in the query, the
	// decision's fields in the body, the paths from referflow.json.
	src := string(entry)
	want := []string{`from "@hubspot/ui-extensions"`, `import referflow from "./referflow.json"`, "hubspot.extend(", "hubspot.fetch(",
		"referflow.cardPath", "referflow.actionPath", "referflow.baseUrl", "referflow.timeoutMs",
		cardParamObjectType + "=", cardParamObjectID + "=", `method: "POST"`, `method: "GET"`}
	for i := range reflect.TypeOf(CardActionInput{}).NumField() {
		want = append(want, strings.Split(reflect.TypeOf(CardActionInput{}).Field(i).Tag.Get("json"), ",")[0])
	}
	for _, s := range want {
		if !strings.Contains(src, s) {
			t.Errorf("%s does not contain %q", card.Config.Entrypoint, s)
		}
	}
}
