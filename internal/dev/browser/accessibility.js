(() => {
  // What axe-core (axe.go) does not check, and referflow's pages promise:
  // exactly one <h1> (axe's page-has-heading-one asks for at least one, and
  // only as a moderate best practice), and no visible control taken out of
  // the keyboard's reach by a negative tabindex (axe has no such rule).
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

  const h1s = document.querySelectorAll("h1").length;
  if (h1s !== 1) problems.push("the page has " + h1s + " <h1>, want 1");
  for (const el of document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]")) {
    if (el.type === "hidden" || hidden(el)) continue;
    if (el.tabIndex < 0) problems.push("the keyboard cannot reach " + describe(el) + " (tabindex " + el.getAttribute("tabindex") + ")");
  }
  return problems;
})()
