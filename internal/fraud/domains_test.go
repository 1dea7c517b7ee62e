package fraud

import "testing"

func TestDisposableDomainMatchesTheDomainAndItsParents(t *testing.T) {
	if n := DisposableDomains(); n < 3000 {
		t.Fatalf("the disposable list has %d domains; expected a few thousand", n)
	}
	for _, c := range []struct {
		domain, want string
	}{
		{"mailinator.com", "mailinator.com"},
		{"MAILINATOR.com.", "mailinator.com"},
		{"sub.mailinator.com", "mailinator.com"},
		{"a.b.guerrillamail.com", "guerrillamail.com"},
		{"gmail.com", ""},
		{"example.com", ""},
		{"mailinator.com.acme.io", ""},
		{"com", ""},
		{"", ""},
	} {
		got, ok := DisposableDomain(c.domain)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("DisposableDomain(%q) = %q, %v; want %q", c.domain, got, ok, c.want)
		}
	}
}

func TestPublicMailbox(t *testing.T) {
	for domain, want := range map[string]bool{
		"gmail.com": true, "Outlook.com": true, "eu.proton.me": true,
		"acme.com": false, "gmail.com.acme.io": false, "": false,
	} {
		if got := PublicMailbox(domain); got != want {
			t.Errorf("PublicMailbox(%q) = %v; want %v", domain, got, want)
		}
	}
	for email, want := range map[string]string{
		"Maya@Acme.COM": "acme.com", "a@b@c.org": "c.org", "no-at-sign": "", "x@sub.acme.com.": "sub.acme.com",
	} {
		if got := Domain(email); got != want {
			t.Errorf("Domain(%q) = %q; want %q", email, got, want)
		}
	}
}
