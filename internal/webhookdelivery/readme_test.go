package webhookdelivery_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/referflow/referflow/internal/webhookdelivery"
)

// readmeSnippet is the code block after the README's <!-- name --> marker.
func readmeSnippet(t *testing.T, name string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- " + name + " -->\n```[a-z]+\n(.*?)```").FindSubmatch(raw)
	if m == nil {
		t.Fatalf("README.md has no code block after <!-- %s -->", name)
	}
	return string(m[1])
}

// signedDeliveries are two real deliveries as a receiver gets them: one
// signed by the workspace's secret alone, one during a rotation's grace
// period (two v1 values). It returns them with the old and new secrets.
func signedDeliveries(t *testing.T) (single, rotating received, oldSecret, newSecret string) {
	t.Helper()
	w := newWorld(t)
	now := time.Now()
	w.enqueue(t, "reward.issued:readme-1", now)
	w.once(t, w.dispatcher(nil))
	ws, err := webhookdelivery.RotateSigningSecret(w.ctx, w.d.Queries, w.fx.Workspace.ID, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	w.enqueue(t, "reward.issued:readme-2", now)
	w.once(t, w.dispatcher(nil))
	got := w.rcv.deliveries()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	return got[0], got[1], w.fx.Workspace.WebhookSigningSecret, ws.WebhookSigningSecret
}

type verification struct {
	name, secret string
	d            received
	ok           bool
}

func verifications(t *testing.T) []verification {
	single, rotating, oldSecret, newSecret := signedDeliveries(t)
	tampered := single
	tampered.body = bytes.Replace(single.body, []byte("readme-1"), []byte("readme-9"), 1)
	stale := single
	stale.signature = "t=1000000000," + strings.SplitN(single.signature, ",", 2)[1]
	return []verification{
		{"the workspace's secret", oldSecret, single, true},
		{"another secret", "whsec_not-the-secret", single, false},
		{"a changed body", oldSecret, tampered, false},
		{"a stale timestamp", oldSecret, stale, false},
		{"the new secret during the grace period", newSecret, rotating, true},
		{"the old secret during the grace period", oldSecret, rotating, true},
		{"a missing header", oldSecret, received{body: single.body}, false},
	}
}

// run runs a verifier on a delivery (secret and header in the environment,
// the raw body on standard input) and says whether it accepted it.
func run(t *testing.T, cmd *exec.Cmd, v verification) bool {
	t.Helper()
	cmd.Env = append(os.Environ(), "SECRET="+v.secret, "SIGNATURE="+v.d.signature, "GOFLAGS=", "GOWORK=off")
	cmd.Stdin = bytes.NewReader(v.d.body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, exited := err.(*exec.ExitError); !exited || strings.TrimSpace(string(out)) != "refused" {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		return false
	}
	return true
}

// The README's Go verifier, run as a receiver's program would, accepts a
// real delivery and refuses a forged, changed or stale one.
func TestReadmeGoSnippetVerifiesRealDeliveries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	harness := `
import (
	"io"
	"os"
)

func main() {
	body, _ := io.ReadAll(os.Stdin)
	if err := verifyReferflow(os.Getenv("SECRET"), os.Getenv("SIGNATURE"), body); err != nil {
		os.Stdout.WriteString("refused\n")
		os.Exit(1)
	}
}
`
	for name, text := range map[string]string{
		"verify.go": readmeSnippet(t, "verify-go"),
		"main.go":   "package main\n" + harness,
		"go.mod":    "module readmeverify\n\ngo 1.22\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "verify")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the README's Go snippet does not build: %v\n%s", err, out)
	}
	for _, v := range verifications(t) {
		if got := run(t, exec.Command(bin), v); got != v.ok {
			t.Errorf("Go snippet, %s: accepted=%v, want %v", v.name, got, v.ok)
		}
	}
}

// The README's Node verifier does the same (node is the receiver's own).
func TestReadmeNodeSnippetVerifiesRealDeliveries(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the README's Node snippet is not run")
	}
	script := filepath.Join(t.TempDir(), "verify.js")
	harness := `
const ok = verifyReferflow(process.env.SECRET, process.env.SIGNATURE, require("node:fs").readFileSync(0));
if (!ok) { console.log("refused"); process.exit(1); }
`
	if err := os.WriteFile(script, []byte(readmeSnippet(t, "verify-node")+harness), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range verifications(t) {
		if got := run(t, exec.Command(node, script), v); got != v.ok {
			t.Errorf("Node snippet, %s: accepted=%v, want %v", v.name, got, v.ok)
		}
	}
}
