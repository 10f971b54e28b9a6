/** `GET /v1/models`. */
export interface ModelCard {
  readonly id: string;
  readonly object: 'model';
  readonly created: number;
  readonly owned_by: string;
  /** Extension (vLLM): the context length in tokens. */
  readonly max_model_len: number;
}

export interface ModelList {
  readonly object: 'list';
  readonly data: ModelCard[];
}
