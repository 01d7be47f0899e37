#!/usr/bin/env node
/**
 * Checks the extension's protocol types against the protocol schema (docs/protocol.schema.json,
 * the authority for the shapes of the otrace protocol). Run by scripts/vscode-build.sh after the
 * build; offline, with the TypeScript compiler the build already has.
 *
 *   node scripts/check-protocol.js [protocol.ts]     (exit 1 on a mismatch; default src/protocol.ts)
 *
 * 1. Every exported interface (or object type alias) of src/protocol.ts is the schema's
 *    `$defs/<same name>` (or ALIASES[name]); one matching nothing is an error.
 * 2. Its fields are compared, nested object and array types included:
 *    - a field the schema does not have is an error (the server never sends it / never reads it);
 *    - for what the server sends (results, notifications): a field declared required that the
 *      schema makes optional is an error, and the declared type must accept every JSON type the
 *      schema allows (`repeat: boolean` for a string is an error; `string | object` for a string
 *      is fine). A field of the schema a protocol.ts type does not declare is listed, not an
 *      error (a call site's inline type may name only what it reads).
 *    - for what the client sends (`$defs` used only as request params or command arguments):
 *      a field the schema requires must be required, and the declared type must be one the schema
 *      allows.
 * 3. Every 'otrace/<method>' string literal in src/ names a request or notification of the schema,
 *    and the call sites say what the schema says: in `request<T>('otrace/x', {...})` T is compared
 *    with the result as above and the params' names must be the schema's; in
 *    `onNotification('otrace/x', (p: T) => ...)` T is compared with the notification's params.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const ts = require('typescript');

const EXT = path.resolve(__dirname, '..');
const SCHEMA_PATH = path.resolve(EXT, '..', 'docs', 'protocol.schema.json');
const PROTOCOL_TS = process.argv[2] ? path.resolve(process.argv[2]) : path.join(EXT, 'src', 'protocol.ts');

/** protocol.ts names that differ from the schema's `$defs` names. */
const ALIASES = { ServerInfo: 'OtraceInfo' };

const schema = JSON.parse(fs.readFileSync(SCHEMA_PATH, 'utf8'));
const defs = schema.$defs;
const errors = [];
const notes = [];

// ---- the schema side ------------------------------------------------------------------------
function deref(s) {
    while (s && s.$ref) {
        s = defs[s.$ref.replace('#/$defs/', '')];
    }
    return s || {};
}

function jsonType(value) {
    if (value === null) { return 'null'; }
    if (Array.isArray(value)) { return 'array'; }
    return typeof value === 'number' ? 'number' : typeof value;
}

/** The JSON types a schema allows, as {kinds: Set, props?, required?, items?} ('any': all). */
function fromSchema(s) {
    s = deref(s);
    const alts = s.anyOf || s.oneOf;
    if (alts && !s.type && !s.properties) {
        return merge(alts.map(fromSchema));
    }
    let kinds;
    if (s.const !== undefined) {
        kinds = [jsonType(s.const)];
    } else if (s.enum) {
        kinds = s.enum.map(jsonType);
    } else if (s.type) {
        kinds = [].concat(s.type).map((t) => (t === 'integer' ? 'number' : t));
    } else if (s.properties) {
        kinds = ['object'];
    } else {
        kinds = ['any'];
    }
    const out = { kinds: new Set(kinds) };
    if (s.properties) {
        out.props = {};
        for (const [name, sub] of Object.entries(s.properties)) {
            out.props[name] = () => fromSchema(sub);
        }
        out.required = new Set(s.required || []);
    }
    if (s.items || s.prefixItems) {
        const parts = [].concat(s.prefixItems || [], s.items ? [s.items] : []);
        out.items = () => merge(parts.map(fromSchema));
    }
    return out;
}

/** The union of alternatives: a field is required when every object alternative requires it. */
function merge(list) {
    const out = { kinds: new Set() };
    for (const d of list) {
        d.kinds.forEach((k) => out.kinds.add(k));
        if (d.props) {
            out.required = out.props ? new Set([...out.required].filter((n) => d.required.has(n))) : new Set(d.required);
            out.props = { ...(out.props || {}), ...d.props };
        }
        if (d.items) { out.items = d.items; }
    }
    return out;
}

