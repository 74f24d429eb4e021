// order-totals in JavaScript: Eddy's reference reducer (plugins/order-totals, Rust), rule for
// rule, implementing the per-event world `eddy:plugin/reducer`. Built into a component by
// componentize-js (see build.sh). Its `eddy replay` output is byte-identical to the Rust
// version's on the same events (tests/languages.rs).
//
// Two things the obvious JavaScript would get wrong:
//
// - Numbers. The rules are i64 arithmetic with overflow checks, and amounts near 2^63 must
//   survive; a JS number is a double (exact only up to 2^53). So every integer is a BigInt,
//   parsed from the JSON text by hand and printed by hand (JSON.parse/JSON.stringify cannot).
// - Data validation. The Rust version accepts exactly what serde_json accepts for its structs;
//   JSON.parse is both more lenient (`2.0` or `1e3` would pass as an integer, duplicate keys
//   are fine) and less (unknown fields may hold strings that are not valid UTF-8 for
//   serde_json but not for us). `parseData` below is a byte-level reading of the same rules.
//
// State (JSON), before the first event:
// {"customer": null, "status": "none", "items": {}, "total_cents": 0, "paid_cents": 0, "ignored": 0}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** Thrown when an event is ignored: disallowed, malformed or overflowing. */
const IGNORED = Symbol('ignored');

// ---- the world's exports ---------------------------------------------------------------

/** The state of an order before its first event. */
export function init() {
  return encodeState(newOrder());
}

/** The state after `event`. Bad events are counted in the state, never errors. */
export function applyEvent(state, event) {
  let order;
  try {
    order = decodeState(state);
  } catch (e) {
    throw { tag: 'reject', val: `cannot decode the state: ${e}` };
  }
  apply(order, event.type, event.data);
  return encodeState(order);
}

// ---- the rules (plugins/order-totals/src/rules.rs) -------------------------------------

function newOrder() {
  return {
    customer: null,
    status: 'none',
    items: new Map(), // sku -> {qty, unit_cents}: a Map, so that a sku `__proto__` is a sku
    total_cents: 0n,
    paid_cents: 0n,
    ignored: 0n,
  };
}

function apply(order, type, data) {
  const rule = RULES[type];
  if (rule === undefined || !Object.hasOwn(RULES, type)) return;
  try {
    rule(order, data);
  } catch (e) {
    if (e !== IGNORED) throw e;
    if (order.ignored < I64_MAX) order.ignored += 1n;
  }
}

const RULES = {
  'order.created'(order, data) {
    const { customer } = parseData(data, { customer: 'string' });
    require(order.status === 'none');
    order.customer = customer;
    order.status = 'open';
  },
  'order.item_added'(order, data) {
    const { sku, qty, unit_cents } = parseData(data, { sku: 'string', qty: 'i64', unit_cents: 'i64' });
    require(qty > 0n && unit_cents >= 0n);
    require(order.status === 'open');
    const old = order.items.get(sku);
    const line = { qty: checked((old ? old.qty : 0n) + qty), unit_cents };
    const total = totalWith(order.items, sku, line);
    order.items.set(sku, line);
    order.total_cents = total;
  },
  'order.item_removed'(order, data) {
    const { sku, qty } = parseData(data, { sku: 'string', qty: 'i64' });
    require(qty > 0n);
    require(order.status === 'open');
    const old = order.items.get(sku);
    require(old !== undefined);
    const left = old.qty - qty;
    const line = left > 0n ? { qty: left, unit_cents: old.unit_cents } : null;
    const total = totalWith(order.items, sku, line);
    if (line) order.items.set(sku, line);
    else order.items.delete(sku);
    order.total_cents = total;
  },
  'order.paid'(order, data) {
    const { amount_cents } = parseData(data, { amount_cents: 'i64' });
    require(amount_cents > 0n);
    require(order.status === 'open' || order.status === 'paid');
    order.paid_cents = checked(order.paid_cents + amount_cents);
    if (order.paid_cents >= order.total_cents) order.status = 'paid';
  },
  'order.shipped'(order) {
    require(order.status === 'paid');
    order.status = 'shipped';
  },
  'order.cancelled'(order) {
    require(order.status === 'open' || order.status === 'paid');
    order.status = 'cancelled';
  },
};

function require(condition) {
  if (!condition) throw IGNORED;
}

/** `value` if it fits an i64, else the event is ignored (Rust's checked arithmetic). */
function checked(value) {
  require(value >= I64_MIN && value <= I64_MAX);
  return value;
}

/** Σ qty × unit_cents over `items` with the line of `sku` replaced by `line` (null: removed). */
function totalWith(items, sku, line) {
  let total = 0n;
  for (const [key, item] of items) {
    if (key !== sku) total = checked(total + checked(item.qty * item.unit_cents));
  }
  if (line) total = checked(total + checked(line.qty * line.unit_cents));
  return total;
}

