// The osls plugins (serverless.yml: `plugins: ${file(infra/offline/plugins.cjs)}`).
//
// - ./infra/offline/offline-environment.cjs always, first: under `osls offline` it gives the
//   functions TODOBOT_QUEUE_URL from TODOBOT_OFFLINE_QUEUE_URL (or none), as serverless-offline
//   cannot resolve the queue's Ref, and with TODOBOT_OFFLINE_SCHEDULE=off disables the
//   scheduler's every-minute schedule. No effect on package or deploy.
// - serverless-offline-sqs only when TODOBOT_OFFLINE_SQS_ENDPOINT names a local SQS (moto's
//   server on 127.0.0.1, say): it then polls the turn queue there and invokes the worker, as the
//   event source mapping does in AWS. Without that variable it is not loaded at all, so it can
//   never poll a real queue, and `osls package` / `osls deploy` never depend on it.
// - serverless-offline always: `osls offline start` (make offline, tests/offline).
"use strict";

module.exports = () => {
  const plugins = ["./infra/offline/offline-environment.cjs"];
  if ((process.env.TODOBOT_OFFLINE_SQS_ENDPOINT || "").trim()) {
    plugins.push("serverless-offline-sqs");
  }
  plugins.push("serverless-offline");
  return plugins;
};
