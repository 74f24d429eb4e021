//! The order rules, as pure functions of (state, event type, data): no host, no I/O.
//!
//! One [`Order`] per subject (the order id). Each of the six order event types below is either
//! applied, or *ignored*: it leaves the order unchanged and adds 1 to [`Order::ignored`]. An
//! event is ignored when
//!
//! - it is not allowed in the order's current status (see each type below);
//! - its data does not match its schema: data absent or not a JSON object, a required field
//!   missing or `null`, a field of the wrong JSON type, a number that is not an integer
//!   representable as `i64` (`1.5`, `1e3`, `9223372036854775808`, `"5"`), or a number outside
//!   its range (`qty > 0`, `unit_cents >= 0`, `amount_cents > 0`); unknown extra fields are
//!   fine;
//! - or its arithmetic would overflow an `i64` (quantities, Σ `qty × unit_cents`, payments).
//!
//! Every check runs before anything is changed, so an ignored event never half-applies.
//! Events of any other type change nothing and are not counted.
//!
//! | type                 | data                                            | allowed in      | effect |
//! |----------------------|-------------------------------------------------|-----------------|--------|
//! | `order.created`      | `{"customer": str}`                             | `none`          | `customer` set, status `open` |
//! | `order.item_added`   | `{"sku": str, "qty": int>0, "unit_cents": int>=0}` | `open`       | `items[sku].qty += qty`, `items[sku].unit_cents = unit_cents`, total recomputed |
//! | `order.item_removed` | `{"sku": str, "qty": int>0}`                    | `open`          | `items[sku].qty -= qty`, the sku removed at 0 or below, total recomputed; an unknown sku is ignored |
//! | `order.paid`         | `{"amount_cents": int>0}`                       | `open`, `paid`  | `paid_cents += amount_cents`; status `paid` if now `paid_cents >= total_cents` |
//! | `order.shipped`      | any or none                                     | `paid`          | status `shipped` |
//! | `order.cancelled`    | any or none                                     | `open`, `paid`  | status `cancelled` |
//!
//! `total_cents` is always Σ `qty × unit_cents` over the items. The status moves to `paid` only
//! on an `order.paid` event: removing items from an open order whose payments already cover
//! the new total leaves it `open` until the next payment.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The state of one order; serialised with its fields in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Who placed the order; `null` until `order.created`.
    pub customer: Option<String>,
    /// Where the order is in its life.
    pub status: Status,
    /// The order lines by sku, sorted by sku.
    pub items: BTreeMap<String, Item>,
    /// Σ `qty × unit_cents` over `items`.
    pub total_cents: i64,
    /// Σ of the applied payments.
    pub paid_cents: i64,
    /// How many order events were ignored (disallowed, malformed or overflowing).
    pub ignored: i64,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// No `order.created` yet (`"none"`).
    #[serde(rename = "none")]
    NotCreated,
    /// Created; items can be added and removed.
    Open,
    /// Payments cover the total.
    Paid,
    /// Shipped after payment; final.
    Shipped,
    /// Cancelled while open or paid; final.
    Cancelled,
}

/// One order line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// How many units; always > 0 (a line at 0 is removed).
    pub qty: i64,
    /// The price of one unit, from the latest `order.item_added` of this sku.
    pub unit_cents: i64,
}

impl Order {
    /// The state of an order before its first event.
    pub fn new() -> Self {
        Self {
            customer: None,
            status: Status::NotCreated,
            items: BTreeMap::new(),
            total_cents: 0,
            paid_cents: 0,
            ignored: 0,
        }
    }
}

impl Default for Order {
    fn default() -> Self {
        Self::new()
    }
}

/// Why an event was not applied: counted in [`Order::ignored`].
struct Ignored;

type Rule = Result<(), Ignored>;

/// Applies the event of type `ty` with raw `data` (JSON text) to `order`, per the module docs.
pub fn apply(order: &mut Order, ty: &str, data: Option<&[u8]>) {
    let outcome = match ty {
        "order.created" => created(order, data),
        "order.item_added" => item_added(order, data),
        "order.item_removed" => item_removed(order, data),
        "order.paid" => paid(order, data),
        "order.shipped" => shipped(order),
        "order.cancelled" => cancelled(order),
        _ => return,
    };
    if outcome.is_err() {
        order.ignored = order.ignored.saturating_add(1);
    }
}

#[derive(Deserialize)]
struct Created {
    customer: String,
}

#[derive(Deserialize)]
struct ItemAdded {
    sku: String,
    qty: i64,
    unit_cents: i64,
}

#[derive(Deserialize)]
struct ItemRemoved {
    sku: String,
    qty: i64,
}

#[derive(Deserialize)]
struct Paid {
    amount_cents: i64,
}

