package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// ptr returns a pointer to v, for the nullable parameters of sqlc queries.
func ptr[T any](v T) *T { return &v }

// testContext is a context that ends with the test (or after a minute, so a
// stuck lock fails the test instead of hanging the run).
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// requirePgError fails unless err is a PostgreSQL error with code (e.g.
// 23505) and, when constraint is not empty, that constraint's name.
func requirePgError(t *testing.T, err error, code, constraint string) *pgconn.PgError {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("want PostgreSQL error %s (%s), got %v", code, constraint, err)
	}
	if pgErr.Code != code || (constraint != "" && pgErr.ConstraintName != constraint) {
		t.Fatalf("want PostgreSQL error %s on %q, got %s on %q: %v", code, constraint, pgErr.Code, pgErr.ConstraintName, err)
	}
	return pgErr
}

// fixture is a workspace with one campaign and one member in it.
type fixture struct {
	d         *testenv.Database
	q         *db.Queries
	workspace db.Workspace
	campaign  db.Campaign
	member    db.Member
}

// newFixture gives a test its own database with the smallest useful data.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	d := testenv.NewDatabase(t)
	f := &fixture{d: d, q: d.Queries}
	f.workspace = f.newWorkspace(t, "Acme")
	f.campaign = f.newCampaign(t, f.workspace, "Spring referrals")
	f.member = f.mustMember(t, f.campaign, "ALICE1", "alice@example.com")
	return f
}

func (f *fixture) newWorkspace(t *testing.T, name string) db.Workspace {
	t.Helper()
	ws, err := f.q.WorkspaceCreate(testContext(t), db.WorkspaceCreateParams{Name: name, WebhookSigningSecret: "whsec_" + name})
	if err != nil {
		t.Fatalf("WorkspaceCreate: %v", err)
	}
	return ws
}

func (f *fixture) newCampaign(t *testing.T, ws db.Workspace, name string) db.Campaign {
	t.Helper()
	c, err := f.q.CampaignCreate(testContext(t), db.CampaignCreateParams{WorkspaceID: ws.ID, Name: name})
	if err != nil {
		t.Fatalf("CampaignCreate: %v", err)
	}
	return c
}

func (f *fixture) createMember(t *testing.T, c db.Campaign, code, email string) (db.Member, error) {
	t.Helper()
	return f.q.MemberCreate(testContext(t), db.MemberCreateParams{
		WorkspaceID:  c.WorkspaceID,
		CampaignID:   c.ID,
		ReferralCode: code,
		Email:        email,
		Source:       "admin",
	})
}

func (f *fixture) mustMember(t *testing.T, c db.Campaign, code, email string) db.Member {
	t.Helper()
	m, err := f.createMember(t, c, code, email)
	if err != nil {
		t.Fatalf("MemberCreate: %v", err)
	}
	return m
}

func (f *fixture) createReferral(t *testing.T, m db.Member, leadEmail string) (db.Referral, error) {
	t.Helper()
	return f.q.ReferralInsert(testContext(t), db.ReferralInsertParams{
		WorkspaceID:         m.WorkspaceID,
		CampaignID:          m.CampaignID,
		MemberID:            m.ID,
		LeadEmail:           leadEmail,
		LeadEmailNormalized: strings.ToLower(leadEmail),
		Source:              "form",
	})
}

func (f *fixture) mustReferral(t *testing.T, m db.Member, leadEmail string) db.Referral {
	t.Helper()
	r, err := f.createReferral(t, m, leadEmail)
	if err != nil {
		t.Fatalf("ReferralInsert: %v", err)
	}
	return r
}
