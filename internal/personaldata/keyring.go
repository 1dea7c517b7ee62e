package personaldata

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/referral"
	"github.com/referflow/referflow/internal/tokencrypt"
)

// CacheFor is how long a process keeps a person's key after reading it.
// Erasure deletes the key in Postgres at once; another process may still
// open that person's values for up to this long (what it seals meanwhile
// stays sealed under the deleted key, so it is unreadable too).
const CacheFor = 30 * time.Second

// maxCached bounds the cache (a CSV import meets a person per row): past it,
// the cache starts again from empty.
const maxCached = 100_000

// Keyring holds the per-person keys: in Postgres (person_keys), each sealed
// with REFERFLOW_ENCRYPTION_KEY, and for CacheFor in memory.
type Keyring struct {
	q   db.DBTX
	box *tokencrypt.Box
	now func() time.Time

	mu     sync.Mutex
	pepper []byte
	keys   map[string]cachedKey
}

type cachedKey struct {
	aead cipher.AEAD // nil: erased, or (create false) never made
	at   time.Time
}

// NewKeyring reads and writes keys through q (the pool), sealing them with
// box.
func NewKeyring(q db.DBTX, box *tokencrypt.Box) *Keyring {
	return &Keyring{q: q, box: box, now: time.Now, keys: map[string]cachedKey{}}
}

// Subject is the person's name in person_keys and in sealed values: a keyed
// hash of their normalized email, which cannot be reversed by hashing
// guessed emails without the install's pepper.
func (k *Keyring) Subject(ctx context.Context, email string) (string, error) {
	pepper, err := k.loadPepper(ctx)
	if err != nil {
		return "", err
	}
	return subjectOf(pepper, email), nil
}

func subjectOf(pepper []byte, email string) string {
	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte(referral.NormalizeEmail(email)))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// Forget erases the person with that email from every Temporal history:
// their key is deleted (a tombstone stays, so no new key is ever made for
// them) and this process's copy dropped. Run it in the transaction that
// erases their data from Postgres (q is that transaction). It is idempotent,
// and it also covers a person who never had a key.
func (k *Keyring) Forget(ctx context.Context, q db.DBTX, email string) error {
	subject, err := k.Subject(ctx, email)
	if err != nil {
		return err
	}
	if err := db.New(q).PersonKeyErase(ctx, subject); err != nil {
		return fmt.Errorf("erase the personal-data key of person %s: %w", subject, err)
	}
	k.mu.Lock()
	delete(k.keys, subject)
	k.mu.Unlock()
	return nil
}

// key returns the person's key by subject: nil when they were erased, or
// (create false) never had one. With create, a person without a key gets
// one.
func (k *Keyring) key(ctx context.Context, subject string, create bool) (cipher.AEAD, error) {
	k.mu.Lock()
	c, ok := k.keys[subject]
	k.mu.Unlock()
	if ok && k.now().Sub(c.at) < CacheFor && (c.aead != nil || !create) {
		return c.aead, nil
	}
	q := db.New(k.q)
	row, err := q.PersonKeyGet(ctx, subject)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && create:
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		sealed, err := k.box.Seal(raw, keyAD(subject))
		if err != nil {
			return nil, err
		}
		if row, err = q.PersonKeyCreate(ctx, db.PersonKeyCreateParams{Subject: subject, SealedKey: sealed}); err != nil {
			return nil, fmt.Errorf("store the personal-data key of person %s: %w", subject, err)
		}
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the personal-data key of person %s: %w", subject, err)
	}
	var aead cipher.AEAD
	if row.SealedKey != nil {
		raw, err := k.box.Open(row.SealedKey, keyAD(subject))
		if err != nil {
			return nil, fmt.Errorf("open the personal-data key of person %s: %w", subject, err)
		}
		if aead, err = newAEAD(raw); err != nil {
			return nil, err
		}
	}
	k.mu.Lock()
	if len(k.keys) >= maxCached {
		clear(k.keys)
	}
	k.keys[subject] = cachedKey{aead: aead, at: k.now()}
	k.mu.Unlock()
	return aead, nil
}

func keyAD(subject string) []byte { return []byte("person-key:" + subject) }

func newAEAD(raw []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// loadPepper reads the install's pepper, making it the first time.
func (k *Keyring) loadPepper(ctx context.Context) ([]byte, error) {
	k.mu.Lock()
	p := k.pepper
	k.mu.Unlock()
	if p != nil {
		return p, nil
	}
	q := db.New(k.q)
	row, err := q.PersonKeySettingsGet(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		sealed, serr := k.box.Seal(raw, []byte("person-key-pepper"))
		if serr != nil {
			return nil, serr
		}
		row, err = q.PersonKeySettingsCreate(ctx, sealed)
	}
	if err != nil {
		return nil, fmt.Errorf("read the personal-data pepper: %w", err)
	}
	p, err = k.box.Open(row.SealedPepper, []byte("person-key-pepper"))
	if err != nil {
		return nil, fmt.Errorf("open the personal-data pepper: %w", err)
	}
	k.mu.Lock()
	k.pepper = p
	k.mu.Unlock()
	return p, nil
}
