"""order-totals in Python: Eddy's reference reducer (plugins/order-totals, Rust), rule for rule.

Implements the per-event world `eddy:plugin/reducer`; built into a component by componentize-py
(see build.sh). Its `eddy replay` output is byte-identical to the Rust version's on the same
events (tests/languages.rs).

Two things the obvious Python would get wrong:

- Numbers. Python ints never overflow, but the rules are i64 arithmetic in which an overflow
  ignores the event: every sum and product is checked against the i64 range explicitly.
- Data validation. The Rust version accepts exactly what serde_json accepts for its structs;
  `json.loads` differs (`-0` is an int for it and a float for serde_json, it accepts `NaN`,
  lone surrogates and duplicate keys, and recurses where serde_json skips). `parse_data` below
  is a byte-level reading of serde_json's rules.

State (JSON), before the first event:
{"customer": null, "status": "none", "items": {}, "total_cents": 0, "paid_cents": 0, "ignored": 0}
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports.types import Error_Reject

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


class Ignored(Exception):
    """An event that is ignored: disallowed, malformed or overflowing."""


class WitWorld(wit_world.WitWorld):
    def init(self) -> bytes:
        return encode_state(new_order())

    def apply_event(self, state: bytes, event) -> bytes:
        try:
            order = json.loads(state)
        except ValueError as e:
            raise Err(Error_Reject(f"cannot decode the state: {e}"))
        apply(order, event.type, event.data)
        return encode_state(order)


# ---- the rules (plugins/order-totals/src/rules.rs) --------------------------------------


def new_order():
    return {
        "customer": None,
        "status": "none",
        "items": {},
        "total_cents": 0,
        "paid_cents": 0,
        "ignored": 0,
    }


def encode_state(order) -> bytes:
    return json.dumps(order, separators=(",", ":")).encode()


def apply(order, type_, data):
    rule = RULES.get(type_)
    if rule is None:
        return
    try:
        rule(order, data)
    except Ignored:
        if order["ignored"] < I64_MAX:
            order["ignored"] += 1


def require(condition):
    if not condition:
        raise Ignored


def checked(value):
    """`value` if it fits an i64, else the event is ignored (Rust's checked arithmetic)."""
    require(I64_MIN <= value <= I64_MAX)
    return value


def total_with(items, sku, line):
    """Σ qty × unit_cents over `items` with the line of `sku` replaced by `line` (None: removed)."""
    total = 0
    for key, item in items.items():
        if key != sku:
            total = checked(total + checked(item["qty"] * item["unit_cents"]))
    if line is not None:
        total = checked(total + checked(line["qty"] * line["unit_cents"]))
    return total


def created(order, data):
    fields = parse_data(data, {"customer": "string"})
    require(order["status"] == "none")
    order["customer"] = fields["customer"]
    order["status"] = "open"


def item_added(order, data):
    fields = parse_data(data, {"sku": "string", "qty": "i64", "unit_cents": "i64"})
    sku, qty, unit_cents = fields["sku"], fields["qty"], fields["unit_cents"]
    require(qty > 0 and unit_cents >= 0)
    require(order["status"] == "open")
    old = order["items"].get(sku)
    line = {"qty": checked((old["qty"] if old else 0) + qty), "unit_cents": unit_cents}
    total = total_with(order["items"], sku, line)
    order["items"][sku] = line
    order["total_cents"] = total


def item_removed(order, data):
    fields = parse_data(data, {"sku": "string", "qty": "i64"})
    sku, qty = fields["sku"], fields["qty"]
    require(qty > 0)
    require(order["status"] == "open")
    old = order["items"].get(sku)
    require(old is not None)
    left = old["qty"] - qty
    line = {"qty": left, "unit_cents": old["unit_cents"]} if left > 0 else None
    total = total_with(order["items"], sku, line)
    if line is not None:
        order["items"][sku] = line
    else:
        del order["items"][sku]
    order["total_cents"] = total


def paid(order, data):
    amount = parse_data(data, {"amount_cents": "i64"})["amount_cents"]
    require(amount > 0)
    require(order["status"] in ("open", "paid"))
    order["paid_cents"] = checked(order["paid_cents"] + amount)
    if order["paid_cents"] >= order["total_cents"]:
        order["status"] = "paid"


def shipped(order, _data):
    require(order["status"] == "paid")
    order["status"] = "shipped"


def cancelled(order, _data):
    require(order["status"] in ("open", "paid"))
    order["status"] = "cancelled"


RULES = {
    "order.created": created,
    "order.item_added": item_added,
    "order.item_removed": item_removed,
    "order.paid": paid,
    "order.shipped": shipped,
    "order.cancelled": cancelled,
}


# ---- event data: what serde_json accepts for `#[derive(Deserialize)] struct {…}` ----------
#
# The object's keys are strings (valid UTF-8, escapes decoded, no lone surrogates); a field of
# the struct must appear once, be of its type (`string`: a JSON string; `i64`: an integer
# literal — no fraction, no exponent, not `-0` — within i64) and not be null; unknown fields may
# hold any well-formed JSON value (their strings are not checked for UTF-8 or surrogates, as
# serde_json skips them); only JSON whitespace may follow the object.

WHITESPACE = b" \t\n\r"
SIMPLE_ESCAPES = {
    ord('"'): '"',
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}


def parse_data(data, fields):
    if data is None:
        raise Ignored
    p = Parser(bytes(data))
    p.ws()
    require(p.peek() == ord("{"))  # serde would also accept an array for a struct
    p.pos += 1
    out = {}
    p.ws()
    if p.peek() == ord("}"):
        p.pos += 1
    else:
        while True:
            p.ws()
            require(p.next() == ord('"'))
            key = p.string(True)
            p.ws()
            require(p.next() == ord(":"))
            p.ws()
            kind = fields.get(key)
            if kind is None:
                p.skip_value()
            else:
                require(key not in out)  # serde: duplicate field
                out[key] = p.string_value() if kind == "string" else p.i64_value()
            p.ws()
            c = p.next()
            if c == ord("}"):
                break
            require(c == ord(","))
    p.ws()
    require(p.pos == len(p.data))  # serde_json: trailing characters
    require(all(key in out for key in fields))  # missing field
    return out


class Parser:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def peek(self):
        return self.data[self.pos] if self.pos < len(self.data) else -1

    def next(self):
        require(self.pos < len(self.data))
        c = self.data[self.pos]
        self.pos += 1
        return c

    def ws(self):
        while self.pos < len(self.data) and self.data[self.pos] in WHITESPACE:
            self.pos += 1

    def string_value(self):
        require(self.next() == ord('"'))
        return self.string(True)

    def string(self, validate):
        """The rest of a string after its opening quote. `validate`: decoded as serde_json decodes
        a `String` (UTF-8 and surrogates checked); otherwise only skipped, as serde_json skips."""
        parts = []
        start = self.pos
        while True:
            c = self.next()
            if c == ord('"'):
                if validate:
                    parts.append(utf8(self.data[start : self.pos - 1]))
                return "".join(parts) if validate else None
            require(c >= 0x20)  # a control character inside a string
            if c != ord("\\"):
                continue
            if validate:
                parts.append(utf8(self.data[start : self.pos - 1]))
            e = self.next()
            if e in SIMPLE_ESCAPES:
                if validate:
                    parts.append(SIMPLE_ESCAPES[e])
            else:
                require(e == ord("u"))
                n = self.hex4()
                if validate:
                    require(not 0xDC00 <= n <= 0xDFFF)  # a trailing surrogate alone
                    if 0xD800 <= n <= 0xDBFF:
                        require(self.next() == ord("\\") and self.next() == ord("u"))
                        n2 = self.hex4()
                        require(0xDC00 <= n2 <= 0xDFFF)
                        n = 0x10000 + ((n - 0xD800) << 10) + (n2 - 0xDC00)
                    parts.append(chr(n))
            start = self.pos

    def hex4(self):
        require(self.pos + 4 <= len(self.data))
        text = self.data[self.pos : self.pos + 4]
        require(all(c in b"0123456789abcdefABCDEF" for c in text))
        self.pos += 4
        return int(text, 16)

    def number(self):
        """A JSON number's text, and whether it has neither fraction nor exponent."""
        start = self.pos
        if self.peek() == ord("-"):
            self.pos += 1
        first = self.next()
        require(is_digit(first))
        if first == ord("0"):
            require(not is_digit(self.peek()))  # one leading zero only
        else:
            while is_digit(self.peek()):
                self.pos += 1
        integer = True
        if self.peek() == ord("."):
            integer = False
            self.pos += 1
            require(is_digit(self.next()))
            while is_digit(self.peek()):
                self.pos += 1
        if self.peek() in (ord("e"), ord("E")):
            integer = False
            self.pos += 1
            if self.peek() in (ord("+"), ord("-")):
                self.pos += 1
            require(is_digit(self.next()))
            while is_digit(self.peek()):
                self.pos += 1
        return self.data[start : self.pos].decode("ascii"), integer

    def i64_value(self):
        c = self.peek()
        require(c == ord("-") or is_digit(c))
        text, integer = self.number()
        # serde_json reads `-0` as the float -0.0, which an i64 field refuses.
        require(integer and text != "-0")
        # i64 has at most 19 digits; the length check also keeps int() from refusing a
        # 5000-digit literal (Python limits int() to 4300 digits) with an exception.
        require(len(text.lstrip("-")) <= 19)
        return checked(int(text))

    def skip_value(self):
        """Skips one well-formed JSON value, iteratively (serde_json has no depth limit here)."""
        stack = []
        while True:
            self.ws()
            c = self.peek()
            opened = False
            if c in (ord("{"), ord("[")):
                self.pos += 1
                stack.append(c)
                opened = True
            elif c == ord('"'):
                self.pos += 1
                self.string(False)
            elif c == ord("-") or is_digit(c):
                self.number()
            elif c == ord("n"):
                self.literal(b"null")
            elif c == ord("t"):
                self.literal(b"true")
            elif c == ord("f"):
                self.literal(b"false")
            else:
                raise Ignored
            first = opened
            while True:
                if not stack:
                    return
                frame = stack[-1]
                self.ws()
                d = self.peek()
                if (d == ord("]") and frame == ord("[")) or (d == ord("}") and frame == ord("{")):
                    self.pos += 1
                    stack.pop()
                    first = False
                    continue
                if not first:
                    require(d == ord(","))
                    self.pos += 1
                if frame == ord("{"):
                    self.ws()
                    require(self.next() == ord('"'))
                    self.string(False)  # inside a skipped value, keys are skipped too
                    self.ws()
                    require(self.next() == ord(":"))
                break

    def literal(self, word):
        for c in word:
            require(self.next() == c)


def is_digit(c):
    return 0x30 <= c <= 0x39


def utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")  # strict: no overlongs, no surrogates, as Rust's `str`
    except UnicodeDecodeError:
        raise Ignored
