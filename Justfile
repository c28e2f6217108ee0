# Recipes for the dataset builder. `just --list` shows them.
set shell := ["bash", "-euo", "pipefail", "-c"]

builder := "python -m builder.cli"

# Run the test suite (the README's test command; CI runs exactly this)
test *args:
    python -m pytest -q --durations=30 {{args}}

# Fast tests only (skips the slow end-to-end ones)
test-fast *args:
    python -m pytest -q -m "not slow" {{args}}

# Build a dataset from a recipe into dist/<name>/ (default: the CPU demo): just build [RECIPE] [--n 4 --limit 10 ...]
build recipe="recipes/demo.toml" *args:
    {{builder}} build --recipe {{recipe}} {{args}}

# Re-train the demo model (models/demo) from data/demo, byte for byte (`just demo-model --check`: into a temp folder, compare)
demo-model *args:
    python scripts/train_demo_model.py {{args}}

# Benchmark the generate stage against a bare LLM.chat (CPU, tiny model): just bench-generate [--problems 96 ...]
bench-generate *args:
    python bench/bench_generate.py {{args}}

# Re-verify candidates against problems: just verify PROBLEMS CANDIDATES [OUT] [WORKERS]
verify problems candidates out="verdicts.parquet" workers="2" *args:
    {{builder}} verify --problems {{problems}} --candidates {{candidates}} --out {{out}} --workers {{workers}} {{args}}

dist := "dist/demo"

# Publish the built folder to the Hub in one commit: just publish repo=USER/NAME [--dry-run] [--private] [--revision B] [--create-pr] [--message M]
[positional-arguments]
publish repo *args:
    {{builder}} publish {{dist}} --repo-id {{trim_start_match(repo, "repo=")}} "${@:2}"

# Re-render statistics, charts and the card of a built dataset from its parquet files alone
card name="demo":
    {{builder}} card dist/{{name}}

# Exit 1 when the card or charts of dist/NAME are out of date (for CI)
card-check name="demo":
    {{builder}} card dist/{{name}} --check

# Normalize one upstream source into problems: just problems KIND OUT [--path ...] [--subset ...] [--split ...]
problems kind out *args:
    {{builder}} problems --source {{kind}} --out {{out}} {{args}}

# Print the sandbox's isolation tier and level and run hostile probes through it
sandbox-check *args:
    {{builder}} sandbox-check {{args}}

# As root: the sandbox's tests and the data packs again at tier 2 (a user made for the run) and tier 3 (a default container)
test-tiers:
    bash tests/tiers/ci.sh

# All benchmarks, each side by side with its baseline in the same run (sandbox, C/C++, generate, card, problems, reward,
# streaming build, Ray, verify against LiveCodeBench's grader: set LCB_RUNNER to a LiveCodeBench checkout)
bench:
    python bench/bench_sandbox.py
    python bench/bench_compiled.py
    python bench/bench_generate.py
    python bench/bench_card.py
    python bench/bench_problems.py
    python bench/bench_reward.py
    python bench/bench_build.py
    python bench/bench_ray.py
    python bench/bench_verify.py ${LCB_RUNNER:+--lcb-runner "$LCB_RUNNER"}
