/*! referflow tracking script v1. Paste on the campaign's landing page:
 * <script src="<REFERFLOW_PUBLIC_URL>/js/referflow.js" data-campaign="<publishable_key>"></script>
 * Plain ES2017, no dependencies. */
(function (window, document) {
  'use strict';
  var PARAM = 'referflow_ref';
  var CODE = /^[A-Za-z0-9_-]{1,64}$/;
  var KEY = /^pk_[0-9a-f]{32}$/;
  var DAY = 86400;
  var DEFAULTS = { window_days: 90, model: 'last_touch' };

  function warn(msg) {
    if (window.console && window.console.warn) window.console.warn('referflow: ' + msg);
  }

  // The script's own tag: where to post (its origin) and which campaign.
  var script = document.currentScript;
  if (!script) {
    var tags = document.querySelectorAll('script[data-campaign][src]');
    script = tags[tags.length - 1];
  }
  if (!script) return;
  var key = script.getAttribute('data-campaign') || '';
  var base = new URL(script.src, window.location.href).origin;
  var cookieName = PARAM + '_' + key;
  if (!KEY.test(key)) {
    warn('data-campaign must be the campaign\'s publishable key (pk_...), not "' + key + '"');
  }

  function now() { return Math.floor(Date.now() / 1000); }

  function attribution(a) {
    if (!a) return DEFAULTS;
    var days = Math.floor(+a.window_days);
    return {
      window_days: days > 0 ? days : DEFAULTS.window_days,
      model: a.model === 'first_touch' ? 'first_touch' : 'last_touch'
    };
  }

  // The cookie, on the customer's own domain, keeps the first and the last
  // code of the visitor's referral links with their times, and the
  // campaign's attribution they were kept under:
  //   <first>.<first at>.<last>.<last at>.<window days>.<f|l>
  // Which code counts, and for how long, is decided when a conversion is
  // sent: the code is captured at once on page load, before the campaign's
  // settings are fetched, and a changed setting applies to codes kept.
  function load() {
    var all = document.cookie ? document.cookie.split('; ') : [];
    for (var i = 0; i < all.length; i++) {
      var eq = all[i].indexOf('=');
      if (all[i].slice(0, eq) !== cookieName) continue;
      var p = all[i].slice(eq + 1).split('.');
      var firstAt = +p[1];
      var lastAt = +p[3];
      if (p.length !== 6 || !CODE.test(p[0]) || !CODE.test(p[2]) || !(firstAt > 0) || !(lastAt >= firstAt)) return null;
      return {
        first: p[0], firstAt: firstAt, last: p[2], lastAt: lastAt,
        attribution: attribution({ window_days: p[4], model: p[5] === 'f' ? 'first_touch' : 'last_touch' })
      };
    }
    return null;
  }

  function save(s) {
    var a = s.attribution;
    var maxAge = s.lastAt + a.window_days * DAY - now();
    var value = maxAge > 0
      ? [s.first, s.firstAt, s.last, s.lastAt, a.window_days, a.model === 'first_touch' ? 'f' : 'l'].join('.')
      : '';
    document.cookie = cookieName + '=' + value + '; Max-Age=' + Math.max(maxAge, 0) + '; Path=/; SameSite=Lax' +
      (window.location.protocol === 'https:' ? '; Secure' : '');
  }

  // touch records a visit through a referral link. First touch: the first
  // code keeps the credit for the window after it, later codes do not
  // replace it; once the window has passed the next code starts anew. Last
  // touch: the latest code wins, for the window after it.
  function touch(s, code, at) {
    var a = s ? s.attribution : DEFAULTS;
    if (!s || at - s.firstAt > a.window_days * DAY) {
      return { first: code, firstAt: at, last: code, lastAt: at, attribution: a };
    }
    return { first: s.first, firstAt: s.firstAt, last: code, lastAt: at, attribution: a };
  }

  // current is the code a conversion now is credited to, or ''.
  function current() {
    var s = load();
    if (!s) return '';
    var first = s.attribution.model === 'first_touch';
    var at = first ? s.firstAt : s.lastAt;
    if (now() - at > s.attribution.window_days * DAY) return '';
    return first ? s.first : s.last;
  }

  // Capture the code of the page's URL, synchronously.
  var fromURL = new URLSearchParams(window.location.search).get(PARAM);
  if (KEY.test(key) && fromURL && CODE.test(fromURL)) {
    save(touch(load(), fromURL, now()));
  }

  // Then the campaign's attribution, when there is a code to apply it to
  // (a visitor who came through no referral link does not call referflow).
  var ready = Promise.resolve();
  if (KEY.test(key) && load()) {
    var fetched = window.fetch(base + '/api/public/v1/attribution/' + key, { mode: 'cors', credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        var s = load();
        if (body && body.attribution && s) {
          s.attribution = attribution(body.attribution);
          save(s);
        }
      })
      .catch(function () {});
    var timeout = new Promise(function (resolve) { window.setTimeout(resolve, 3000); });
    ready = Promise.race([fetched, timeout]);
  }

  function text(v) {
    return v === undefined || v === null ? '' : String(v).trim();
  }

  function failure(message, code, status, fields) {
    var e = new Error(message);
    e.code = code;
    e.status = status;
    e.fields = fields || {};
    return e;
  }

  // send posts a conversion now. The body is JSON sent as text/plain: a
  // CORS-safelisted type needs no preflight, so the request can go with
  // keepalive while the page unloads (a form's own submission). referflow
  // checks the page's origin against the campaign's allowed origins.
  function send(lead) {
    lead = lead || {};
    var code = current();
    if (!KEY.test(key)) {
      return Promise.reject(failure('referflow: the script tag\'s data-campaign is not a publishable key', 'no_campaign', 0));
    }
    if (!code) {
      return Promise.reject(failure('referflow: no referral code: this visitor did not come through a referral link, or its attribution window has passed', 'no_referral_code', 0));
    }
    var body = { publishable_key: key, referral_code: code, lead: { email: text(lead.email) } };
    ['first_name', 'last_name', 'company'].forEach(function (f) {
      if (text(lead[f])) body.lead[f] = text(lead[f]);
    });
    if (text(lead.external_id)) body.external_id = text(lead.external_id);
    return window.fetch(base + '/api/public/v1/conversions', {
      method: 'POST', mode: 'cors', credentials: 'omit', keepalive: true,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (answer) {
        if (r.ok) return answer;
        var e = (answer && answer.error) || {};
        throw failure('referflow: ' + (e.message || 'the conversion was refused (' + r.status + ')'), e.code || 'refused', r.status, e.fields);
      });
    }, function (err) {
      // A browser hides why: no network, or an answer without CORS
      // headers (this page's origin is not allowed).
      throw failure('referflow: the conversion could not be sent (no network, or this page\'s origin is not in the campaign\'s allowed_origins): ' +
        (err && err.message), 'unreachable', 0);
    });
  }

  // convert sends a conversion once the campaign's attribution is known
  // (at most 3 s): resolves with referflow's answer, rejects with an Error
  // carrying its message (and .code, .status, .fields).
  function convert(lead) {
    return ready.then(function () { return send(lead); });
  }

  function field(form, names) {
    for (var i = 0; i < names.length; i++) {
      var el = form.elements && form.elements[names[i]];
      if (el && typeof el.value === 'string' && el.value.trim()) return el.value.trim();
    }
    return '';
  }

  // Forms marked data-referflow-form are sent on submit, without stopping
  // or delaying the form's own submission.
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!form || !form.hasAttribute || !form.hasAttribute('data-referflow-form') || !current()) return;
    var lead = {
      email: field(form, ['email']),
      first_name: field(form, ['first_name', 'firstname']),
      last_name: field(form, ['last_name', 'lastname']),
      company: field(form, ['company'])
    };
    if (!lead.email) return;
    send(lead).catch(function (e) { warn(e.message); });
  }, true);

  window.referflow = { convert: convert, referralCode: current };
})(window, document);
