// custom-mask: a Firehose rule written in JavaScript (world `json-rule` of wit/rules.wit).
//
// Masks the fields the configuration names, keeping as many leading and trailing
// characters as asked, and rewrites every match of the configured patterns in string
// values (the whole event, or only under the paths given in `in`).
// Built with componentize-js by `firehose build plugins/custom-mask`.

import { log } from 'firehose:rules/host@0.1.3';

const SETTINGS = ['fields', 'patterns'];
let config = { fields: [], patterns: [] };

/** A refused configuration: the field at fault and what would be accepted. */
function refuse(field, message) {
  throw { field, message };
}

function path(text, field) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(text)) {
    refuse(field, `expected a dotted path like lead_data.postal_code, got ${JSON.stringify(text)}`);
  }
  return text.split('.');
}

function count(value, field) {
  if (value === undefined) return 0;
  if (!Number.isInteger(value) || value < 0) refuse(field, `expected a whole number of characters, got ${JSON.stringify(value)}`);
  return value;
}

function readConfig(text) {
  let given;
  try {
    given = text.trim() === '' ? {} : JSON.parse(text);
  } catch (e) {
    refuse('', `not JSON: ${e.message}`);
  }
  if (given === null || typeof given !== 'object' || Array.isArray(given)) refuse('', 'expected a map of settings');
  for (const key of Object.keys(given)) {
    if (!SETTINGS.includes(key)) refuse(key, `unknown setting; expected one of ${SETTINGS.join(', ')}`);
  }
  const fields = (given.fields ?? []).map((f, i) => {
    const at = `fields[${i}]`;
    if (f === null || typeof f !== 'object') refuse(at, 'expected {path, keep_first, keep_last, char}');
    for (const key of Object.keys(f)) {
      if (!['path', 'keep_first', 'keep_last', 'char'].includes(key)) refuse(`${at}.${key}`, 'unknown setting; expected path, keep_first, keep_last or char');
    }
    const char = f.char ?? '*';
    if (typeof char !== 'string' || [...char].length !== 1) refuse(`${at}.char`, 'expected one character');
    return { path: path(f.path, `${at}.path`), keepFirst: count(f.keep_first, `${at}.keep_first`), keepLast: count(f.keep_last, `${at}.keep_last`), char };
  });
  const patterns = (given.patterns ?? []).map((p, i) => {
    const at = `patterns[${i}]`;
    if (p === null || typeof p !== 'object') refuse(at, 'expected {regex, replace, in}');
    let regex;
    try {
      regex = new RegExp(p.regex, 'g');
    } catch (e) {
      refuse(`${at}.regex`, `not a regular expression: ${e.message}`);
    }
    if (typeof p.replace !== 'string') refuse(`${at}.replace`, 'expected the replacement text, e.g. "#####"');
    const within = (p.in ?? []).map((q, j) => path(q, `${at}.in[${j}]`));
    return { regex, replace: p.replace, within };
  });
  return { fields, patterns };
}

/** `keep` characters at each end, the rest replaced by `char`. */
function maskText(text, keepFirst, keepLast, char) {
  const chars = [...text];
  if (keepFirst + keepLast >= chars.length) return char.repeat(chars.length);
  return chars.slice(0, keepFirst).join('') + char.repeat(chars.length - keepFirst - keepLast) + chars.slice(chars.length - keepLast).join('');
}

function parentOf(event, steps) {
  let node = event;
  for (const step of steps.slice(0, -1)) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = node[step];
  }
  return node !== null && typeof node === 'object' && !Array.isArray(node) ? node : undefined;
}

/** Rewrites pattern matches in `node[key]` and every string under it; true if anything changed. */
function rewriteAt(node, key, pattern) {
  const value = node[key];
  if (typeof value === 'string') {
    pattern.regex.lastIndex = 0;
    if (!pattern.regex.test(value)) return false;
    node[key] = value.replace(pattern.regex, pattern.replace);
    return true;
  }
  if (value === null || typeof value !== 'object') return false;
  let changed = false;
  for (const inner of Object.keys(value)) changed = rewriteAt(value, inner, pattern) || changed;
  return changed;
}

function mask(event) {
  let changed = false;
  for (const field of config.fields) {
    const parent = parentOf(event, field.path);
    const key = field.path[field.path.length - 1];
    if (parent === undefined || !(key in parent) || parent[key] === null) continue;
    const value = parent[key];
    parent[key] = typeof value === 'object' ? '[MASKED]' : maskText(String(value), field.keepFirst, field.keepLast, field.char);
    changed = true;
  }
  for (const pattern of config.patterns) {
    if (pattern.within.length === 0) {
      for (const key of Object.keys(event)) changed = rewriteAt(event, key, pattern) || changed;
      continue;
    }
    for (const steps of pattern.within) {
      const parent = parentOf(event, steps);
      const key = steps[steps.length - 1];
      if (parent === undefined || !(key in parent)) continue;
      changed = rewriteAt(parent, key, pattern) || changed;
    }
  }
  return changed;
}

export function describe() {
  return { name: 'custom-mask', version: '0.1.0', description: 'masks configured fields and patterns (JavaScript)' };
}

export function configure(text) {
  config = readConfig(text);
  log('debug', `masking ${config.fields.length} fields and ${config.patterns.length} patterns`);
}

export function processJson(events, context) {
  return events.map((text) => {
    const event = JSON.parse(text);
    return mask(event) ? { tag: 'replace', val: JSON.stringify(event) } : { tag: 'keep' };
  });
}
