package campaign

import (
	"strings"
	"testing"
)

func TestPublicSettingsAreValidated(t *testing.T) {
	s := Defaults()
	s.Public = Public{
		Slug:           "Spring Referrals!",
		LandingURL:     "javascript:alert(1)",
		AllowedOrigins: []string{"https://shop.example.com/checkout", "*.example.com", "ftp://example.com", "https://user:pw@example.com", ""},
		Attribution:    Attribution{WindowDays: 366, Model: "linear"},
	}
	got := fields(s.Validate())
	for field, want := range map[string]string{
		"public.slug":                    `like "spring-referrals"`,
		"public.landing_url":             "http or https",
		"public.allowed_origins[0]":      "without a path",
		"public.allowed_origins[1]":      "wildcards",
		"public.allowed_origins[2]":      "http or https",
		"public.allowed_origins[3]":      "user name",
		"public.allowed_origins[4]":      "http or https",
		"public.attribution.window_days": "between 1 and 365",
		"public.attribution.model":       "first_touch or last_touch",
	} {
		if !strings.Contains(got[field], want) {
			t.Errorf("%s: %q, want it to say %q", field, got[field], want)
		}
		delete(got, field)
	}
	if len(got) > 0 {
		t.Errorf("unexpected problems: %v", got)
	}
}

func TestSlugs(t *testing.T) {
	for slug, ok := range map[string]bool{
		"":                        true, // no hosted pages
		"a":                       true,
		"spring-2027":             true,
		strings.Repeat("a", 64):   true,
		strings.Repeat("a", 65):   false,
		"-spring":                 false,
		"spring-":                 false,
		"Spring":                  false,
		"spring_referrals":        false,
		"spring/referrals":        false,
		"spring referrals":        false,
		"printemps-\u00e9t\u00e9": false,
	} {
		s := Defaults()
		s.Public.Slug = slug
		if _, refused := fields(s.Validate())["public.slug"]; refused == ok {
			t.Errorf("slug %q: refused = %v", slug, refused)
		}
	}
}

func TestLandingURLs(t *testing.T) {
	for raw, ok := range map[string]bool{
		"": true, // the hosted lead form
		"https://www.example.com/welcome?utm_source=ref#form":             true,
		"http://localhost:3000/landing":                                   true,
		"HTTPS://WWW.EXAMPLE.COM/":                                        true,
		"https://www.example.com/" + strings.Repeat("a", MaxURLLength-24): true,
		"https://www.example.com/" + strings.Repeat("a", MaxURLLength-23): false,
		"javascript:alert(document.cookie)":                               false,
		"data:text/html,<script>alert(1)</script>":                        false,
		"//www.example.com/welcome":                                       false,
		"/welcome":                                                        false,
		"www.example.com/welcome":                                         false,
		"https://user:secret@www.example.com/":                            false,
		"https:///welcome":                                                false,
		"https://www.example.com/wel come":                                false,
		"https://www.example.com/\n":                                      false,
		"ftp://www.example.com/":                                          false,
	} {
		s := Defaults()
		s.Public.LandingURL = raw
		if _, refused := fields(s.Validate())["public.landing_url"]; refused == ok {
			t.Errorf("landing URL %q: refused = %v", raw, refused)
		}
	}
}

func TestAllowedOriginsAreNormalisedAndDeduplicated(t *testing.T) {
	s := Defaults()
	s.Public.AllowedOrigins = []string{
		"HTTPS://Shop.Example.COM", "https://shop.example.com/", "https://shop.example.com:443",
		"http://localhost:8080", "http://localhost:80", "https://[::1]:8443", "https://www.example.com",
	}
	s.Normalize()
	want := []string{"https://shop.example.com", "http://localhost:8080", "http://localhost", "https://[::1]:8443", "https://www.example.com"}
	if strings.Join(s.Public.AllowedOrigins, " ") != strings.Join(want, " ") {
		t.Errorf("normalised origins = %q, want %q", s.Public.AllowedOrigins, want)
	}
	if ps := s.Validate(); len(ps) > 0 {
		t.Errorf("problems: %+v", ps)
	}

	for _, bad := range []string{
		"https://example.com?x=1", "https://example.com#top", "https://example.com/path", "https://*", "*",
		"https://example.com:0", "https://example.com:99999", "https://exämple.com", "https://", "example.com",
		"null",
	} {
		if n, err := NormalizeOrigin(bad); err == nil {
			t.Errorf("origin %q accepted as %q", bad, n)
		}
	}

	// At most MaxAllowedOrigins, counted before repeats are dropped.
	s = Defaults()
	for range MaxAllowedOrigins + 1 {
		s.Public.AllowedOrigins = append(s.Public.AllowedOrigins, "https://example.com")
	}
	s.Normalize()
	if got := fields(s.Validate())["public.allowed_origins"]; !strings.Contains(got, "at most 20") {
		t.Errorf("21 origins: %q", got)
	}
}

func TestAttributionDefaults(t *testing.T) {
	s := Defaults()
	if s.Public.Attribution != (Attribution{WindowDays: DefaultAttributionWindowDays, Model: LastTouch}) {
		t.Errorf("defaults = %+v", s.Public.Attribution)
	}
	s.Public.Attribution = Attribution{} // 0 and absent: the defaults
	s.Normalize()
	if s.Public.Attribution != (Attribution{WindowDays: 90, Model: LastTouch}) {
		t.Errorf("normalised = %+v", s.Public.Attribution)
	}
	for days, ok := range map[int]bool{1: true, 365: true, 366: false, -1: false} {
		s.Public.Attribution = Attribution{WindowDays: days, Model: FirstTouch}
		if _, refused := fields(s.Validate())["public.attribution.window_days"]; refused == ok {
			t.Errorf("window of %d days: refused = %v", days, refused)
		}
	}
}
