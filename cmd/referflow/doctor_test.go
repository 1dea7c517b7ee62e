package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/mailcatcher"
	"github.com/referflow/referflow/internal/dev/testenv"
	"github.com/referflow/referflow/worker"
	"github.com/referflow/referflow/workflows"
)

// testKey is base64 of the key testenv.ConnectHubSpot seals tokens with.
const testKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// doctorEnv points `referflow doctor` at a test's database and Temporal,
// with everything else as a healthy local install has it.
func doctorEnv(t *testing.T, d *testenv.Database, tc *testenv.Temporal) {
	t.Setenv("DATABASE_URL", d.URL)
	t.Setenv("TEMPORAL_ADDRESS", tc.Address)
	t.Setenv("TEMPORAL_NAMESPACE", tc.Namespace)
	t.Setenv("REFERFLOW_ENCRYPTION_KEY", testKey)
	t.Setenv("REFERFLOW_PUBLIC_URL", "http://localhost:8080")
	t.Setenv("REFERFLOW_HTTP_ADDR", "")
	t.Setenv("HUBSPOT_CLIENT_ID", "")
	t.Setenv("HUBSPOT_CLIENT_SECRET", "")
	t.Setenv("REFERFLOW_SMTP_URL", "")
}

func runDoctorCmd(t *testing.T, tc *testenv.Temporal) (int, string) {
	t.Helper()
	code, out, errOut := runCmd(t, context.Background(), "doctor", "--task-queue", tc.TaskQueue)
	if errOut != "" {
		t.Logf("stderr: %s", errOut)
	}
	return code, out
}

