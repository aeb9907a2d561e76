#!/usr/bin/python3
"""Golden values for RPC's reasoning pruning, from an independent fit with SciPy.

Runs the fit and the pruning rule exactly as WNJXYK/RPC's compute_rpc.py does (scipy.optimize.minimize
with bounds, starting at (0.5, 1, 1, 1.5, 2); components ordered by Weibull mean; prune iff the low
component is more likely and p < mean(p)) on fixed sets of path probabilities, and writes the
parameters, the negative log-likelihood and the pruning decisions to rpc_golden.json.

    /usr/bin/python3 tests/samplers/make_rpc_golden.py > tests/samplers/rpc_golden.json

Needs Debian's python3-scipy (scripts/setup.sh --tools).
"""
import json

import numpy as np
import scipy
from scipy.optimize import minimize
from scipy.special import gamma


def weibull_pdf(x, k, lam):
    return (k / lam) * (x / lam) ** (k - 1) * np.exp(-((x / lam) ** k))


def weibull_mean(k, lam):
    return lam * gamma(1 + 1 / k)


def mixture_pdf(x, w1, k1, lam1, k2, lam2):
    return w1 * weibull_pdf(x, k1, lam1) + (1 - w1) * weibull_pdf(x, k2, lam2)


def neg_log_likelihood(params, data):
    w1, k1, lam1, k2, lam2 = params
    return -np.sum(np.log(mixture_pdf(data, w1, k1, lam1, k2, lam2)))


def fit(probas):
    result = minimize(neg_log_likelihood, [0.5, 1.0, 1.0, 1.5, 2.0], args=(probas,),
                      bounds=[(0.2, 0.8), (0.01, None), (0.01, None), (0.01, None), (0.01, None)])
    w1, k1, lam1, k2, lam2 = result.x
    if weibull_mean(k1, lam1) < weibull_mean(k2, lam2):
        k1, lam1, k2, lam2 = k2, lam2, k1, lam1
        w1 = 1 - w1
    return [float(w1), float(k1), float(lam1), float(k2), float(lam2)]


def prune(params, probas):
    w1, k1, lam1, k2, lam2 = params
    mean = float(np.mean(probas))
    out = []
    for p in probas:
        pdf1, pdf2 = weibull_pdf(p, k1, lam1), weibull_pdf(p, k2, lam2)
        p1 = w1 * pdf1 / (w1 * pdf1 + (1 - w1) * pdf2)
        out.append(bool(p1 < 1 - p1 and p < mean))
    return out


def main():
    rng = np.random.default_rng(20250101)
    cases = []
    # Path probabilities as RPC sees them: exp(mean token log-prob), mostly high with a low tail.
    shapes = [(16, 0.25), (16, 0.5), (32, 0.35), (64, 0.3), (8, 0.4), (128, 0.25)]
    for k, low_share in shapes:
        n_low = int(round(k * low_share))
        high = np.exp(-np.abs(rng.normal(0.15, 0.08, k - n_low)))
        low = np.exp(-np.abs(rng.normal(0.9, 0.35, n_low)))
        probas = np.concatenate([high, low])
        rng.shuffle(probas)
        params = fit(probas)
        cases.append({"p": [float(x) for x in probas], "params": params,
                      "nll": float(neg_log_likelihood(params, probas)), "pruned": prune(params, probas)})
    # Tight clusters of high probabilities, as a small model's solves of one problem give (the
    # first: the shipped arith model's 8 paths of a QA run): the fit leaves the second component
    # at its scale bound, a density of 0 at every path (its shape is then undetermined), so
    # nothing is pruned.
    clusters = [np.array([0.89695528, 0.96719841, 0.90649524, 0.97016902, 0.89550666, 0.8749962,
                          0.89199417, 0.85801752])]
    for k in (8, 16):
        clusters.append(np.exp(-np.abs(rng.normal(0.08, 0.04, k))))
    for probas in clusters:
        params = fit(probas)
        cases.append({"p": [float(x) for x in probas], "params": params,
                      "nll": float(neg_log_likelihood(params, probas)), "pruned": prune(params, probas)})
    print(json.dumps({"generator": "make_rpc_golden.py", "scipy": scipy.__version__, "cases": cases}))


if __name__ == "__main__":
    main()
