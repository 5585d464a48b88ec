import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/** Build step: bundles the workflows once, so a worker starts in a second instead of running webpack. */
async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: undefined });
  const target = path.join(__dirname, '..', 'workflow-bundle.js');
  await writeFile(target, code);
  process.stderr.write(`orders-etl: wrote ${path.relative(process.cwd(), target)} (${(code.length / 1024).toFixed(0)} KiB)\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`orders-etl: bundling workflows failed: ${err.message}\n`);
  process.exit(1);
});
