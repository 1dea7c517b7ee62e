package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/privacy"
)

// ErasedSkip is why nothing is sent to HubSpot about an erased member or
// lead (privacy): referflow writes nothing more about them.
const ErasedSkip = "the person's data was erased (privacy): nothing more about them is sent to HubSpot"

// ErasePersonInput names the erasure to run: the email it is to find is held
// in Postgres (privacy_erasure_requests), never in Temporal.
type ErasePersonInput struct {
	ErasureID string
}

// ErasePersonResult is what the erasure erased, as counts of rows per
// table; Done says it had already run (a retried activity, a repeated
// signal).
type ErasePersonResult struct {
	Counts privacy.Counts
	Done   bool
}

// ErasePerson runs a privacy erasure: in one transaction it erases the
// person whose email the erasure holds (privacy.Erase, which also deletes
// their payload key: PersonalData.Forget), records the counts on the
// erasure and deletes the held email. It is idempotent: an erasure whose
// email is gone has run.
func (a *Activities) ErasePerson(ctx context.Context, in ErasePersonInput) (ErasePersonResult, error) {
	id, err := uuid.Parse(in.ErasureID)
	if err != nil {
		return ErasePersonResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not an erasure ID", in.ErasureID), "InvalidInput", err)
	}
	tx, err := a.Pool.Begin(ctx)
	if err != nil {
		return ErasePersonResult{}, fmt.Errorf("begin erasure %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	q := a.Queries.WithTx(tx)
	erasure, err := q.PrivacyErasureGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErasePersonResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("erasure %s does not exist", id), "ErasureNotFound", err)
	}
	if err != nil {
		return ErasePersonResult{}, fmt.Errorf("load erasure %s: %w", id, err)
	}
	req, err := q.PrivacyErasureRequestGet(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErasePersonResult{Done: true}, nil
	}
	if err != nil {
		return ErasePersonResult{}, fmt.Errorf("load the request of erasure %s: %w", id, err)
	}
	counts, err := privacy.Erase(ctx, tx, a.forgetPerson(), erasure.WorkspaceID, req.Email)
	if err != nil {
		return ErasePersonResult{}, fmt.Errorf("erasure %s: %w", id, err)
	}
	raw, err := json.Marshal(counts)
	if err != nil {
		return ErasePersonResult{}, fmt.Errorf("erasure %s's counts: %w", id, err)
	}
	if err := q.PrivacyErasureComplete(ctx, db.PrivacyErasureCompleteParams{ID: id, Counts: raw}); err != nil {
		return ErasePersonResult{}, fmt.Errorf("record erasure %s: %w", id, err)
	}
	if err := q.PrivacyErasureRequestDelete(ctx, id); err != nil {
		return ErasePersonResult{}, fmt.Errorf("forget the email of erasure %s: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return ErasePersonResult{}, fmt.Errorf("commit erasure %s: %w", id, err)
	}
	return ErasePersonResult{Counts: counts}, nil
}

// forgetPerson is how an erasure forgets the person's payload key: the
// keyring's Forget. A worker without a keyring seals no payloads, so there
// is no key to forget.
func (a *Activities) forgetPerson() privacy.Forget {
	if a.PersonalData == nil {
		return func(context.Context, db.DBTX, string) error { return nil }
	}
	return a.PersonalData.Forget
}
