// Package fraud holds the domain lists the referral fraud checks read:
// disposable (throwaway) mailbox domains, and public mailbox providers whose
// domain names no company. Both are text files kept in the repository and
// embedded in the binary; disposable_domains.txt is refreshed from its
// upstream list by scripts/refresh-disposable-domains.sh. The checks
// themselves, and the reasons they give, live with the referral
// (activities.CheckReferralFraud, internal/referral).
package fraud

import (
	_ "embed"
	"strings"
)

//go:embed disposable_domains.txt
var disposableList string

//go:embed public_mailbox_domains.txt
var publicMailboxList string

var (
	disposable    = parseList(disposableList)
	publicMailbox = parseList(publicMailboxList)
)

// parseList reads one lowercase domain a line; blank lines and lines
// starting with # are skipped.
func parseList(text string) map[string]struct{} {
	set := make(map[string]struct{}, strings.Count(text, "\n"))
	for line := range strings.Lines(text) {
		d := strings.ToLower(strings.TrimSpace(line))
		if d == "" || strings.HasPrefix(d, "#") {
			continue
		}
		set[d] = struct{}{}
	}
	return set
}

// DisposableDomains counts the disposable domains listed.
func DisposableDomains() int { return len(disposable) }

// Domain is the domain of an email address, lowercase and without a
// trailing dot; "" when the address has none.
func Domain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(email[at+1:])), ".")
}

// DisposableDomain returns the listed disposable domain that domain is, or
// is a subdomain of (sub.mailinator.com is mailinator.com's), and whether
// there is one.
func DisposableDomain(domain string) (string, bool) {
	return inList(disposable, domain)
}

// PublicMailbox tells whether domain (or a domain it is a subdomain of) is
// a public mailbox provider's, like gmail.com: an address there says
// nothing about a company.
func PublicMailbox(domain string) bool {
	_, ok := inList(publicMailbox, domain)
	return ok
}

// inList looks domain up, then each parent domain down to the last two
// labels.
func inList(set map[string]struct{}, domain string) (string, bool) {
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	for d != "" {
		if _, ok := set[d]; ok {
			return d, true
		}
		dot := strings.IndexByte(d, '.')
		if dot < 0 {
			return "", false
		}
		d = d[dot+1:]
		if !strings.Contains(d, ".") {
			return "", false // a bare top-level domain is never listed
		}
	}
	return "", false
}
