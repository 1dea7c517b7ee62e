package mailcatcher

import (
	"html/template"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Handler is the catcher's page: GET / lists the messages, newest first;
// /messages/{id} shows one (headers, the text part, the HTML part in a
// sandboxed frame); /messages/{id}/html is its HTML part alone, scripts
// refused; /messages/{id}/raw the message as sent.
func (c *Catcher) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.list)
	mux.HandleFunc("GET /messages/{id}", c.show)
	mux.HandleFunc("GET /messages/{id}/html", c.showHTML)
	mux.HandleFunc("GET /messages/{id}/raw", c.showRaw)
	return mux
}

func (c *Catcher) message(w http.ResponseWriter, r *http.Request) (Message, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err == nil {
		for _, m := range c.Messages() {
			if m.ID == id {
				return m, true
			}
		}
	}
	http.Error(w, errNotFound.Error(), http.StatusNotFound)
	return Message{}, false
}

func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; base-uri 'none'")
}

func (c *Catcher) list(w http.ResponseWriter, r *http.Request) {
	msgs := c.Messages()
	slices.Reverse(msgs)
	pageHeaders(w)
	_ = listPage.Execute(w, struct {
		Addr     string
		Messages []Message
	}{c.addr, msgs})
}

func (c *Catcher) show(w http.ResponseWriter, r *http.Request) {
	m, ok := c.message(w, r)
	if !ok {
		return
	}
	pageHeaders(w)
	var headers []string
	dec := new(mime.WordDecoder)
	for _, name := range []string{"From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post"} {
		if v := m.Header.Get(name); v != "" {
			if decoded, err := dec.DecodeHeader(v); err == nil {
				v = decoded
			}
			headers = append(headers, name+": "+v)
		}
	}
	_ = showPage.Execute(w, struct {
		Message
		Headers string
	}{m, strings.Join(headers, "\n")})
}

func (c *Catcher) showHTML(w http.ResponseWriter, r *http.Request) {
	m, ok := c.message(w, r)
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// An email's HTML, as a mail client shows it: no scripts, no forms.
	h.Set("Content-Security-Policy", "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src * data:")
	_, _ = w.Write([]byte(m.HTML))
}

func (c *Catcher) showRaw(w http.ResponseWriter, r *http.Request) {
	m, ok := c.message(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(m.Raw)
}

const pageStyle = `<style>
body { font-family: system-ui, sans-serif; margin: 0; padding: 1.5rem; color: #1a1a1a; line-height: 1.5; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #d0d0d0; vertical-align: top; }
a { color: #0b57d0; }
pre { white-space: pre-wrap; background: #f4f5f7; padding: 1rem; border-radius: .375rem; }
iframe { width: 100%; height: 40rem; border: 1px solid #d0d0d0; border-radius: .375rem; }
</style>`

var listPage = template.Must(template.New("list").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Mail catcher — referflow dev</title>` + pageStyle + `</head>
<body><main>
<h1>Mail catcher</h1>
<p>Every email referflow sends in <code>referflow dev</code> lands here (SMTP on {{.Addr}}); none leaves this machine. Reload to see new ones.</p>
{{if .Messages}}<table>
<thead><tr><th scope="col">#</th><th scope="col">Caught</th><th scope="col">To</th><th scope="col">Subject</th></tr></thead>
<tbody>{{range .Messages}}<tr><td>{{.ID}}</td><td>{{.CaughtAt.Format "15:04:05"}}</td><td>{{range $i, $to := .To}}{{if $i}}, {{end}}{{$to}}{{end}}</td><td><a href="/messages/{{.ID}}">{{if .Subject}}{{.Subject}}{{else}}(no subject){{end}}</a></td></tr>
{{end}}</tbody></table>
{{else}}<p>No email yet. Add a member to a campaign (the welcome email), or approve a referral.</p>{{end}}
</main></body></html>`))

var showPage = template.Must(template.New("show").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Subject}} — mail catcher</title>` + pageStyle + `</head>
<body><main>
<p><a href="/">All emails</a></p>
<h1>{{.Subject}}</h1>
<pre>{{.Headers}}</pre>
<h2>HTML</h2>
{{if .HTML}}<iframe title="The HTML part" src="/messages/{{.ID}}/html" sandbox="allow-popups allow-popups-to-escape-sandbox"></iframe>{{else}}<p>No HTML part.</p>{{end}}
<h2>Plain text</h2>
<pre>{{.Text}}</pre>
<p><a href="/messages/{{.ID}}/raw">The message as sent</a></p>
</main></body></html>`))
