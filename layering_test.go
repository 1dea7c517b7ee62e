// The shape of the code, checked: referflow's packages form layers, and a
// package imports only from layers below its own. Top to bottom:
//
//	cmd, e2e → api, worker → salesreceiver → workflows → activities → internal/* → db
//
// e2e holds the end-to-end tests, the chaos suite (e2e/chaos), which runs
// the built binary as separate processes, and the browser suite
// (e2e/browser), which opens the public pages in headless Chromium.
//
// Besides the order:
//   - dev tooling (internal/dev: the HubSpot simulator, the dev stack, the test
//     harness, the chaos harness, the browser harness) is fenced off: product
//     code never imports it, except that the binary (cmd) runs the simulator,
//     the dev stack and the mail catcher for `referflow dev` and
//     `referflow hubspot-sim`; the
//     test, chaos and browser harnesses are for tests only;
//   - domain packages (a lifecycle's words and rules) import no generated
//     database rows;
//   - the HubSpot adapter imports no campaign or lifecycle rules;
//   - workflows, being deterministic, import no database and no HubSpot
//     client or connection manager.
//
// Tests may import anything: an API test runs a worker, an end-to-end test
// everything.
package referflow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/referflow/referflow"

// layers lists the layers top to bottom; a package belongs to the first
// whose prefix matches its path within the module.
var layers = [][]string{
	{"cmd/", "e2e", "e2e/chaos", "e2e/browser"},
	{"api", "worker"},
	{"salesreceiver"},
	{"workflows"},
	{"activities"},
	{"internal/"},
	{"db"},
}

// Packages of the same layer may import each other only in these layers
// (internal/* builds on itself; api and worker are separate processes' tops).
var sameLayerImportsAllowed = map[int]bool{5: true, 6: true}

// Dev tooling, and who may import it besides tests and other dev tooling.
const devTooling = "internal/dev/"

var devToolingImporters = map[string][]string{
	"internal/dev/devstack":   {"cmd/"},
	"internal/dev/hubspotsim": {"cmd/"},
	// The mail catcher `referflow dev` points emails at.
	"internal/dev/mailcatcher": {"cmd/"},
}

// Domain packages: a lifecycle's vocabulary and rules.
var domainPackages = []string{
	"internal/referral", "internal/campaign", "internal/reward",
	"internal/salesentry", "internal/review", "internal/hubspotobject", "internal/currency",
}

// The HubSpot adapter: HubSpot's API, its signatures, a workspace's
// connection.
var hubSpotAdapter = []string{"internal/hubspot", "internal/hubspot/signature", "internal/hubspotconn"}

// listedPackage is what `go list -json` says of a package.
type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// violation is one import the rules refuse.
type violation struct {
	from, to, rule string
}

func (v violation) String() string { return fmt.Sprintf("%s imports %s: %s", v.from, v.to, v.rule) }

func TestPackagesImportOnlyFromLayersBelow(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; the check would prove nothing", len(pkgs))
	}
	for _, p := range pkgs {
		if p.ImportPath != "" && layerOf(p.ImportPath) < 0 {
			t.Errorf("package %s belongs to no layer: add it to layers in layering_test.go", p.ImportPath)
		}
	}
	for _, v := range check(pkgs) {
		t.Error(v)
	}
}

