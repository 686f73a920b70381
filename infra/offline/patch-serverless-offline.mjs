// Run by `npm ci` (package.json "postinstall"). Makes serverless-offline and
// serverless-offline-sqs behave like Lambda where Todobot depends on it.
//
// 1. serverless-offline's Python runner: a Lambda context like the real one. serverless-offline
//    sends the context to its invoke.py in camelCase (functionName, ...), but invoke.py's
//    FakeLambdaContext only reads `name`, so every handler saw function_name "Fake" and
//    invoked_function_arn "arn:aws:lambda:serverless:Fake". After the patch, function_name is
//    the real name (todobot-local-worker) and invoked_function_arn is that name too, because
//    serverless-offline's Invoke API matches names, not ARNs. And get_remaining_time_in_millis()
//    counted down from FakeLambdaContext's default of 6 s whatever the function's timeout: the
//    worker, which stops taking records when too little time is left for a turn, sent every
//    record back. The runner now passes the function's timeout (serverless.yml) in the context.
//
// 2. serverless-offline-sqs (loaded only with TODOBOT_OFFLINE_SQS_ENDPOINT; serverless.yml):
//    a. It deleted every record of a batch once the handler returned, ignoring the handler's
//       {"batchItemFailures": [...]}: a record the worker reported as failed was lost instead of
//       coming back. Now, for an event with functionResponseType ReportBatchItemFailures, the
//       reported records stay in the queue (they come back after their visibility timeout, and
//       go to the dead-letter queue after maxReceiveCount receives), and a response naming a
//       record that is not in the batch (or none) fails the whole batch, as Lambda does.
//    b. It filled a batch with receive after receive, each waiting up to 5 s for more: a lone
//       turn waited 5 s, and a record whose visibility ran out meanwhile (the worker shortens
//       it to retry sooner) was received again into the same batch, twice in one event. Now a
//       batch is one ReceiveMessage (up to 10 records, the worker's batch size), as the event
//       source mapping of a FIFO queue does.
//
// The patches are exact: they fail (and so does `npm ci`) if a file is not the one they were
// written for, so an upgrade gets looked at instead of silently skipped.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const MARKER = "patched by todobot (infra/offline/patch-serverless-offline.mjs)";
const project = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const modules = join(project, "node_modules");

const patches = [
  {
    what: "serverless-offline: Python Lambda context (function_name, invoked_function_arn)",
    file: join(modules, "serverless-offline/src/lambda/handler-runner/python-runner/invoke.py"),
    marker: `# ${MARKER}`,
    replacements: [
      [
        "        return 'arn:aws:lambda:serverless:' + self.name\n",
        `        return self.name  # ${MARKER}\n`,
      ],
      [
        "        context = FakeLambdaContext(**input.get('context', {}))\n",
        `        raw_context = input.get('context', {})  # ${MARKER}\n` +
          "        context = FakeLambdaContext(name=raw_context.get('functionName', 'Fake'), **raw_context)\n",
      ],
    ],
  },
  {
    what: "serverless-offline: Python Lambda context with the function's timeout",
    file: join(modules, "serverless-offline/src/lambda/handler-runner/python-runner/PythonRunner.js"),
    marker: `// ${MARKER}`,
    replacements: [
      [
        "    const { handler, runtime } = funOptions\n",
        "    const { handler, runtime } = funOptions\n" +
          `    this.timeoutSeconds = funOptions.timeout / 1000 // ${MARKER}\n`,
      ],
      [
        "      const input = stringify({\n        context,\n",
        "      const input = stringify({\n        context: { ...context, timeout: this.timeoutSeconds },\n",
      ],
    ],
  },
  {
    what: "serverless-offline-sqs: batchItemFailures honoured, one receive per batch",
    file: join(modules, "serverless-offline-sqs/src/sqs.js"),
    marker: `// ${MARKER}`,
    replacements: [
      [
        "      return getMessages(size - Messages.length, [...messages, ...Messages]);\n",
        `      return [...messages, ...Messages]; // ${MARKER}: one receive per batch\n`,
      ],
      [
        "          await lambdaFunction.runHandler();\n",
        `          const result = await lambdaFunction.runHandler(); // ${MARKER}\n` +
          "          const failed = batchItemFailures(sqsEvent, messages, result);\n",
      ],
      [
        "              (messages || []).map(({MessageId: Id, ReceiptHandle}) => ({\n",
        "              (messages || []).filter(({MessageId}) => !failed.has(MessageId)).map(({MessageId: Id, ReceiptHandle}) => ({\n",
      ],
      [
        "class SQS {\n",
        `// ${MARKER}: the records Lambda would not delete after this response.\n` +
          "const batchItemFailures = (sqsEvent, messages, result) => {\n" +
          "  if (sqsEvent.functionResponseType !== 'ReportBatchItemFailures') return new Set();\n" +
          "  const reported = result && result.batchItemFailures;\n" +
          "  if (reported == null) return new Set();\n" +
          "  const all = new Set(messages.map(({MessageId}) => MessageId));\n" +
          "  if (!Array.isArray(reported)) return all;\n" +
          "  const ids = reported.map(item => item && item.itemIdentifier);\n" +
          "  return ids.some(id => !id || !all.has(id)) ? all : new Set(ids);\n" +
          "};\n\n" +
          "class SQS {\n",
      ],
    ],
  },
];

let failed = false;
for (const { what, file, marker, replacements } of patches) {
  if (!existsSync(file)) {
    console.error(`${file} is missing; review infra/offline/patch-serverless-offline.mjs`);
    failed = true;
    continue;
  }
  let source = readFileSync(file, "utf8");
  if (source.includes(marker)) continue;
  let ok = true;
  for (const [before, after] of replacements) {
    if (source.split(before).length !== 2) {
      console.error(`${file}: expected exactly one ${JSON.stringify(before.trim())}; ` +
        "the package changed, review infra/offline/patch-serverless-offline.mjs");
      ok = false;
      break;
    }
    source = source.replace(before, after);
  }
  if (!ok) {
    failed = true;
    continue;
  }
  writeFileSync(file, source);
  console.log(`patched ${what}`);
}
process.exit(failed ? 1 : 0);
