package adminauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestSessions(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	s := NewSessions([]byte("0123456789abcdef0123456789abcdef"))
	s.now = func() time.Time { return now }
	id := uuid.New()
	v := s.Issue(id)
	if got, err := s.Check(v); err != nil || got != id {
		t.Fatalf("Check(Issue) = %v, %v", got, err)
	}
	other := uuid.New()
	forged := strings.Replace(v, id.String(), other.String(), 1)
	if _, err := s.Check(forged); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a session edited to another admin was accepted: %v", err)
	}
	if _, err := NewSessions([]byte("another key, another deployment")).Check(v); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a session signed under another key was accepted: %v", err)
	}
	now = now.Add(SessionTTL + time.Second)
	if _, err := s.Check(v); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("an expired session: %v", err)
	}
	for _, junk := range []string{"", ".", "v1.x.y.z", "v2." + id.String() + ".9999999999.sig"} {
		if _, err := s.Check(junk); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Check(%q) = %v", junk, err)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	key, hash, prefix, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, KeyPrefix) || len(key) != len(KeyPrefix)+64 || !strings.HasPrefix(key, prefix) || len(prefix) >= len(key)/2 {
		t.Fatalf("key %q prefix %q", key, prefix)
	}
	if string(HashAPIKey(key)) != string(hash) || len(hash) != 32 {
		t.Fatal("the stored hash does not match the key")
	}
	key2, _, _, _ := NewAPIKey()
	if key == key2 {
		t.Fatal("two keys are equal")
	}
}
