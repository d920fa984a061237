/* Chorus: SMS segments, encoding and cost as staff type, on the consultation form.
 *
 * It counts exactly as app/sms/segments.py does (tests/test_console_consultations.py
 * runs both over the same worst-case strings in chromium):
 *   - GSM-7 when every character is in the GSM 03.38 basic or extension table, the
 *     extension characters costing two septets; 160 septets in one text, 153 per part
 *     of a longer one, an escape pair never split across parts;
 *   - otherwise UCS-2, counted in UTF-16 code units (a character outside the BMP, most
 *     emoji, is a surrogate pair costing two); 70 in one text, 67 per part, a pair
 *     never split.
 * The text counted is the one the summary broadcast sends a member of each language
 * (app/domain/broadcasts.py summary_bodies): "CODE: summary" then how to reply, with
 * the options of a choice. The server renders the "how to reply" lines of every kind
 * in every language into data-headers (the code as U+E000), so nothing here is
 * translated. Without JavaScript the "Check" button asks the server for the same.
 */
(function () {
  "use strict";

  var BASIC =
    "@£$¥èéùìòÇ\nØø\rÅå" +
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ" +
    " !\"#¤%&'()*+,-./" +
    "0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§" +
    "¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "^{}\\[~]|€\f";
  var GSM7_SINGLE = 160, GSM7_MULTI = 153, UCS2_SINGLE = 70, UCS2_MULTI = 67;
  var CODE_MARK = "\uE000";

  var basic = new Set(Array.from(BASIC));
  var extension = new Set(Array.from(EXTENSION));

  /* Python's str.isspace() characters: what str.strip() removes at either end. */
  var PY_SPACE = new Set(Array.from(
    "\t\n\u000b\u000c\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680" +
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" +
    "\u2028\u2029\u202f\u205f\u3000"
  ));

  /* Python's str.strip(). */
  function strip(text) {
    var chars = Array.from(text);
    var start = 0, end = chars.length;
    while (start < end && PY_SPACE.has(chars[start])) start++;
    while (end > start && PY_SPACE.has(chars[end - 1])) end--;
    return chars.slice(start, end).join("");
  }

  /* The count of app/sms/segments.py's count(), plus the characters (code points,
     as Python's len()). */
  function count(text) {
    var chars = Array.from(text); // code points, as a Python str holds them
    if (!chars.length) {
      return { encoding: "GSM-7", segments: 0, units: 0, perSegment: GSM7_SINGLE,
               remaining: GSM7_SINGLE, characters: 0 };
    }
    var gsm = chars.every(function (c) { return basic.has(c) || extension.has(c); });
    var weights = chars.map(function (c) {
      if (gsm) return extension.has(c) ? 2 : 1;
      return c.length; // UTF-16 code units: 2 for a surrogate pair, 1 otherwise
    });
    var units = weights.reduce(function (a, b) { return a + b; }, 0);
    var single = gsm ? GSM7_SINGLE : UCS2_SINGLE;
    var multi = gsm ? GSM7_MULTI : UCS2_MULTI;
    var encoding = gsm ? "GSM-7" : "UCS-2";
    if (units <= single) {
      return { encoding: encoding, segments: 1, units: units, perSegment: single,
               remaining: single - units, characters: chars.length };
    }
    if (units === chars.length) { // every character one unit: fixed-width parts
      var parts = Math.ceil(units / multi);
      return { encoding: encoding, segments: parts, units: units, perSegment: multi,
               remaining: parts * multi - units, characters: chars.length };
    }
    // Greedy packing: a pair (escape or surrogate) never splits across parts.
    var segments = 1, used = 0;
    weights.forEach(function (w) {
      if (used + w > multi) { segments++; used = w; } else { used += w; }
    });
    return { encoding: encoding, segments: segments, units: units, perSegment: multi,
             remaining: multi - used, characters: chars.length };
  }

  /* A decimal string ("0.04") as an integer and its scale (4, 2): exact money. */
  function decimal(text) {
    var parts = String(text || "0").split(".");
    var scale = parts.length > 1 ? parts[1].length : 0;
    return { units: parseInt(parts[0] + (parts[1] || ""), 10) || 0, scale: scale };
  }

  /* price x n as Python's Decimal writes it ("0.48"). */
  function times(price, n) {
    var value = String(price.units * n);
    if (!price.scale) return value;
    while (value.length <= price.scale) value = "0" + value;
    return value.slice(0, value.length - price.scale) + "." + value.slice(value.length - price.scale);
  }

  function money(amount, currency) {
    try {
      return new Intl.NumberFormat(document.documentElement.lang || undefined,
        { style: "currency", currency: currency }).format(Number(amount));
    } catch (e) {
      return amount + " " + currency;
    }
  }

  function firstWith(texts, order) {
    for (var i = 0; i < order.length; i++) if (texts[order[i]]) return order[i];
    return null;
  }

  /* What summary_bodies() sends a member of `lang`. */
  function smsText(lang, state) {
    var texts = state.summaries;
    var used = texts[lang] ? lang : texts[state.fallback] ? state.fallback
      : (firstWith(texts, state.languages) || state.fallback);
    var summary = texts[used] || texts[state.fallback] || texts[firstWith(texts, state.languages)] || "";
    var headers = state.headers[used] || state.headers[state.fallback];
    var text = state.code + ": " + summary + "\n" +
      (headers[state.kind] || headers.yes_no).split(CODE_MARK).join(state.code);
    if (state.kind === "choice") {
      state.options.forEach(function (labels, index) {
        var label = labels[used] || labels.en || labels[firstWith(labels, state.languages)] || "";
        text += "\n" + (index + 1) + " " + label;
      });
    }
    return text;
  }

  function wire(form) {
    var languages = form.dataset.languages.split(" ");
    var price = decimal(form.dataset.price);
    var currency = form.dataset.currency;
    var budget = parseInt(form.dataset.budget, 10);
    var blocks = {};
    languages.forEach(function (lang) {
      var block = form.querySelector('[data-figures="' + lang + '"]');
      if (block) blocks[lang] = block;
    });

    function out(block, name) { return block.querySelector('[data-out="' + name + '"]'); }

    function state() {
      var codeField = form.querySelector('input[name="code"]');
      var kindField = form.querySelector('input[name="kind"]:checked');
      var summaries = {}, headers = {}, options = [];
      languages.forEach(function (lang) {
        var field = form.querySelector('[data-summary="' + lang + '"]');
        var value = field ? strip(field.value) : "";
        if (value) summaries[lang] = value;
        if (blocks[lang]) headers[lang] = JSON.parse(blocks[lang].dataset.headers);
      });
      var rows = 0;
      languages.forEach(function (lang) {
        rows = Math.max(rows, form.querySelectorAll('[data-option="' + lang + '"]').length);
      });
      for (var index = 0; index < rows; index++) {
        var labels = {}, any = false;
        languages.forEach(function (lang) {
          var field = form.querySelectorAll('[data-option="' + lang + '"]')[index];
          var value = field ? strip(field.value) : "";
          if (value) { labels[lang] = value; any = true; }
        });
        if (any) options.push(labels);
      }
      return {
        code: codeField ? strip(codeField.value).toUpperCase() : form.dataset.code,
        kind: kindField ? kindField.value : "yes_no",
        summaries: summaries,
        headers: headers,
        options: options,
        languages: languages,
        fallback: form.dataset.defaultLanguage
      };
    }

    function update() {
      var now = state();
      var recipients = 0, segments = 0, over = false;
      languages.forEach(function (lang) {
        var block = blocks[lang];
        if (!block) return;
        var counted = count(smsText(lang, now));
        var members = parseInt(block.dataset.recipients, 10) || 0;
        var amount = times(price, counted.segments * members);
        out(block, "characters").textContent = counted.characters;
        out(block, "encoding").textContent = counted.encoding;
        out(block, "segments").textContent = counted.segments;
        var cost = out(block, "cost");
        if (cost.dataset.amount !== amount) {
          cost.dataset.amount = amount;
          cost.textContent = money(amount, currency);
        }
        out(block, "fallback").hidden = Boolean(now.summaries[lang]);
        out(block, "over").hidden = counted.segments <= budget;
        recipients += members;
        segments += counted.segments * members;
        if (members && counted.segments > budget) over = true;
      });
      var total = form.querySelector('[data-total="cost"]');
      if (total) {
        form.querySelector('[data-total="recipients"]').textContent = recipients;
        form.querySelector('[data-total="segments"]').textContent = segments;
        var amount = times(price, segments);
        if (total.dataset.amount !== amount) {
          total.dataset.amount = amount;
          total.textContent = money(amount, currency);
        }
        form.querySelector('[data-total="over"]').hidden = !over;
      }
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
  }

  window.ChorusSegments = { count: count, strip: strip, smsText: smsText };

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-segment-form]"), wire);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
