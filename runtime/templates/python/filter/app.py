"""{{name}}: an Eddy filter. It keeps `order.paid` events and drops every other event.

It implements the world `eddy:plugin/filter` (wit/plugin.wit): `filter_event(event)` returns
True to keep the event.
"""

import wit_world


class WitWorld(wit_world.WitWorld):
    def filter_event(self, event) -> bool:
        # To refuse an event: raise componentize_py_types.Err(Error_Reject("why")), with
        # Error_Reject from wit_world.imports.types.
        return event.type == "order.paid"
