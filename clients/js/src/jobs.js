/**
 * Compute jobs, the consumer's side: the job object (docs/compute.md) and the checks made before an
 * order is paid for, refusing what the provider would certainly refuse.
 */

import { DatamarketError } from "./errors.js";

/** A job's states after which it changes no more. */
export const FINAL_STATES = new Set(["succeeded", "failed", "rejected", "cancelled"]);

const refused = (message, details) => new DatamarketError("compute_failed", message, details);

/** The job object of `POST /compute`: `output` only where given, so a job without it hashes as before. */
export function makeJob({ algorithm, params = {}, epsilon = null, environment = "cpu", output }) {
  if (typeof algorithm !== "string" && !(algorithm && typeof algorithm.bundle === "string" && typeof algorithm.sha256 === "string")) {
    throw new TypeError('algorithm is a built-in name or {bundle: <CID>, sha256: <64 hex>}');
  }
  return { algorithm, params, epsilon, environment, ...(output === undefined ? {} : { output }) };
}

/**
 * Refuse, before paying, a job the dataset's compute service will not run: no compute service, no
 * epsilon where the dataset requires DP, an epsilon over the per-job cap or over what is left of the
 * budget (`remaining`, from the provider), a bundle the dataset does not trust (unless it allows any
 * algorithm under sample and aggregate, which needs `output` and an epsilon).
 */
export function checkJob(service, job, remaining) {
  const compute = service.compute ?? {};
  const { epsilon } = job;
  if (compute.require_dp && !epsilon) throw refused("the dataset runs only differentially private jobs: give an epsilon");
  const trusted = compute.trusted_algorithms ?? [];
  const untrusted = typeof job.algorithm === "object" && !trusted.includes(job.algorithm.sha256);
  if (untrusted && !compute.allow_any_algorithm) {
    throw refused("the dataset does not trust this algorithm bundle", { sha256: job.algorithm.sha256 });
  }
  if (untrusted && (job.output == null || !epsilon)) {
    throw refused("the dataset does not trust this algorithm: it runs under sample and aggregate, which needs output and an epsilon > 0");
  }
  if (!untrusted && job.output != null) throw refused("only an algorithm the dataset does not trust takes output");
  const cap = compute.privacy?.max_epsilon_per_job;
  if (epsilon != null && typeof cap === "number" && epsilon > cap) {
    throw refused(`epsilon ${epsilon} is over the dataset's limit per job (${cap})`, { max_epsilon_per_job: cap });
  }
  if (epsilon && typeof remaining === "number" && epsilon > remaining) {
    throw refused(`epsilon ${epsilon} is over what is left of the dataset's privacy budget (${remaining})`, { remaining });
  }
}
