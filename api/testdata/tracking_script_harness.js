// Runs api/assets/referflow.js as a browser would, in Node: each "page
// load" runs the script afresh in a new context over one cookie jar and one
// clock, with a document that has the script's own tag, the page's URL and
// a submit listener. window.fetch goes to the real referflow test server
// (REFERFLOW_URL), with the page's Origin, or, when REFERFLOW_URL is empty,
// to a fake that answers the attribution the scenario sets.
//
//   node tracking_script_harness.js <script.js> <scenario>
//
// Scenarios print "ok" at the end, or fail with an assertion.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const vm = require('node:vm');

const [scriptPath, scenario] = process.argv.slice(2);
const source = fs.readFileSync(scriptPath, 'utf8');
const env = process.env;
const base = env.REFERFLOW_URL || 'https://refer.example';
const key = env.KEY || 'pk_' + '0'.repeat(32);
const DAY = 86400 * 1000;

let clock = Date.UTC(2026, 0, 1);
const jar = new Map(); // name -> {value, expires, attrs}
const requests = []; // what the script fetched
let attribution = { window_days: 90, model: 'last_touch' }; // the fake's answer

function cookieHeader() {
  return [...jar].filter(([, c]) => c.expires > clock).map(([n, c]) => n + '=' + c.value).join('; ');
}

function setCookie(s) {
  const [pair, ...attrs] = s.split(/;\s*/);
  const eq = pair.indexOf('=');
  const name = pair.slice(0, eq);
  const c = { value: pair.slice(eq + 1), attrs, expires: Infinity };
  for (const a of attrs) {
    const [k, v] = a.split('=');
    if (k.toLowerCase() === 'max-age') c.expires = clock + Number(v) * 1000;
  }
  if (c.expires <= clock) jar.delete(name);
  else jar.set(name, c);
}

async function fakeFetch(url, opts) {
  if (url.includes('/api/public/v1/attribution/')) {
    return { ok: true, status: 200, json: async () => ({ attribution }) };
  }
  return { ok: true, status: 202, json: async () => ({ conversion_id: 'cv_fake', status: 'received' }) };
}

// load opens a page at pageURL (its origin is the request's Origin) with
// the script tag; it returns the page's window and document.
async function load(pageURL, campaign = key) {
  const page = new URL(pageURL);
  const listeners = [];
  const window = {
    location: { href: page.href, search: page.search, protocol: page.protocol },
    console: { warn: (m) => window.warnings.push(m) },
    warnings: [],
    setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref(); return t; },
    fetch: (url, opts = {}) => {
      requests.push({ url, opts, at: clock });
      if (!env.REFERFLOW_URL) return fakeFetch(url, opts);
      return fetch(url, { ...opts, headers: { ...(opts.headers || {}), Origin: page.origin } });
    },
  };
  const tag = {
    src: base + '/js/referflow.js',
    getAttribute: (n) => (n === 'data-campaign' ? campaign : null),
  };
  const document = {
    currentScript: tag,
    querySelectorAll: () => [tag],
    get cookie() { return cookieHeader(); },
    set cookie(v) { setCookie(v); },
    addEventListener: (type, fn, capture) => listeners.push({ type, fn, capture }),
  };
  const context = vm.createContext({ window, document, URL, URLSearchParams });
  context.Date = { now: () => clock };
  vm.runInContext(source, context, { filename: 'referflow.js' });
  window.listeners = listeners;
  // Let the attribution fetch, if any, settle.
  await new Promise((r) => setTimeout(r, env.REFERFLOW_URL ? 300 : 10));
  return window;
}

// cookie is the campaign's cookie as the browser keeps it (not expired).
function cookie() {
  const c = jar.get('referflow_ref_' + key);
  return c && c.expires > clock ? c : undefined;
}

// submit dispatches a form's submit event as the browser does, and tells
// whether the page's own submission was held back.
function submit(window, fields, marked = true) {
  const form = {
    hasAttribute: (n) => marked && n === 'data-referflow-form',
    elements: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, { value: v }])),
  };
  let prevented = false;
  const ev = { target: form, preventDefault: () => { prevented = true; }, stopPropagation: () => { prevented = true; } };
  for (const l of window.listeners) if (l.type === 'submit') l.fn(ev);
  return prevented;
}

