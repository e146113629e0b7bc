/**
 * `npm run bench`: runs the task suite (events/suite/) on the local stack under four model policies, one stack per
 * policy, and reports the loop's fitted figures (transitions, Lambda invocations, DynamoDB requests per turn and per
 * tool call), the largest state payload, and the cost per 1,000 tasks (model and infrastructure). Counts, not
 * timings, are the result; timings are printed as information only.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { zodIssues } from '../../shared/runtime/zod-issues';
import { defaultRootDir } from '../stack/serverless-config';
import { QUICK_GOALS, runBench } from './bench';
import { POLICY_NAMES, type PolicyName } from './cost';
import { BenchError } from './errors';
import { formatReport } from './tables';

const USAGE = `Usage: npm run bench -- [--json] [--policies P,...] [--goals G,...|--quick] [--no-warm-up]
                        [--skip-bundles] [--skip-concurrency]

  --json              one JSON object on stdout instead of tables (use \`npm run -s bench -- --json\`)
  --policies P,...    of ${POLICY_NAMES.join(', ')} (default: all four, one stack each)
  --goals G,...       suite goals whose file name contains one of these (e.g. 01-,twenty); default: all
  --quick             a five-goal subset (${QUICK_GOALS.join(' ')}) for a fast look
  --no-warm-up        skip the warm-up goal each stack runs first (its cold starts are left out of the figures)
  --skip-bundles      leave bundle sizes out
  --skip-concurrency  leave the concurrency runs out`;

const listOf = (value: string | undefined): string[] | undefined =>
  value === undefined
    ? undefined
    : value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);

const optionsSchema = z
  .object({
    json: z.boolean(),
    policies: z
      .array(z.enum(POLICY_NAMES, { error: `--policies takes ${POLICY_NAMES.join(', ')}` }))
      .min(1, '--policies needs at least one policy'),
    goals: z.array(z.string().min(1)).min(1, '--goals needs at least one name').optional(),
    quick: z.boolean(),
    warmUp: z.boolean(),
    skipBundles: z.boolean(),
    skipConcurrency: z.boolean(),
  })
  .refine((o) => !(o.quick && o.goals !== undefined), { message: '--quick and --goals exclude each other' });
type Options = z.infer<typeof optionsSchema>;

const parseOptions = (argv: string[]): Options => {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        json: { type: 'boolean', default: false },
        policies: { type: 'string' },
        goals: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'no-warm-up': { type: 'boolean', default: false },
        'skip-bundles': { type: 'boolean', default: false },
        'skip-concurrency': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new BenchError(`${(error as Error).message}\n${USAGE}`);
  }
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const parsed = optionsSchema.safeParse({
    json: values.json,
    policies: listOf(values.policies as string | undefined) ?? [...POLICY_NAMES],
    goals: listOf(values.goals as string | undefined),
    quick: values.quick,
    warmUp: values['no-warm-up'] !== true,
    skipBundles: values['skip-bundles'],
    skipConcurrency: values['skip-concurrency'],
  });
  if (!parsed.success) throw new BenchError(`${zodIssues(parsed.error).join('; ')}\n${USAGE}`);
  return parsed.data;
};

const main = async (argv: string[]): Promise<void> => {
  const options = parseOptions(argv);
  const report = await runBench({
    rootDir: defaultRootDir(),
    policies: [...new Set(options.policies)] as PolicyName[],
    ...(options.quick ? { goals: QUICK_GOALS } : options.goals === undefined ? {} : { goals: options.goals }),
    warmUp: options.warmUp,
    skipBundles: options.skipBundles,
    skipConcurrency: options.skipConcurrency,
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
};

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
  if (error instanceof Error && error.cause !== undefined)
    process.stderr.write(`  cause: ${String(error.cause)}\n`);
  process.exitCode = 1;
});
