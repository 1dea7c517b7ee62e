package hubspotsim

// The simulator's page: a plain server-side HTML view of each portal's
// contacts and deals where a person can move a deal through its pipeline,
// set a contact's lifecycle stage, lead status or any property, and create
// contacts and deals. Every write goes through the Go helpers, so it is
// validated as API writes are and recorded as a change with changeSource
// CRM_UI — which makes webhook events like any other change. This is how a
// demo user "closes the deal" and watches the referral move.
//
//	GET  /                                      every portal
//	GET  /portals/{portalId}                    one portal
//	POST /portals/{portalId}/contacts           create a contact
//	POST /portals/{portalId}/deals              create a deal (optionally associated with a contact)
//	POST /portals/{portalId}/{objectType}/{id}  set one property: fields property, value
//	POST /portals/{portalId}/modes/{kind}       switch a misbehaviour mode on (or off with off=1; modes_api.go)
//	POST /portals/{portalId}/reset              reset the portal
//
// Each portal's section shows its misbehaviour modes in force, with forms to
// switch them on and off, and its CRM calls of the last minute by answer.
//
// POSTs answer 303 back to the page with the outcome in ?msg= or ?err=.

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func (s *Simulator) pageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.hPage)
	mux.HandleFunc("GET /portals/{portalId}", s.hPage)
	mux.HandleFunc("POST /portals/{portalId}/contacts", s.hPageCreateContact)
	mux.HandleFunc("POST /portals/{portalId}/deals", s.hPageCreateDeal)
	mux.HandleFunc("POST /portals/{portalId}/{objectType}/{objectId}", s.hPageSetProperty)
}

type pageView struct {
	Single   bool
	Back     string
	Msg, Err string
	Portals  []portalView
	Webhooks webhookView
}

type portalView struct {
	ID                int64
	Name              string
	Token             string
	TimeZone          string
	Modes             []modeView
	RecentCalls       string
	Contacts          []contactView
	Deals             []dealView
	LifecycleOptions  []option
	LeadStatusOptions []option
	Pipelines         []pipelineView
}

type modeView struct{ Kind, Text string }

type pipelineView struct {
	ID, Label string
	Stages    []option
}

// ref is an associated record; Labels are the association labels of the
// portal's own (USER_DEFINED) it carries, e.g. "Referrer".
type ref struct {
	ID, Label string
	Labels    []string
}

type contactView struct {
	ID, Name, Email, Lifecycle, LeadStatus string
	Deals                                  []ref
	Companies                              []ref
	// Contacts are the contacts associated with this one (labelled ones,
	// such as a referral's "Referrer", show their label).
	Contacts []ref
}

type dealView struct {
	ID, Name, Amount, Pipeline, PipelineLabel, Stage, StageLabel string
	Closed, Won                                                  bool
	Stages                                                       []option
	Contacts                                                     []ref
}

type webhookView struct {
	Target     string
	Paused     bool
	Subs       []string
	Stats      WebhookStats
	Deliveries []deliveryView
}

type deliveryView struct {
	When, Outcome, Latency string
	PortalID               int64
	Attempt, Events        int
	OK                     bool
}

func contactName(props map[string]string) string {
	n := strings.TrimSpace(props["firstname"] + " " + props["lastname"])
	if n == "" {
		n = "(no name)"
	}
	return n
}

