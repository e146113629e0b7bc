/**
 * Traces from the daemon stand-in's file: the documents of each trace joined into trees by `parent_id` (and by
 * nesting, for a segment sent with its subsegments inside), and the traces a session's annotations point to.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { SegmentDocument } from './datagram';

export interface TraceNode {
  name: string;
  id: string;
  /** Segments only (`AWS::Lambda::Function`, `AWS::StepFunctions::StateMachine`). */
  origin?: string;
  startTime: number;
  /** Undefined while in progress. */
  durationMs?: number;
  annotations: Record<string, string | number | boolean>;
  error: boolean;
  fault: boolean;
  throttle: boolean;
  children: TraceNode[];
}

export interface Trace {
  traceId: string;
  /** The trace's top documents: those whose parent is not in the file (the caller was not traced, or is not local). */
  roots: TraceNode[];
}

/** A document with its embedded subsegments (they carry no trace_id or parent_id of their own). */
type Document = Pick<SegmentDocument, 'name' | 'id' | 'start_time' | 'end_time' | 'parent_id' | 'origin'> & {
  trace_id?: string;
  annotations?: Record<string, string | number | boolean>;
  error?: boolean;
  fault?: boolean;
  throttle?: boolean;
  subsegments?: Document[];
};

/** Every document of the file, in the order received (an unreadable line is skipped: the daemon wrote each whole). */
export const readSegments = (file: string): Document[] => {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Document];
      } catch {
        return [];
      }
    });
};

/** Each document once with its parent, the embedded ones flattened; a later document with an id replaces an earlier one. */
const flatten = (documents: Document[]): Map<string, { doc: Document; parentId?: string }> => {
  const byId = new Map<string, { doc: Document; parentId?: string }>();
  const visit = (doc: Document, parentId: string | undefined): void => {
    byId.set(doc.id, { doc, ...(parentId === undefined ? {} : { parentId }) });
    for (const child of doc.subsegments ?? []) visit(child, doc.id);
  };
  for (const doc of documents) visit(doc, doc.parent_id);
  return byId;
};

const nodeOf = (doc: Document): TraceNode => ({
  name: doc.name,
  id: doc.id,
  ...(doc.origin ? { origin: doc.origin } : {}),
  startTime: doc.start_time,
  ...(doc.end_time === undefined ? {} : { durationMs: Math.round((doc.end_time - doc.start_time) * 1000) }),
  annotations: doc.annotations ?? {},
  error: doc.error === true,
  fault: doc.fault === true,
  throttle: doc.throttle === true,
  children: [],
});

/** The trees of one trace's documents, children in start order. */
export const buildTrees = (documents: Document[]): TraceNode[] => {
  const entries = flatten(documents);
  const nodes = new Map([...entries].map(([id, { doc }]) => [id, nodeOf(doc)]));
  const roots: TraceNode[] = [];
  for (const [id, { parentId }] of entries) {
    const node = nodes.get(id) as TraceNode;
    const parent = parentId === undefined ? undefined : nodes.get(parentId);
    (parent ? parent.children : roots).push(node);
  }
  const byStart = (a: TraceNode, b: TraceNode) => a.startTime - b.startTime;
  for (const node of nodes.values()) node.children.sort(byStart);
  return roots.sort(byStart);
};

/** The traces in which some document is annotated with this session id, oldest first. */
export const tracesOfSession = (documents: Document[], sessionId: string): Trace[] => {
  const annotated = (doc: Document): boolean =>
    doc.annotations?.sessionId === sessionId || (doc.subsegments ?? []).some(annotated);
  const ids = new Set(documents.filter(annotated).flatMap((d) => (d.trace_id ? [d.trace_id] : [])));
  return [...ids]
    .map((traceId) => ({ traceId, roots: buildTrees(documents.filter((d) => d.trace_id === traceId)) }))
    .sort((a, b) => (a.roots[0]?.startTime ?? 0) - (b.roots[0]?.startTime ?? 0));
};

/** Every node of a tree, depth first. */
export const walk = function* (nodes: TraceNode[]): Generator<TraceNode> {
  for (const node of nodes) {
    yield node;
    yield* walk(node.children);
  }
};

const flags = (node: TraceNode): string =>
  [node.fault ? 'FAULT' : '', node.error ? 'ERROR' : '', node.throttle ? 'THROTTLE' : '']
    .filter(Boolean)
    .join(' ');

/** One line per node: indentation for depth, name, duration, annotations, error/fault flags. */
export const formatTrace = (trace: Trace): string[] => {
  const lines = [`trace ${trace.traceId}`];
  const visit = (node: TraceNode, depth: number): void => {
    const annotations = Object.entries(node.annotations)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    const parts = [
      `${'  '.repeat(depth + 1)}${node.name}${node.origin ? ` (${node.origin})` : ''}`,
      node.durationMs === undefined ? 'in progress' : `${node.durationMs} ms`,
      annotations ? `[${annotations}]` : '',
      flags(node),
    ];
    lines.push(parts.filter(Boolean).join('  '));
    for (const child of node.children) visit(child, depth + 1);
  };
  for (const root of trace.roots) visit(root, 0);
  return lines;
};
