package email

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	texttemplate "text/template"
	"unicode/utf8"
)

// Template is how one kind of email is written: a subject and a plain-text
// body (text/template) and an HTML body (html/template, which escapes what
// it inserts). An empty part is the default's (Defaults).
type Template struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text,omitempty"`
	HTML    string `json:"html,omitempty"`
}

// Limits of a template's parts, in bytes: far above a real email.
const (
	MaxSubjectBytes = 500
	MaxBodyBytes    = 50_000
)

// Data is what a template may use, as {{.FirstName}}, {{.Reward.Amount}}
// and so on. Every email has the member's and campaign's fields and the
// three links; Referral is set in referral_approved and reward_earned,
// Reward in reward_earned.
type Data struct {
	// FirstName and LastName of the member; FirstName may be empty.
	FirstName, LastName string
	CampaignName        string
	// ReferralLink is the member's link to share (<public URL>/r/<code>);
	// ReferralCode its code.
	ReferralLink, ReferralCode string
	// PortalLink opens the member's own page (their referrals, rewards and
	// a form to refer someone); it works until PortalLinkExpires (a date,
	// "2 January 2027").
	PortalLink, PortalLinkExpires string
	// UnsubscribeLink stops every email of the campaign to the member.
	UnsubscribeLink string
	Referral        ReferralData
	Reward          RewardData
}

// ReferralData is the referral an email is about.
type ReferralData struct {
	// LeadFirstName is the referred person's first name, when known (never
	// their email).
	LeadFirstName string
}

// RewardData is the reward an email is about.
type RewardData struct {
	// Amount with its currency, "50.00 USD".
	Amount string
}

// Rendered is an email written out.
type Rendered struct{ Subject, Text, HTML string }

// Defaults are the templates of each kind when a campaign sets none.
var Defaults = map[Kind]Template{
	Welcome: {
		Subject: `Your referral link for {{.CampaignName}}`,
		Text: `Hi{{with .FirstName}} {{.}}{{end}},

thank you for joining {{.CampaignName}}. Share your personal referral link: everyone who comes through it counts for you.

{{.ReferralLink}}

Your own page shows your referrals and rewards, and lets you refer someone yourself. The link is yours alone; it works until {{.PortalLinkExpires}}:

{{.PortalLink}}
` + textFooter,
		HTML: htmlHead + `<h1 style="font-size:20px;margin:0 0 16px">Welcome to {{.CampaignName}}</h1>
<p>Hi{{with .FirstName}} {{.}}{{end}},</p>
<p>thank you for joining {{.CampaignName}}. Share your personal referral link: everyone who comes through it counts for you.</p>
<p style="font-size:18px;margin:24px 0"><a href="{{.ReferralLink}}" style="color:#0b57d0">{{.ReferralLink}}</a></p>
<p>Your own page shows your referrals and rewards, and lets you refer someone yourself. The link is yours alone; it works until {{.PortalLinkExpires}}.</p>
<p><a href="{{.PortalLink}}" style="display:inline-block;background:#0b57d0;color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none">Open your page</a></p>
` + htmlFoot,
	},
	ReferralApproved: {
		Subject: `Your referral was approved`,
		Text: `Hi{{with .FirstName}} {{.}}{{end}},

good news: {{with .Referral.LeadFirstName}}{{.}}, the person you referred to {{$.CampaignName}},{{else}}a person you referred to {{.CampaignName}}{{end}} was approved.

See your referrals and rewards on your page (it works until {{.PortalLinkExpires}}):

{{.PortalLink}}

Keep sharing your link: {{.ReferralLink}}
` + textFooter,
		HTML: htmlHead + `<h1 style="font-size:20px;margin:0 0 16px">Your referral was approved</h1>
<p>Hi{{with .FirstName}} {{.}}{{end}},</p>
<p>good news: {{with .Referral.LeadFirstName}}{{.}}, the person you referred to {{$.CampaignName}},{{else}}a person you referred to {{.CampaignName}}{{end}} was approved.</p>
<p><a href="{{.PortalLink}}" style="display:inline-block;background:#0b57d0;color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none">See your referrals</a></p>
<p>Keep sharing your link: <a href="{{.ReferralLink}}" style="color:#0b57d0">{{.ReferralLink}}</a></p>
` + htmlFoot,
	},
	RewardEarned: {
		Subject: `You earned a reward: {{.Reward.Amount}}`,
		Text: `Hi{{with .FirstName}} {{.}}{{end}},

you earned {{.Reward.Amount}} for referring {{with .Referral.LeadFirstName}}{{.}}{{else}}someone{{end}} to {{.CampaignName}}. Thank you!

See all your rewards on your page (it works until {{.PortalLinkExpires}}):

{{.PortalLink}}

Keep sharing your link: {{.ReferralLink}}
` + textFooter,
		HTML: htmlHead + `<h1 style="font-size:20px;margin:0 0 16px">You earned {{.Reward.Amount}}</h1>
<p>Hi{{with .FirstName}} {{.}}{{end}},</p>
<p>you earned <strong>{{.Reward.Amount}}</strong> for referring {{with .Referral.LeadFirstName}}{{.}}{{else}}someone{{end}} to {{.CampaignName}}. Thank you!</p>
<p><a href="{{.PortalLink}}" style="display:inline-block;background:#0b57d0;color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none">See your rewards</a></p>
<p>Keep sharing your link: <a href="{{.ReferralLink}}" style="color:#0b57d0">{{.ReferralLink}}</a></p>
` + htmlFoot,
	},
}

