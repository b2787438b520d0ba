// The page side of Observe, Extract, Locate's candidates and blocker dismissal. Evaluated by node/page_reader.py as
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

  function label(el, known) {
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
      const text = known !== undefined ? known : textOf(el);
      if (text) return text;
      const img = el.querySelector("img[alt]");
      if (img && img.alt.trim()) return squash(img.alt);
      // An icon-only control named by its svg's <title> (the accessible name a screen reader says).
      const svgTitle = el.querySelector("svg title");
      if (svgTitle && svgTitle.textContent.trim()) return squash(svgTitle.textContent);
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

  function describe(el, viewport, known) {
    const r = el.getBoundingClientRect();
    const tag = el.tagName.toLowerCase();
    const item = {
      ref: refOf(el), tag, role: role(el), label: clip(label(el, known), 120), value: value(el),
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

  // ---- candidates for Locate ------------------------------------------------------------------
  // Each element a description may name, with what a person sees around it: the row, card or
  // list item it sits in, the nearest heading, the fieldset legend or group label, the
  // landmarks above it. One walk of the document; contexts shared by siblings are read once.

  const EXTRA = "img[alt], [title], [aria-haspopup], [data-tooltip]";
  const CONTAINERS = new Set(["TR", "LI", "ARTICLE", "DD", "FIGURE"]);
  // A grid's cell is too small to say which row it is: the row is the container.
  const CONTAINER_ROLES = new Set(["row", "listitem", "article", "option", "treeitem"]);
  const LANDMARK_TAGS = {HEADER: "header", NAV: "nav", MAIN: "main", FOOTER: "footer",
                         ASIDE: "aside", DIALOG: "dialog", FORM: "form"};
  const LANDMARK_ROLES = {banner: "header", navigation: "nav", main: "main", contentinfo: "footer",
                          complementary: "aside", dialog: "dialog", alertdialog: "dialog",
                          search: "search", toolbar: "toolbar", region: "region",
                          tablist: "tabs", menu: "menu", menubar: "menu"};
  const HINT_WORDS = /cookie|consent|banner|modal|popup|dialog|toast|sidebar|drawer|toolbar|newsletter|hero|pagination|breadcrumb/i;
  const ICON_CLASS = /(?:^|[\s_-])(?:fa|bi|icon|ico|glyph|material-icons|mdi|ti|lucide)[-_]?([a-z][a-z-]*)/gi;

  const up = (el) => el.parentElement || (el.getRootNode && el.getRootNode().host) || null;
  const nameOf = (el) => {
    const aria = el.getAttribute("aria-label");
    if (aria && aria.trim()) return squash(aria);
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const root = el.getRootNode();
      const text = by.split(/\s+/).map((id) => (root.getElementById ? root.getElementById(id) : null) ||
        document.getElementById(id)).filter(Boolean).map((n) => squash(n.textContent)).join(" ");
      if (text) return text;
    }
    return "";
  };

  function hintsOf(el) {
    const out = [];
    for (const attr of ["id", "name", "data-testid", "data-test", "data-qa", "data-cy", "data-action"]) {
      const v = el.getAttribute(attr);
      if (v) out.push(v);
    }
    const cls = typeof el.className === "string" ? el.className : "";
    for (const scope of [el, ...el.querySelectorAll("i, span, svg, use")].slice(0, 6)) {
      const c = typeof scope.className === "string" ? scope.className :
        (scope.className && scope.className.baseVal) || "";
      for (const m of c.matchAll(ICON_CLASS)) out.push(m[1]);
      if (scope.tagName === "use") out.push((scope.getAttribute("href") || scope.getAttribute("xlink:href") || "").replace(/^.*#/, ""));
    }
    if (el.tagName === "A" && (el.hasAttribute("download") ||
        /\.(pdf|zip|csv|docx?|xlsx?|pptx?|txt|png|jpe?g|gif|mp4|mp3)(\?|#|$)/i.test(el.getAttribute("href") || "")))
      out.push("download file attachment");
    const svgTitle = el.querySelector("svg title");
    if (svgTitle) out.push(squash(svgTitle.textContent));
    if (/\bbtn-(?:close|primary|danger)\b/.test(cls)) out.push(cls.match(/\bbtn-(close|primary|danger)\b/)[1]);
    return clip(out.join(" "), 160);
  }

  const NOT_ITEMS = /^(FORM|FIELDSET|BODY|MAIN|SECTION|NAV|HEADER|FOOTER|ASIDE|DIALOG|TABLE|TBODY|UL|OL)$/;

  function containerOf(el, ownText, contextOnce) {
    let node = up(el);
    for (let depth = 0; node && depth < 8 && node !== document.body; depth++, node = up(node)) {
      const r = node.getAttribute && node.getAttribute("role");
      if (CONTAINERS.has(node.tagName) || (r && CONTAINER_ROLES.has(r))) return node;
      // A repeated item: a sibling with the same tag and class (a product card, a result).
      const cls = typeof node.className === "string" ? node.className : "";
      if (cls && depth < 5) {
        const p = node.previousElementSibling, n = node.nextElementSibling;
        if ((p && p.tagName === node.tagName && p.className === cls) ||
            (n && n.tagName === node.tagName && n.className === cls)) return node;
      }
    }
    // Otherwise a small block around it (a shadow root's content included) that says more
    // than the element itself.
    node = up(el);
    for (let depth = 0; node && depth < 3; depth++, node = up(node)) {
      if (NOT_ITEMS.test(node.tagName) || (node.getAttribute && node.getAttribute("role"))) break;
      const text = contextOnce(node);
      if (text.length > 200) break;
      if (text.length > 3 && text !== ownText) return node;
    }
    return null;
  }

  function landmarksOf(el) {
    const out = [];
    for (let node = up(el); node && node !== document.body; node = up(node)) {
      if (!node.getAttribute) continue;
      const r = node.getAttribute("role");
      let kind = (r && LANDMARK_ROLES[r]) || LANDMARK_TAGS[node.tagName] || "";
      if (!kind && (node.getAttribute("aria-modal") === "true")) kind = "dialog";
      if (!kind) {
        const idc = (node.id || "") + " " + (typeof node.className === "string" ? node.className : "");
        const m = idc.match(HINT_WORDS);
        if (m) kind = m[0].toLowerCase();
      }
      if (!kind) continue;
      const named = nameOf(node);
      let heading = "";
      if (kind === "dialog" || kind === "region" || kind === "aside") {
        const h = node.querySelector("h1, h2, h3, legend");
        if (h) heading = squash(h.textContent);
      }
      out.push([kind, named, heading].filter(Boolean).join(" "));
      if (out.length >= 4) break;
    }
    return clip(out.join(" | "), 160);
  }

  function groupOf(el) {
    const out = [];
    for (let node = up(el), depth = 0; node && node !== document.body && depth < 6; node = up(node), depth++) {
      if (node.tagName === "FIELDSET") {
        const legend = node.querySelector("legend");
        if (legend) out.push(squash(legend.textContent));
        break;
      }
      const r = node.getAttribute && node.getAttribute("role");
      if (r === "group" || r === "radiogroup" || r === "tablist" || r === "toolbar") {
        const n = nameOf(node);
        if (n) out.push(n);
        break;
      }
    }
    return clip(out.join(" "), 80);
  }

  // The nearest heading before the element inside the same section-like ancestor.
  function headingIndex() {
    const hs = Array.from(document.querySelectorAll("h1, h2, h3, h4, h5, h6, [role=heading], caption"));
    return hs.filter(visible);
  }

  function sectionOf(node) {
    for (let n = node.parentElement; n; n = n.parentElement)
      if (/^(SECTION|ARTICLE|ASIDE|NAV|HEADER|FOOTER|MAIN|DIALOG|FORM|FIELDSET|BODY)$/.test(n.tagName)) return n;
    return document.body;
  }

  function headingOf(el, hs) {
    // Elements in shadow roots are placed by their outermost host.
    let anchor = el;
    while (anchor.getRootNode && anchor.getRootNode() !== document && anchor.getRootNode().host)
      anchor = anchor.getRootNode().host;
    let lo = 0, hi = hs.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const pos = hs[mid].compareDocumentPosition(anchor);
      if (pos & Node.DOCUMENT_POSITION_FOLLOWING || pos & Node.DOCUMENT_POSITION_CONTAINED_BY) {
        found = mid; lo = mid + 1;
      } else hi = mid - 1;
    }
    for (let i = found; i >= 0 && i > found - 3; i--) {
      const h = hs[i];
      if (h.contains(anchor)) continue;
      if (sectionOf(h).contains(anchor)) return clip(squash(h.textContent), 80);
    }
    return "";
  }

  function imagesOf(el) {
    const alts = [];
    for (const img of el.querySelectorAll("img[alt]")) {
      if (img.alt.trim()) alts.push(squash(img.alt));
      if (alts.length >= 2) break;
    }
    return alts.join(" ");
  }

  function scrollables(root) {
    const out = [];
    for (const el of root.querySelectorAll("div, section, ul, ol, main, aside, nav, article, pre, table, tbody")) {
      if (el.scrollHeight <= el.clientHeight + 4 && el.scrollWidth <= el.clientWidth + 4) continue;
      const o = getComputedStyle(el);
      if (/(auto|scroll)/.test(o.overflowY + o.overflowX)) out.push(el);
      if (out.length >= 50) break;
    }
    return out;
  }

  // What a row or card says about its items: its text and image alts, without the labels of
  // the controls in it (the row's other buttons say nothing about which row it is).
  // Controls and popups (a card's open menu) are not what the card is about.
  const QUIET_ROLES = new Set(["button", "switch", "checkbox", "tab", "menu", "menuitem", "menuitemcheckbox",
                               "menuitemradio", "listbox", "option", "slider", "textbox", "searchbox", "combobox"]);
  const QUIET = new Set(["BUTTON", "SELECT", "TEXTAREA", "INPUT", "SCRIPT", "STYLE", "TEMPLATE", "SVG", "NOSCRIPT"]);
  function contextText(node) {
    const parts = [];
    let size = 0;
    const walk = (n) => {
      for (let c = n.firstChild; c && size < 400; c = c.nextSibling) {
        if (c.nodeType === 3) {
          parts.push(c.nodeValue);
          size += c.nodeValue.length;
        } else if (c.nodeType === 1) {
          if (QUIET.has(c.tagName.toUpperCase())) continue;
          const r = c.getAttribute("role");
          if (r && QUIET_ROLES.has(r)) continue;
          if (c.tagName === "IMG") {
            if (c.alt) parts.push(" " + c.alt + " ");
            continue;
          }
          walk(c.shadowRoot || c);
          parts.push(" ");
        }
      }
    };
    walk(node.shadowRoot || node);
    return squash(parts.join(""));
  }

  function candidateInfo(el, viewport, hs, containerText) {
    const tag = el.tagName;
    const field = tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
    const ownText = field ? "" : textOf(el);  // read once: innerText lays out
    const item = describe(el, viewport, field ? undefined : ownText);
    const contextOnce = (node) => {
      let text = containerText.get(node);
      if (text === undefined) {
        text = contextText(node);
        containerText.set(node, text);
      }
      return text;
    };
    const container = containerOf(el, field ? squash(el.value || "") : ownText, contextOnce);
    const own = {
      aria: clip(nameOf(el), 120), title: clip(squash(el.getAttribute("title") || ""), 120),
      placeholder: clip(squash(el.getAttribute("placeholder") || ""), 120), text: clip(ownText, 120),
      alt: imagesOf(el), hints: hintsOf(el),
      value: tag === "INPUT" && ["submit", "button", "reset"].includes(el.type) ? squash(el.value) : "",
      pressed: el.getAttribute("aria-pressed") || "", expanded: el.getAttribute("aria-expanded") || "",
      popup: el.getAttribute("aria-haspopup") || "",
      selected: el.getAttribute("aria-selected") === "true" || el.getAttribute("aria-current") === "page",
      checked_state: el.getAttribute("aria-checked") || "",
    };
    // Only what is there crosses (a big page has hundreds of these).
    item.own = {};
    for (const key in own) if (own[key]) item.own[key] = own[key];
    const context = {container: container ? clip(contextOnce(container), 200) : "",
                     heading: headingOf(el, hs), group: groupOf(el), landmark: landmarksOf(el),
                     item: container ? container.tagName + "." +
                       (typeof container.className === "string" ? container.className : "") : ""};
    item.context = {};
    for (const key in context) if (context[key]) item.context[key] = context[key];
    if (own.checked_state === "true") item.checked = true;
    const control = stoodFor(el);
    if (control) Object.assign(item, {role: role(control), type: control.type, checked: !!control.checked,
                                      disabled: !!control.disabled, name: control.getAttribute("name") || ""});
    if (el.getRootNode() !== document) item.path = deepPath(el);
    return item;
  }

  // A path that finds the element again through open shadow roots: one CSS path per root.
  function deepPath(el) {
    const parts = [];
    for (let node = el; node; ) {
      parts.unshift(cssPathIn(node));
      const root = node.getRootNode();
      node = root !== document && root.host ? root.host : null;
    }
    return parts;
  }

  function cssPathIn(el) {
    const root = el.getRootNode();
    if (root === document) return cssPath(el);
    if (el.id && root.getElementById && root.getElementById(el.id) === el) return "#" + CSS.escape(el.id);
    const parts = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      let part = node.tagName.toLowerCase(), index = 1, alone = true;
      for (let s = node.previousElementSibling; s; s = s.previousElementSibling) if (s.tagName === node.tagName) index++;
      for (let s = node.nextElementSibling; alone && s; s = s.nextElementSibling) if (s.tagName === node.tagName) alone = false;
      if (!alone || index > 1) part += `:nth-of-type(${index})`;
      parts.unshift(part);
    }
    return ":host > " + parts.join(" > ");
  }

  function findPath(path) {
    let scope = document, el = null;
    for (const part of path) {
      try {
        el = part.startsWith(":host > ") ? scope.querySelector(":scope > " + part.slice(8)) : scope.querySelector(part);
      } catch (err) {
        return null;
      }
      if (!el) return null;
      scope = el.shadowRoot || el;
    }
    return el;
  }

  function standIn(el) {
    if (el.tagName !== "INPUT" || !["checkbox", "radio"].includes(el.type) || !el.labels) return null;
    return Array.from(el.labels).find(visible) || null;
  }

  // The hidden control a visible label stands in for, if it does.
  function stoodFor(el) {
    const control = el.tagName === "LABEL" ? el.control : null;
    return control && ["checkbox", "radio"].includes(control.type) && !visible(control) ? control : null;
  }

  function candidates(opts) {
    const viewport = {w: window.innerWidth, h: window.innerHeight};
    let els = interactive(document);
    const scrolling = new Set();
    if (opts.extra) {
      const seen = new Set(els);
      const more = [];
      const walk = (scope) => {
        for (const el of scope.querySelectorAll(EXTRA)) if (!seen.has(el)) { seen.add(el); more.push(el); }
        if (opts.scroll) for (const el of scrollables(scope)) {
          scrolling.add(el);
          if (!seen.has(el)) { seen.add(el); more.push(el); }
        }
        for (const host of scope.querySelectorAll("*")) if (host.shadowRoot) walk(host.shadowRoot);
      };
      walk(document);
      els = els.concat(more);
    }
    const hs = headingIndex();
    const containerText = new Map();
    const out = [];
    for (const el of els) {
      if (!visible(el)) {
        // A styled switch or radio hides its input and shows its label: the label stands in.
        const proxy = standIn(el);
        if (proxy) out.push(candidateInfo(proxy, viewport, hs, containerText));
        continue;
      }
      const info = candidateInfo(el, viewport, hs, containerText);
      if (scrolling.has(el)) info.scrollable = true;
      out.push(info);
      if (out.length >= (opts.limit || 3000)) break;
    }
    const frames = Array.from(document.querySelectorAll("iframe, frame")).map((f) => ({
      src: f.src || "", name: f.name || "", title: squash(f.title || f.getAttribute("aria-label") || "")}));
    return {url: location.href, elements: out, frames, viewport};
  }

  // A remembered element, if it is still where it was and still looks the same.
  function recall(opts) {
    const el = findPath(opts.path || []);
    if (!el || !visible(el)) return {element: null};
    const viewport = {w: window.innerWidth, h: window.innerHeight};
    return {element: candidateInfo(el, viewport, headingIndex(), new Map())};
  }

  function byRef(ref) {
    const weak = state.byRef.get(ref);
    const el = weak && weak.deref();
    return el && el.isConnected ? el : null;
  }

  // The main content as markdown, without touching the observation state (scroll_collect).
  const content = () => markdown(mainRoot(), false);

  const reader = {observe, extract, dismiss, byRef, content, candidates, recall};
  Object.defineProperty(window, KEY, {value: reader, enumerable: false});
  return reader;
}
