"""Generation: problems -> sampled candidate responses, with vLLM (offline engine) or an OpenAI-compatible endpoint.

- :mod:`builder.generate.stage`: the chunked, resumable ``datasets.map`` stage (``generate_stage``);
- :mod:`builder.generate.backends`: the backends a recipe may name, and ``make_backend``;
- :mod:`builder.generate.vllm_engine`: ``vllm.LLM`` in this process (tensor parallel inside);
- :mod:`builder.generate.data_parallel`: one engine per device group in spawned processes;
- :mod:`builder.generate.openai_api`: async ``httpx`` client for chat-completions endpoints;
- :mod:`builder.generate.keys` / :mod:`builder.generate.cache`: per-request seeds, chunk keys, the on-disk cache.

Nothing here imports vLLM until an engine is started.
"""
