// Package activities does the side effects of referral workflows: database
// writes now, HubSpot calls and matching as those capabilities land. Each
// activity is idempotent, because Temporal retries it until it succeeds.
package activities

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/referflow/referflow/db"
)

// Activities holds what activities depend on. The worker registers one value;
// workflows refer to its methods through a nil pointer of this type.
type Activities struct {
	Pool    *pgxpool.Pool
	Queries *db.Queries
}

// New builds the activities over a connection pool.
func New(pool *pgxpool.Pool) *Activities {
	return &Activities{Pool: pool, Queries: db.New(pool)}
}
