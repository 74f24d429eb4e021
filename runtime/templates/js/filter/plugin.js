// {{name}}: an Eddy filter. It keeps `order.paid` events and drops every other event.
//
// It implements the world `eddy:plugin/filter` (wit/plugin.wit): `filterEvent(event)` returns
// true to keep the event. Throw `{ tag: 'reject', val: 'why' }` to refuse an event.

/** Whether to keep `event`. */
export function filterEvent(event) {
  return event.type === 'order.paid';
}
