package referral

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// NormalizeEmail is the form fraud checks compare addresses in: lower case,
// trimmed, without a "+tag" in the local part, and for Gmail without dots
// (googlemail.com is gmail.com). Two addresses with the same normal form
// reach the same mailbox, so "maya+1@example.com" referring "maya@example.com"
// is a self-referral and "j.doe@gmail.com" after "jdoe@gmail.com" is the same
// lead twice.
func NormalizeEmail(email string) string {
	email = strings.ToLower(strings.TrimSpace(email))
	local, domain, ok := strings.Cut(email, "@")
	if !ok {
		return email
	}
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if domain == "googlemail.com" {
		domain = "gmail.com"
	}
	if domain == "gmail.com" {
		local = strings.ReplaceAll(local, ".", "")
	}
	return local + "@" + domain
}

// Lengths of an address per RFC 5321 (§4.5.3.1, with the 254-character
// limit of a path's address): longer ones cannot be delivered.
const (
	MaxEmailLength      = 254
	MaxEmailLocalLength = 64
)

// CheckEmail says what is wrong with an address a person typed, if anything.
func CheckEmail(email string) error {
	email = strings.TrimSpace(email)
	if email == "" {
		return errors.New("is required")
	}
	if len(email) > MaxEmailLength {
		return fmt.Errorf("is %d characters long; an email address has at most %d", len(email), MaxEmailLength)
	}
	if local, _, ok := strings.Cut(email, "@"); ok && len(local) > MaxEmailLocalLength {
		return fmt.Errorf("has a %d-character part before the @; at most %d", len(local), MaxEmailLocalLength)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return errors.New("is not an email address like name@example.com")
	}
	if _, domain, _ := strings.Cut(email, "@"); !strings.Contains(domain, ".") {
		return errors.New("needs a domain like example.com after the @")
	}
	return nil
}