/** `$defs` names reached only from request params and command arguments: what the client sends. */
function sentDefs() {
    const used = new Map();   // def name -> Set('sent' | 'received')
    const walk = (node, role) => {
        if (!node || typeof node !== 'object') { return; }
        if (typeof node.$ref === 'string') {
            const name = node.$ref.replace('#/$defs/', '');
            if (!used.has(name)) { used.set(name, new Set()); }
            if (!used.get(name).has(role)) {
                used.get(name).add(role);
                walk(defs[name], role);
            }
        }
        for (const value of Object.values(node)) { walk(value, role); }
    };
    for (const spec of Object.values(schema.requests)) {
        walk(spec.params, 'sent');
        walk(spec.result, 'received');
    }
    for (const spec of Object.values(schema.commands)) {
        walk(spec.arguments, 'sent');
        walk(spec.result, 'received');
    }
    for (const spec of Object.values(schema.notifications)) { walk(spec.params, 'received'); }
    walk(schema.initialize, 'received');
    return new Set([...used].filter(([, roles]) => roles.size === 1 && roles.has('sent')).map(([name]) => name));
}

// ---- the TypeScript side ----------------------------------------------------------------------
const source = ts.createSourceFile(PROTOCOL_TS, fs.readFileSync(PROTOCOL_TS, 'utf8'), ts.ScriptTarget.ES2022, true);
const declared = new Map();   // name -> members (interfaces and object type aliases)
for (const st of source.statements) {
    if (ts.isInterfaceDeclaration(st)) {
        declared.set(st.name.text, { node: st, members: st.members });
    } else if (ts.isTypeAliasDeclaration(st) && ts.isTypeLiteralNode(st.type)) {
        declared.set(st.name.text, { node: st, members: st.type.members });
    }
}

function isExported(node) {
    return (ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Export) !== 0;
}

/** The JSON types a TypeScript type node accepts, in the shape of fromSchema's. */
function fromType(node, seen = new Set()) {
    switch (node.kind) {
        case ts.SyntaxKind.StringKeyword: return { kinds: new Set(['string']) };
        case ts.SyntaxKind.NumberKeyword: return { kinds: new Set(['number']) };
        case ts.SyntaxKind.BooleanKeyword: return { kinds: new Set(['boolean']) };
        case ts.SyntaxKind.UnknownKeyword:
        case ts.SyntaxKind.AnyKeyword: return { kinds: new Set(['any']) };
        case ts.SyntaxKind.ParenthesizedType: return fromType(node.type, seen);
        case ts.SyntaxKind.UnionType: return merge(node.types.map((t) => fromType(t, seen)));
        case ts.SyntaxKind.ArrayType: return { kinds: new Set(['array']), items: () => fromType(node.elementType, seen) };
        case ts.SyntaxKind.TupleType:
            return { kinds: new Set(['array']), items: () => merge(node.elements.map((t) => fromType(t, seen))) };
        case ts.SyntaxKind.TypeLiteral: return fromMembers(node.members, seen);
        case ts.SyntaxKind.LiteralType: {
            const lit = node.literal;
            if (lit.kind === ts.SyntaxKind.NullKeyword) { return { kinds: new Set(['null']) }; }
            if (lit.kind === ts.SyntaxKind.TrueKeyword || lit.kind === ts.SyntaxKind.FalseKeyword) {
                return { kinds: new Set(['boolean']) };
            }
            return { kinds: new Set([ts.isStringLiteral(lit) ? 'string' : 'number']) };
        }
        case ts.SyntaxKind.TypeReference: {
            const name = node.typeName.getText();
            if ((name === 'Array' || name === 'ReadonlyArray') && node.typeArguments) {
                return { kinds: new Set(['array']), items: () => fromType(node.typeArguments[0], seen) };
            }
            if (name === 'Record') { return { kinds: new Set(['object']) }; }
            if (declared.has(name) && !seen.has(name)) {
                return fromMembers(declared.get(name).members, new Set([...seen, name]));
            }
            return { kinds: new Set(['any']) };
        }
        default: return { kinds: new Set(['any']) };
    }
}

