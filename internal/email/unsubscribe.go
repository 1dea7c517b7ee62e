package email

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"github.com/google/uuid"

	"github.com/referflow/referflow/internal/memberaccess"
)

// A member's unsubscribe link, <PUBLIC_URL>/u/{token}, is in every email
// (the footer and List-Unsubscribe). It must keep working for as long as
// an old email lies in an inbox, so it does not expire; it only unsubscribes,
// so it opens nothing else:
//
//	token = base64url(version ‖ member ID ‖ HMAC-SHA256(key, version ‖ member ID)[:16])
//
// under a key derived from the encryption key for this one use.

// UnsubscribePathPrefix starts the unsubscribe page's path.
const UnsubscribePathPrefix = "/u/"

const (
	unsubscribeVersion = 1
	unsubscribePayload = 1 + 16
	unsubscribeMACLen  = 16
	unsubscribeLen     = unsubscribePayload + unsubscribeMACLen
)

// ErrUnsubscribeInvalid: not an unsubscribe token referflow signed.
var ErrUnsubscribeInvalid = errors.New("unsubscribe token is not valid")

// Unsubscriber signs and reads unsubscribe tokens.
type Unsubscriber struct{ key []byte }

// NewUnsubscriber derives its key from the (first) encryption key.
func NewUnsubscriber(encryptionKey []byte) *Unsubscriber {
	return &Unsubscriber{key: memberaccess.DeriveKey(encryptionKey, "referflow email unsubscribe v1")}
}

// URL is the member's unsubscribe link on base (the public URL).
func (u *Unsubscriber) URL(base string, memberID uuid.UUID) string {
	return base + UnsubscribePathPrefix + u.Token(memberID)
}

// Token signs the member's ID.
func (u *Unsubscriber) Token(memberID uuid.UUID) string {
	b := make([]byte, unsubscribePayload, unsubscribeLen)
	b[0] = unsubscribeVersion
	copy(b[1:], memberID[:])
	return base64.RawURLEncoding.EncodeToString(append(b, u.mac(b)...))
}

func (u *Unsubscriber) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, u.key)
	m.Write(payload)
	return m.Sum(nil)[:unsubscribeMACLen]
}

// Parse verifies a token (in constant time) and returns its member.
func (u *Unsubscriber) Parse(token string) (uuid.UUID, error) {
	if base64.RawURLEncoding.EncodedLen(unsubscribeLen) != len(token) {
		return uuid.Nil, ErrUnsubscribeInvalid
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != unsubscribeLen || raw[0] != unsubscribeVersion {
		return uuid.Nil, ErrUnsubscribeInvalid
	}
	if !hmac.Equal(raw[unsubscribePayload:], u.mac(bytes.Clone(raw[:unsubscribePayload]))) {
		return uuid.Nil, ErrUnsubscribeInvalid
	}
	id, _ := uuid.FromBytes(raw[1:unsubscribePayload])
	return id, nil
}
