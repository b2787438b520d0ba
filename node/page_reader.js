// The page side of Observe, Extract and blocker dismissal. Evaluated by node/page_reader.py as
// a function of no arguments that returns the reader installed in this document (installing it
// on first use). Its state (element refs, the last observation) lives as long as the document:
// refs stay the same for the same element across observations and die with the page.
() => {
  const KEY = Symbol.for("browserplane.reader.v1");
  if (window[KEY]) return window[KEY];

  const INTERACTIVE = "a[href], button, input, select, textarea, summary, [contenteditable=''], " +
    "[contenteditable='true'], [role=button], [role=link], [role=checkbox], [role=radio], " +
    "[role=tab], [role=menuitem], [role=menuitemcheckbox], [role=menuitemradio], [role=option], " +
    "[role=switch], [role=combobox], [role=textbox], [role=searchbox], [role=slider], " +
    "[role=spinbutton], [onclick], [tabindex]:not([tabindex='-1'])";
  const SKIP = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "SVG", "CANVAS", "IFRAME",
                        "OBJECT", "HEAD", "META", "LINK"]);
  const INPUT_ROLES = {checkbox: "checkbox", radio: "radio", button: "button", submit: "button",
                       reset: "button", image: "button", range: "slider", number: "spinbutton",
                       search: "searchbox", file: "button", color: "button"};
  const state = {seq: 0, refs: new WeakMap(), byRef: new Map(), forms: new WeakMap(), formSeq: 0,
                 lastLines: null, lastRefs: null};

  const clip = (s, n) => (s.length > n ? s.slice(0, n - 1) + "…" : s);
  const squash = (s) => (s || "").replace(/\s+/g, " ").trim();

  function visible(el) {
    if (!el.isConnected) return false;
    if (el.closest("[aria-hidden='true'], [inert]")) return false;
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true, opacityProperty: false}))
      return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  }

  function refOf(el) {
    let ref = state.refs.get(el);
    if (!ref) {
      ref = "e" + ++state.seq;
      state.refs.set(el, ref);
      state.byRef.set(ref, new WeakRef(el));
    }
    return ref;
  }

  function formRef(form) {
    let ref = state.forms.get(form);
    if (!ref) {
      ref = "f" + ++state.formSeq;
      state.forms.set(form, ref);
    }
    return ref;
  }

  function role(el) {
    const explicit = el.getAttribute("role");
    if (explicit) return explicit.split(" ")[0];
    const tag = el.tagName.toLowerCase();
    if (tag === "a") return "link";
    if (tag === "button" || tag === "summary") return "button";
    if (tag === "select") return el.multiple || el.size > 1 ? "listbox" : "combobox";
    if (tag === "textarea") return "textbox";
    if (tag === "input") return INPUT_ROLES[(el.type || "text").toLowerCase()] || "textbox";
    if (el.isContentEditable) return "textbox";
    return "generic";
  }

  function textOf(el) {
    return squash(el.innerText !== undefined ? el.innerText : el.textContent);
  }

  function label(el) {
    const aria = el.getAttribute("aria-label");
    if (aria && aria.trim()) return squash(aria);
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const text = by.split(/\s+/).map((id) => document.getElementById(id))
        .filter(Boolean).map(textOf).join(" ");
      if (text) return text;
    }
    if (el.labels && el.labels.length) {
      const text = Array.from(el.labels).map(textOf).join(" ");
      if (text) return text;
    }
    const tag = el.tagName;
    if (tag === "INPUT" && ["submit", "button", "reset"].includes(el.type)) return el.value || el.type;
    if (tag === "INPUT" || tag === "TEXTAREA") {
      if (el.placeholder) return squash(el.placeholder);
    } else {
      const text = textOf(el);
      if (text) return text;
      const img = el.querySelector("img[alt]");
      if (img && img.alt.trim()) return squash(img.alt);
    }
    return squash(el.getAttribute("title") || el.getAttribute("name") || "");
  }

  function value(el) {
    if (el.tagName === "SELECT") {
      return Array.from(el.selectedOptions).map((o) => squash(o.text)).join(", ");
    }
    if (el.tagName === "INPUT") {
      const type = (el.type || "").toLowerCase();
      if (type === "password") return el.value ? "•".repeat(Math.min(el.value.length, 8)) : "";
      if (type === "checkbox" || type === "radio") return el.checked ? "checked" : "";
      if (type === "file") return Array.from(el.files || []).map((f) => f.name).join(", ");
      if (["submit", "button", "reset", "image"].includes(type)) return "";
      return el.value;
    }
    if (el.tagName === "TEXTAREA") return el.value;
    if (el.isContentEditable) return clip(textOf(el), 200);
    return "";
  }

  function uniqueId(el) {
    return el.id && document.getElementById(el.id) === el;
  }

  function cssPath(el) {
    if (uniqueId(el)) return "#" + CSS.escape(el.id);
    const parts = [];
    for (let node = el; node && node.nodeType === 1 && node !== document.documentElement;
         node = node.parentElement) {
      if (node !== el && uniqueId(node)) {
        parts.unshift("#" + CSS.escape(node.id));
        break;
      }
      let part = node.tagName.toLowerCase();
      // Position among same-tag siblings, counted by walking (no array per element).
      let index = 1;
      for (let s = node.previousElementSibling; s; s = s.previousElementSibling)
        if (s.tagName === node.tagName) index++;
      let alone = index === 1;
      for (let s = node.nextElementSibling; alone && s; s = s.nextElementSibling)
        if (s.tagName === node.tagName) alone = false;
      if (!alone) part += `:nth-of-type(${index})`;
      parts.unshift(part);
    }
    return parts.join(" > ");
  }

  // Every interactive element under root, open shadow roots included, in document order.
  function interactive(root) {
    const found = [];
    const walk = (scope) => {
      for (const el of scope.querySelectorAll(INTERACTIVE)) found.push(el);
      for (const host of scope.querySelectorAll("*")) if (host.shadowRoot) walk(host.shadowRoot);
    };
    walk(root);
    return found.filter((el) => !(el.tagName === "INPUT" && el.type === "hidden"));
  }

  function describe(el, viewport) {
    const r = el.getBoundingClientRect();
    const tag = el.tagName.toLowerCase();
    const item = {
      ref: refOf(el), tag, role: role(el), label: clip(label(el), 120), value: value(el),
      type: tag === "input" ? (el.type || "text").toLowerCase() : "",
      name: el.getAttribute("name") || "",
      href: tag === "a" ? el.href : "",
      checked: !!el.checked, disabled: !!el.disabled || el.getAttribute("aria-disabled") === "true",
      in_viewport: r.bottom > 0 && r.right > 0 && r.top < viewport.h && r.left < viewport.w,
      form_ref: el.form ? formRef(el.form) : "",
      options: tag === "select" ? Array.from(el.options).map((o) => squash(o.text)) : [],
      x: Math.round(r.left + window.scrollX), y: Math.round(r.top + window.scrollY),
      width: Math.round(r.width), height: Math.round(r.height),
      selector: cssPath(el),
    };
    return item;
  }

  // ---- markdown -------------------------------------------------------------------------------

  function markdown(root, withLinks) {
    const out = [];
    let line = "";
    const flush = () => {
      const text = line.replace(/[ \t]+/g, " ").trim();
      if (text) out.push(text);
      line = "";
    };
    const inline = (s) => {
      line += s;
    };
    const walk = (node, listDepth) => {
      if (node.nodeType === 3) {
        inline(node.nodeValue.replace(/\s+/g, " "));
        return;
      }
      if (node.nodeType !== 1 || SKIP.has(node.tagName.toUpperCase())) return;
      const el = node;
      if (!visible(el) && el.tagName !== "BR") {
        // Elements with no box may still hold visible children (display: contents).
        if (getComputedStyle(el).display !== "contents") return;
      }
      const tag = el.tagName;
      const kids = () => {
        for (const c of el.shadowRoot ? el.shadowRoot.childNodes : el.childNodes) walk(c, listDepth);
      };
      if (/^H[1-6]$/.test(tag)) {
        flush();
        inline("#".repeat(+tag[1]) + " ");
        kids();
        flush();
      } else if (tag === "LI") {
        flush();
        inline("  ".repeat(Math.max(0, listDepth - 1)) + "- ");
        kids();
        flush();
      } else if (tag === "UL" || tag === "OL") {
        flush();
        for (const c of el.children) walk(c, listDepth + 1);
        flush();
      } else if (tag === "A" && withLinks && el.href && !el.href.startsWith("javascript:")) {
        const text = textOf(el);
        if (text) inline(` [${text}](${el.href}) `);
      } else if (tag === "IMG") {
        if (el.alt && el.alt.trim()) inline(` ![${squash(el.alt)}] `);
      } else if (tag === "BR") {
        flush();
      } else if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || tag === "BUTTON") {
        const l = label(el);
        if (tag === "BUTTON") inline(` [${l}] `);
        else if (el.type !== "hidden") inline(` [${l || el.type || "field"}: ${value(el)}] `);
      } else if (tag === "TR") {
        flush();
        const cells = Array.from(el.children).map((c) => textOf(c).replace(/\|/g, "\\|"));
        inline("| " + cells.join(" | ") + " |");
        flush();
      } else {
        const block = getComputedStyle(el).display;
        const isBlock = block !== "inline" && block !== "inline-block" && block !== "contents";
        if (isBlock) flush();
        if (tag === "STRONG" || tag === "B") {
          const t = textOf(el);
          if (t) inline(` **${t}** `);
        } else if (tag === "CODE" && el.parentElement && el.parentElement.tagName !== "PRE") {
          inline(" `" + textOf(el) + "` ");
        } else if (tag === "PRE") {
          flush();
          out.push("```\n" + el.innerText.replace(/\n+$/, "") + "\n```");
        } else {
          kids();
        }
        if (isBlock) flush();
      }
    };
    walk(root, 0);
    flush();
    return out.join("\n").replace(/ +\n/g, "\n").replace(/\n{3,}/g, "\n\n");
  }

  function mainRoot() {
    const candidates = ["main", "[role=main]", "article", "#content", "#main", ".content"];
    for (const sel of candidates) {
      const el = document.querySelector(sel);
      if (el && visible(el) && textOf(el).length > 0) return el;
    }
    return document.body || document.documentElement;
  }

  const LANDMARKS = [["header", "header, [role=banner]"], ["nav", "nav, [role=navigation]"],
                     ["main", "main, [role=main]"], ["aside", "aside, [role=complementary]"],
                     ["form", "form"], ["footer", "footer, [role=contentinfo]"],
                     ["search", "[role=search]"], ["dialog", "dialog[open], [role=dialog]"]];

  function pageMap() {
    const sections = [];
    for (const [section, sel] of LANDMARKS) {
      for (const el of document.querySelectorAll(sel)) {
        if (!visible(el)) continue;
        const heading = el.querySelector("h1, h2, h3, legend");
        const hint = squash(el.getAttribute("aria-label") || (heading && textOf(heading)) ||
                            textOf(el));
        sections.push({section, selector: cssPath(el), hint: clip(hint, 80)});
      }
    }
    return sections;
  }

  function scrollState() {
    const doc = document.scrollingElement || document.documentElement;
    const height = Math.max(doc.scrollHeight, document.body ? document.body.scrollHeight : 0);
    const vh = window.innerHeight;
    const room = Math.max(0, height - vh);
    return {x: window.scrollX, y: window.scrollY, height, width: doc.scrollWidth,
            viewport_height: vh, viewport_width: window.innerWidth,
            percent: room ? Math.min(100, Math.round((window.scrollY / room) * 100)) : 100};
  }

  function observe(opts) {
    let root;
    if (opts.scope) {
      try {
        root = document.querySelector(opts.scope);
      } catch (err) {
        return {error: "scope_invalid", message: `not a CSS selector: ${opts.scope}`};
      }
      if (!root) return {error: "scope", message: `no element matches scope ${opts.scope}`};
    } else {
      root = opts.full ? (document.body || document.documentElement) : mainRoot();
    }
    let text;
    if (opts.full && !opts.scope) {
      const parts = [];
      const seen = new Set();
      for (const [section, sel] of LANDMARKS) {
        for (const el of document.querySelectorAll(sel)) {
          if (!visible(el) || Array.from(seen).some((s) => s.contains(el))) continue;
          seen.add(el);
          const md = markdown(el, opts.links);
          if (md) parts.push(`## [${section}]\n${md}`);
        }
      }
      text = parts.length ? parts.join("\n\n") : markdown(root, opts.links);
    } else {
      text = markdown(root, opts.links);
      if (!opts.scope) {
        // A dialog over the page is part of what a user sees, wherever it sits in the DOM.
        for (const dialog of document.querySelectorAll("dialog[open], [role=dialog], [role=alertdialog], [aria-modal=true]")) {
          if (!visible(dialog) || root.contains(dialog) || dialog.contains(root)) continue;
          const md = markdown(dialog, opts.links);
          if (md) text += `\n\n## [dialog]\n${md}`;
        }
      }
    }
    const limit = opts.max_text_length || 12000;
    const viewport = {w: window.innerWidth, h: window.innerHeight};
    // Interactive elements come from the whole page (a user can click the nav bar while
    // reading the main content) unless a scope narrows it.
    const all = interactive(opts.scope ? root : document).filter(visible);
    let elements = all.map((el) => describe(el, viewport));
    const total = elements.length;
    if (opts.max_elements && elements.length > opts.max_elements) {
      // Keep what a user can see first, then the rest in document order.
      const shown = elements.filter((e) => e.in_viewport).concat(elements.filter((e) => !e.in_viewport));
      elements = shown.slice(0, opts.max_elements);
    }
    const forms = [];
    for (const form of document.forms) {
      if (!visible(form)) continue;
      const fields = Array.from(form.elements).filter((el) => el.type !== "hidden" && visible(el));
      forms.push({ref: formRef(form), action: form.action || "", method: (form.method || "get").toUpperCase(),
                  field_refs: fields.map(refOf), selector: cssPath(form)});
    }
    const lines = text.split("\n");
    const refs = new Set(all.map(refOf));
    let changes = null;
    if (state.lastLines !== null) {
      const before = new Set(state.lastLines);
      const added = lines.filter((l) => !before.has(l));
      const after = new Set(lines);
      const removedLines = state.lastLines.filter((l) => !after.has(l));
      changes = {
        content_changed: added.length > 0 || removedLines.length > 0,
        content_delta: added.join("\n"),
        elements_added: Array.from(refs).filter((r) => !state.lastRefs.has(r)),
        elements_removed: Array.from(state.lastRefs).filter((r) => !refs.has(r)),
      };
    }
    state.lastLines = lines;
    state.lastRefs = refs;
    return {
      url: location.href, title: document.title, stable: document.readyState === "complete",
      markdown: text.slice(0, limit), markdown_total: text.length, elements, elements_total: total,
      forms, scroll: scrollState(), changes,
      map: opts.map ? pageMap() : [],
      links: opts.links ? Array.from(root.querySelectorAll("a[href]")).filter(visible)
        .map((a) => ({text: clip(textOf(a), 120), href: a.href})) : [],
    };
  }

  // ---- extraction -----------------------------------------------------------------------------

  function pick(el, what) {
    if (!el) return null;
    if (what === "text") return squash(el.innerText !== undefined ? el.innerText : el.textContent);
    if (what === "html") return el.innerHTML;
    if (what === "outer_html") return el.outerHTML;
    if (what === "value") return el.value !== undefined ? el.value : el.getAttribute("value");
    if (["href", "src", "action"].includes(what) && el[what] && typeof el[what] === "string")
      return el[what];  // resolved to an absolute URL
    return el.getAttribute(what);
  }

  function split(spec) {
    const at = spec.lastIndexOf(">>");
    if (at < 0) return [spec.trim(), "text"];
    return [spec.slice(0, at).trim(), spec.slice(at + 2).trim() || "text"];
  }

  function query(scope, selector, all) {
    try {
      if (!selector || selector === ":scope") return all ? [scope] : scope;
      return all ? Array.from(scope.querySelectorAll(selector)) : scope.querySelector(selector);
    } catch (err) {
      throw new Error(`invalid selector ${JSON.stringify(selector)}`);
    }
  }

  function extractValue(scope, spec, path) {
    if (typeof spec === "string") {
      const [sel, what] = split(spec);
      return pick(query(scope, sel, false), what);
    }
    if (Array.isArray(spec)) {
      if (spec.length !== 1) throw new Error(`${path}: a list holds exactly one item spec`);
      const item = spec[0];
      if (typeof item === "string") {
        const [sel, what] = split(item);
        return query(scope, sel, true).map((el) => pick(el, what));
      }
      if (item && typeof item === "object" && !Array.isArray(item)) {
        const parent = item._parent;
        if (typeof parent !== "string" || !parent)
          throw new Error(`${path}: a list of objects needs "_parent", a CSS selector`);
        let parents = query(scope, parent, true);
        if (item._limit !== undefined) {
          if (!Number.isInteger(item._limit) || item._limit < 0)
            throw new Error(`${path}._limit must be a non-negative integer`);
          parents = parents.slice(0, item._limit);
        }
        return parents.map((p) => extractObject(p, item, path + "[]"));
      }
      throw new Error(`${path}: a list holds a "selector >> attribute" string or an object`);
    }
    if (spec && typeof spec === "object") {
      if (typeof spec._parent === "string") {
        const el = query(scope, spec._parent, false);
        return el ? extractObject(el, spec, path) : null;
      }
      return extractObject(scope, spec, path);
    }
    throw new Error(`${path}: expected a string, a list or an object`);
  }

  function extractObject(scope, schema, path) {
    const out = {};
    for (const [key, spec] of Object.entries(schema)) {
      if (key.startsWith("_")) continue;
      out[key] = extractValue(scope, spec, path ? `${path}.${key}` : key);
    }
    return out;
  }

  function extract(opts) {
    try {
      return {data: extractObject(document, opts.schema, "")};
    } catch (err) {
      return {error: String(err.message || err)};
    }
  }

  // ---- blockers (cookie banners, newsletter pop-ups) ------------------------------------------

  const ACCEPT = /^(accept( all| all cookies| cookies)?|allow( all| all cookies| cookies)?|agree|i agree|got it|ok|okay|i understand|continue|consent|yes,? i agree|alle akzeptieren|akzeptieren|tout accepter|accepter|aceptar( todo)?)$/i;
  const CLOSE = /^(close|dismiss|no,? thanks|not now|maybe later|×|✕|x)$/i;
  const CONSENT_SEL = "#onetrust-banner-sdk, #CybotCookiebotDialog, .fc-consent-root, #usercentrics-root, " +
    ".qc-cmp2-container, #truste-consent-track, [id*=cookie i], [class*=cookie i], [id*=consent i], " +
    "[class*=consent i], [id*=gdpr i], [class*=gdpr i], [aria-label*=cookie i], [aria-label*=consent i]";
  const KNOWN_ACCEPT = "#onetrust-accept-btn-handler, #CybotCookiebotDialogBodyLevelButtonLevelOptinAllowAll, " +
    "#CybotCookiebotDialogBodyButtonAccept, .fc-cta-consent, #truste-consent-button, " +
    "[data-testid=uc-accept-all-button]";
  const MODAL_SEL = "dialog[open], [role=dialog], [aria-modal=true], [class*=modal i], [class*=popup i], " +
    "[class*=newsletter i], [id*=modal i], [id*=popup i], [id*=newsletter i]";

  function buttons(container) {
    return Array.from(container.querySelectorAll("button, a, [role=button], input[type=button], input[type=submit]"))
      .filter(visible);
  }

  // With defer, the clicks happen just after the answer is sent: a consent frame often removes
  // itself when accepted, and a frame that is gone cannot answer.
  function dismiss(opts) {
    const dismissed = [];
    const clicks = [];
    const handled = [];  // containers already dealt with (the clicks happen at the end)
    const known = document.querySelector(KNOWN_ACCEPT);
    if (known && visible(known)) {
      clicks.push(known);
      handled.push(known);
      dismissed.push("cookie_consent");
    } else {
      for (const box of document.querySelectorAll(CONSENT_SEL)) {
        if (!visible(box) || box === document.body) continue;
        const text = textOf(box).toLowerCase();
        if (!/cookie|consent|privacy|gdpr/.test(text)) continue;
        const button = buttons(box).find((b) => ACCEPT.test(label(b)));
        if (button) {
          clicks.push(button);
          handled.push(box);
          dismissed.push("cookie_consent");
          break;
        }
      }
    }
    for (const box of document.querySelectorAll(MODAL_SEL)) {
      if (!visible(box) || box === document.body) continue;
      if (handled.some((h) => h.contains(box) || box.contains(h))) continue;
      const style = getComputedStyle(box);
      if (style.position !== "fixed" && style.position !== "absolute" && box.tagName !== "DIALOG") continue;
      const button = buttons(box).find((b) => CLOSE.test(label(b)) ||
        /close|dismiss/i.test(b.getAttribute("aria-label") || ""));
      if (button) {
        clicks.push(button);
        handled.push(box);
        dismissed.push(/newsletter|subscribe/i.test(textOf(box)) ? "newsletter_popup" : "modal");
      }
    }
    const press = () => clicks.forEach((b) => b.click());
    if (opts && opts.defer) setTimeout(press, 0);
    else press();
    return dismissed;
  }

  function byRef(ref) {
    const weak = state.byRef.get(ref);
    const el = weak && weak.deref();
    return el && el.isConnected ? el : null;
  }

  // The main content as markdown, without touching the observation state (scroll_collect).
  const content = () => markdown(mainRoot(), false);

  const reader = {observe, extract, dismiss, byRef, content};
  Object.defineProperty(window, KEY, {value: reader, enumerable: false});
  return reader;
}
