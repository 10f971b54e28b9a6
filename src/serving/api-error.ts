/**
 * Errors the HTTP layer answers with, in the OpenAI shape `{"error":{"message","type","param","code"}}` (SERVE.7).
 *
 * | status | type                  | codes                                                                       |
 * |--------|-----------------------|-----------------------------------------------------------------------------|
 * | 400    | invalid_request_error | invalid_json, invalid_type, invalid_value, unsupported_value,               |
 * |        |                       | context_length_exceeded, chat_template_error                               |
 * | 401    | authentication_error  | invalid_api_key                                                             |
 * | 404    | invalid_request_error | model_not_found, not_found                                                  |
 * | 413    | invalid_request_error | request_too_large                                                           |
 * | 429    | rate_limit_error      | server_at_capacity (with a Retry-After header)                              |
 * | 5xx    | server_error          | internal_error, or the code of a service `error` event                      |
 */
import type { ApiErrorBody } from './protocol/common.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    /** Seconds, sent as `Retry-After` (429). */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get type(): string {
    return errorType(this.status);
  }

  body(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** A 400 naming the offending parameter. */
export function badRequest(param: string, message: string, code = 'invalid_value'): ApiError {
  return new ApiError(400, code, message, param);
}

export function errorResponse(e: ApiError): Response {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (e.retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(e.retryAfter)));
  // The unread rest of an oversized body would poison a reused connection: close it.
  if (e.status === 413) headers['connection'] = 'close';
  return new Response(JSON.stringify(e.body()), { status: e.status, headers });
}

/** Anything that is not an `ApiError` is a bug: a 500 whose message does not leak internals. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError(500, 'internal_error', 'internal server error; see the server log');
}