fn created(order: &mut Order, data: Option<&[u8]>) -> Rule {
    let Created { customer } = parse(data)?;
    require(order.status == Status::NotCreated)?;
    order.customer = Some(customer);
    order.status = Status::Open;
    Ok(())
}

fn item_added(order: &mut Order, data: Option<&[u8]>) -> Rule {
    let ItemAdded {
        sku,
        qty,
        unit_cents,
    } = parse(data)?;
    require(qty > 0 && unit_cents >= 0)?;
    require(order.status == Status::Open)?;
    let old_qty = order.items.get(&sku).map_or(0, |item| item.qty);
    let line = Item {
        qty: old_qty.checked_add(qty).ok_or(Ignored)?,
        unit_cents,
    };
    let total = total_with(&order.items, &sku, Some(line))?;
    order.items.insert(sku, line);
    order.total_cents = total;
    Ok(())
}

fn item_removed(order: &mut Order, data: Option<&[u8]>) -> Rule {
    let ItemRemoved { sku, qty } = parse(data)?;
    require(qty > 0)?;
    require(order.status == Status::Open)?;
    let old = *order.items.get(&sku).ok_or(Ignored)?;
    // Both are positive, so the difference cannot overflow.
    let left = old.qty - qty;
    let line = (left > 0).then_some(Item { qty: left, ..old });
    let total = total_with(&order.items, &sku, line)?;
    match line {
        Some(line) => order.items.insert(sku, line),
        None => order.items.remove(&sku),
    };
    order.total_cents = total;
    Ok(())
}

fn paid(order: &mut Order, data: Option<&[u8]>) -> Rule {
    let Paid { amount_cents } = parse(data)?;
    require(amount_cents > 0)?;
    require(matches!(order.status, Status::Open | Status::Paid))?;
    order.paid_cents = order.paid_cents.checked_add(amount_cents).ok_or(Ignored)?;
    if order.paid_cents >= order.total_cents {
        order.status = Status::Paid;
    }
    Ok(())
}

fn shipped(order: &mut Order) -> Rule {
    require(order.status == Status::Paid)?;
    order.status = Status::Shipped;
    Ok(())
}

fn cancelled(order: &mut Order) -> Rule {
    require(matches!(order.status, Status::Open | Status::Paid))?;
    order.status = Status::Cancelled;
    Ok(())
}

fn require(condition: bool) -> Rule {
    if condition { Ok(()) } else { Err(Ignored) }
}

/// Σ `qty × unit_cents` over `items` with the line of `sku` replaced by `line` (`None`: removed).
fn total_with(
    items: &BTreeMap<String, Item>,
    sku: &str,
    line: Option<Item>,
) -> Result<i64, Ignored> {
    let others = items
        .iter()
        .filter(|(key, _)| *key != sku)
        .map(|(_, item)| item);
    others.chain(line.as_ref()).try_fold(0i64, |total, item| {
        let line_total = item.qty.checked_mul(item.unit_cents).ok_or(Ignored)?;
        total.checked_add(line_total).ok_or(Ignored)
    })
}

