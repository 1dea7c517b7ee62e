package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
	"github.com/referflow/referflow/internal/webhookdelivery"
)

const adminUsage = `Usage: referflow admin create --workspace NAME --email EMAIL [--name NAME]

Adds a program admin to a workspace (creating the workspace when no workspace
has that name) and prints the admin's API key. The key is shown once: keep
it. A new workspace's webhook signing secret is printed too (admins can read
it again at GET /api/v1/webhook-signing-secret). Use the key as
` + "`Authorization: Bearer <key>`" + ` on /api/v1, or sign in with it at
<REFERFLOW_PUBLIC_URL>/login. Needs DATABASE_URL; without it, in a checkout,
the database ` + "`referflow dev`" + ` made for the checkout.
`

func runAdmin(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	workspace := fs.String("workspace", "", "name of the workspace (created when none has this name)")
	email := fs.String("email", "", "the admin's email address")
	name := fs.String("name", "", "the admin's name (optional)")
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return fs.Parse(args)
		}
		return errors.New("the only subcommand is `create` (see --help)")
	}
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	var problems []string
	if strings.TrimSpace(*workspace) == "" {
		problems = append(problems, "--workspace is required")
	}
	if !strings.Contains(*email, "@") {
		problems = append(problems, "--email must be an email address")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	cfg, err := loadConfigFindingDevDatabase(ctx, out.stderr)
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := requireMigrated(ctx, pool); err != nil {
		return err
	}
	_, err = db.New(pool).WorkspaceGetByName(ctx, strings.TrimSpace(*workspace))
	newWorkspace := errors.Is(err, pgx.ErrNoRows)
	admin, key, err := createAdmin(ctx, pool, strings.TrimSpace(*workspace), strings.TrimSpace(*email), *name)
	if err != nil {
		return err
	}
	fmt.Fprintf(out.stdout, "admin %s (%s) in workspace %s\nAPI key (shown once): %s\n", admin.ID, admin.Email, admin.WorkspaceID, key)
	if newWorkspace {
		ws, err := db.New(pool).WorkspaceGetByID(ctx, admin.WorkspaceID)
		if err != nil {
			return fmt.Errorf("read the new workspace: %w", err)
		}
		fmt.Fprintf(out.stdout, "webhook signing secret (shown once here): %s\n"+
			"  Give it to the service behind your campaigns' fulfilment URL: it verifies the\n"+
			"  Referflow-Signature of every webhook with it (README, \"Verifying a webhook\").\n"+
			"  Admins read it at GET /api/v1/webhook-signing-secret and rotate it there.\n", ws.WebhookSigningSecret)
	}
	return nil
}

// createAdmin adds an admin and its first key in one transaction, creating
// the workspace by name when needed.
func createAdmin(ctx context.Context, pool *pgxpool.Pool, workspace, email, name string) (db.Admin, string, error) {
	var admin db.Admin
	var key string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		ws, err := q.WorkspaceGetByName(ctx, workspace)
		if errors.Is(err, pgx.ErrNoRows) {
			var secret string
			if secret, err = webhookdelivery.NewSigningSecret(); err != nil {
				return err
			}
			ws, err = q.WorkspaceCreate(ctx, db.WorkspaceCreateParams{Name: workspace, WebhookSigningSecret: secret})
		}
		if err != nil {
			return fmt.Errorf("workspace %q: %w", workspace, err)
		}
		admin, key, err = adminauth.CreateAdmin(ctx, q, ws.ID, email, name)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return fmt.Errorf("workspace %q already has an admin with email %s", workspace, email)
		}
		return err
	})
	return admin, key, err
}