// portalViewLocked gathers what the page shows of a portal. The caller
// holds s.mu.
func (s *Simulator) portalViewLocked(p *Portal) portalView {
	now := s.now()
	v := portalView{ID: p.ID, Name: p.Name, Token: p.PrivateAppToken, TimeZone: p.TimeZone.String(), RecentCalls: recentCalls(p.calls, now)}
	for _, m := range p.activeModesLocked(now) {
		v.Modes = append(v.Modes, modeView{Kind: m.Kind, Text: describeMode(m, now)})
	}
	if d := p.propertyDef("contacts", "lifecyclestage"); d != nil {
		v.LifecycleOptions = d.Options
	}
	if d := p.propertyDef("contacts", "hs_lead_status"); d != nil {
		v.LeadStatusOptions = d.Options
	}
	for _, pl := range p.pipelines {
		if pl.Archived {
			continue
		}
		pv := pipelineView{ID: pl.ID, Label: pl.Label}
		for _, st := range pl.Stages {
			pv.Stages = append(pv.Stages, option{Label: st.Label, Value: st.ID})
		}
		v.Pipelines = append(v.Pipelines, pv)
	}
	label := func(t string, id int64) string {
		o := p.objects[t].byID[id]
		if o == nil {
			return idString(id)
		}
		switch t {
		case "contacts":
			return contactName(o.props)
		case "deals":
			return o.props["dealname"]
		}
		return o.props["name"]
	}
	refs := func(t string, id int64, to string) []ref {
		var out []ref
		for _, e := range p.edgesFrom(t, id, to) {
			r := ref{ID: idString(e.toID), Label: label(to, e.toID)}
			for _, tid := range sortedTypeIDs(p.assocs[e]) {
				if at, ok := p.assocType(tid); ok && at.category == userDefined {
					r.Labels = append(r.Labels, at.label)
				}
			}
			out = append(out, r)
		}
		return out
	}
	contacts := p.objects["contacts"]
	for _, id := range sortedKeys(contacts.byID) {
		o := contacts.byID[id]
		if o.archived {
			continue
		}
		v.Contacts = append(v.Contacts, contactView{
			ID: idString(id), Name: contactName(o.props), Email: o.props["email"],
			Lifecycle: o.props["lifecyclestage"], LeadStatus: o.props["hs_lead_status"],
			Deals: refs("contacts", id, "deals"), Companies: refs("contacts", id, "companies"), Contacts: refs("contacts", id, "contacts"),
		})
	}
	deals := p.objects["deals"]
	for _, id := range sortedKeys(deals.byID) {
		o := deals.byID[id]
		if o.archived {
			continue
		}
		dv := dealView{
			ID: idString(id), Name: o.props["dealname"], Amount: o.props["amount"],
			Pipeline: o.props["pipeline"], Stage: o.props["dealstage"], StageLabel: o.props["dealstage"],
			Closed: o.props["hs_is_closed"] == "true", Won: o.props["hs_is_closed_won"] == "true",
			Contacts: refs("deals", id, "contacts"),
		}
		if pl := p.pipeline(dv.Pipeline); pl != nil {
			dv.PipelineLabel = pl.Label
			for _, st := range pl.Stages {
				dv.Stages = append(dv.Stages, option{Label: st.Label, Value: st.ID})
				if st.ID == dv.Stage {
					dv.StageLabel = st.Label
				}
			}
		}
		v.Deals = append(v.Deals, dv)
	}
	return v
}