// A healthy install passes every check and exits 0.
func TestDoctorPassesAHealthyInstall(t *testing.T) {
	d := testenv.NewDatabase(t)
	tc := testenv.NewTemporal(t)
	fx := d.SeedReferral(t)
	testenv.ConnectHubSpot(t, d, fx.Workspace.ID, "http://localhost:8080")
	doctorEnv(t, d, tc)
	mail, err := mailcatcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mail.Close()
	t.Setenv("REFERFLOW_SMTP_URL", mail.SMTPURL("referrals@acme.test"))

	code, out := runDoctorCmd(t, tc)
	t.Log("\n" + out)
	if code != 0 {
		t.Fatalf("doctor on a healthy install: exit %d\n%s", code, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "ok ") && line != "No problems found." {
			t.Errorf("a line that is not ok: %q", line)
		}
	}
	for _, want := range []string{
		"ok       postgres: reachable", "ok       migrations: all", "ok       postgres clock:",
		"ok       temporal namespace:", "ok       search attributes: all", "ok       temporal clock:",
		`ok       hubspot "Acme" (` + fx.Workspace.ID.String() + `): portal`, "ok       referral workflows:",
		"ok       encryption key: 1 key(s)", "ok       webhook URL: http://localhost:8080/webhooks/hubspot",
		"ok       email: smtp://" + mail.Addr() + " answers (starttls); emails to members are sent from referrals@acme.test",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// Each problem an install can have is reported with how to fix it, and
// makes doctor exit 1.
func TestDoctorReportsEachProblemWithItsFix(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T) *testenv.Temporal
		want  []string
	}{{
		name: "migrations missing in a fresh schema",
		setup: func(t *testing.T) *testenv.Temporal {
			tc := testenv.NewTemporal(t)
			doctorEnv(t, testenv.NewEmptyDatabase(t), tc)
			return tc
		},
		want: []string{"problem  migrations: ", "pending: 0001_initial", "fix: run `referflow migrate`", "skipped  referrals: the database schema is not up to date"},
	}, {
		name: "a namespace that does not exist",
		setup: func(t *testing.T) *testenv.Temporal {
			tc := testenv.NewTemporal(t)
			doctorEnv(t, testenv.NewDatabase(t), tc)
			t.Setenv("TEMPORAL_NAMESPACE", "no-such-namespace")
			return tc
		},
		want: []string{`problem  temporal namespace: namespace "no-such-namespace" does not exist`, "temporal operator namespace create"},
	}, {
		name: "referflow's search attributes not registered",
		setup: func(t *testing.T) *testenv.Temporal {
			tc := testenv.NewTemporal(t)
			doctorEnv(t, testenv.NewDatabase(t), tc)
			t.Setenv("TEMPORAL_NAMESPACE", newNamespace(t, tc))
			return tc
		},
		want: []string{"problem  search attributes: missing in namespace", "ReferralStatus", "start `referflow worker`"},
	}, {
		name: "a broken HubSpot connection",
		setup: func(t *testing.T) *testenv.Temporal {
			d, tc := testenv.NewDatabase(t), testenv.NewTemporal(t)
			fx := d.SeedReferral(t)
			testenv.ConnectHubSpot(t, d, fx.Workspace.ID, "http://localhost:8080")
			reason := "HubSpot refused the refresh token (invalid_grant)"
			if _, err := d.Queries.HubSpotConnectionMarkBroken(context.Background(), db.HubSpotConnectionMarkBrokenParams{WorkspaceID: fx.Workspace.ID, BrokenReason: &reason}); err != nil {
				t.Fatal(err)
			}
			doctorEnv(t, d, tc)
			return tc
		},
		want: []string{`problem  hubspot "Acme"`, "connection broken: HubSpot refused the refresh token (invalid_grant)", "connects HubSpot again at http://localhost:8080/oauth/hubspot/connect"},
	}, {
		name: "a broken private-app connection",
		setup: func(t *testing.T) *testenv.Temporal {
			d, tc := testenv.NewDatabase(t), testenv.NewTemporal(t)
			fx := d.SeedReferral(t)
			testenv.ConnectHubSpot(t, d, fx.Workspace.ID, "http://localhost:8080")
			ctx := context.Background()
			if _, err := d.Pool.Exec(ctx, `UPDATE hubspot_connections SET kind = 'private_app', refresh_token_ciphertext = NULL, access_token_expires_at = NULL WHERE workspace_id = $1`, fx.Workspace.ID); err != nil {
				t.Fatal(err)
			}
			reason := "HubSpot refused the private app's access token (HTTP 401)"
			if _, err := d.Queries.HubSpotConnectionMarkBroken(ctx, db.HubSpotConnectionMarkBrokenParams{WorkspaceID: fx.Workspace.ID, BrokenReason: &reason}); err != nil {
				t.Fatal(err)
			}
			doctorEnv(t, d, tc)
			return tc
		},
		want: []string{`problem  hubspot "Acme"`, "(private app token): connection broken: HubSpot refused the private app's access token", "saves the private app's current access token (POST /api/v1/hubspot/private-app-token)"},
	}, {
		name: "a public URL HubSpot cannot use: http",
		setup: func(t *testing.T) *testenv.Temporal {
			tc := testenv.NewTemporal(t)
			doctorEnv(t, testenv.NewDatabase(t), tc)
			t.Setenv("REFERFLOW_PUBLIC_URL", "http://refer.example.com")
			return tc
		},
		want: []string{"problem  webhook URL: http://refer.example.com/webhooks/hubspot is not https", "fix: put TLS in front"},
	}, {
		name: "a public URL HubSpot cannot use: a private address",
		setup: func(t *testing.T) *testenv.Temporal {
			tc := testenv.NewTemporal(t)
			doctorEnv(t, testenv.NewDatabase(t), tc)
			t.Setenv("REFERFLOW_PUBLIC_URL", "https://10.20.30.40")
			return tc
		},
		want: []string{"problem  webhook URL: https://10.20.30.40/webhooks/hubspot is a private address"},
	}, {
		name: "an SMTP server that does not answer",
		setup: func(t *testing.T) *testenv.Temporal {
			tc := testenv.NewTemporal(t)
			doctorEnv(t, testenv.NewDatabase(t), tc)
			mail, err := mailcatcher.Start("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			mail.Close() // down: its port refuses connections
			t.Setenv("REFERFLOW_SMTP_URL", mail.SMTPURL("referrals@acme.test"))
			return tc
		},
		want: []string{"problem  email: cannot reach the SMTP server 127.0.0.1:", "fix: check REFERFLOW_SMTP_URL"},
	}, {
		name: "no encryption key",
		setup: func(t *testing.T) *testenv.Temporal {
			tc := testenv.NewTemporal(t)
			doctorEnv(t, testenv.NewDatabase(t), tc)
			t.Setenv("REFERFLOW_ENCRYPTION_KEY", "")
			return tc
		},
		want: []string{"problem  encryption key: REFERFLOW_ENCRYPTION_KEY is not set", "openssl rand -base64 32"},
	}, {
		name: "a key that does not open the stored tokens",
		setup: func(t *testing.T) *testenv.Temporal {
			d, tc := testenv.NewDatabase(t), testenv.NewTemporal(t)
			fx := d.SeedReferral(t)
			testenv.ConnectHubSpot(t, d, fx.Workspace.ID, "http://localhost:8080")
			doctorEnv(t, d, tc)
			t.Setenv("REFERFLOW_ENCRYPTION_KEY", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=")
			return tc
		},
		want: []string{"token cannot be decrypted", "put the key the tokens were sealed with back"},
	}, {
		name: "a failed referral workflow and a referral whose workflow never started",
		setup: func(t *testing.T) *testenv.Temporal {
			d, tc := testenv.NewDatabase(t), testenv.NewTemporal(t)
			fx := d.SeedReferral(t)
			if _, err := d.Pool.Exec(context.Background(), "UPDATE referrals SET created_at = now() - interval '1 hour' WHERE id = $1", fx.Referral.ID); err != nil {
				t.Fatal(err)
			}
			ws := worker.New(tc.Client, d.Pool, worker.Options{TaskQueue: tc.TaskQueue, HubSpotTaskQueue: tc.HubSpotTaskQueue})
			if err := ws.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ws.Stop)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// Started without a referral ID: the workflow fails at once.
			run, err := tc.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "referral/doctor-" + tc.TaskQueue, TaskQueue: tc.TaskQueue},
				worker.ReferralWorkflowType, workflows.ReferralInput{})
			if err != nil {
				t.Fatal(err)
			}
			if err := run.Get(ctx, nil); err == nil {
				t.Fatal("the referral workflow did not fail")
			}
			doctorEnv(t, d, tc)
			return tc
		},
		want: []string{
			"problem  referral workflows: 1 referral workflow(s) ended without finishing: referral/doctor-", "(failed)",
			"fix: run `referflow referrals resume`",
			"problem  referrals without workflow: 1 referral(s) have no workflow yet",
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := c.setup(t)
			code, out := runDoctorCmd(t, tc)
			t.Log("\n" + out)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in:\n%s", w, out)
				}
			}
			if !strings.Contains(out, "problem(s) found.") {
				t.Errorf("no summary line in:\n%s", out)
			}
		})
	}
}

// newNamespace registers a namespace of the test's own on the dev server,
// without referflow's search attributes, and waits until it answers.
func newNamespace(t *testing.T, tc *testenv.Temporal) string {
	t.Helper()
	name := "doctor-" + tc.TaskQueue
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tc.Client.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: name, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := tc.Client.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: name})
		if err == nil {
			return name
		}
		select {
		case <-ctx.Done():
			t.Fatalf("namespace %s never answered: %v", name, fmt.Sprint(err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Without REFERFLOW_SMTP_URL no email goes to members: doctor says so,
// and it is no problem.
func TestDoctorSaysWhenNoEmailIsSent(t *testing.T) {
	tc := testenv.NewTemporal(t)
	doctorEnv(t, testenv.NewDatabase(t), tc)
	code, out := runDoctorCmd(t, tc)
	if code != 0 || !strings.Contains(out, "ok       email: off: REFERFLOW_SMTP_URL is not set, so no email is sent to members") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
