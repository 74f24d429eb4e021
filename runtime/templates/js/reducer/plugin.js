// {{name}}: an Eddy reducer. Per subject, it counts the events, in total and by type.
//
// It implements the world `eddy:plugin/reducer` (wit/plugin.wit): `init()` gives the state of
// a subject before its first event, `applyEvent(state, event)` the state after `event`. The
// state is bytes to Eddy; here, UTF-8 JSON, which `eddy replay` prints.
//
// JavaScript numbers are doubles: exact integers only up to 2^53. Counts stay far below; for
// money or ids that may not, use BigInt and print the JSON yourself (see
// plugins/order-totals-js in the Eddy repository).

/** The state of a subject before its first event. */
export function init() {
  return encode({ count: 0, types: {} });
}

/** The state after `event`. Throw `{ tag: 'reject', val: 'why' }` to refuse an event. */
export function applyEvent(state, event) {
  const counts = JSON.parse(new TextDecoder().decode(state));
  counts.count += 1;
  counts.types[event.type] = (counts.types[event.type] ?? 0) + 1;
  return encode(counts);
}

function encode(value) {
  return new TextEncoder().encode(JSON.stringify(value));
}
