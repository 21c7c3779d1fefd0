"""<name>: a Firehose rule in Python (world `json-rule` of the firehose:rules WIT).

Each batch arrives as a list of events, each one JSON object as text; answer one
verdict per event: keep it, drop it, replace it with new JSON text, or reject it with
a reason (the host dead-letters it). Build with `firehose build .`, try it with
`firehose test --pipeline pipeline.yaml`.
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import host, types

# Set once by `configure`; an instance keeps one configuration for its lifetime.
TAGS = {}
DROP_EVENT_TYPES = set()


def refuse(field, message):
    """Refuses the configuration, naming the field at fault."""
    raise Err(types.ConfigError(field=field, message=message))


class WitWorld(wit_world.WitWorld):
    def describe(self):
        return types.ModuleInfo(name="<name>", version="0.1.0", description="tags events (Python)")

    def configure(self, config):
        global TAGS, DROP_EVENT_TYPES
        given = json.loads(config) if config.strip() else {}
        if not isinstance(given, dict):
            refuse("", "expected a map of settings")
        for key in given:
            if key not in ("tags", "drop_event_types"):
                refuse(key, "unknown setting; expected tags or drop_event_types")
        TAGS = given.get("tags", {})
        if not isinstance(TAGS, dict):
            refuse("tags", "expected a map of field to value, e.g. {team: sales}")
        drop = given.get("drop_event_types", [])
        if not isinstance(drop, list) or not all(isinstance(t, str) for t in drop):
            refuse("drop_event_types", "expected a list of event types, e.g. [source.rejected]")
        DROP_EVENT_TYPES = set(drop)
        host.log(types.LogLevel.DEBUG, f"adding {len(TAGS)} tags")

    def process_json(self, events, context):
        verdicts = []
        for text in events:
            event = json.loads(text)
            if event.get("event_type") in DROP_EVENT_TYPES:
                verdicts.append(types.JsonVerdict_Drop())
            elif "event_type" not in event:
                verdicts.append(types.JsonVerdict_Reject("event_type is missing"))
            else:
                event.update(TAGS)
                verdicts.append(types.JsonVerdict_Replace(json.dumps(event, ensure_ascii=False)))
        return verdicts
