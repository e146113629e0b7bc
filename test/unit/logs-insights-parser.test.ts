import { LogsInsightsQueryError } from '../../local/logs-insights/errors';
import { tokenize } from '../../local/logs-insights/lexer';
import { parseQuery } from '../../local/logs-insights/parser';

const errorOf = (query: string): string => {
  try {
    parseQuery(query);
  } catch (error) {
    expect(error).toBeInstanceOf(LogsInsightsQueryError);
    return (error as Error).message;
  }
  throw new Error(`parsed: ${query}`);
};

describe('the Logs Insights lexer', () => {
  it('reads strings, regexes, numbers, dotted fields and drops # comments', () => {
    // Act
    const tokens = tokenize(
      `# a comment | not a command\nfilter trace.costUsd > -1.5 and @message like /"trace": *\\// # tail\n| parse 'a"*' as x`,
    );

    // Assess
    expect(tokens.map((t) => [t.kind, t.kind === 'number' ? t.value : t.text])).toEqual([
      ['name', 'filter'],
      ['name', 'trace.costUsd'],
      ['op', '>'],
      ['number', -1.5],
      ['name', 'and'],
      ['name', '@message'],
      ['name', 'like'],
      ['regex', '"trace": *\\/'],
      ['op', '|'],
      ['name', 'parse'],
      ['string', 'a"*'],
      ['name', 'as'],
      ['name', 'x'],
    ]);
  });
});

describe('the Logs Insights parser', () => {
  it('parses a query like the seed one into its commands', () => {
    // Act
    const query = parseQuery(`fields @timestamp, @message, @logStream, @log
| filter @message like /"trace":/ or @message like /"exception":/
| parse @message '"sessionId":"*"' as sessionId
| parse @message '"latencyMs":*' as latencyMs
| stats avg(latencyMs) as avgLatency, count() as executionCount by toolName, sessionId
| filter avgLatency > 1500
| sort avgLatency desc
| limit 20`);

    // Assess
    expect(query.commands.map((c) => c.kind)).toEqual([
      'fields',
      'filter',
      'parse',
      'parse',
      'stats',
      'filter',
      'sort',
      'limit',
    ]);
    expect(query.commands[4]).toMatchObject({
      aggregates: [
        { fn: 'avg', field: 'latencyMs', alias: 'avgLatency' },
        { fn: 'count', field: undefined, alias: 'executionCount' },
      ],
      by: ['toolName', 'sessionId'],
    });
    expect(query.commands[1]).toMatchObject({ expr: { kind: 'or' } });
    expect(query.commands[6]).toMatchObject({ keys: [{ field: 'avgLatency', order: 'desc' }] });
  });

  it('binds and tighter than or, and not to the comparison after it', () => {
    // Act
    const [command] = parseQuery('filter a = 1 or not b = 2 and c like "x"').commands;

    // Assess
    expect(command).toMatchObject({
      expr: {
        kind: 'or',
        left: { kind: 'compare', op: '=' },
        right: { kind: 'and', left: { kind: 'not', operand: { kind: 'compare' } }, right: { kind: 'match' } },
      },
    });
  });

  it('parses regex parse patterns by their named groups and aggregates without an alias by their text', () => {
    // Act
    const query = parseQuery(
      'parse @message /(?<user>\\w+) took (?<ms>\\d+)/ | stats sum(ms), count(*) by user',
    );

    // Assess
    expect(query.commands[0]).toMatchObject({ mode: 'regex', names: ['user', 'ms'], source: '@message' });
    expect(query.commands[1]).toMatchObject({ aggregates: [{ alias: 'sum(ms)' }, { alias: 'count()' }] });
  });

  it.each([
    ['dedup sessionId', 'Cannot parse `dedup sessionId`: unsupported command "dedup"'],
    [
      "parse @message 'a=* b=*' as a",
      'Cannot parse `parse @message \'a=* b=*\' as a`: the pattern has 2 "*" but 1 names',
    ],
    ['stats median(x)', 'Cannot parse `stats median(x)`: unsupported aggregate function median()'],
    ['fields a | | limit 3', 'A pipe "|" with no command before or after it'],
    ['filter a = ', 'Cannot parse `filter a =`: expected a field or a value but the command ended'],
    ['limit 0', 'Cannot parse `limit 0`: limit takes one whole number of rows > 0'],
    ['filter @message like /unterminated', 'Unterminated /regex/ at character 21'],
    ['filter x like /(/', 'Invalid regex /(/'],
  ])('says what is wrong with `%s` and names the command', (query, message) => {
    expect(errorOf(query)).toContain(message);
  });
});
