package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/adminauth"
)

const apikeyUsage = `Usage: referflow apikey create --admin EMAIL|ID [--workspace NAME] [--name LABEL]

Creates another API key for an existing program admin and prints it. The key
is shown once and only its hash is stored: keep it. An admin can hold several
keys (one per script or person), each with its own label. When the email is
an admin of several workspaces, --workspace says which. Needs DATABASE_URL; without it,
in a checkout, the database ` + "`referflow dev`" + ` made for the checkout.
`

func runAPIKey(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	adminRef := fs.String("admin", "", "the admin: their email address or admin ID")
	workspace := fs.String("workspace", "", "the admin's workspace, when the email is an admin in several")
	label := fs.String("name", "", "a label to tell this key from the admin's others (optional)")
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return fs.Parse(args)
		}
		return errors.New("the only subcommand is `create` (see --help)")
	}
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	ref := strings.TrimSpace(*adminRef)
	if ref == "" {
		return errors.New("--admin is required: the admin's email address or ID")
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
	q := db.New(pool)
	admin, err := findAdmin(ctx, q, ref, strings.TrimSpace(*workspace))
	if err != nil {
		return err
	}
	name := strings.TrimSpace(*label)
	if name == "" {
		name = "created with referflow apikey create"
	}
	_, key, err := adminauth.CreateAPIKey(ctx, q, admin.ID, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(out.stdout, "admin %s (%s) in workspace %s\nAPI key %q (shown once): %s\n", admin.ID, admin.Email, admin.WorkspaceID, name, key)
	return nil
}

// findAdmin resolves --admin: an admin ID, or an email (any case) that must
// name exactly one admin once --workspace is taken into account.
func findAdmin(ctx context.Context, q *db.Queries, ref, workspace string) (db.Admin, error) {
	if id, err := uuid.Parse(ref); err == nil {
		a, err := q.AdminGetByID(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return db.Admin{}, fmt.Errorf("no admin has ID %s (`referflow admin create` adds one)", id)
		}
		return a, err
	}
	rows, err := q.AdminListByEmail(ctx, ref)
	if err != nil {
		return db.Admin{}, fmt.Errorf("look up admin: %w", err)
	}
	var matches []db.AdminListByEmailRow
	var workspaces []string
	for _, r := range rows {
		workspaces = append(workspaces, fmt.Sprintf("%q", r.WorkspaceName))
		if workspace == "" || r.WorkspaceName == workspace {
			matches = append(matches, r)
		}
	}
	switch {
	case len(matches) == 1:
		return matches[0].Admin, nil
	case len(rows) == 0:
		return db.Admin{}, fmt.Errorf("no admin has the email %s (`referflow admin create` adds one)", ref)
	case len(matches) == 0:
		return db.Admin{}, fmt.Errorf("%s is not an admin of workspace %q (they are one in %s)", ref, workspace, strings.Join(workspaces, ", "))
	default:
		return db.Admin{}, fmt.Errorf("%s is an admin in several workspaces (%s): say which with --workspace", ref, strings.Join(workspaces, ", "))
	}
}