// recentCalls sums up the calls of the last minute by answer, e.g.
// "12 (200×9, 429×3)".
func recentCalls(calls []Call, now time.Time) string {
	byStatus := map[int]int{}
	n := 0
	for i := len(calls) - 1; i >= 0 && calls[i].At.After(now.Add(-time.Minute)); i-- {
		byStatus[calls[i].Status]++
		n++
	}
	if n == 0 {
		return "none"
	}
	var parts []string
	for _, st := range sortedKeys(intKeys(byStatus)) {
		parts = append(parts, fmt.Sprintf("%d×%d", st, byStatus[int(st)]))
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

func intKeys(m map[int]int) map[int64]int {
	out := make(map[int64]int, len(m))
	for k, v := range m {
		out[int64(k)] = v
	}
	return out
}

func (s *Simulator) webhookViewNow() webhookView {
	ws := s.WebhookSettings()
	v := webhookView{Target: ws.TargetURL, Paused: ws.Paused, Stats: s.WebhookStats()}
	for _, sub := range ws.Subscriptions {
		name := sub.EventType
		if sub.PropertyName != "" {
			name += " " + sub.PropertyName
		}
		if sub.Paused {
			name += " (paused)"
		}
		v.Subs = append(v.Subs, name)
	}
	ds := s.Deliveries()
	for i := len(ds) - 1; i >= 0 && len(v.Deliveries) < 15; i-- {
		d := ds[i]
		out := d.Err
		if out == "" {
			out = strconv.Itoa(d.StatusCode) + " " + http.StatusText(d.StatusCode)
		}
		if d.GaveUp {
			out += " — gave up"
		}
		v.Deliveries = append(v.Deliveries, deliveryView{
			When: d.Start.Format("15:04:05.000"), Outcome: out, Latency: d.Latency.Round(time.Millisecond).String(),
			PortalID: d.PortalID, Attempt: d.Attempt, Events: d.Events, OK: d.OK,
		})
	}
	return v
}

// GET / and GET /portals/{portalId}
func (s *Simulator) hPage(w http.ResponseWriter, r *http.Request) {
	v := pageView{Back: "/", Msg: r.URL.Query().Get("msg"), Err: r.URL.Query().Get("err")}
	raw := r.PathValue("portalId")
	s.mu.Lock()
	if raw != "" {
		id, _ := strconv.ParseInt(raw, 10, 64)
		p := s.portals[id]
		if p == nil {
			s.mu.Unlock()
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			_ = pageTmpl.Execute(w, pageView{Back: "/", Err: fmt.Sprintf("No portal with ID %s.", raw)})
			return
		}
		v.Single, v.Back = true, "/portals/"+idString(id)
		v.Portals = []portalView{s.portalViewLocked(p)}
	} else {
		for _, id := range s.portalOrder {
			v.Portals = append(v.Portals, s.portalViewLocked(s.portals[id]))
		}
	}
	s.mu.Unlock()
	v.Webhooks = s.webhookViewNow()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = pageTmpl.Execute(w, v)
}

var backRE = regexp.MustCompile(`^/(portals/[0-9]+)?$`)

// pageRedirect answers 303 to the page the form came from.
func pageRedirect(w http.ResponseWriter, r *http.Request, portalID int64, msg string, err error) {
	back := r.PostForm.Get("back")
	if !backRE.MatchString(back) {
		back = "/portals/" + idString(portalID)
	}
	q := url.Values{}
	if err != nil {
		q.Set("err", err.Error())
	} else {
		q.Set("msg", msg)
	}
	http.Redirect(w, r, back+"?"+q.Encode()+"#portal-"+idString(portalID), http.StatusSeeOther)
}

func (s *Simulator) pagePortal(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("portalId"), 10, 64)
	if err != nil || s.Portal(id) == nil {
		http.Error(w, "no such portal", http.StatusNotFound)
		return 0, false
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return 0, false
	}
	return id, true
}

// formProps takes the named, non-empty form fields as properties.
func formProps(f url.Values, names ...string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		if v := strings.TrimSpace(f.Get(n)); v != "" {
			out[n] = v
		}
	}
	return out
}

// POST /portals/{portalId}/contacts
func (s *Simulator) hPageCreateContact(w http.ResponseWriter, r *http.Request) {
	pid, ok := s.pagePortal(w, r)
	if !ok {
		return
	}
	props := formProps(r.PostForm, "email", "firstname", "lastname", "lifecyclestage", "hs_lead_status")
	id, err := s.CreateObject(pid, "contacts", props)
	pageRedirect(w, r, pid, "Contact "+id+" created.", err)
}

// POST /portals/{portalId}/deals; field stage is "pipelineId/stageId".
func (s *Simulator) hPageCreateDeal(w http.ResponseWriter, r *http.Request) {
	pid, ok := s.pagePortal(w, r)
	if !ok {
		return
	}
	props := formProps(r.PostForm, "dealname", "amount")
	if pl, st, found := strings.Cut(r.PostForm.Get("stage"), "/"); found {
		props["pipeline"], props["dealstage"] = pl, st
	}
	id, err := s.CreateObject(pid, "deals", props)
	msg := "Deal " + id + " created."
	if cid := strings.TrimSpace(r.PostForm.Get("contact_id")); err == nil && cid != "" {
		if err = s.Associate(pid, "deals", id, "contacts", cid); err == nil {
			msg = fmt.Sprintf("Deal %s created and associated with contact %s.", id, cid)
		} else {
			err = fmt.Errorf("deal %s created, but not associated with contact %s: %w", id, cid, err)
		}
	}
	pageRedirect(w, r, pid, msg, err)
}

