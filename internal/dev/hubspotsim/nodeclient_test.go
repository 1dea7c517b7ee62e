package hubspotsim

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nodeScript uses HubSpot's official Node client, unchanged but for its base
// path, against the simulator: contact and deal with an association, reads
// both ways, search, pipelines, and a validation error.
const nodeScript = `
const hubspot = require('@hubspot/api-client');
const client = new hubspot.Client({ accessToken: process.env.HS_TOKEN, basePath: process.env.HS_BASE, numberOfApiCallRetries: 0 });
(async () => {
  const c = await client.crm.contacts.basicApi.create({ properties: { email: 'node@example.com', firstname: 'Node' }, associations: [] });
  const d = await client.crm.deals.basicApi.create({
    properties: { dealname: 'Node deal', pipeline: 'default', dealstage: 'appointmentscheduled', amount: '250' },
    associations: [{ to: { id: c.id }, types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: 3 }] }],
  });
  const got = await client.crm.deals.basicApi.getById(d.id, ['dealname', 'amount'], undefined, ['contacts']);
  const assoc = await client.crm.associations.v4.basicApi.getPage('contacts', c.id, 'deals');
  const search = await client.crm.contacts.searchApi.doSearch({
    filterGroups: [{ filters: [{ propertyName: 'email', operator: 'EQ', value: 'node@example.com' }] }],
    properties: ['email'], limit: 10, after: '0', sorts: [],
  });
  const pipelines = await client.crm.pipelines.pipelinesApi.getAll('deals');
  let errCode = 0, errCategory = '';
  try {
    await client.crm.contacts.basicApi.create({ properties: { no_such_property: 'x' }, associations: [] });
  } catch (e) { errCode = e.code; errCategory = e.body && e.body.category; }
  console.log(JSON.stringify({
    contact: c.id, deal: d.id, dealname: got.properties.dealname, amount: got.properties.amount,
    dealContacts: got.associations.contacts.results.map(r => r.id),
    contactDeals: assoc.results.map(r => String(r.toObjectId)),
    total: search.total, stages: pipelines.results[0].stages.map(s => s.id),
    errCode, errCategory,
  }));
})().catch(e => { console.error(e); process.exit(1); });
`

// TestOfficialNodeClient installs @hubspot/api-client 14.x with npm into a
// temporary folder and runs nodeScript against the simulator.
func TestOfficialNodeClient(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("skipped in -short mode: installs @hubspot/api-client with npm")
	}
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node and npm are needed on PATH to run HubSpot's official Node client against the simulator")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", dir, "@hubspot/api-client@14")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Skipf("npm install @hubspot/api-client@14 failed (is the npm registry reachable?): %v\n%s", err, out)
	}
	script := filepath.Join(dir, "run.js")
	if err := os.WriteFile(script, []byte(nodeScript), 0o644); err != nil {
		t.Fatal(err)
	}

	sim := New(Options{})
	p := sim.CreatePortal("Node portal")
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()

	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HS_TOKEN="+p.PrivateAppToken, "HS_BASE="+srv.URL)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node client: %v\n%s\n%s", err, out, stderr)
	}
	var got struct {
		Contact, Deal, Dealname, Amount string
		DealContacts, ContactDeals      []string
		Total                           int
		Stages                          []string
		ErrCode                         int
		ErrCategory                     string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if got.Contact == "" || got.Dealname != "Node deal" || got.Amount != "250" ||
		len(got.DealContacts) != 1 || got.DealContacts[0] != got.Contact ||
		len(got.ContactDeals) != 1 || got.ContactDeals[0] != got.Deal ||
		got.Total != 1 || len(got.Stages) != 7 || got.ErrCode != 400 || got.ErrCategory != "VALIDATION_ERROR" {
		t.Fatalf("node client results: %+v", got)
	}
	if obj, ok := sim.GetObject(p.ID, "deals", got.Deal); !ok || obj.Properties["pipeline"] != "default" {
		t.Fatalf("deal in the simulator: %+v", obj)
	}
}
