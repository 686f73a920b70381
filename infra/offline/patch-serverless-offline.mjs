// Run by `npm ci` (package.json "postinstall"). Makes serverless-offline's Python runner hand
// handlers a Lambda context like the real one, so the deferred turns work offline.
//
// serverless-offline sends the context to its invoke.py in camelCase (functionName, ...), but
// invoke.py's FakeLambdaContext only reads `name`, so every handler saw function_name "Fake"
// and invoked_function_arn "arn:aws:lambda:serverless:Fake": the Telegram handler's and Bolt's
// self-invocations then asked the offline Lambda API for a function "Fake". After the patch,
// function_name is the real name (todobot-local-telegram) and invoked_function_arn is that
// name too, because serverless-offline's Invoke API matches names, not ARNs.
//
// The patch is exact: it fails (and so does `npm ci`) if the file is not the one it was
// written for, so an upgrade of serverless-offline gets looked at instead of silently skipped.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const MARKER = "# patched by todobot (infra/offline/patch-serverless-offline.mjs)";
const project = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const root = join(project, "node_modules", "serverless-offline");
const file = join(root, "src/lambda/handler-runner/python-runner/invoke.py");

const replacements = [
  [
    "        return 'arn:aws:lambda:serverless:' + self.name\n",
    "        return self.name  " + MARKER + "\n",
  ],
  [
    "        context = FakeLambdaContext(**input.get('context', {}))\n",
    "        raw_context = input.get('context', {})  " + MARKER + "\n" +
      "        context = FakeLambdaContext(name=raw_context.get('functionName', 'Fake'), **raw_context)\n",
  ],
];

let source = readFileSync(file, "utf8");
if (source.includes(MARKER)) {
  process.exit(0);
}
for (const [before, after] of replacements) {
  if (source.split(before).length !== 2) {
    console.error(`${file}: expected exactly one ${JSON.stringify(before.trim())}; ` +
      "serverless-offline changed, review infra/offline/patch-serverless-offline.mjs");
    process.exit(1);
  }
  source = source.replace(before, after);
}
writeFileSync(file, source);
console.log("serverless-offline: Python Lambda context patched (function_name, invoked_function_arn)");