// POST /portals/{portalId}/{objectType}/{objectId} with property and value
// (an empty value clears the property).
func (s *Simulator) hPageSetProperty(w http.ResponseWriter, r *http.Request) {
	pid, ok := s.pagePortal(w, r)
	if !ok {
		return
	}
	t, known := canonicalType(r.PathValue("objectType"))
	if !known {
		http.Error(w, "unknown object type", http.StatusNotFound)
		return
	}
	id := r.PathValue("objectId")
	prop := strings.TrimSpace(r.PostForm.Get("property"))
	value := strings.TrimSpace(r.PostForm.Get("value"))
	var err error
	if prop == "" {
		err = fmt.Errorf("name the property to set")
	} else {
		err = s.UpdateObject(pid, t, id, map[string]string{prop: value})
	}
	msg := fmt.Sprintf("%s %s: %s set to %q.", strings.ToUpper(singular[t][:1])+singular[t][1:], id, prop, value)
	pageRedirect(w, r, pid, msg, err)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HubSpot simulator — CRM</title>
<style>
body{font-family:sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:2px solid #ff7a59}h3{font-size:1rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;margin:.3rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#f5f8fa}form.inline{display:inline}input[type=text]{width:9rem}
.msg{background:#e5f5ec;padding:.5rem}.err{background:#fde8e8;padding:.5rem}.won{color:#00794b;font-weight:bold}.lost{color:#b00}
.muted{color:#777;font-size:.85rem}.assoc-label{background:#eef;border-radius:3px;padding:0 .3rem;font-size:.85rem}code{font-size:.85rem}
</style></head><body>
<h1>HubSpot simulator — CRM data</h1>
<p class="muted">Changes made here are recorded as a person's edits in HubSpot (changeSource <code>CRM_UI</code>) and delivered as webhooks to the subscribed target.
{{if .Single}}<a href="/">All portals</a>{{end}}</p>
{{if .Msg}}<p class="msg" id="msg">{{.Msg}}</p>{{end}}
{{if .Err}}<p class="err" id="err">{{.Err}}</p>{{end}}
{{if not .Portals}}<p>No portals yet{{if not .Single}} — connect an app through the OAuth authorize page to create one{{end}}.</p>{{end}}
{{range $p := .Portals}}
<h2 id="portal-{{$p.ID}}"><a href="/portals/{{$p.ID}}">{{$p.Name}}</a> <span class="muted">portal {{$p.ID}} · private-app token <code>{{$p.Token}}</code> · time zone {{$p.TimeZone}}</span></h2>

<h3>Misbehaviour</h3>
<p class="muted">CRM calls in the last minute: <span id="calls-{{$p.ID}}">{{$p.RecentCalls}}</span>. Modes make this portal answer as HubSpot does when it lets an integration down; the control API is <code>/portals/{{$p.ID}}/modes</code>.</p>
{{if $p.Modes}}<ul id="modes-{{$p.ID}}">{{range $p.Modes}}<li><span class="lost">{{.Text}}</span>
<form class="inline" method="post" action="/portals/{{$p.ID}}/modes/{{.Kind}}"><input type="hidden" name="back" value="{{$.Back}}"><input type="hidden" name="off" value="1"><button type="submit">Switch off</button></form></li>
{{end}}</ul>{{else}}<p class="muted" id="modes-{{$p.ID}}">No mode is on: the portal behaves.</p>{{end}}
<table><tr><th>Mode</th><th>Switch on</th></tr>
<tr><td>429 storm (ten-second limit)</td><td><form class="inline" method="post" action="/portals/{{$p.ID}}/modes/rate_limit"><input type="hidden" name="back" value="{{$.Back}}">for <input type="text" name="for" value="30s" aria-label="storm duration"> <button type="submit">Start</button></form></td></tr>
<tr><td>Daily limit used up</td><td><form class="inline" method="post" action="/portals/{{$p.ID}}/modes/daily_limit"><input type="hidden" name="back" value="{{$.Back}}"><button type="submit">Until the portal's midnight</button></form></td></tr>
<tr><td>5xx burst</td><td><form class="inline" method="post" action="/portals/{{$p.ID}}/modes/server_errors"><input type="hidden" name="back" value="{{$.Back}}">
<select name="status" aria-label="status"><option>503</option><option>502</option><option>504</option><option>500</option></select>
next <input type="text" name="calls" value="5" aria-label="calls"> calls or for <input type="text" name="for" value="" placeholder="30s" aria-label="5xx duration">
<label><input type="checkbox" name="writes_only" value="true"> writes only</label> <label><input type="checkbox" name="after_write" value="true"> after doing the write</label> <button type="submit">Start</button></form></td></tr>
<tr><td>Slow answers</td><td><form class="inline" method="post" action="/portals/{{$p.ID}}/modes/slow_answers"><input type="hidden" name="back" value="{{$.Back}}">
<input type="text" name="delay" value="35s" aria-label="delay"> late, next <input type="text" name="calls" value="3" aria-label="slow calls"> calls or for <input type="text" name="for" value="" placeholder="1m" aria-label="slow duration"> <label><input type="checkbox" name="writes_only" value="true"> writes only</label> <button type="submit">Start</button></form></td></tr>
<tr><td>Revoked tokens</td><td><form class="inline" method="post" action="/portals/{{$p.ID}}/modes/revoked_tokens"><input type="hidden" name="back" value="{{$.Back}}">
<label><input type="checkbox" name="access_only" value="true"> access tokens only (refresh still works, fresh tokens still refused)</label> <button type="submit">Revoke</button></form></td></tr>
<tr><td>Reset the portal</td><td><form class="inline" method="post" action="/portals/{{$p.ID}}/reset"><input type="hidden" name="back" value="{{$.Back}}"><button type="submit">Delete every record and revoke tokens</button></form></td></tr>
</table>

<h3>Deals</h3>
{{if $p.Deals}}<table><tr><th>ID</th><th>Deal name</th><th>Amount</th><th>Pipeline</th><th>Stage</th><th>Contacts</th><th>Set a property</th></tr>
{{range $d := $p.Deals}}<tr id="deal-{{$d.ID}}"><td>{{$d.ID}}</td><td>{{$d.Name}}</td><td>{{$d.Amount}}</td><td>{{$d.PipelineLabel}}</td>
<td><span class="{{if $d.Won}}won{{else if $d.Closed}}lost{{end}}">{{$d.StageLabel}}</span><br>
<form class="inline" method="post" action="/portals/{{$p.ID}}/deals/{{$d.ID}}"><input type="hidden" name="back" value="{{$.Back}}"><input type="hidden" name="property" value="dealstage">
<select name="value" aria-label="deal stage">{{range $d.Stages}}<option value="{{.Value}}"{{if eq .Value $d.Stage}} selected{{end}}>{{.Label}}</option>{{end}}</select>
<button type="submit">Move</button></form></td>
<td>{{range $d.Contacts}}<div>{{.Label}} <span class="muted">({{.ID}})</span>{{range .Labels}} <span class="assoc-label">{{.}}</span>{{end}}</div>{{else}}<span class="muted">none</span>{{end}}</td>
<td><form class="inline" method="post" action="/portals/{{$p.ID}}/deals/{{$d.ID}}"><input type="hidden" name="back" value="{{$.Back}}">
<input type="text" name="property" placeholder="property" aria-label="property"> <input type="text" name="value" placeholder="value" aria-label="value"> <button type="submit">Set</button></form></td></tr>
{{end}}</table>{{else}}<p class="muted">No deals.</p>{{end}}

<h3>Contacts</h3>
{{if $p.Contacts}}<table><tr><th>ID</th><th>Name</th><th>Email</th><th>Lifecycle stage</th><th>Lead status</th><th>Deals</th><th>Contacts</th><th>Set a property</th></tr>
{{range $c := $p.Contacts}}<tr id="contact-{{$c.ID}}"><td>{{$c.ID}}</td><td>{{$c.Name}}</td><td>{{$c.Email}}</td>
<td><form class="inline" method="post" action="/portals/{{$p.ID}}/contacts/{{$c.ID}}"><input type="hidden" name="back" value="{{$.Back}}"><input type="hidden" name="property" value="lifecyclestage">
<select name="value" aria-label="lifecycle stage"><option value=""{{if not $c.Lifecycle}} selected{{end}}>—</option>{{range $p.LifecycleOptions}}<option value="{{.Value}}"{{if eq .Value $c.Lifecycle}} selected{{end}}>{{.Label}}</option>{{end}}</select>
<button type="submit">Set</button></form></td>
<td><form class="inline" method="post" action="/portals/{{$p.ID}}/contacts/{{$c.ID}}"><input type="hidden" name="back" value="{{$.Back}}"><input type="hidden" name="property" value="hs_lead_status">
<select name="value" aria-label="lead status"><option value=""{{if not $c.LeadStatus}} selected{{end}}>—</option>{{range $p.LeadStatusOptions}}<option value="{{.Value}}"{{if eq .Value $c.LeadStatus}} selected{{end}}>{{.Label}}</option>{{end}}</select>
<button type="submit">Set</button></form></td>
<td>{{range $c.Deals}}<div>{{.Label}} <span class="muted">({{.ID}})</span></div>{{else}}<span class="muted">none</span>{{end}}</td>
<td>{{range $c.Contacts}}<div>{{.Label}} <span class="muted">({{.ID}})</span>{{range .Labels}} <span class="assoc-label">{{.}}</span>{{end}}</div>{{else}}<span class="muted">none</span>{{end}}</td>
<td><form class="inline" method="post" action="/portals/{{$p.ID}}/contacts/{{$c.ID}}"><input type="hidden" name="back" value="{{$.Back}}">
<input type="text" name="property" placeholder="property" aria-label="property"> <input type="text" name="value" placeholder="value" aria-label="value"> <button type="submit">Set</button></form></td></tr>
{{end}}</table>{{else}}<p class="muted">No contacts.</p>{{end}}

<h3>Create</h3>
<form method="post" action="/portals/{{$p.ID}}/contacts"><input type="hidden" name="back" value="{{$.Back}}">
Contact: <input type="text" name="email" placeholder="email" aria-label="email"> <input type="text" name="firstname" placeholder="first name" aria-label="first name"> <input type="text" name="lastname" placeholder="last name" aria-label="last name">
<select name="lifecyclestage" aria-label="lifecycle stage"><option value="">lifecycle stage</option>{{range $p.LifecycleOptions}}<option value="{{.Value}}">{{.Label}}</option>{{end}}</select>
<button type="submit">Create contact</button></form>
<form method="post" action="/portals/{{$p.ID}}/deals" style="margin-top:.5rem"><input type="hidden" name="back" value="{{$.Back}}">
Deal: <input type="text" name="dealname" placeholder="deal name" aria-label="deal name"> <input type="text" name="amount" placeholder="amount" aria-label="amount">
<select name="stage" aria-label="stage">{{range $p.Pipelines}}{{$pl := .}}<optgroup label="{{.Label}}">{{range .Stages}}<option value="{{$pl.ID}}/{{.Value}}">{{.Label}}</option>{{end}}</optgroup>{{end}}</select>
<select name="contact_id" aria-label="contact"><option value="">no contact</option>{{range $p.Contacts}}<option value="{{.ID}}">{{.Name}} {{.Email}}</option>{{end}}</select>
<button type="submit">Create deal</button></form>
{{end}}

<h2>Webhooks</h2>
{{with .Webhooks}}
{{if .Target}}<p>Target <code>{{.Target}}</code>{{if .Paused}} (paused){{end}} · {{.Stats.Events}} events made, {{.Stats.Delivered}} delivered, {{.Stats.Pending}} pending, {{.Stats.GaveUp}} given up.</p>
<p class="muted">Subscriptions: {{range $i, $s := .Subs}}{{if $i}}, {{end}}<code>{{$s}}</code>{{else}}none{{end}}</p>
{{if .Deliveries}}<table><tr><th>Sent</th><th>Portal</th><th>Attempt</th><th>Events</th><th>Outcome</th><th>Latency</th></tr>
{{range .Deliveries}}<tr><td>{{.When}}</td><td>{{.PortalID}}</td><td>{{.Attempt}}</td><td>{{.Events}}</td><td class="{{if not .OK}}lost{{end}}">{{.Outcome}}</td><td>{{.Latency}}</td></tr>
{{end}}</table>{{end}}
{{else}}<p class="muted">No webhook target is set: changes are recorded but not delivered.</p>{{end}}
{{end}}
</body></html>
`))