/// `data` as `T`, if it is a JSON object of that shape.
///
/// The object check matters: serde would also accept a JSON array for a struct (`["alice"]`).
fn parse<T: DeserializeOwned>(data: Option<&[u8]>) -> Result<T, Ignored> {
    let data = data.ok_or(Ignored)?;
    let first = data
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    require(first == Some(&b'{'))?;
    serde_json::from_slice(data).map_err(|_| Ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[(&str, Option<&str>)]) -> Order {
        let mut order = Order::new();
        for (ty, data) in events {
            apply(&mut order, ty, data.map(str::as_bytes));
        }
        order
    }

    fn open_with(items: &[(&str, i64, i64)]) -> Order {
        let mut order = run(&[("order.created", Some(r#"{"customer":"c"}"#))]);
        for (sku, qty, unit) in items {
            let data = format!(r#"{{"sku":"{sku}","qty":{qty},"unit_cents":{unit}}}"#);
            apply(&mut order, "order.item_added", Some(data.as_bytes()));
        }
        order
    }

    #[test]
    fn initial_state_serialises_with_fields_in_order() {
        assert_eq!(
            serde_json::to_string(&Order::new()).unwrap(),
            r#"{"customer":null,"status":"none","items":{},"total_cents":0,"paid_cents":0,"ignored":0}"#
        );
    }

    #[test]
    fn created_opens_the_order_once() {
        let order = run(&[
            ("order.created", Some(r#"{"customer":"alice"}"#)),
            ("order.created", Some(r#"{"customer":"bob"}"#)),
        ]);
        assert_eq!(order.customer.as_deref(), Some("alice"));
        assert_eq!(order.status, Status::Open);
        assert_eq!(order.ignored, 1);
    }

    #[test]
    fn adding_a_sku_again_adds_quantity_and_takes_the_latest_price() {
        let order = open_with(&[("A", 2, 500), ("B", 1, 1500), ("A", 1, 600)]);
        assert_eq!(
            order.items["A"],
            Item {
                qty: 3,
                unit_cents: 600
            }
        );
        assert_eq!(order.total_cents, 3 * 600 + 1500);
    }

    #[test]
    fn removing_to_zero_or_below_drops_the_line_and_unknown_skus_are_ignored() {
        let mut order = open_with(&[("A", 5, 100), ("B", 2, 250)]);
        apply(
            &mut order,
            "order.item_removed",
            Some(br#"{"sku":"A","qty":2}"#),
        );
        assert_eq!(order.items["A"].qty, 3);
        assert_eq!(order.total_cents, 800);
        apply(
            &mut order,
            "order.item_removed",
            Some(br#"{"sku":"B","qty":2}"#),
        );
        apply(
            &mut order,
            "order.item_removed",
            Some(br#"{"sku":"A","qty":9}"#),
        );
        assert!(order.items.is_empty());
        assert_eq!(order.total_cents, 0);
        assert_eq!(order.ignored, 0);
        apply(
            &mut order,
            "order.item_removed",
            Some(br#"{"sku":"A","qty":1}"#),
        );
        assert_eq!(order.ignored, 1);
    }

    #[test]
    fn payments_accumulate_and_mark_paid_at_the_total() {
        let mut order = open_with(&[("A", 1, 1000)]);
        apply(&mut order, "order.paid", Some(br#"{"amount_cents":999}"#));
        assert_eq!(order.status, Status::Open);
        apply(&mut order, "order.paid", Some(br#"{"amount_cents":1}"#));
        assert_eq!(order.status, Status::Paid);
        assert_eq!(order.paid_cents, 1000);
    }

    #[test]
    fn malformed_data_is_ignored_without_changing_anything() {
        let before = open_with(&[("A", 1, 100)]);
        for data in [
            None,
            Some("not json"),
            Some(r#"["A", 1, 1]"#),
            Some(r#""A""#),
            Some(r#"{"sku":"A","qty":1.5,"unit_cents":1}"#),
            Some(r#"{"sku":"A","qty":1e3,"unit_cents":1}"#),
            Some(r#"{"sku":"A","qty":"5","unit_cents":1}"#),
            Some(r#"{"sku":"A","qty":9223372036854775808,"unit_cents":1}"#),
            Some(r#"{"sku":"A","qty":0,"unit_cents":1}"#),
            Some(r#"{"sku":"A","qty":1,"unit_cents":-1}"#),
            Some(r#"{"sku":null,"qty":1,"unit_cents":1}"#),
            Some(r#"{"qty":1,"unit_cents":1}"#),
        ] {
            let mut order = before.clone();
            apply(&mut order, "order.item_added", data.map(str::as_bytes));
            assert_eq!(order.ignored, 1, "{data:?}");
            order.ignored = 0;
            assert_eq!(order, before, "{data:?}");
        }
    }

    #[test]
    fn overflow_is_ignored_in_quantity_product_sum_and_payment() {
        let max = i64::MAX;
        let mut order = open_with(&[("A", max, 0)]);
        apply(
            &mut order,
            "order.item_added",
            Some(br#"{"sku":"A","qty":1,"unit_cents":0}"#),
        );
        assert_eq!(order.ignored, 1, "qty overflow");

        let order = open_with(&[("A", 2, max / 2 + 1)]);
        assert_eq!(
            (order.ignored, order.items.len()),
            (1, 0),
            "product overflow"
        );

        let mut order = open_with(&[("A", 1, max), ("B", 1, 1)]);
        assert_eq!((order.ignored, order.total_cents), (1, max), "sum overflow");

        apply(
            &mut order,
            "order.paid",
            Some(format!(r#"{{"amount_cents":{max}}}"#).as_bytes()),
        );
        apply(&mut order, "order.paid", Some(br#"{"amount_cents":1}"#));
        assert_eq!(
            (order.ignored, order.paid_cents),
            (2, max),
            "payment overflow"
        );
    }

    #[test]
    fn other_event_types_are_not_counted() {
        let order = run(&[("order.note", Some("{}")), ("customer.created", None)]);
        assert_eq!(order, Order::new());
    }

    #[test]
    fn shipped_and_cancelled_accept_any_data() {
        let mut order = open_with(&[]);
        apply(&mut order, "order.cancelled", Some(b"not even json"));
        assert_eq!((order.status, order.ignored), (Status::Cancelled, 0));
    }
}
