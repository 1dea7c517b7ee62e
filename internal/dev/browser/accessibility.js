(() => {
  const problems = [];
  const describe = (el) => {
    let d = el.tagName.toLowerCase();
    if (el.id) d += "#" + el.id;
    else if (el.name) d += "[name=" + el.name + "]";
    const text = (el.innerText || el.value || "").trim().replace(/\s+/g, " ");
    return text ? d + " \"" + text.slice(0, 40) + "\"" : d;
  };
  const hidden = (el) => el.closest("[aria-hidden=true]") !== null ||
    !(el.offsetWidth || el.offsetHeight || el.getClientRects().length);

  if (!document.documentElement.lang) problems.push("the page has no <html lang>");
  if (!document.title.trim()) problems.push("the page has no <title>");
  const h1s = document.querySelectorAll("h1").length;
  if (h1s !== 1) problems.push("the page has " + h1s + " <h1>, want 1");

  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || hidden(el)) continue;
    const named = el.labels.length > 0 || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (!named) problems.push("no label names the field " + describe(el));
  }
  for (const img of document.querySelectorAll("img")) {
    if (!img.hasAttribute("alt")) problems.push("the image " + img.getAttribute("src") + " has no alt text");
  }
  for (const el of document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")) {
    if (el.type === "hidden" || hidden(el)) continue;
    if (el.tabIndex < 0) problems.push("the keyboard cannot reach " + describe(el) + " (tabindex " + el.getAttribute("tabindex") + ")");
  }

  // WCAG 2 contrast of each element's own text with the background it
  // sits on (the first ancestor with an opaque background; white if none).
  const rgba = (s) => {
    const m = s.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const luminance = (c) => {
    const ch = [c.r, c.g, c.b].map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c && c.a >= 1) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || seen.has(el) || !n.nodeValue.trim() || hidden(el)) continue;
    if (["SCRIPT", "STYLE", "NOSCRIPT"].includes(el.tagName)) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    const fg = rgba(style.color);
    if (!fg) continue;
    const bg = background(el);
    // A translucent text colour shows blended with its background.
    const shown = { r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a) };
    const [l1, l2] = [luminance(shown), luminance(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const want = large ? 3 : 4.5;
    if (ratio < want) problems.push("the text " + describe(el) + " has contrast " + ratio.toFixed(2) + ":1 with its background, want at least " + want + ":1");
  }
  return problems;
})()