// ---- event data: what serde_json accepts for `#[derive(Deserialize)] struct {…}` ---------
//
// The object's keys are strings (valid UTF-8, escapes decoded, no lone surrogates); a field of
// the struct must appear once, be of its type (`string`: a JSON string; `i64`: an integer
// literal — no fraction, no exponent, not `-0` — within i64) and not be null; unknown fields
// may hold any well-formed JSON value (their strings are not checked for UTF-8 or
// surrogates, as serde_json skips them); only JSON whitespace may follow the object.

function parseData(data, fields) {
  if (data === undefined || data === null) throw IGNORED;
  const p = new Parser(data);
  p.ws();
  require(p.peek() === 0x7b); // `{`: serde would also accept an array for a struct
  p.pos++;
  const out = {};
  p.ws();
  if (p.peek() === 0x7d) {
    p.pos++;
  } else {
    for (;;) {
      p.ws();
      require(p.peek() === 0x22);
      p.pos++;
      const key = p.string(true);
      p.ws();
      require(p.peek() === 0x3a);
      p.pos++;
      p.ws();
      const type = Object.hasOwn(fields, key) ? fields[key] : undefined;
      if (type === undefined) {
        p.skipValue();
      } else {
        require(!Object.hasOwn(out, key)); // serde: duplicate field
        out[key] = type === 'string' ? p.stringValue() : p.i64Value();
      }
      p.ws();
      const c = p.next();
      if (c === 0x7d) break;
      require(c === 0x2c);
    }
  }
  p.ws();
  require(p.pos === p.bytes.length); // serde_json: trailing characters
  for (const key of Object.keys(fields)) require(Object.hasOwn(out, key)); // missing field
  return out;
}

class Parser {
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
  }

  peek() {
    return this.pos < this.bytes.length ? this.bytes[this.pos] : -1;
  }

  next() {
    require(this.pos < this.bytes.length);
    return this.bytes[this.pos++];
  }

  ws() {
    for (;;) {
      const c = this.peek();
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else return;
    }
  }

  stringValue() {
    require(this.next() === 0x22);
    return this.string(true);
  }

  /**
   * The rest of a string after its opening quote. `validate`: decoded as serde_json decodes a
   * `String` (UTF-8 and surrogates checked); otherwise only skipped, as serde_json skips.
   */
  string(validate) {
    const units = validate ? [] : null;
    let start = this.pos;
    for (;;) {
      const c = this.next();
      if (c === 0x22) {
        if (validate) appendUtf8(units, this.bytes, start, this.pos - 1);
        return validate ? units.join('') : null;
      }
      require(c >= 0x20); // a control character inside a string
      if (c !== 0x5c) continue;
      if (validate) appendUtf8(units, this.bytes, start, this.pos - 1);
      const e = this.next();
      const simple = { 0x22: '"', 0x5c: '\\', 0x2f: '/', 0x62: '\b', 0x66: '\f', 0x6e: '\n', 0x72: '\r', 0x74: '\t' };
      if (Object.hasOwn(simple, e)) {
        if (validate) units.push(simple[e]);
      } else {
        require(e === 0x75); // `\u`
        const n = this.hex4();
        if (validate) {
          require(n < 0xdc00 || n > 0xdfff); // a trailing surrogate alone
          if (n >= 0xd800 && n <= 0xdbff) {
            require(this.next() === 0x5c && this.next() === 0x75);
            const n2 = this.hex4();
            require(n2 >= 0xdc00 && n2 <= 0xdfff);
            units.push(String.fromCharCode(n, n2));
          } else {
            units.push(String.fromCharCode(n));
          }
        }
      }
      start = this.pos;
    }
  }

  hex4() {
    require(this.pos + 4 <= this.bytes.length);
    let n = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.bytes[this.pos++];
      let d;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      else throw IGNORED;
      n = n * 16 + d;
    }
    return n;
  }

  /** A JSON number's text; `{integer}` tells whether it has neither fraction nor exponent. */
  number() {
    const start = this.pos;
    if (this.peek() === 0x2d) this.pos++;
    const first = this.next();
    require(first >= 0x30 && first <= 0x39);
    if (first === 0x30) {
      const c = this.peek();
      require(!(c >= 0x30 && c <= 0x39)); // one leading zero only
    } else {
      while (isDigit(this.peek())) this.pos++;
    }
    let integer = true;
    if (this.peek() === 0x2e) {
      integer = false;
      this.pos++;
      require(isDigit(this.next()));
      while (isDigit(this.peek())) this.pos++;
    }
    if (this.peek() === 0x65 || this.peek() === 0x45) {
      integer = false;
      this.pos++;
      if (this.peek() === 0x2b || this.peek() === 0x2d) this.pos++;
      require(isDigit(this.next()));
      while (isDigit(this.peek())) this.pos++;
    }
    let text = '';
    for (let i = start; i < this.pos; i++) text += String.fromCharCode(this.bytes[i]);
    return { text, integer };
  }

  i64Value() {
    const c = this.peek();
    require(c === 0x2d || isDigit(c));
    const { text, integer } = this.number();
    // serde_json reads `-0` as the float -0.0, which an i64 field refuses.
    require(integer && text !== '-0');
    const value = BigInt(text);
    require(value >= I64_MIN && value <= I64_MAX);
    return value;
  }

  /** Skips one well-formed JSON value, iteratively (serde_json has no depth limit here). */
  skipValue() {
    const stack = [];
    for (;;) {
      this.ws();
      const c = this.peek();
      let opened = false;
      if (c === 0x7b || c === 0x5b) {
        this.pos++;
        stack.push(c);
        opened = true;
      } else if (c === 0x22) {
        this.pos++;
        this.string(false);
      } else if (c === 0x2d || isDigit(c)) {
        this.number();
      } else if (c === 0x6e) {
        this.literal('null');
      } else if (c === 0x74) {
        this.literal('true');
      } else if (c === 0x66) {
        this.literal('false');
      } else {
        throw IGNORED;
      }
      // After a value (or an opening bracket): close brackets, or find where the next value is.
      let first = opened;
      for (;;) {
        if (stack.length === 0) return;
        const frame = stack[stack.length - 1];
        this.ws();
        const d = this.peek();
        if ((d === 0x5d && frame === 0x5b) || (d === 0x7d && frame === 0x7b)) {
          this.pos++;
          stack.pop();
          first = false;
          continue;
        }
        if (!first) {
          require(d === 0x2c);
          this.pos++;
        }
        if (frame === 0x7b) {
          this.ws();
          require(this.next() === 0x22);
          this.string(false); // inside a skipped value, keys are skipped too
          this.ws();
          require(this.next() === 0x3a);
        }
        break;
      }
    }
  }

  literal(word) {
    for (let i = 0; i < word.length; i++) require(this.next() === word.charCodeAt(i));
  }
}

