"""Benchmark the generation stage against a bare ``LLM.chat`` over the same prompts and sampling (issue 4, done-when 3).

One engine serves both, in one process. Each round runs, in alternating order, (a) a bare ``llm.chat`` of every prompt
with the same per-request ``SamplingParams(n, seed)`` the stage uses, and (b) ``generate_stage`` (prompt rendering,
chunk keys, ``datasets.map``, one ``LLM.chat`` per chunk, atomic parquet writes) into a fresh cache folder. Reported:
the best time of each over the rounds, the ratio stage / bare (target <= 1.10 on CPU with the tiny model) and
generated tokens/s; both runs must produce the same samples.

    python bench/bench_generate.py                                   # CPU: the tiny test model, made locally
    python bench/bench_generate.py --make-model small --problems 512 --n 8 --max-tokens 512 --kv-cache-gb 0 \\
        --gpu-memory-utilization 0.85                                # GPU: a ~100M random Llama made locally
    python bench/bench_generate.py --model PATH --dtype bfloat16 ... # any local model folder
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
DEFAULT_PROBLEMS = ROOT / "tests" / "fixtures" / "lcb" / "problems.jsonl"


def load(path: Path, count: int | None):
    """The problems (cycled with suffixed ids up to ``count``, when more are asked for than the file has)."""
    from datasets import concatenate_datasets

    from builder.core.tables import load_problems

    problems, _ = load_problems(str(path))
    if count is None or count == len(problems):
        return problems
    if count < len(problems):
        return problems.select(range(count))
    parts, made = [], 0
    while made < count:
        take = min(len(problems), count - made)
        cycle = made // len(problems)
        parts.append(problems.select(range(take)).map(lambda r, c=cycle: {"problem_id": f"{r['problem_id']}#{c}"}))
        made += take
    return concatenate_datasets(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="local model folder (default: make one with --make-model)")
    parser.add_argument("--make-model", default="tiny", choices=["tiny", "small"], help="shape of the random model to make")
    parser.add_argument("--problems-file", type=Path, default=DEFAULT_PROBLEMS)
    parser.add_argument("--problems", type=int, default=48, help="prompts (the file's problems, cycled)")
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--chunk-size", type=int, default=None, help="problems per chunk (default: all in one)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--kv-cache-gb", type=float, default=1.0, help="KV cache GiB (0: vLLM's default sizing)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from vllm import SamplingParams

    from builder.generate.keys import request_seed
    from builder.generate.stage import generate_stage
    from builder.generate.base import sampling_kwargs
    from builder.generate.vllm_engine import VLLMBackend
    from builder.core.prompt import build_messages
    from builder.core.settings import GenerationSettings, ModelSettings, PromptSettings, Recipe, SamplingSettings, SourceSettings

    scratch = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    try:
        model_path = args.model
        if model_path is None:
            from fakes.tinymodel import make_tiny_model

            model_path = str(make_tiny_model(scratch / "model", size=args.make_model, max_len=args.max_model_len))
        problems = load(args.problems_file, args.problems)
        model = ModelSettings(
            path=model_path,
            dtype=args.dtype,
            max_model_len=args.max_model_len,
            tensor_parallel_size=args.tensor_parallel_size,
            gpu_memory_utilization=args.gpu_memory_utilization,
            kv_cache_memory_gb=args.kv_cache_gb or None,
        )
        sampling = SamplingSettings(n=args.n, temperature=args.temperature, max_tokens=args.max_tokens)
        prompt = PromptSettings()
        settings = Recipe(
            name="bench", seed=args.seed, sources=(SourceSettings(kind="local", path=str(args.problems_file)),), model=model,
            sampling=sampling, prompt=prompt, generation=GenerationSettings(chunk_size=args.chunk_size or len(problems)),
        )

        t0 = time.perf_counter()
        engine = VLLMBackend(model, args.seed)
        startup = time.perf_counter() - t0
        llm = engine.llm
        rows = problems.select_columns(["problem_id", "problem", "title", "starter_code"]).to_list()
        messages = [build_messages(r, prompt.system, prompt.user) for r in rows]
        params = [SamplingParams(**sampling_kwargs(sampling, request_seed(args.seed, r["problem_id"]))) for r in rows]
        llm.chat(messages[:2], sampling_params=params[:2], use_tqdm=False)  # warm-up (compilation, first batch)

        def bare() -> tuple[float, list[str], int]:
            t = time.perf_counter()
            outs = llm.chat(messages, sampling_params=params, use_tqdm=False)
            dt = time.perf_counter() - t
            texts = [c.text for o in outs for c in sorted(o.outputs, key=lambda c: c.index)]
            return dt, texts, sum(len(c.token_ids) for o in outs for c in o.outputs)

        def stage(i: int) -> tuple[float, list[str], int]:
            cache = scratch / f"stage-{i}"
            t = time.perf_counter()
            ds = generate_stage(problems, settings, cache, backend=engine)
            dt = time.perf_counter() - t
            return dt, ds["response"], sum(ds["num_tokens"])

        bare_times, stage_times = [], []
        tokens = 0
        for i in range(args.rounds):
            order = (bare, lambda: stage(i)) if i % 2 == 0 else (lambda: stage(i), bare)
            results = [fn() for fn in order]
            (b, s) = results if i % 2 == 0 else results[::-1]
            if b[1] != s[1]:
                raise SystemExit("the stage and the bare LLM.chat produced different samples")
            bare_times.append(b[0])
            stage_times.append(s[0])
            tokens = b[2]
        engine.close()

        best_bare, best_stage = min(bare_times), min(stage_times)
        result = {
            "model": args.model or f"random {args.make_model} Llama (tests/tinymodel.py)",
            "device": _device(),
            "prompts": len(problems),
            "n": args.n,
            "max_tokens": args.max_tokens,
            "chunk_size": settings.chunk_size,
            "generated_tokens": tokens,
            "engine_startup_s": round(startup, 2),
            "bare_s": [round(t, 3) for t in bare_times],
            "stage_s": [round(t, 3) for t in stage_times],
            "bare_best_s": round(best_bare, 3),
            "stage_best_s": round(best_stage, 3),
            "ratio_best": round(best_stage / best_bare, 3),
            "ratio_median": round(statistics.median(stage_times) / statistics.median(bare_times), 3),
            "bare_tokens_per_s": round(tokens / best_bare, 1),
            "stage_tokens_per_s": round(tokens / best_stage, 1),
        }
        print(f"generate stage vs bare LLM.chat: {len(problems)} prompts x n={args.n}, max_tokens={args.max_tokens}, "
              f"{tokens} generated tokens, {result['device']}")
        print(f"  bare LLM.chat   best {best_bare:8.3f} s  ({result['bare_tokens_per_s']:.0f} tokens/s)   runs {result['bare_s']}")
        print(f"  generate_stage  best {best_stage:8.3f} s  ({result['stage_tokens_per_s']:.0f} tokens/s)   runs {result['stage_s']}")
        print(f"  ratio stage/bare: {result['ratio_best']:.3f} (best), {result['ratio_median']:.3f} (median); target <= 1.10")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _device() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
    except Exception:  # noqa: BLE001
        pass
    return f"CPU ({os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
