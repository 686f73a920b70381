// The osls plugins (serverless.yml: `plugins: ${file(infra/offline/plugins.cjs)}`).
//
// serverless-offline always: `osls offline start` (make offline, tests/offline).
// serverless-offline-sqs only when TODOBOT_OFFLINE_SQS_ENDPOINT names a local SQS (moto's
// server on 127.0.0.1, say): it then polls the turn queue there and invokes the worker, as the
// event source mapping does in AWS. Without that variable it is not loaded at all, so it can
// never poll a real queue, and `osls package` / `osls deploy` never depend on it.
"use strict";

module.exports = () => {
  const plugins = [];
  if ((process.env.TODOBOT_OFFLINE_SQS_ENDPOINT || "").trim()) {
    plugins.push("serverless-offline-sqs");
  }
  plugins.push("serverless-offline");
  return plugins;
};
