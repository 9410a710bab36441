// The body test (RFC 5173) with the :raw, :content and :text transforms, on the project's MIME
// parser (src/message/).
import { decodedPartText, leafParts } from '../message/sections.js';
import { decodeTransfer } from '../message/sections.js';
import { MATCH_TAGS, checkMatch, matchAny } from './match.js';
import type { ExtensionDef, Runtime, VNode } from './runtime.js';
import type { MimePart } from '../message/types.js';

function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/[ \t]+/g, ' ');
}

/** RFC 5173 §5.2: "type" matches the part's type, "type/subtype" both, "" every part. */
function typeMatches(p: MimePart, want: string): boolean {
  const w = want.toLowerCase();
  if (w === '') return true;
  const slash = w.indexOf('/');
  if (slash < 0) return p.type === w;
  return p.type === w.slice(0, slash) && p.subtype === w.slice(slash + 1);
}

/**
 * RFC 5173 §5.2: a multipart's prologue (before its first delimiter line) and epilogue (after
 * its close delimiter line), without the delimiter lines and the CRLF that belongs to them.
 */
function prologueEpilogue(p: MimePart, raw: Buffer): string[] {
  const children = p.children!;
  const before = raw.subarray(p.bodyStart, children[0]!.headerStart).toString('utf8');
  const after = raw.subarray(children[children.length - 1]!.bodyEnd, p.bodyEnd).toString('utf8');
  // The prologue ends with "[CRLF]--boundary[padding]CRLF"; the epilogue begins with
  // "CRLF--boundary--[padding]" and its line end.
  const prologue = before.replace(/(^|\r?\n)--[^\r\n]*\r?\n$/, '');
  const close = /^\r?\n--[^\r\n]*(\r?\n|$)/.exec(after);
  const epilogue = close ? after.slice(close[0].length) : after;
  return [prologue, epilogue];
}

function bodyValues(node: VNode, rt: Runtime): string[] {
  const raw = rt.msg.raw;
  if (node.tags.has('raw')) {
    // RFC 5173 §5.1: the body as it is, undecoded.
    return [raw.subarray(rt.structure.root.bodyStart).toString('utf8')];
  }
  const content = node.tags.get('content');
  if (content) {
    // RFC 5173 §5.2: every part of the given types, searched recursively through multiparts and
    // enclosed messages. A leaf part with its transfer encoding (and for text, charset) undone; a
    // multipart only its prologue and epilogue, as two strings; a message/rfc822 only the header
    // of the enclosed message, as one string. Nested parts count only when their own type matches.
    const types = rt.list(content.value as string[]);
    const out: string[] = [];
    const work: MimePart[] = [rt.structure.root];
    while (work.length) {
      const p = work.pop()!;
      const wanted = types.some((t) => typeMatches(p, t));
      if (p.type === 'multipart' && p.children?.length) {
        if (wanted) out.push(...prologueEpilogue(p, raw));
        for (let i = p.children.length - 1; i >= 0; i--) work.push(p.children[i]!);
        continue;
      }
      if (p.message) {
        if (wanted) out.push(raw.subarray(p.message.root.headerStart, p.message.root.bodyStart).toString('utf8').replace(/\r?\n\r?\n$/, ''));
        work.push(p.message.root);
        continue;
      }
      if (!wanted) continue;
      const t = decodedPartText(p, raw);
      if (t !== null) out.push(t);
      else {
        const b = decodeTransfer(p.encoding, raw.subarray(p.bodyStart, p.bodyEnd));
        out.push((b ?? raw.subarray(p.bodyStart, p.bodyEnd)).toString('latin1'));
      }
    }
    return out;
  }
  // RFC 5173 §5.3 (:text, the default): the text parts, decoded, HTML reduced to its text.
  const out: string[] = [];
  for (const p of leafParts(rt.structure)) {
    if (p.type !== 'text') continue;
    const t = decodedPartText(p, raw);
    if (t === null) continue;
    out.push(p.subtype === 'html' ? htmlToText(t) : t);
  }
  return out;
}

export const body: ExtensionDef = {
  capabilities: ['body'],
  tests: {
    body: {
      ext: 'body',
      pos: ['list'],
      tags: { ...MATCH_TAGS, raw: { group: 'transform' }, content: { group: 'transform', arg: 'list' }, text: { group: 'transform' } },
      check(node, ctx) {
        checkMatch(node, ctx, 0);
        // RFC 5173 does not forbid :count, but its count would mean nothing: RFC 5173 §5.3 leaves
        // open whether :text gives one string or several. Yubin refuses it.
        if (node.tags.has('count')) ctx.error(node.tags.get('count')!, 'body cannot be used with :count');
      },
      test(node, rt) {
        return matchAny(rt, node, bodyValues(node, rt), rt.list(node.pos[0] as string[]));
      },
    },
  },
};
