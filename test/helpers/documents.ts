// Parses client configuration documents with real parsers (Python's xml.etree and plistlib),
// so a test checks what a client would read, not what a regular expression finds.
import { spawnSync } from 'node:child_process';

/** Runs a Python snippet with `doc` (the text) on stdin; the snippet prints JSON. */
function python<T>(code: string, doc: string): T {
  const r = spawnSync('python3', ['-c', code], { input: doc, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 could not parse the document: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface XmlNode {
  tag: string;
  attrib: Record<string, string>;
  text: string;
  children: XmlNode[];
}

/** The element tree (tags with "{namespace}local" as ElementTree names them). */
export function parseXml(doc: string): XmlNode {
  return python<XmlNode>(
    `import sys, json, xml.etree.ElementTree as ET
def walk(e): return {"tag": e.tag, "attrib": dict(e.attrib), "text": (e.text or "").strip(), "children": [walk(c) for c in e]}
print(json.dumps(walk(ET.fromstring(sys.stdin.buffer.read()))))`,
    doc,
  );
}

/** A property list as JSON (dates and data are not expected in these documents). */
export function parsePlist(doc: string): unknown {
  return python<unknown>(`import sys, json, plistlib\nprint(json.dumps(plistlib.loads(sys.stdin.buffer.read())))`, doc);
}

/** Children of a node with a tag (local name matched, namespace ignored). */
export function kids(node: XmlNode, local: string): XmlNode[] {
  return node.children.filter((c) => c.tag.replace(/^\{[^}]*\}/, '') === local);
}

export function kid(node: XmlNode, local: string): XmlNode {
  const k = kids(node, local)[0];
  if (!k) throw new Error(`<${node.tag}> has no <${local}>`);
  return k;
}
