"""{{name}}: an Eddy reducer. Per subject, it counts the events, in total and by type.

It implements the world `eddy:plugin/reducer` (wit/plugin.wit): `init()` gives the state of a
subject before its first event, `apply_event(state, event)` the state after `event`. The state
is bytes to Eddy; here, UTF-8 JSON, which `eddy replay` prints.

Python ints never overflow: if your rules need a bounded range (say, i64), check it yourself.
"""

import json

import wit_world


class WitWorld(wit_world.WitWorld):
    def init(self) -> bytes:
        return encode({"count": 0, "types": {}})

    def apply_event(self, state: bytes, event) -> bytes:
        # To refuse an event: raise componentize_py_types.Err(Error_Reject("why")), with
        # Error_Reject from wit_world.imports.types.
        counts = json.loads(state)
        counts["count"] += 1
        counts["types"][event.type] = counts["types"].get(event.type, 0) + 1
        return encode(counts)


def encode(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
