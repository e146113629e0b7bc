/** The parsed form of a Logs Insights query: one command per pipe stage, filter expressions as a tree. */

export type Literal = string | number;

export type Operand =
  | { kind: 'field'; name: string }
  | { kind: 'literal'; value: Literal }
  | { kind: 'call'; name: 'ispresent' | 'isempty'; field: string };

export type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=';

/** `like /re/` and `=~ /re/` test a regex; `like "text"` a substring. */
export type Pattern = { kind: 'regex'; regex: RegExp } | { kind: 'substring'; text: string };

export type Expr =
  | { kind: 'or'; left: Expr; right: Expr }
  | { kind: 'and'; left: Expr; right: Expr }
  | { kind: 'not'; operand: Expr }
  | { kind: 'compare'; op: Comparator; left: Operand; right: Operand }
  | { kind: 'match'; operand: Operand; pattern: Pattern }
  | { kind: 'in'; operand: Operand; values: Literal[] }
  | { kind: 'truthy'; operand: Operand };

export type AggregateName = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'count_distinct';

export interface Aggregate {
  fn: AggregateName;
  /** undefined for `count()` and `count(*)`. */
  field: string | undefined;
  alias: string;
}

export interface FieldRef {
  name: string;
  alias: string;
}

export type Command =
  | { kind: 'fields'; fields: FieldRef[]; text: string }
  | { kind: 'filter'; expr: Expr; text: string }
  | { kind: 'parse'; source: string; mode: 'glob'; regex: RegExp; names: string[]; text: string }
  | { kind: 'parse'; source: string; mode: 'regex'; regex: RegExp; names: string[]; text: string }
  | { kind: 'stats'; aggregates: Aggregate[]; by: string[]; text: string }
  | { kind: 'sort'; keys: { field: string; order: 'asc' | 'desc' }[]; text: string }
  | { kind: 'limit'; count: number; text: string };

export interface Query {
  commands: Command[];
}
