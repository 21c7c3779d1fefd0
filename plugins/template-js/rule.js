// <name>: a Firehose rule in JavaScript (world `json-rule` of the firehose:rules WIT).
//
// Each batch arrives as an array of events, each one JSON object as text; answer one
// verdict per event: {tag: 'keep'}, {tag: 'drop'}, {tag: 'replace', val: JSON text}
// or {tag: 'reject', val: reason} (the host dead-letters it). Build with
// `firehose build .`, try it with `firehose test --pipeline pipeline.yaml`.

import { log } from 'firehose:rules/host@0.1.3';

// Set once by `configure`; an instance keeps one configuration for its lifetime.
let tags = {};
let dropEventTypes = new Set();

/** A refused configuration: the field at fault and what would be accepted. */
function refuse(field, message) {
  throw { field, message };
}

export function describe() {
  return { name: '<name>', version: '0.1.0', description: 'tags events (JavaScript)' };
}

export function configure(text) {
  const given = text.trim() === '' ? {} : JSON.parse(text);
  if (given === null || typeof given !== 'object' || Array.isArray(given)) refuse('', 'expected a map of settings');
  for (const key of Object.keys(given)) {
    if (key !== 'tags' && key !== 'drop_event_types') refuse(key, 'unknown setting; expected tags or drop_event_types');
  }
  tags = given.tags ?? {};
  if (tags === null || typeof tags !== 'object' || Array.isArray(tags)) refuse('tags', 'expected a map of field to value, e.g. {team: sales}');
  const drop = given.drop_event_types ?? [];
  if (!Array.isArray(drop) || !drop.every((t) => typeof t === 'string')) refuse('drop_event_types', 'expected a list of event types, e.g. [source.rejected]');
  dropEventTypes = new Set(drop);
  log('debug', `adding ${Object.keys(tags).length} tags`);
}

export function processJson(events, context) {
  return events.map((text) => {
    const event = JSON.parse(text);
    if (dropEventTypes.has(event.event_type)) return { tag: 'drop' };
    if (!('event_type' in event)) return { tag: 'reject', val: 'event_type is missing' };
    return { tag: 'replace', val: JSON.stringify({ ...event, ...tags }) };
  });
}
