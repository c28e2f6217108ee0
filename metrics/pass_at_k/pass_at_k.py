"""Unbiased pass@k (Chen et al., 2021) as an `evaluate` metric, loaded by path (works offline).

Unlike `evaluate`'s ``code_eval``, this metric executes nothing: it takes each problem's number of judged
samples and of passing samples (the builder's ``problems`` config: ``num_judged``, ``num_passed``) and returns
the mean unbiased pass@k over the problems with at least k samples.

    import evaluate
    pass_at_k = evaluate.load("metrics/pass_at_k")
    pass_at_k.compute(num_samples=[8, 8, 4], num_correct=[3, 0, 4], k=[1, 2, 4, 8])
    # {'pass@1': ..., 'pass@2': ..., 'pass@4': ..., 'pass@8': ..., 'problems@8': 2}
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

_CITATION = """\
@article{chen2021codex,
  title={Evaluating Large Language Models Trained on Code},
  author={Mark Chen and Jerry Tworek and Heewoo Jun and others},
  journal={arXiv preprint arXiv:2107.03374},
  year={2021}
}
"""

_DESCRIPTION = "Mean unbiased pass@k over problems, from per-problem sample and pass counts (no code is executed)."

_KWARGS_DESCRIPTION = """
Args:
    num_samples: number of judged samples of each problem (n).
    num_correct: number of those that pass every test (c), 0 <= c <= n.
    k: one k or a list of k values (default [1]).
Returns:
    "pass@k": mean of 1 - C(n-c, k) / C(n, k) over the problems with n >= k (None when there is none),
    "problems@k": how many problems that mean is over.
"""


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k), in the numerically stable product form."""
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class PassAtK(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"num_samples": datasets.Value("int64"), "num_correct": datasets.Value("int64")}),
            reference_urls=["https://arxiv.org/abs/2107.03374"],
        )

    def _compute(self, num_samples, num_correct, k=None):  # noqa: ANN001, ANN202 - evaluate's signature
        ks = [1] if k is None else ([k] if isinstance(k, int) else list(k))
        out: dict[str, float | int | None] = {}
        for value in ks:
            if value < 1:
                raise ValueError(f"k must be >= 1, got {value}")
            scores = []
            for n, c in zip(num_samples, num_correct):
                if not 0 <= c <= n:
                    raise ValueError(f"need 0 <= num_correct <= num_samples, got c={c}, n={n}")
                if n >= value:
                    scores.append(estimate_pass_at_k(int(n), int(c), int(value)))
            out[f"pass@{value}"] = float(np.mean(scores)) if scores else None
            out[f"problems@{value}"] = len(scores)
        return out
