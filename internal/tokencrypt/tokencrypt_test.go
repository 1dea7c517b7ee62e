package tokencrypt

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	box, err := New([][]byte{newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	token := []byte("CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKmlwHjX7OIpuIFEavB2-qYAGQsF4")
	ws := []byte("workspace-1")
	sealed, err := box.Seal(token, ws)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, token) {
		t.Fatal("the ciphertext contains the token")
	}
	again, _ := box.Seal(token, ws)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one token are equal: the nonce is not random")
	}
	got, err := box.Open(sealed, ws)
	if err != nil || !bytes.Equal(got, token) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := box.Open(sealed, []byte("workspace-2")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a token moved to another workspace opened: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := box.Open(sealed, ws); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a tampered token opened: %v", err)
	}
	if _, err := box.Open([]byte{1, 2}, ws); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestRotation(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	before, _ := New([][]byte{oldKey})
	sealed, err := before.Seal([]byte("refresh-token"), nil)
	if err != nil {
		t.Fatal(err)
	}

	// The operator puts the new key first and keeps the old one after it.
	after, err := New([][]byte{newK, oldKey})
	if err != nil {
		t.Fatal(err)
	}
	if after.KeyID() == before.KeyID() {
		t.Fatal("the encrypting key did not change")
	}
	if got, err := after.Open(sealed, nil); err != nil || string(got) != "refresh-token" {
		t.Fatalf("old token under rotated keys: %q %v", got, err)
	}
	if !after.NeedsReseal(sealed) {
		t.Fatal("a token sealed by the old key does not report it needs resealing")
	}
	resealed, err := after.Reseal(sealed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if after.NeedsReseal(resealed) {
		t.Fatal("resealed token still needs resealing")
	}

	// Once everything is resealed the old key can go.
	only, _ := New([][]byte{newK})
	if got, err := only.Open(resealed, nil); err != nil || string(got) != "refresh-token" {
		t.Fatalf("resealed token without the old key: %q %v", got, err)
	}
	if _, err := only.Open(sealed, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old token without the old key: %v, want ErrUnknownKey", err)
	}
}

func TestBadKeys(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Fatal("no keys accepted")
	}
	if _, err := New([][]byte{make([]byte, 16)}); err == nil {
		t.Fatal("a 16-byte key accepted")
	}
	k := newKey(t)
	if _, err := New([][]byte{k, k}); err == nil {
		t.Fatal("the same key twice accepted")
	}
}
