// Package tokencrypt encrypts HubSpot tokens before they reach the database,
// with AES-256-GCM under REFERFLOW_ENCRYPTION_KEY.
//
// Keys rotate: the configuration lists keys, the first encrypts and all
// decrypt. Each ciphertext names the key that sealed it (a short ID derived
// from the key, never the key), so after adding a new key first in the list,
// old tokens still open and Reseal re-encrypts them under the new one; the old
// key can be dropped once nothing names it.
package tokencrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// format is the first byte of every ciphertext, so the layout can change.
const format byte = 1

const keyIDLen = 4

// ErrUnknownKey means the ciphertext was sealed by a key that is no longer
// configured: put the old key back in REFERFLOW_ENCRYPTION_KEY (after the
// current one) or reconnect HubSpot.
var ErrUnknownKey = errors.New("token was encrypted with a key that is not in REFERFLOW_ENCRYPTION_KEY")

// ErrCorrupt means the ciphertext was altered or is not one of ours.
var ErrCorrupt = errors.New("encrypted token is damaged or was not encrypted by referflow")

// Box seals and opens tokens.
type Box struct {
	current *key
	byID    map[string]*key
}

type key struct {
	id   string
	aead cipher.AEAD
}

// New builds a Box from the configured keys (32 bytes each); the first
// encrypts.
func New(keys [][]byte) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("tokencrypt: no encryption key configured (REFERFLOW_ENCRYPTION_KEY)")
	}
	b := &Box{byID: map[string]*key{}}
	for i, raw := range keys {
		if len(raw) != 32 {
			return nil, fmt.Errorf("tokencrypt: key %d is %d bytes, want 32", i+1, len(raw))
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("tokencrypt: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("tokencrypt: key %d: %w", i+1, err)
		}
		sum := sha256.Sum256(append([]byte("referflow token key id\x00"), raw...))
		k := &key{id: hex.EncodeToString(sum[:keyIDLen]), aead: aead}
		if _, dup := b.byID[k.id]; dup {
			return nil, fmt.Errorf("tokencrypt: key %d is listed twice", i+1)
		}
		b.byID[k.id] = k
		if i == 0 {
			b.current = k
		}
	}
	return b, nil
}

// KeyID names the key that encrypts now; stored beside ciphertexts so an
// operator can see what still needs the old key.
func (b *Box) KeyID() string { return b.current.id }

// Seal encrypts plaintext under the current key. additional binds the
// ciphertext to its context (e.g. the workspace ID), so a token copied into
// another row does not open.
func (b *Box) Seal(plaintext, additional []byte) ([]byte, error) {
	k := b.current
	idBytes, _ := hex.DecodeString(k.id)
	out := make([]byte, 0, 1+keyIDLen+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out = append(out, format)
	out = append(out, idBytes...)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("tokencrypt: nonce: %w", err)
	}
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plaintext, additional), nil
}

// Open decrypts a ciphertext sealed by any configured key.
func (b *Box) Open(ciphertext, additional []byte) ([]byte, error) {
	k, rest, err := b.keyFor(ciphertext)
	if err != nil {
		return nil, err
	}
	ns := k.aead.NonceSize()
	if len(rest) < ns+k.aead.Overhead() {
		return nil, ErrCorrupt
	}
	plain, err := k.aead.Open(nil, rest[:ns], rest[ns:], additional)
	if err != nil {
		return nil, ErrCorrupt
	}
	return plain, nil
}

// NeedsReseal tells whether a ciphertext was sealed by an older key.
func (b *Box) NeedsReseal(ciphertext []byte) bool {
	k, _, err := b.keyFor(ciphertext)
	return err == nil && k != b.current
}

// Reseal re-encrypts a ciphertext under the current key.
func (b *Box) Reseal(ciphertext, additional []byte) ([]byte, error) {
	plain, err := b.Open(ciphertext, additional)
	if err != nil {
		return nil, err
	}
	return b.Seal(plain, additional)
}

func (b *Box) keyFor(ciphertext []byte) (*key, []byte, error) {
	if len(ciphertext) < 1+keyIDLen || ciphertext[0] != format {
		return nil, nil, ErrCorrupt
	}
	k, ok := b.byID[hex.EncodeToString(ciphertext[1:1+keyIDLen])]
	if !ok {
		return nil, nil, ErrUnknownKey
	}
	return k, ciphertext[1+keyIDLen:], nil
}
