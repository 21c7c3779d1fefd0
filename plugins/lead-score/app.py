"""lead-score: a Firehose rule written in Python (world `json-rule` of wit/rules.wit).

Adds a lead score to every event: points for the buyer's price
(`metadata.buyer_response.price`), for the `outcome` and for the lead's state
(`lead_data.state`), and a tier named by the thresholds in the configuration.
Built with componentize-py by `firehose build plugins/lead-score`.
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import host, types

DEFAULTS = {
    "into": "score",
    "price_weight": 1.0,
    "outcomes": {},
    "states": {},
    "tiers": [],
    "default_tier": "cold",
    "drop_below": None,
}

# Set once by `configure`; an instance serves one configuration for its lifetime.
CONFIG = dict(DEFAULTS)


def refuse(field, message):
    """Refuses the configuration, naming the field at fault."""
    raise Err(types.ConfigError(field=field, message=message))


def number(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        refuse(field, f"expected a number, got {json.dumps(value)}")
    return float(value)


def points_table(value, field):
    if not isinstance(value, dict):
        refuse(field, "expected a map of name to points, e.g. {success: 40, failure: -20}")
    return {key: number(points, f"{field}.{key}") for key, points in value.items()}


def read_config(text):
    try:
        given = json.loads(text) if text.strip() else {}
    except ValueError as e:
        refuse("", f"not JSON: {e}")
    if not isinstance(given, dict):
        refuse("", "expected a map of settings")
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        refuse(unknown[0], f"unknown setting; expected one of {', '.join(sorted(DEFAULTS))}")
    config = dict(DEFAULTS, **given)
    if not isinstance(config["into"], str) or not config["into"]:
        refuse("into", "expected the name of the field to write the score into")
    config["price_weight"] = number(config["price_weight"], "price_weight")
    config["outcomes"] = points_table(config["outcomes"], "outcomes")
    config["states"] = points_table(config["states"], "states")
    if not isinstance(config["default_tier"], str):
        refuse("default_tier", "expected a tier name")
    if not isinstance(config["tiers"], list):
        refuse("tiers", "expected a list like [{min: 80, tier: hot}, {min: 40, tier: warm}]")
    tiers = []
    for i, tier in enumerate(config["tiers"]):
        if not isinstance(tier, dict) or set(tier) != {"min", "tier"}:
            refuse(f"tiers[{i}]", "expected {min: POINTS, tier: NAME}")
        if not isinstance(tier["tier"], str):
            refuse(f"tiers[{i}].tier", "expected a tier name")
        tiers.append((number(tier["min"], f"tiers[{i}].min"), tier["tier"]))
    # Highest threshold first: an event gets the first tier it reaches.
    config["tiers"] = sorted(tiers, reverse=True)
    if config["drop_below"] is not None:
        config["drop_below"] = number(config["drop_below"], "drop_below")
    return config


def price_of(event):
    metadata = event.get("metadata")
    buyer = metadata.get("buyer_response") if isinstance(metadata, dict) else None
    if not isinstance(buyer, dict) or "price" not in buyer:
        return 0.0
    price = buyer["price"]
    if isinstance(price, str):
        try:
            price = float(price)
        except ValueError:
            raise ValueError(f"metadata.buyer_response.price is not a number: {json.dumps(price)}")
    if isinstance(price, bool) or not isinstance(price, (int, float)):
        raise ValueError(f"metadata.buyer_response.price is not a number: {json.dumps(price)}")
    return float(price)


def score(event, config):
    points = price_of(event) * config["price_weight"]
    points += config["outcomes"].get(event.get("outcome"), 0.0)
    lead = event.get("lead_data")
    if isinstance(lead, dict):
        points += config["states"].get(lead.get("state"), 0.0)
    points = round(points, 2)
    tier = next((name for least, name in config["tiers"] if points >= least), config["default_tier"])
    return points, tier


class WitWorld(wit_world.WitWorld):
    def describe(self):
        return types.ModuleInfo(
            name="lead-score",
            version="0.1.0",
            description="scores leads from buyer price, outcome and state (Python)",
        )

    def configure(self, config):
        global CONFIG
        CONFIG = read_config(config)
        host.log(types.LogLevel.DEBUG, f"scoring into `{CONFIG['into']}` with {len(CONFIG['tiers'])} tiers")

    def process_json(self, events, context):
        config = CONFIG
        verdicts = []
        for text in events:
            event = json.loads(text)
            try:
                points, tier = score(event, config)
            except ValueError as e:
                verdicts.append(types.JsonVerdict_Reject(str(e)))
                continue
            if config["drop_below"] is not None and points < config["drop_below"]:
                verdicts.append(types.JsonVerdict_Drop())
                continue
            event[config["into"]] = {"points": points, "tier": tier}
            verdicts.append(types.JsonVerdict_Replace(json.dumps(event, ensure_ascii=False, separators=(",", ":"))))
        return verdicts
