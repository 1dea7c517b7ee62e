// Package memberaccess makes and reads a member's access link to their
// portal, <PUBLIC_URL>/m/{token}. The link is the member's credential —
// whoever holds it sees the member's referrals and can refer in their name —
// so it is signed and it expires:
//
//	token = base64url(version ‖ member ID ‖ expiry ‖ HMAC-SHA256(key, version ‖ member ID ‖ expiry))
//
// version is one byte (1), the member ID its 16 bytes, the expiry Unix
// seconds as 8 big-endian bytes; the key is derived from the encryption key
// for this one use (rotating REFERFLOW_ENCRYPTION_KEY revokes every link).
// Nothing is stored: a link stops working when it expires, when its member is
// deleted, or when its campaign is archived; there is no per-link revocation.
//
// The api serves the portal and hands links out (the join page, the admin
// API); the worker puts them in the emails it sends members. Both sign with
// the same derived key, so a link either makes opens in the other.
package memberaccess

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"
)

// DefaultTTL is how long an access link works unless the admin asks
// otherwise; MaxTTL is the longest an admin may ask for, so a link forwarded
// by mistake does not stay good for years.
const (
	DefaultTTL = 30 * 24 * time.Hour
	MaxTTL     = 90 * 24 * time.Hour
)

// PathPrefix starts the portal's paths: /m/{token}.
const PathPrefix = "/m/"

const (
	version  = 1
	payload  = 1 + 16 + 8
	tokenLen = payload + sha256.Size
)

var (
	// ErrInvalid: not a token referflow signed (malformed, tampered, signed
	// under another key).
	ErrInvalid = errors.New("member access token is not valid")
	// ErrExpired: a token referflow signed, past its expiry.
	ErrExpired = errors.New("member access token has expired")
)

// Signer signs and verifies access tokens under a key derived from the
// encryption key.
type Signer struct{ key []byte }

// NewSigner derives the signing key from the (first) encryption key. Without
// one it uses a random key: links then stop working at a restart.
func NewSigner(encryptionKey []byte) *Signer {
	return &Signer{key: DeriveKey(encryptionKey, "referflow member access link v1")}
}

// URL is the member's access link on base (the public URL, no trailing
// slash), valid until expires.
func (s *Signer) URL(base string, memberID uuid.UUID, expires time.Time) string {
	return base + PathPrefix + s.Token(memberID, expires)
}

// Token signs the member's ID and the expiry (truncated to the second).
func (s *Signer) Token(memberID uuid.UUID, expires time.Time) string {
	b := make([]byte, payload, tokenLen)
	b[0] = version
	copy(b[1:17], memberID[:])
	binary.BigEndian.PutUint64(b[17:], uint64(expires.Unix()))
	return base64.RawURLEncoding.EncodeToString(s.sign(b))
}

func (s *Signer) sign(p []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(p)
	return m.Sum(p)
}

// Parse verifies a token (in constant time) and returns its member and
// expiry. An expired token still names its member (with ErrExpired), so the
// page can say where to get a new link.
func (s *Signer) Parse(token string, now time.Time) (uuid.UUID, time.Time, error) {
	if base64.RawURLEncoding.EncodedLen(tokenLen) != len(token) {
		return uuid.Nil, time.Time{}, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != tokenLen || raw[0] != version {
		return uuid.Nil, time.Time{}, ErrInvalid
	}
	want := s.sign(bytes.Clone(raw[:payload]))
	if !hmac.Equal(raw, want) {
		return uuid.Nil, time.Time{}, ErrInvalid
	}
	id, _ := uuid.FromBytes(raw[1:17])
	expires := time.Unix(int64(binary.BigEndian.Uint64(raw[17:payload])), 0)
	if !now.Before(expires) {
		return id, expires, ErrExpired
	}
	return id, expires, nil
}

// DeriveKey derives a key for one use, named by label, from the encryption
// key (a random one when there is none: then what it signs does not survive
// a restart). Every signed link and token referflow makes has its own label.
func DeriveKey(encryptionKey []byte, label string) []byte {
	if encryptionKey == nil {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return k
	}
	m := hmac.New(sha256.New, encryptionKey)
	m.Write([]byte(label))
	return m.Sum(nil)
}