function fromMembers(members, seen) {
    const out = { kinds: new Set(['object']), props: {}, required: new Set() };
    for (const m of members) {
        if (!ts.isPropertySignature(m) || !m.type) { continue; }
        const name = m.name.getText().replace(/^['"]|['"]$/g, '');
        out.props[name] = () => fromType(m.type, seen);
        if (!m.questionToken) { out.required.add(name); }
    }
    return out;
}

// ---- the comparison ---------------------------------------------------------------------------
const show = (kinds) => [...kinds].join(' | ');

function compare(where, tsd, sd, sent, listMissing = true) {
    const tsAny = tsd.kinds.has('any');
    const schemaAny = sd.kinds.has('any');
    if (sent) {
        const extra = [...tsd.kinds].filter((k) => !schemaAny && (k === 'any' || !sd.kinds.has(k)));
        if (extra.length) { errors.push(`${where}: declared ${show(tsd.kinds)}, the server accepts ${show(sd.kinds)}`); }
    } else if (!tsAny) {
        const missing = [...sd.kinds].filter((k) => k === 'any' || !tsd.kinds.has(k));
        if (missing.length) { errors.push(`${where}: declared ${show(tsd.kinds)}, the server sends ${show(sd.kinds)}`); }
    }
    if (tsd.props && sd.props) {
        for (const name of Object.keys(tsd.props)) {
            if (!(name in sd.props)) {
                errors.push(`${where}.${name}: not in the schema (the server ${sent ? 'never reads' : 'never sends'} it)`);
                continue;
            }
            if (!sent && tsd.required.has(name) && !sd.required.has(name)) {
                errors.push(`${where}.${name}: declared required, the server may leave it out (make it optional)`);
            }
            if (sent && sd.required.has(name) && !tsd.required.has(name)) {
                errors.push(`${where}.${name}: declared optional, the server requires it`);
            }
            compare(`${where}.${name}`, tsd.props[name](), sd.props[name](), sent, listMissing);
        }
        for (const name of Object.keys(sd.props)) {
            if (listMissing && !(name in tsd.props)) { notes.push(`${where}.${name}: in the schema, not declared`); }
        }
    }
    if (tsd.items && sd.items) { compare(`${where}[]`, tsd.items(), sd.items(), sent, listMissing); }
}

const sent = sentDefs();
let checked = 0;
let calls = 0;
for (const [name, { node, members }] of declared) {
    if (!isExported(node)) { continue; }
    const def = ALIASES[name] || name;
    if (!(def in defs)) {
        errors.push(`protocol.ts ${name}: no $defs/${def} in docs/protocol.schema.json ` +
                    '(add the shape there, or map the name in ALIASES of scripts/check-protocol.js)');
        continue;
    }
    compare(`protocol.ts ${name}`, fromMembers(members, new Set([name])), fromSchema({ $ref: `#/$defs/${def}` }), sent.has(def));
    checked += 1;
}

/** The call sites of src/FILE: `request<T>('otrace/x', {params})` (T against the result, the
 * params' names against the schema's) and `onNotification('otrace/x', (p: T) => ...)`. */
function checkCalls(file, text) {
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    const visit = (node) => {
        const first = ts.isCallExpression(node) ? node.arguments[0] : undefined;
        if (first && ts.isStringLiteralLike(first) && first.text.startsWith('otrace/')) {
            const method = first.text;
            const callee = node.expression.getText().split('.').pop();
            const where = `src/${file}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${method}`;
            const request = schema.requests[method];
            const notification = schema.notifications[method];
            calls += 1;
            if (/request$/i.test(callee) && request) {
                if (node.typeArguments && node.typeArguments.length) {
                    compare(`${where} result`, fromType(node.typeArguments[0]), fromSchema(request.result), false, false);
                }
                const params = node.arguments[1];
                const known = fromSchema(request.params).props || {};
                if (params && ts.isObjectLiteralExpression(params)) {
                    for (const prop of params.properties) {
                        const name = prop.name ? prop.name.getText().replace(/^['"]|['"]$/g, '') : undefined;
                        if (name !== undefined && !(name in known)) {
                            errors.push(`${where} params.${name}: not in the schema (the server never reads it)`);
                        }
                    }
                }
            } else if (callee === 'onNotification' && notification) {
                const handler = node.arguments[1];
                const param = handler && (ts.isArrowFunction(handler) || ts.isFunctionExpression(handler))
                    ? handler.parameters[0] : undefined;
                if (param && param.type) {
                    compare(`${where} params`, fromType(param.type), fromSchema(notification.params), false, false);
                }
            } else if (!request && !notification) {
                errors.push(`${where}: no request or notification of the schema`);
            }
        }
        ts.forEachChild(node, visit);
    };
    visit(sf);
}

const methods = new Set([...Object.keys(schema.requests), ...Object.keys(schema.notifications)]);
for (const file of fs.readdirSync(path.join(EXT, 'src')).filter((f) => f.endsWith('.ts'))) {
    const text = fs.readFileSync(path.join(EXT, 'src', file), 'utf8');
    for (const match of text.matchAll(/['"`](otrace\/[A-Za-z]+)['"`]/g)) {
        if (!methods.has(match[1])) { errors.push(`src/${file}: '${match[1]}' is no request or notification of the schema`); }
    }
    checkCalls(file, text);
}

for (const note of notes) { console.log(`check-protocol: note: ${note}`); }
if (errors.length) {
    for (const error of errors) { console.error(`check-protocol: ${error}`); }
    console.error(`check-protocol: the extension disagrees with docs/protocol.schema.json (${errors.length} error(s))`);
    process.exit(1);
}
console.log(`check-protocol: ${checked} types of src/protocol.ts and ${calls} otrace/* call sites of src/ agree with `
            + 'docs/protocol.schema.json');
