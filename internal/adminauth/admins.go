package adminauth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
)

// The workspace's admins and their API keys, as the CLI (referflow admin,
// referflow apikey), the admin API (/api/v1/admins, /api/v1/api-keys) and
// the settings page manage them: one function each.

var (
	// ErrNotFound: no such admin or key in the workspace (another
	// workspace's is not found either).
	ErrNotFound = errors.New("not found in this workspace")
	// ErrLastAdmin: removing the admin would leave the workspace with none.
	ErrLastAdmin = errors.New("this is the workspace's last admin: add another admin before removing this one")
)

// MaxKeyNameLength caps an API key's label.
const MaxKeyNameLength = 100

// CheckAdminEmail tells what is wrong with an admin's email address, if
// anything.
func CheckAdminEmail(email string) error {
	if email == "" {
		return errors.New("is required")
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 {
		return errors.New("must be an email address such as ops@example.com")
	}
	return nil
}

// CreateAPIKey gives an admin another API key labelled name and returns it
// with the key itself, which is shown once: only its hash is stored.
func CreateAPIKey(ctx context.Context, q *db.Queries, adminID uuid.UUID, name string) (db.AdminApiKey, string, error) {
	key, hash, prefix, err := NewAPIKey()
	if err != nil {
		return db.AdminApiKey{}, "", err
	}
	row, err := q.AdminAPIKeyCreate(ctx, db.AdminAPIKeyCreateParams{AdminID: adminID, Name: strings.TrimSpace(name), Prefix: prefix, KeyHash: hash})
	if err != nil {
		return db.AdminApiKey{}, "", fmt.Errorf("store API key: %w", err)
	}
	return row, key, nil
}

// RevokeAPIKey revokes a key of one of the workspace's admins: it is refused
// from then on. Revoking a revoked key changes nothing.
func RevokeAPIKey(ctx context.Context, q *db.Queries, workspaceID, keyID uuid.UUID) (db.AdminApiKey, error) {
	k, err := q.AdminAPIKeyRevoke(ctx, db.AdminAPIKeyRevokeParams{ID: keyID, WorkspaceID: workspaceID})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.AdminApiKey{}, ErrNotFound
	}
	if err != nil {
		return db.AdminApiKey{}, fmt.Errorf("revoke API key: %w", err)
	}
	return k, nil
}

// RemoveAdmin removes an admin of the workspace, with their keys, unless
// they are its last admin (ErrLastAdmin): a workspace always keeps one.
func RemoveAdmin(ctx context.Context, q *db.Queries, workspaceID, adminID uuid.UUID) (db.Admin, error) {
	if _, err := q.AdminGetInWorkspace(ctx, db.AdminGetInWorkspaceParams{ID: adminID, WorkspaceID: workspaceID}); errors.Is(err, pgx.ErrNoRows) {
		return db.Admin{}, ErrNotFound
	} else if err != nil {
		return db.Admin{}, fmt.Errorf("load admin: %w", err)
	}
	a, err := q.AdminRemoveUnlessLast(ctx, db.AdminRemoveUnlessLastParams{ID: adminID, WorkspaceID: workspaceID})
	if errors.Is(err, pgx.ErrNoRows) {
		// The admin exists (above) and was not removed: the last one, or
		// removed meanwhile by someone else.
		if _, err := q.AdminGetInWorkspace(ctx, db.AdminGetInWorkspaceParams{ID: adminID, WorkspaceID: workspaceID}); errors.Is(err, pgx.ErrNoRows) {
			return db.Admin{}, ErrNotFound
		}
		return db.Admin{}, ErrLastAdmin
	}
	if err != nil {
		return db.Admin{}, fmt.Errorf("remove admin: %w", err)
	}
	return a, nil
}
