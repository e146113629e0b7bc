/**
 * `parse` patterns as regular expressions: glob mode (`*` wildcards) and regex mode (named capture groups).
 *
 * Glob semantics, from AWS's parse page (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/CWL_QuerySyntax-Parse.html,
 * read 2026-12-02): the number of `*` must equal the number of `as` names, and the page gives
 * `"user=*, method:*, latency := *"` and `/user=(?<user2>.*?), method:(?<method2>.*?), latency := (?<latency2>.*?)/`
 * as the same extraction, so each `*` is the non-greedy `.*?` and the pattern may match anywhere in the field (the
 * first match wins). A `*` that ends the pattern has nothing after it to stop at: it takes the rest of the field
 * (inferred, not stated: the page's `latency := *` is meant to extract the latency, not an empty string, and the issue
 * says the same of `"latencyMs":*`). So `'"latencyMs":*'` on a JSON line whose last
 * key is latencyMs extracts `123}`: the value and the closing brace.
 */
import { LogsInsightsQueryError } from './errors';

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The regex of a glob pattern; its groups are the wildcards in order. */
export const globRegex = (pattern: string): { regex: RegExp; wildcards: number } => {
  const parts = pattern.split('*');
  const wildcards = parts.length - 1;
  let source = '';
  parts.forEach((part, i) => {
    source += escapeRegex(part);
    if (i < wildcards) source += i === wildcards - 1 && parts[wildcards] === '' ? '(.*)$' : '(.*?)';
  });
  return { regex: new RegExp(source, 's'), wildcards };
};

const AT = '$at_';
const groupKey = (name: string): string => (name.startsWith('@') ? `${AT}${name.slice(1)}` : name);

/**
 * A regex-mode pattern. Logs Insights writes case-insensitivity as a leading `(?i)`; JavaScript regexes take a flag.
 * AWS also allows `(?<@name>...)`, which JavaScript rejects: such a group is compiled as `$at_name` and named back.
 */
export const queryRegex = (source: string, flags: string): RegExp => {
  let body = source.replace(/\(\?<@([A-Za-z_$][\w$]*)>/g, `(?<${AT}$1>`);
  let allFlags = flags.replace(/[^imsu]/g, '');
  if (body.startsWith('(?i)')) {
    body = body.slice(4);
    if (!allFlags.includes('i')) allFlags += 'i';
  }
  try {
    return new RegExp(body, allFlags);
  } catch (error) {
    throw new LogsInsightsQueryError(`Invalid regex /${source}/: ${(error as Error).message}`);
  }
};

/** The named groups of a regex-mode parse pattern, in order (`@name` as written in the query). */
export const namedGroups = (regex: RegExp): string[] =>
  [...regex.source.matchAll(/\(\?<([A-Za-z_$][\w$]*)>/g)].map((m) => {
    const key = m[1] as string;
    return key.startsWith(AT) ? `@${key.slice(AT.length)}` : key;
  });

/** The fields one parse extracts from a value (names in order), or undefined when the pattern does not match. */
export const extract = (
  regex: RegExp,
  names: string[],
  value: string,
): Record<string, string> | undefined => {
  const match = regex.exec(value);
  if (!match) return undefined;
  const fields: Record<string, string> = {};
  const groups = match.groups;
  if (groups && names.every((n) => groupKey(n) in groups)) {
    for (const name of names) fields[name] = groups[groupKey(name)] ?? '';
    return fields;
  }
  names.forEach((name, i) => {
    fields[name] = match[i + 1] ?? '';
  });
  return fields;
};