// The rules catch what they are meant to: each broken rule is reported.
func TestLayeringRulesReportEachKindOfViolation(t *testing.T) {
	pkgs := []listedPackage{
		{ImportPath: "internal/salesreceiverish", Imports: []string{"workflows"}},
		{ImportPath: "workflows", Imports: []string{"internal/hubspotconn", "db", "internal/referral"}},
		{ImportPath: "activities", Imports: []string{"internal/dev/hubspotsim"}, TestImports: []string{"internal/dev/testenv", "workflows"}},
		{ImportPath: "cmd/referflow", Imports: []string{"internal/dev/devstack", "internal/dev/testenv"}},
		{ImportPath: "internal/campaign", Imports: []string{"db", "internal/hubspotobject"}},
		{ImportPath: "internal/hubspotconn", Imports: []string{"internal/campaign", "internal/tokencrypt", "db"}},
		{ImportPath: "api", Imports: []string{"worker", "salesreceiver"}},
		{ImportPath: "salesreceiver", Imports: []string{"api"}},
		{ImportPath: "worker", Imports: []string{"internal/dev/chaos"}},
		// The chaos suite and its harness, as they are: allowed.
		{ImportPath: "e2e/chaos", TestImports: []string{"internal/dev/chaos", "workflows", "activities"}},
		{ImportPath: "internal/dev/chaos", Imports: []string{"internal/dev/devstack", "internal/dev/hubspotsim", "internal/outgoing"}},
		// The browser suite and its harness: allowed; the harness in product
		// code: refused.
		{ImportPath: "e2e/browser", TestImports: []string{"internal/dev/browser", "internal/dev/testenv", "api", "worker"}},
		{ImportPath: "internal/dev/browser", Imports: []string{"internal/dev/testenv"}},
		{ImportPath: "api", Imports: []string{"internal/dev/browser"}},
	}
	got := map[string]bool{}
	for _, v := range check(pkgs) {
		got[v.from+" → "+v.to] = true
	}
	want := []string{
		"internal/salesreceiverish → workflows",
		"workflows → internal/hubspotconn",
		"workflows → db",
		"activities → internal/dev/hubspotsim",
		"cmd/referflow → internal/dev/testenv",
		"internal/campaign → db",
		"internal/hubspotconn → internal/campaign",
		"api → worker",
		"salesreceiver → api",
		"worker → internal/dev/chaos",
		"api → internal/dev/browser",
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("not reported: %s", w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("reported %d violations, want %d: %v", len(got), len(want), got)
	}
}

// check applies the rules to every package's non-test imports: tests may
// import anything (the test harness, and layers above the one they test).
func check(pkgs []listedPackage) []violation {
	var out []violation
	for _, p := range pkgs {
		from := p.ImportPath
		for _, to := range p.Imports {
			if layerOf(to) < 0 { // the standard library, third parties
				continue
			}
			if rule := refused(from, to); rule != "" {
				out = append(out, violation{from, to, rule})
			}
		}
	}
	return out
}

// refused says why from may not import to, or "" when it may.
func refused(from, to string) string {
	switch {
	case strings.HasPrefix(to, devTooling) && !strings.HasPrefix(from, devTooling) && !slices.ContainsFunc(devToolingImporters[to], func(p string) bool { return strings.HasPrefix(from, p) }):
		return "product code does not import dev tooling (the simulator, the dev stack, the test harness)"
	case slices.Contains(domainPackages, from) && (to == "db" || strings.HasPrefix(to, "db/")):
		return "a domain package does not import generated database rows"
	case slices.Contains(hubSpotAdapter, from) && slices.Contains(domainPackages, to) && to != "internal/hubspotobject":
		return "the HubSpot adapter does not import campaign or lifecycle rules"
	case from == "workflows" && (to == "db" || strings.HasPrefix(to, "db/") || to == "internal/hubspot" || to == "internal/hubspotconn"):
		return "workflows are deterministic: no database, no HubSpot client or connection manager"
	}
	lf, lt := layerOf(from), layerOf(to)
	switch {
	case lt < lf:
		return fmt.Sprintf("%s is in a layer above %s (%s above %s)", to, from, layerName(lt), layerName(lf))
	case lt == lf && !sameLayerImportsAllowed[lf] && !strings.HasPrefix(from, devTooling):
		return fmt.Sprintf("both are in the layer %s, whose packages do not import each other", layerName(lf))
	}
	return ""
}

func layerOf(path string) int {
	for i, prefixes := range layers {
		for _, p := range prefixes {
			if path == strings.TrimSuffix(p, "/") || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) || strings.HasPrefix(path, p+"/") {
				return i
			}
		}
	}
	return -1
}

func layerName(i int) string { return strings.Join(layers[i], ", ") }

// listPackages runs `go list -json ./...` in the module and returns its
// packages with import paths relative to the module ("" for the module's
// root, this test's own package).
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "list", "-json", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("read go list's output: %v", err)
		}
		p.ImportPath = relative(p.ImportPath)
		for _, list := range []*[]string{&p.Imports, &p.TestImports, &p.XTestImports} {
			var mine []string
			for _, imp := range *list {
				if imp == module || strings.HasPrefix(imp, module+"/") {
					mine = append(mine, relative(imp))
				}
			}
			*list = mine
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func relative(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
}
