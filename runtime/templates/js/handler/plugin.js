// {{name}}: an Eddy handler. On each `order.paid` event it emits one `order.receipt` event to
// the stream `receipts`, with the same subject and the data `{"paid_event": <its id>}`.
//
// It implements the world `eddy:plugin/handler` (wit/plugin.wit): `handleEvent(event)` returns
// the events to publish (Eddy fills in their id, time and source). Throw
// `{ tag: 'retry', val: 'why' }` when trying again later could help, `{ tag: 'reject', … }`
// when it cannot.

/** The events to publish in reaction to `event`. */
export function handleEvent(event) {
  if (event.type !== 'order.paid') return [];
  const data = JSON.stringify({ paid_event: event.id });
  return [
    {
      stream: 'receipts',
      type: 'order.receipt',
      subject: event.subject,
      source: undefined,
      datacontenttype: 'application/json',
      dataschema: undefined,
      data: new TextEncoder().encode(data),
      extensions: [],
    },
  ];
}
