// A local osls plugin (listed first by infra/offline/plugins.cjs): the functions' environment
// under serverless-offline, where CloudFormation never runs.
//
// In AWS the webhooks and the worker get TODOBOT_QUEUE_URL = the turn queue's URL, a `Ref` that
// CloudFormation resolves. serverless-offline cannot, and would hand the handlers the string
// "[object Object]". Before it (or serverless-offline-sqs) builds its functions, every such
// TODOBOT_QUEUE_URL becomes TODOBOT_OFFLINE_QUEUE_URL when that is set and not empty (a queue on
// a local SQS, such as moto's server), and is removed otherwise: no queue, so the webhook does
// the whole turn in-process, as outside Lambda. Nothing else is touched, and `osls package` /
// `osls deploy` never run these hooks.
"use strict";

const VARIABLE = "TODOBOT_QUEUE_URL";
const OVERRIDE = "TODOBOT_OFFLINE_QUEUE_URL";

class TodobotOfflineEnvironment {
  constructor(serverless) {
    this.serverless = serverless;
    const apply = () => this.apply();
    this.hooks = {
      "before:offline:start": apply,
      "before:offline:start:init": apply,
    };
  }

  apply() {
    const url = (process.env[OVERRIDE] || "").trim();
    const { service } = this.serverless;
    const environments = [service.provider.environment || {}];
    for (const key of service.getAllFunctions()) {
      environments.push(service.getFunction(key).environment || {});
    }
    for (const environment of environments) {
      if (!Object.prototype.hasOwnProperty.call(environment, VARIABLE)) continue;
      if (typeof environment[VARIABLE] === "string") continue; // a literal: left as it is
      if (url) {
        environment[VARIABLE] = url;
      } else {
        delete environment[VARIABLE];
      }
    }
  }
}

module.exports = TodobotOfflineEnvironment;
