/** The benchmark's error class: bad options, an invalid suite file, a goal that did not end as its script says. */
import { LocalError } from '../aws/errors';

export class BenchError extends LocalError {}
