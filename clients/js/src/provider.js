/**
 * HTTP client of a provider's JSON API (`/api/v1`, provider/openapi.json). A refusal becomes a
 * ProviderError carrying the provider's stable error code, HTTP status and details; no answer at
 * all is `provider_unavailable` with status 0.
 */

import { ProviderError } from "./errors.js";
import { unbound } from "./http.js";

export class ProviderClient {
  /**
   * @param {string} url the provider's base URL
   * @param {{fetch?: typeof fetch}} [options]
   */
  constructor(url, { fetch: fetcher } = {}) {
    this.url = String(url).replace(/\/+$/, "");
    this.fetch = unbound(fetcher);
  }

  info() {
    return this.#json("GET", "/api/v1/info");
  }

  /** `POST /fees`: `{quote, signature}`, the quote as the provider signed it (JSON). */
  fees(datatoken, consumer, serviceId, environment) {
    const body = { datatoken, consumer, service_id: serviceId, ...(environment ? { environment } : {}) };
    return this.#json("POST", "/api/v1/fees", { body });
  }

  /** `POST /access`: `{wrapped_key, file}` for a signed AccessRequest. */
  access(request, signature, proof = []) {
    return this.#json("POST", "/api/v1/access", { body: { request, signature, allowlist_proof: proof } });
  }

  /** `POST /compute`: `{job_id, token, state}` for a signed ComputeRequest and its job. */
  computeStart(request, signature, job, proof = []) {
    return this.#json("POST", "/api/v1/compute", { body: { request, signature, allowlist_proof: proof, job } });
  }

  computeStatus(jobId, token) {
    return this.#json("GET", jobPath(jobId), { token });
  }

  computeLogs(jobId, token) {
    return this.#json("GET", jobPath(jobId, "/logs"), { token });
  }

  computeResult(jobId, token) {
    return this.#json("GET", jobPath(jobId, "/result"), { token });
  }

  computeCancel(jobId, token) {
    return this.#json("DELETE", jobPath(jobId), { token });
  }

  /** The encrypted result archive's bytes. */
  async computeArchive(jobId, token) {
    const response = await this.#send("GET", jobPath(jobId, "/result/archive"), { token });
    if (!response.ok) await this.#answer(response);
    return new Uint8Array(await response.arrayBuffer());
  }

  /** `{datatoken, budget, spent, reserved, remaining}` (epsilon). */
  privacy(datatoken) {
    return this.#json("GET", `/api/v1/privacy/${encodeURIComponent(datatoken)}`);
  }

  async #send(method, path, { body, token } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token !== undefined) headers.Authorization = `Bearer ${token}`;
    try {
      return await this.fetch(this.url + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ProviderError("provider_unavailable", `cannot reach the provider at ${this.url}: ${error.message}`);
    }
  }

  async #json(method, path, options) {
    return this.#answer(await this.#send(method, path, options));
  }

  async #answer(response) {
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (response.ok && payload !== null && typeof payload === "object" && !Array.isArray(payload)) return payload;
    const error = payload && typeof payload.error === "object" && payload.error !== null ? payload.error : {};
    throw new ProviderError(
      typeof error.code === "string" ? error.code : "provider_error",
      typeof error.message === "string" ? error.message : `the provider answered ${response.status}`,
      { status: response.status, details: typeof error.details === "object" && error.details !== null ? error.details : {} },
    );
  }
}

const jobPath = (jobId, tail = "") => `/api/v1/compute/${encodeURIComponent(jobId)}${tail}`;
