// Package adminauth tells who a program admin is: by an API key (scripts and
// the admin API) or by a session cookie (a browser, e.g. the HubSpot connect
// flow, which is a chain of redirects that cannot carry a header).
//
// API keys are random, shown once and stored as SHA-256 hashes. Sessions are
// stateless: an admin ID and an expiry signed with HMAC-SHA256 under a key
// derived from REFERFLOW_ENCRYPTION_KEY, so every api process accepts every
// other's sessions without shared state.
package adminauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/referflow/referflow/db"
)

// KeyPrefix starts every referflow admin API key, so a leaked key is
// recognisable (secret scanners, logs).
const KeyPrefix = "rfk_"

// SessionCookie is the name of the admin session cookie.
const SessionCookie = "referflow_session"

// SessionTTL is how long a browser session lasts.
const SessionTTL = 12 * time.Hour

// ErrUnauthenticated means the request proves no admin identity.
var ErrUnauthenticated = errors.New("not signed in: send the header `Authorization: Bearer rfk_…` with an admin API key, or sign in at /login")

// NewAPIKey makes a new key. The key is given to the admin once; only hash
// and prefix are stored.
func NewAPIKey() (key string, hash []byte, prefix string, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, "", fmt.Errorf("generate API key: %w", err)
	}
	key = KeyPrefix + hex.EncodeToString(raw)
	return key, HashAPIKey(key), key[:len(KeyPrefix)+6], nil
}

// HashAPIKey is what the database stores and looks keys up by.
func HashAPIKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Sessions signs and checks session cookies.
type Sessions struct {
	key []byte
	now func() time.Time
}

// NewSessions derives the session signing key from the encryption key, so
// operators have one secret to manage; rotating it signs everyone out.
func NewSessions(encryptionKey []byte) *Sessions {
	mac := hmac.New(sha256.New, encryptionKey)
	mac.Write([]byte("referflow admin sessions v1"))
	return &Sessions{key: mac.Sum(nil), now: time.Now}
}

// Issue returns a session value for an admin, valid for SessionTTL.
func (s *Sessions) Issue(adminID uuid.UUID) string {
	payload := "v1." + adminID.String() + "." + strconv.FormatInt(s.now().Add(SessionTTL).Unix(), 10)
	return payload + "." + s.sign(payload)
}

// Check returns the admin a session value was issued to, if it is intact and
// not expired.
func (s *Sessions) Check(value string) (uuid.UUID, error) {
	i := strings.LastIndexByte(value, '.')
	if i < 0 || !hmac.Equal([]byte(value[i+1:]), []byte(s.sign(value[:i]))) {
		return uuid.Nil, fmt.Errorf("%w (session is not valid)", ErrUnauthenticated)
	}
	parts := strings.Split(value[:i], ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return uuid.Nil, fmt.Errorf("%w (session is not valid)", ErrUnauthenticated)
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || s.now().Unix() >= exp {
		return uuid.Nil, fmt.Errorf("%w (session expired)", ErrUnauthenticated)
	}
	id, err := uuid.Parse(parts[1])
	if err != nil {
		return uuid.Nil, fmt.Errorf("%w (session is not valid)", ErrUnauthenticated)
	}
	return id, nil
}

// CSRFToken is the admin web UI's synchronizer token for a session: every
// form of a signed-in page carries it and every write must send it back. It
// is bound to the session value (a new sign-in gets a new token) and needs
// no server state; only who holds the session's key can make it.
func (s *Sessions) CSRFToken(session string) string {
	return s.sign("csrf." + session)
}

// CheckCSRFToken tells whether token is session's CSRF token, in constant
// time.
func (s *Sessions) CheckCSRFToken(session, token string) bool {
	return session != "" && hmac.Equal([]byte(token), []byte(s.CSRFToken(session)))
}

func (s *Sessions) sign(payload string) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Authenticator finds the admin behind a request.
type Authenticator struct {
	Queries  *db.Queries
	Sessions *Sessions
}

// Authenticate accepts a bearer API key, else a session cookie.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (db.Admin, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		// The scheme is case-insensitive (RFC 9110 §11.1): "bearer" works.
		scheme, key, ok := strings.Cut(strings.TrimSpace(h), " ")
		key = strings.TrimSpace(key)
		if !ok || !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(key, KeyPrefix) {
			return db.Admin{}, fmt.Errorf("%w (the Authorization header must be `Bearer rfk_…`)", ErrUnauthenticated)
		}
		return a.AdminByAPIKey(ctx, key)
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return db.Admin{}, ErrUnauthenticated
	}
	return a.SessionAdmin(ctx, c.Value)
}

// SessionAdmin returns the admin a session cookie's value was issued to, if
// it is intact, not expired and the admin still exists. The admin web UI
// accepts sessions only (a browser has no API key header).
func (a *Authenticator) SessionAdmin(ctx context.Context, session string) (db.Admin, error) {
	id, err := a.Sessions.Check(session)
	if err != nil {
		return db.Admin{}, err
	}
	admin, err := a.Queries.AdminGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Admin{}, fmt.Errorf("%w (the session's admin no longer exists)", ErrUnauthenticated)
	}
	return admin, err
}

// AdminByAPIKey returns the admin holding a key that is not revoked.
func (a *Authenticator) AdminByAPIKey(ctx context.Context, key string) (db.Admin, error) {
	hash := HashAPIKey(key)
	admin, err := a.Queries.AdminAPIKeyGetAdmin(ctx, hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.Admin{}, fmt.Errorf("%w (unknown or revoked API key)", ErrUnauthenticated)
	}
	if err != nil {
		return db.Admin{}, fmt.Errorf("look up API key: %w", err)
	}
	if err := a.Queries.AdminAPIKeyTouch(ctx, hash); err != nil {
		return db.Admin{}, fmt.Errorf("record API key use: %w", err)
	}
	return admin, nil
}

// CreateAdmin adds an admin with a first API key and returns the key, which
// is shown once.
func CreateAdmin(ctx context.Context, q *db.Queries, workspaceID uuid.UUID, email, name string) (db.Admin, string, error) {
	var namePtr *string
	if name != "" {
		namePtr = &name
	}
	admin, err := q.AdminCreate(ctx, db.AdminCreateParams{WorkspaceID: workspaceID, Email: email, Name: namePtr})
	if err != nil {
		return db.Admin{}, "", fmt.Errorf("create admin %s: %w", email, err)
	}
	_, key, err := CreateAPIKey(ctx, q, admin.ID, "first key")
	if err != nil {
		return db.Admin{}, "", err
	}
	return admin, key, nil
}