const scenarios = {
  // The code is kept at once, in a cookie for the campaign on the
  // customer's domain, for the window; a page without a code keeps it.
  async capture() {
    let w = await load('https://shop.example/landing?utm_source=x&referflow_ref=MAYA-1#top');
    const c = cookie();
    assert.ok(c, 'the code is kept in referflow_ref_<key>');
    assert.match(c.value, /^MAYA-1\.\d+\.MAYA-1\.\d+\.90\.l$/);
    assert.equal(c.expires - clock, 90 * DAY, 'kept for the 90-day window');
    assert.deepEqual(c.attrs.slice(1), ['Path=/', 'SameSite=Lax', 'Secure']);
    assert.equal(w.referflow.referralCode(), 'MAYA-1');
    clock += DAY;
    w = await load('https://shop.example/pricing');
    assert.equal(w.referflow.referralCode(), 'MAYA-1', 'another page of the site still knows the code');
    // On http the cookie is not Secure (it could not be set).
    jar.clear();
    await load('http://localhost:3000/?referflow_ref=DEV');
    assert.ok(!cookie().attrs.includes('Secure'));
    // An invalid code or a bad data-campaign keeps nothing.
    jar.clear();
    await load('https://shop.example/?referflow_ref=%3Cscript%3E');
    assert.equal(cookie(), undefined);
    w = await load('https://shop.example/?referflow_ref=MAYA-1', 'not-a-key');
    assert.equal(jar.size, 0);
    assert.match(w.warnings[0], /publishable key/);
  },

  // Last touch: the latest code wins, for the window after it.
  async lastTouch() {
    attribution = { window_days: 30, model: 'last_touch' };
    await load('https://shop.example/?referflow_ref=MAYA-1');
    assert.equal(cookie().expires - clock, 30 * DAY, "the campaign's 30-day window, once fetched");
    clock += 10 * DAY;
    let w = await load('https://shop.example/?referflow_ref=OTTO-2');
    assert.equal(w.referflow.referralCode(), 'OTTO-2', 'last touch: the latest link wins');
    clock += 29 * DAY;
    w = await load('https://shop.example/');
    assert.equal(w.referflow.referralCode(), 'OTTO-2', 'within 30 days of the last touch');
    clock += 2 * DAY;
    w = await load('https://shop.example/');
    assert.equal(w.referflow.referralCode(), '', 'the window has passed');
    assert.equal(cookie(), undefined, 'and the cookie has expired');
  },

  // First touch: the first code keeps the credit for the window after it;
  // once passed, the next code starts anew.
  async firstTouch() {
    attribution = { window_days: 30, model: 'first_touch' };
    await load('https://shop.example/?referflow_ref=MAYA-1');
    clock += 10 * DAY;
    let w = await load('https://shop.example/?referflow_ref=OTTO-2');
    assert.equal(w.referflow.referralCode(), 'MAYA-1', 'first touch: the first link keeps the credit');
    clock += 21 * DAY; // 31 days after the first touch, 21 after the second
    w = await load('https://shop.example/');
    assert.equal(w.referflow.referralCode(), '', "first touch: the first link's window has passed, a later click within it did not take over");
    w = await load('https://shop.example/?referflow_ref=OTTO-2');
    assert.equal(w.referflow.referralCode(), 'OTTO-2', 'a click after the window starts anew');
    clock += 5 * DAY;
    w = await load('https://shop.example/?referflow_ref=ZED-3');
    assert.equal(w.referflow.referralCode(), 'OTTO-2');
  },

  // The admin's setting counts: a model changed after the clicks applies
  // to the codes already kept, at the next page load.
  async settingChanged() {
    attribution = { window_days: 90, model: 'last_touch' };
    await load('https://shop.example/?referflow_ref=MAYA-1');
    clock += DAY;
    let w = await load('https://shop.example/?referflow_ref=OTTO-2');
    assert.equal(w.referflow.referralCode(), 'OTTO-2');
    attribution = { window_days: 90, model: 'first_touch' };
    w = await load('https://shop.example/');
    assert.equal(w.referflow.referralCode(), 'MAYA-1');
    attribution = { window_days: 1, model: 'first_touch' };
    clock += DAY / 2;
    w = await load('https://shop.example/');
    assert.equal(w.referflow.referralCode(), '', 'a shorter window ends an older attribution');
  },

  // convert() without a code rejects without calling referflow; a visitor
  // who came through no link never calls referflow at all.
  async noCode() {
    const w = await load('https://shop.example/');
    await assert.rejects(w.referflow.convert({ email: 'zoe@globex.example' }), (e) => e.name === 'Error' && e.code === 'no_referral_code' && /no referral code/.test(e.message));
    assert.equal(requests.length, 0, 'nothing was sent to referflow');
    const prevented = submit(w, { email: 'zoe@globex.example' });
    assert.equal(prevented, false);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(requests.length, 0);
  },

  // Against the real server: convert() resolves with referflow's answer;
  // the same lead again too; a form marked data-referflow-form is sent on
  // submit without holding the submission back.
  async convertReal() {
    const w = await load(env.PAGE + '?referflow_ref=' + env.CODE);
    const answer = await w.referflow.convert({ email: 'zoe@globex.example', first_name: 'Zoë', last_name: 'Ng', company: 'Globex', external_id: 'crm-7' });
    assert.equal(answer.status, 'received');
    assert.match(answer.conversion_id, /^cv_/);
    const post = requests.find((r) => r.url.endsWith('/api/public/v1/conversions'));
    assert.equal(post.opts.keepalive, true);
    assert.equal(post.opts.credentials, 'omit');
    assert.equal(post.opts.headers['Content-Type'], 'text/plain;charset=UTF-8');
    assert.deepEqual(JSON.parse(post.opts.body), {
      publishable_key: key, referral_code: env.CODE, external_id: 'crm-7',
      lead: { email: 'zoe@globex.example', first_name: 'Zoë', last_name: 'Ng', company: 'Globex' },
    });
    const again = await w.referflow.convert({ email: 'zoe@globex.example' });
    assert.deepEqual(again, answer);

    const sent = requests.length;
    assert.equal(submit(w, { email: ' form@globex.example ', firstname: 'Fé', lastname: 'Lo', company: 'Initech' }), false, 'the form is not held back');
    assert.equal(requests.length, sent + 1, 'the conversion left at once, during the submit event');
    assert.equal(submit(w, { email: 'unmarked@globex.example' }, false), false);
    assert.equal(requests.length, sent + 1, 'an unmarked form is not sent');
    await new Promise((r) => setTimeout(r, 500));
    console.log(JSON.stringify({ form: JSON.parse(requests[sent].opts.body) }));
  },

  // Against the real server: referflow's refusal rejects with its message.
  async refusedReal() {
    const w = await load(env.PAGE + '?referflow_ref=' + env.CODE);
    await assert.rejects(w.referflow.convert({ email: 'not an email' }), (e) => e.status === 422 && e.code === 'invalid' && typeof e.fields['lead.email'] === 'string' && /problem/.test(e.message));
    jar.clear();
    const other = await load(env.PAGE + '?referflow_ref=NOBODY-1');
    await assert.rejects(other.referflow.convert({ email: 'x@globex.example' }), (e) => e.status === 422 && e.code === 'unknown_referral_code' && /no member of this campaign/.test(e.message));
    jar.clear();
    // A page whose origin is not allowed: the answer cannot be read by a
    // browser, but here (no CORS in Node) it shows referflow refused it.
    const evil = await load('https://evil.example/?referflow_ref=' + env.CODE);
    await assert.rejects(evil.referflow.convert({ email: 'evil@globex.example' }), (e) => e.status === 403 && e.code === 'origin_not_allowed');
  },
};

scenarios[scenario]().then(() => console.log('ok'), (e) => { console.error(e.stack || e); process.exit(1); });