function isDigit(c) {
  return c >= 0x30 && c <= 0x39;
}

/** Appends bytes[start..end) as a string, if they are valid UTF-8 (as Rust's `str` is). */
function appendUtf8(units, bytes, start, end) {
  let i = start;
  let s = '';
  while (i < end) {
    const b = bytes[i];
    let cp;
    let need;
    if (b < 0x80) {
      s += String.fromCharCode(b);
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      cp = b & 0x1f;
      need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      cp = b & 0x0f;
      need = 2;
    } else if (b >= 0xf0 && b <= 0xf4) {
      cp = b & 0x07;
      need = 3;
    } else {
      throw IGNORED;
    }
    require(i + need < end);
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      require(c >= 0x80 && c <= 0xbf);
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    require(!(need === 2 && cp < 0x800) && !(need === 3 && cp < 0x10000));
    require(!(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff);
    s += String.fromCodePoint(cp);
    i += need + 1;
  }
  units.push(s);
}

// ---- the state: JSON with integers as BigInt --------------------------------------------

function encodeState(order) {
  let items = '';
  for (const [sku, item] of order.items) {
    if (items) items += ',';
    items += `${JSON.stringify(sku)}:{"qty":${item.qty},"unit_cents":${item.unit_cents}}`;
  }
  const customer = order.customer === null ? 'null' : JSON.stringify(order.customer);
  const text =
    `{"customer":${customer},"status":${JSON.stringify(order.status)},"items":{${items}},` +
    `"total_cents":${order.total_cents},"paid_cents":${order.paid_cents},"ignored":${order.ignored}}`;
  return ENCODER.encode(text);
}

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/**
 * The state this module encoded. JSON.parse would round integers past 2^53, so every integer
 * token is quoted first (one regular-expression pass that steps over strings whole) and read
 * back as a BigInt.
 */
function decodeState(bytes) {
  const quoted = DECODER.decode(bytes).replace(/"(?:[^"\\]|\\.)*"|-?\d+/g, (token) =>
    token[0] === '"' ? token : `"${token}"`,
  );
  const value = JSON.parse(quoted);
  const order = newOrder();
  order.customer = value.customer;
  order.status = value.status;
  for (const [sku, item] of Object.entries(value.items)) {
    order.items.set(sku, { qty: BigInt(item.qty), unit_cents: BigInt(item.unit_cents) });
  }
  order.total_cents = BigInt(value.total_cents);
  order.paid_cents = BigInt(value.paid_cents);
  order.ignored = BigInt(value.ignored);
  return order;
}
