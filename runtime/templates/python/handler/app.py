"""{{name}}: an Eddy handler. On each `order.paid` event it emits one `order.receipt` event to
the stream `receipts`, with the same subject and the data `{"paid_event": <its id>}`.

It implements the world `eddy:plugin/handler` (wit/plugin.wit): `handle_event(event)` returns
the events to publish (Eddy fills in their id, time and source).
"""

import json

import wit_world
from wit_world.imports.types import OutgoingEvent


class WitWorld(wit_world.WitWorld):
    def handle_event(self, event) -> list:
        # To fail: raise componentize_py_types.Err(Error_Retry("why")) when trying again later
        # could help, Err(Error_Reject("why")) when it cannot (wit_world.imports.types).
        if event.type != "order.paid":
            return []
        data = json.dumps({"paid_event": event.id}, separators=(",", ":")).encode()
        receipt = OutgoingEvent(
            stream="receipts",
            type="order.receipt",
            subject=event.subject,
            source=None,
            datacontenttype="application/json",
            dataschema=None,
            data=data,
            extensions=[],
        )
        return [receipt]
