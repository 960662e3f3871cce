import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Names, RemovalPolicy, Stage } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type KeyRoute, ROUTES_FILE } from '../lambdas/routes.js';

/** The repository root: NodejsFunction entries, the lock file and tsconfig are found from here. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Path of the Lambda handler `lambdas/handlers/<name>.ts`. */
export function handlerPath(name: string): string {
  return join(PROJECT_ROOT, 'lambdas', 'handlers', `${name}.ts`);
}

/** Providers with a rotation function: every `lambdas/handlers/rotate-<provider>.ts`. */
export function rotationProviders(): string[] {
  return readdirSync(join(PROJECT_ROOT, 'lambdas', 'handlers'))
    .map((file) => /^rotate-([a-z0-9-]+)\.ts$/.exec(file)?.[1])
    .filter((name): name is string => name !== undefined)
    .sort();
}

/** The newest Node.js runtime this aws-cdk-lib offers; every rekey function uses it. */
export const RUNTIME = lambda.Runtime.NODEJS_24_X;

export interface RekeyFunctionProps {
  /** Handler file name under `lambdas/handlers/`, without `.ts` (e.g. `rotate-sendgrid`). */
  readonly handler: string;
  /** What the function does, shown in the Lambda console. */
  readonly description: string;
  /**
   * Environment variables. Never secret values: functions read keys from Secrets Manager.
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * How long one invocation may run.
   * @default Duration.minutes(1)
   */
  readonly timeout?: Duration;
  /**
   * A fixed function name, for a function whose ARN must be known before it exists (the revoker tells
   * Scheduler to invoke itself again).
   * @default - a name CloudFormation generates
   */
  readonly functionName?: string;
  /**
   * Memory in MiB.
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * How long the function's own log group keeps logs.
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The keys the function may act on, pinned at synth: written into its code bundle as `rekey-routes.json`,
   * which only whoever may update the function's code can change (never a secret's writer).
   * @default - none: the function acts on no key
   */
  readonly routes?: readonly KeyRoute[];
  /**
   * Ship a source map beside the bundle and run with `NODE_OPTIONS=--enable-source-maps`, so stack traces
   * name the TypeScript files and lines. Node then reads the map at start-up: it costs cold start and zip size.
   * @default - the `sourceMaps` context value (`cdk deploy -c sourceMaps=true`), else false
   */
  readonly sourceMaps?: boolean;
}

/** The context key that turns source maps on for every rekey function: `cdk deploy -c sourceMaps=true`. */
const SOURCE_MAPS_CONTEXT = 'sourceMaps';

/**
 * How every rekey function is bundled, by the local esbuild; the cold-start bench bundles with these too.
 * ES module output: Lambda's Node.js runtime loads a handler with import(), and a CommonJS file imported so is
 * first scanned for its exports; the SDK's ES module builds (`mainFields`) let esbuild drop what is unused.
 * The SDK is bundled: the runtime's copy is not pinned, and rekey runs only the versions its tests ran.
 */
export function rekeyBundling(sourceMaps: boolean) {
  return {
    forceDockerBundling: false,
    format: nodejs.OutputFormat.ESM,
    mainFields: ['module', 'main'],
    target: 'node24',
    minify: true,
    sourceMap: sourceMaps,
    // The map is for stack traces: file names and lines, not a second copy of the sources.
    ...(sourceMaps ? { sourcesContent: false } : {}),
    bundleAwsSDK: true,
    tsconfig: join(PROJECT_ROOT, 'tsconfig.json'),
  } satisfies nodejs.BundlingOptions;
}

/**
 * A rekey Lambda function: TypeScript bundled locally by esbuild (no Docker), the newest Node.js runtime
 * on arm64, JSON logs into its own log group with a retention, and its own role that may write only to
 * that log group until a construct grants it more.
 *
 * @example
 * const revoker = new RekeyFunction(this, 'Revoker', { handler: 'revoke', description: 'Revokes old keys' });
 * secret.grantRead(revoker);
 */
export class RekeyFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  /** The keys this function may act on (its bundle's `rekey-routes.json`). */
  readonly routes: readonly KeyRoute[];

  constructor(scope: Construct, id: string, props: RekeyFunctionProps) {
    super(scope, id);
    const entry = handlerPath(props.handler);
    if (!existsSync(entry)) {
      throw new Error(`\`handler\` names no file: ${entry} does not exist`);
    }
    if (props.memorySize !== undefined && (props.memorySize < 128 || props.memorySize > 10_240)) {
      throw new Error(`\`memorySize\` must be between 128 and 10240 MiB, got ${props.memorySize}`);
    }
    const sourceMaps = props.sourceMaps ?? sourceMapsFromContext(this);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (rekey)`,
    });
    this.routes = props.routes ?? [];
    const routesFile = join(
      Stage.of(this)?.outdir ?? PROJECT_ROOT,
      'rekey-routes',
      `${Names.uniqueId(this)}.json`,
    );
    mkdirSync(join(routesFile, '..'), { recursive: true });
    writeFileSync(routesFile, JSON.stringify(this.routes));
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      description: props.description,
      ...(props.functionName ? { functionName: props.functionName } : {}),
      runtime: RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.minutes(1),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      environment: { ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}), ...props.environment },
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      bundling: {
        ...rekeyBundling(sourceMaps),
        // The routes ride in the code asset, so its hash (and the deployed code) changes with them.
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_input: string, output: string) => [
            `cp "${routesFile}" "${join(output, ROUTES_FILE)}"`,
          ],
        },
      },
    });
    // Lambda writes to the log group by name; its ARN attribute already ends in ":*" (its log streams).
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
  }

  get functionArn(): string {
    return this.function.functionArn;
  }

  /** Invocations that ended in an error (a thrown step, a timeout), summed over 5 minutes. */
  metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metricErrors({ statistic: 'Sum', period: Duration.minutes(5), ...props });
  }

  /** Invocations Lambda refused for lack of concurrency, summed over 5 minutes. */
  metricThrottles(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.function.metricThrottles({ statistic: 'Sum', period: Duration.minutes(5), ...props });
  }
}

function sourceMapsFromContext(scope: Construct): boolean {
  const value: unknown = scope.node.tryGetContext(SOURCE_MAPS_CONTEXT);
  if (value === undefined || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  throw new Error(`context \`${SOURCE_MAPS_CONTEXT}\` must be true or false, got ${JSON.stringify(value)}`);
}