const textFooter = `
--
You get this email because you take part in “{{.CampaignName}}”. To get no more emails from it: {{.UnsubscribeLink}}
`

const htmlHead = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.CampaignName}}</title></head>
<body style="margin:0;padding:24px;background:#f4f5f7;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;color:#1f2328">
<div style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;padding:32px">
`

const htmlFoot = `</div>
<p style="max-width:560px;margin:16px auto 0;font-size:13px;color:#57606a">You get this email because you take part in “{{.CampaignName}}”. <a href="{{.UnsubscribeLink}}" style="color:#57606a">Unsubscribe</a></p>
</body>
</html>
`

// unsubscribeField is what a custom body must use, so every email lets its
// member stop them.
const unsubscribeField = ".UnsubscribeLink"

// Render writes an email of kind with the campaign's template custom (its
// empty parts are the defaults').
func Render(kind Kind, custom Template, data Data) (Rendered, error) {
	t := withDefaults(kind, custom)
	var r Rendered
	var err error
	if r.Subject, err = renderText("subject", t.Subject, data); err != nil {
		return r, err
	}
	r.Subject = OneLine(r.Subject)
	if r.Text, err = renderText("text", t.Text, data); err != nil {
		return r, err
	}
	if r.HTML, err = renderHTML(t.HTML, data); err != nil {
		return r, err
	}
	return r, nil
}

func withDefaults(kind Kind, t Template) Template {
	d := Defaults[kind]
	if t.Subject == "" {
		t.Subject = d.Subject
	}
	if t.Text == "" {
		t.Text = d.Text
	}
	if t.HTML == "" {
		t.HTML = d.HTML
	}
	return t
}

// TemplateProblem is one thing wrong with a template: the part (subject,
// text, html) and what.
type TemplateProblem struct{ Part, Message string }

// CheckTemplate reports what is wrong with a campaign's template of kind:
// a part too long, one that does not parse, one that fails when run on
// sample data (an unknown field: {{.Frist}}), a body without the
// unsubscribe link. What it lets through renders.
func CheckTemplate(kind Kind, t Template) []TemplateProblem {
	var problems []TemplateProblem
	add := func(part, format string, args ...any) {
		problems = append(problems, TemplateProblem{Part: part, Message: fmt.Sprintf(format, args...)})
	}
	sample := SampleData(kind)
	if t.Subject != "" {
		if len(t.Subject) > MaxSubjectBytes {
			add("subject", "has %d bytes; at most %d", len(t.Subject), MaxSubjectBytes)
		} else if _, err := renderText("subject", t.Subject, sample); err != nil {
			add("subject", "%s", templateError(err))
		}
	}
	for _, part := range []struct {
		name, src string
		render    func(string, Data) (string, error)
	}{
		{"text", t.Text, func(src string, d Data) (string, error) { return renderText("text", src, d) }},
		{"html", t.HTML, renderHTML},
	} {
		switch {
		case part.src == "":
		case len(part.src) > MaxBodyBytes:
			add(part.name, "has %d bytes; at most %d", len(part.src), MaxBodyBytes)
		case !utf8.ValidString(part.src):
			add(part.name, "is not valid UTF-8")
		default:
			if _, err := part.render(part.src, sample); err != nil {
				add(part.name, "%s", templateError(err))
			} else if !strings.Contains(part.src, unsubscribeField) {
				add(part.name, "must include the unsubscribe link {{.UnsubscribeLink}}, so members can stop these emails")
			}
		}
	}
	return problems
}

// templateError is a template error without Go's internal names.
func templateError(err error) string {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "email.Data", "the email's data")
	if strings.Contains(msg, "can't evaluate field") {
		msg += " (fields: " + strings.Join(DataFields, ", ") + ")"
	}
	return msg
}

// DataFields are the fields templates may use, for error messages and the
// documentation.
var DataFields = []string{
	".FirstName", ".LastName", ".CampaignName", ".ReferralLink", ".ReferralCode",
	".PortalLink", ".PortalLinkExpires", ".UnsubscribeLink", ".Referral.LeadFirstName", ".Reward.Amount",
}

// SampleData is made-up data of an email of kind, to check templates on.
func SampleData(kind Kind) Data {
	d := Data{
		FirstName: "Ada", LastName: "Lovelace", CampaignName: "Sample campaign",
		ReferralLink: "https://referflow.example/r/SAMPLE", ReferralCode: "SAMPLE",
		PortalLink: "https://referflow.example/m/sample", PortalLinkExpires: "2 January 2027",
		UnsubscribeLink: "https://referflow.example/u/sample",
	}
	if kind != Welcome {
		d.Referral = ReferralData{LeadFirstName: "Grace"}
	}
	if kind == RewardEarned {
		d.Reward = RewardData{Amount: "50.00 USD"}
	}
	return d
}

func renderText(name, src string, data Data) (string, error) {
	t, err := texttemplate.New(name).Option("missingkey=error").Parse(src)
	if err != nil {
		return "", err
	}
	return execute(t, data)
}

func renderHTML(src string, data Data) (string, error) {
	t, err := htmltemplate.New("html").Option("missingkey=error").Parse(src)
	if err != nil {
		return "", err
	}
	return execute(t, data)
}

func execute(t interface {
	Execute(io.Writer, any) error
}, data Data) (string, error) {
	var b bytes.Buffer
	// Bounded: a template looping over nothing cannot grow without end,
	// but {{range}} has nothing to range over in Data either way.
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}
