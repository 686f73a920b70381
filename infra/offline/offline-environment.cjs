// A local osls plugin (listed first by infra/offline/plugins.cjs): the functions' environment
// under serverless-offline, where CloudFormation never runs.
//
// In AWS the webhooks and the worker get TODOBOT_QUEUE_URL = the turn queue's URL, and the
// worker TODOBOT_DEAD_LETTER_QUEUE_URL = its dead-letter queue's: `Ref`s that CloudFormation
// resolves. serverless-offline cannot, and would hand the handlers the string
// "[object Object]". Before it (or serverless-offline-sqs) builds its functions, each such
// variable becomes TODOBOT_OFFLINE_QUEUE_URL (TODOBOT_OFFLINE_DEAD_LETTER_QUEUE_URL) when that is
// set and not empty (a queue on a local SQS, such as moto's server), and is removed otherwise.
// No TODOBOT_QUEUE_URL means no queue: a webhook then does the whole turn in-process, as outside
// Lambda, and so also reads the secrets the worker reads (its TODOBOT_SSM_SECRETS gains the
// worker's names). With TODOBOT_OFFLINE_SCHEDULE=off the scheduler's schedule events are
// disabled (serverless-offline would otherwise invoke it every minute; the offline tests invoke
// it themselves, through the Lambda API). Nothing else is touched, and `osls package` /
// `osls deploy` never run these hooks.
"use strict";

const OVERRIDES = {
  TODOBOT_QUEUE_URL: "TODOBOT_OFFLINE_QUEUE_URL",
  TODOBOT_DEAD_LETTER_QUEUE_URL: "TODOBOT_OFFLINE_DEAD_LETTER_QUEUE_URL",
};
const QUEUE = "TODOBOT_QUEUE_URL";
const SECRETS = "TODOBOT_SSM_SECRETS";
const SCHEDULE = "TODOBOT_OFFLINE_SCHEDULE";

const names = (value) =>
  typeof value === "string" ? value.split(",").map((n) => n.trim()).filter(Boolean) : [];

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
    const { service } = this.serverless;
    const functions = service.getAllFunctions().map((key) => service.getFunction(key));
    // The worker's secrets: those of the functions the queue invokes (an sqs event).
    const workerSecrets = functions
      .filter((fn) => (fn.events || []).some((event) => event && event.sqs))
      .flatMap((fn) => names((fn.environment || {})[SECRETS]));
    const provider = service.provider.environment || {};
    for (const environment of [provider, ...functions.map((fn) => fn.environment || {})]) {
      for (const [variable, override] of Object.entries(OVERRIDES)) {
        if (!Object.prototype.hasOwnProperty.call(environment, variable)) continue;
        if (typeof environment[variable] === "string") continue; // a literal: left as it is
        const url = (process.env[override] || "").trim();
        if (url) {
          environment[variable] = url;
          continue;
        }
        delete environment[variable];
        if (variable === QUEUE && environment !== provider && SECRETS in environment) {
          environment[SECRETS] = [...new Set([...names(environment[SECRETS]), ...workerSecrets])]
            .join(",");
        }
      }
    }
    if ((process.env[SCHEDULE] || "").trim().toLowerCase() === "off") {
      for (const fn of functions) {
        (fn.events || []).forEach((event, index) => {
          if (!event || !event.schedule) return;
          const schedule = typeof event.schedule === "string" ? { rate: event.schedule }
            : event.schedule;
          fn.events[index] = { ...event, schedule: { ...schedule, enabled: false } };
        });
      }
    }
  }
}

module.exports = TodobotOfflineEnvironment;
