"""``make mutate``: perturb each central formula by about 1% and check that the test suite notices.

Each mutation replaces one exact snippet of one file (it must occur exactly once) in a scratch copy of the
repository and runs the tests that cover it there (``PYTHONPATH`` puts the copy first). A mutation is
*killed* when those tests fail, *survives* when they pass. The tests are first run unmutated: they must pass.

    python tests/mutate.py [--only NAME ...] [--list]

Prints one line per mutation and the kill rate; exits 1 if any mutation survives. Not part of ``make test``
(it runs the selected tests once per mutation: several minutes).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPY = ("rmt", "simulate", "trained", "specgap", "tests", "pyproject.toml", "README.md", "docs", "notebooks")

RMT = ["tests/rmt/test_rmt_mp.py", "tests/rmt/test_rmt_gaps.py", "tests/rmt/test_rmt_diagram_cli.py", "tests/rmt/test_solver_extremes.py"]
SIM = ["tests/simulate/test_simulate_fmatrix.py", "tests/simulate/test_simulate_spectra.py", "tests/simulate/test_agreement.py"]
MODELS = ["tests/simulate/test_models.py", "tests/simulate/test_samplers.py"]
ENGINE = ["tests/trained/test_jacobian.py", "tests/trained/test_estimators.py", "tests/trained/test_network_spectra.py"]
ADAPTERS = ["tests/trained/test_adapters.py", "tests/specgap/test_cli_pretrained.py"]


@dataclass
class Mutation:
    name: str
    path: str
    old: str
    new: str
    tests: list


MUTATIONS = [
    # ---- rmt: the Silverstein-Bai inverse function, pushforward, gaps, timescales, phases, readouts
    Mutation("mp: z(g) alpha +1%", "rmt/mp.py",
             "return -1.0 / g + self.alpha * np.sum(self.w * self.s / (1.0 + self.s * g[..., None]), axis=-1)",
             "return -1.0 / g + 1.01 * self.alpha * np.sum(self.w * self.s / (1.0 + self.s * g[..., None]), axis=-1)",
             RMT),
    Mutation("mp: residue alpha w_k of a bulk mass +1%", "rmt/mp.py",
             "res = np.concatenate([self.alpha * self.w, [-1.0]])",
             "res = np.concatenate([1.01 * self.alpha * self.w, [-1.0]])", ["tests/rmt/test_solver_extremes.py"]),
    Mutation("mp: lambda(eta) = tau (1 - eta)/eta +1%", "rmt/eta.py",
             "return tau * (1.0 - eta) / eta", "return 1.01 * tau * (1.0 - eta) / eta", RMT + SIM),
    Mutation("mp: eta density Jacobian tau/eta^2 +1%", "rmt/mp.py",
             "out[ok] = self.solver.density(self.lam(eta[ok])) * self.tau / eta[ok] ** 2",
             "out[ok] = 1.01 * self.solver.density(self.lam(eta[ok])) * self.tau / eta[ok] ** 2", RMT + SIM),
    Mutation("gaps: intermediate width +1%", "rmt/gaps.py",
             "return tau * (self.l - self.u) / ((self.u + tau) * (self.l + tau))",
             "return 1.01 * tau * (self.l - self.u) / ((self.u + tau) * (self.l + tau))", RMT),
    Mutation("gaps: tau* = sqrt(l u) +1%", "rmt/gaps.py",
             "return float(np.sqrt(self.l * self.u))", "return float(1.01 * np.sqrt(self.l * self.u))", RMT),
    Mutation("gaps: trivial boundary +1%", "rmt/gaps.py",
             'return {"trivial_coverage": lmax * (1 - delta) / delta,',
             'return {"trivial_coverage": 1.01 * lmax * (1 - delta) / delta,', RMT),
    Mutation("gaps: manifold gap l/(l + tau) +1%", "rmt/gaps.py",
             "return lmin / (lmin + tau)", "return 1.01 * lmin / (lmin + tau)", RMT),
    Mutation("gaps: theory D_eff at 1.01 tau", "rmt/gaps.py",
             "return manifold.counting(_taus(tau))", "return manifold.counting(1.01 * _taus(tau))", RMT),
    Mutation("readouts: D_eff threshold 1/2 +1%", "rmt/readouts.py",
             "return np.sum(sorted_values(eta) < 0.5, axis=-1)", "return np.sum(sorted_values(eta) < 0.505, axis=-1)",
             RMT + ENGINE),
    Mutation("readouts: codimension threshold 1 - delta, delta +1%", "rmt/readouts.py",
             "return np.sum(sorted_values(eta) > 1.0 - delta, axis=-1)",
             "return np.sum(sorted_values(eta) > 1.0 - 1.01 * delta, axis=-1)", RMT + ENGINE),
    Mutation("profiles: continuous discretisation tilted 1%", "rmt/profiles.py",
             "h = np.asarray(self.density(s), dtype=float) * w",
             "h = np.asarray(self.density(s), dtype=float) * w * (1.0 + 0.01 * x)", RMT),
    Mutation("schedules: VP tau = e^{2t} - 1 +1%", "rmt/schedules.py",
             "return np.expm1(2 * t)", "return 1.01 * np.expm1(2 * t)", MODELS + ["tests/simulate/test_simulate_spectra.py"]),
    # ---- simulate: F variances (all three backends), the eta map, exact scores, samplers
    Mutation("fmatrix numpy: column variance +1%", "simulate/fmatrix.py",
             "out *= sig / np.sqrt(d)", "out *= 1.005 * sig / np.sqrt(d)", SIM),
    Mutation("fmatrix numba: column variance +1%", "simulate/fmatrix.py",
             'out[i] = k["fill_F"](np.uint32(s), d, sig / np.sqrt(d))',
             'out[i] = k["fill_F"](np.uint32(s), d, 1.005 * sig / np.sqrt(d))', SIM),
    Mutation("fmatrix jax: column variance +1%", "simulate/fmatrix.py",
             'return np.asarray(fF(key, k["jnp"].asarray(rs), k["jnp"].asarray(sig / np.sqrt(d))))',
             'return np.asarray(fF(key, k["jnp"].asarray(rs), k["jnp"].asarray(1.005 * sig / np.sqrt(d))))', SIM),
    Mutation("spectra: eta = tau/(lambda + tau), lambda +1%", "rmt/eta.py",
             "    return tau / (lam + tau)\n", "    return tau / (1.01 * lam + tau)\n", SIM),
    Mutation("models numpy: subspace score +1%", "simulate/models.py",
             "g[k] = -(resid / s2 + q @ U.T)", "g[k] = -1.01 * (resid / s2 + q @ U.T)", MODELS),
    Mutation("models jax: subspace score +1%", "simulate/models_jax.py",
             "g.append(-(resid / s2 + q @ U.T))", "g.append(-1.01 * (resid / s2 + q @ U.T))", MODELS),
    Mutation("models torch: subspace score +1%", "simulate/models_torch.py",
             "g.append(-(resid / s2 + q @ U.T))", "g.append(-1.01 * (resid / s2 + q @ U.T))", ENGINE),
    Mutation("samplers: VP diffusion g^2 = 2 +1%", "simulate/samplers.py",
             "return -np.ones_like(t), 2.0 * np.ones_like(t)", "return -np.ones_like(t), 2.02 * np.ones_like(t)",
             MODELS),
    Mutation("schedules: DDPM B(t) = beta_min t + (beta_max - beta_min) t^2/2 +1%", "rmt/schedules.py",
             "return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t",
             "return 1.01 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t)",
             ["tests/rmt/test_schedules.py"]),
    Mutation("schedules: geometric VE s^2 +1%", "rmt/schedules.py",
             "return self.sigma_min ** 2 * (self.sigma_max / self.sigma_min) ** (2 * t)",
             "return 1.01 * self.sigma_min ** 2 * (self.sigma_max / self.sigma_min) ** (2 * t)",
             ["tests/rmt/test_schedules.py"]),
    # ---- sweep tasks (finite-n: kept variance, its n = infinity value, the condensation estimate; finite size)
    Mutation("sweep finite-n: retained tr(U^T B U)/m_k, 1/m_k +1%", "specgap/sweep/tasks.py",
             "np.einsum(\"pik,ik->p\", (eye - A) @ Uk, Uk) / Uk.shape[1]",
             "np.einsum(\"pik,ik->p\", (eye - A) @ Uk, Uk) * 1.01 / Uk.shape[1]", ["tests/specgap/test_sweep.py"]),
    Mutation("sweep finite-n: n = infinity lambda/(lambda + tau) at 1.01 tau", "specgap/sweep/tasks.py",
             "np.mean(lk / (lk + tau[i]))", "np.mean(lk / (lk + 1.01 * tau[i]))", ["tests/specgap/test_sweep.py"]),
    Mutation("sweep finite-n: condensation sigma^2/(2 ln n) +1%", "specgap/sweep/tasks.py",
             "est[:levels.size] = levels / (2 * np.log(n))", "est[:levels.size] = 1.01 * levels / (2 * np.log(n))",
             ["tests/specgap/test_sweep.py"]),
    Mutation("sweep finite size: d^(-2/3) exponent +1%", "specgap/sweep/plot.py",
             "x = np.asarray(d, float) ** (-2.0 / 3.0)", "x = np.asarray(d, float) ** (-1.01 * 2.0 / 3.0)",
             ["tests/specgap/test_sweep.py"]),
    # ---- the Jacobian engine
    Mutation("engine: Jn = s^2 J, s^2 +1%", "trained/jacobian/engine.py",
             "return 0.0, s2, a", "return 0.0, 1.01 * s2, a", ENGINE),
    Mutation("engine: denoiser (I + Jn)/a, 1/a +1%", "trained/jacobian/engine.py",
             "return 1.0 / a, s2 / a, a", "return 1.01 / a, s2 / a, a", ENGINE),
    # ---- dimension estimators: the closed form of the held-out empirical score (trained/_cloud.py)
    Mutation("estimators: eta = 1 - eig(Sigma)/tau, tau +1%", "trained/_cloud.py",
             "eta[b, :ev.size] = 1.0 - ev / tau", "eta[b, :ev.size] = 1.0 - ev / (1.01 * tau)",
             ["tests/trained/test_estimators.py"]),
    Mutation("estimators: FLIPD score term |mu - x|^2/tau +1%", "trained/_cloud.py",
             "snorm[b] = float(np.sum((mu - Q[b]) ** 2)) / tau", "snorm[b] = 1.01 * float(np.sum((mu - Q[b]) ** 2)) / tau",
             ["tests/trained/test_estimators.py"]),
    # ---- descriptors and diversity
    Mutation("descriptors: psi = sum log sigma +1%", "trained/descriptors.py",
             "psi = np.where(keep.any(-1), logs.sum(-1), -np.inf)",
             "psi = np.where(keep.any(-1), 1.01 * logs.sum(-1), -np.inf)", ["tests/trained/test_descriptors.py"]),
    Mutation("diversity: Vendi exp(entropy) +1%", "trained/diversity.py",
             "return float(np.exp(-np.sum(lam * np.log(lam))))",
             "return float(1.01 * np.exp(-np.sum(lam * np.log(lam))))",
             ["tests/specgap/test_vae_studies.py::test_vendi_score_closed_forms"]),
    # ---- adapters (models specgap did not train) and the tabulated schedule
    Mutation("tabulated VP: tau_k = (1 - ab)/ab +1%", "rmt/schedules.py",
             "        return (1.0 - ab) / ab\n", "        return 1.01 * (1.0 - ab) / ab\n", ADAPTERS),
    Mutation("adapters: v-prediction eps = a v + s x, a +1%", "trained/adapters.py",
             "e = a * o + s * xb", "e = 1.01 * a * o + s * xb", ADAPTERS),
    Mutation("adapters: x0-prediction eps = (x - a x0)/s +1%", "trained/adapters.py",
             "e = (xb - a * o) / s", "e = (xb - 1.01 * a * o) / s", ADAPTERS),
    Mutation("adapters: score = -eps/s_k +1%", "trained/adapters.py",
             "return -self.eps(x, k) / float(np.sqrt(self.schedule.s2(k)[()]))",
             "return -1.01 * self.eps(x, k) / float(np.sqrt(self.schedule.s2(k)[()]))", ADAPTERS),
    Mutation("adapters: EDM score (D - x)/sigma^2 +1%", "trained/adapters.py",
             "out = (self.denoise(xb, sigma) - xb) / sigma ** 2",
             "out = 1.01 * (self.denoise(xb, sigma) - xb) / sigma ** 2", ADAPTERS),
    Mutation("adapters: EDM c_skip +1%", "trained/adapters.py",
             "c_skip, c_out = sd2 / (s2 + sd2)", "c_skip, c_out = 1.01 * sd2 / (s2 + sd2)", ADAPTERS),
    # ---- the align law (issue 25)
    Mutation("ridge_align: normal contraction -(s^2/2) J +1%", "simulate/ridge_align.py",
             "M = -0.5 * s2[:, None, None, None] * J", "M = -0.505 * s2[:, None, None, None] * J",
             ["tests/simulate/test_ridge_align.py"]),
    Mutation("ridge_align: drive -(s^2/2a) e +1%", "simulate/ridge_align.py",
             "b = -(s2 / (2 * a))[:, None, None]", "b = -1.01 * (s2 / (2 * a))[:, None, None]",
             ["tests/simulate/test_ridge_align.py"]),
    Mutation("ridge_dynamics: distance to the posterior mean, not the projected foot", "simulate/ridge_dynamics.py",
             "foot[r], dist[r], conv[r] = p.points, p.distance, p.converged",
             "foot[r], dist[r], conv[r] = p.points, np.linalg.norm(p.frame.mean - p.start, axis=1), p.converged",
             ["tests/simulate/test_ridge_align.py"]),
    Mutation("descriptors: DDIM x' = a' x0 + s' eps, s' +1%", "trained/descriptors.py",
             "x = a[i + 1] * (x - s[i] * eps) / a[i] + s[i + 1] * eps",
             "x = a[i + 1] * (x - s[i] * eps) / a[i] + 1.01 * s[i + 1] * eps", ADAPTERS),
]


def run_tests(where: Path, tests, timeout: int) -> tuple[int, float]:
    env = dict(os.environ, PYTHONPATH=str(where), CI="true", MPLBACKEND="Agg")
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", "2",
                            "-m", "not slow", *tests], cwd=where, env=env, capture_output=True, text=True,
                           timeout=timeout)
        code = r.returncode
    except subprocess.TimeoutExpired:
        code = -1
    return code, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="substrings of mutation names to run")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--timeout", type=int, default=900)
    args = ap.parse_args(argv)
    muts = [m for m in MUTATIONS if not args.only or any(o in m.name for o in args.only)]
    if args.list:
        for m in muts:
            print(f"{m.name:<55} {m.path}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="specgap-mutate-"))
    try:
        for item in COPY:
            src = ROOT / item
            (shutil.copytree(src, work / item, ignore=shutil.ignore_patterns("__pycache__")) if src.is_dir()
             else shutil.copy2(src, work / item))
        for m in muts:                                   # every snippet occurs exactly once
            n = (work / m.path).read_text().count(m.old)
            if n != 1:
                print(f"mutation {m.name!r}: snippet found {n} times in {m.path}")
                return 2
        tests = sorted({t for m in muts for t in m.tests})
        code, sec = run_tests(work, tests, args.timeout)
        if code != 0:
            print(f"the selected tests fail without any mutation (exit {code}); fix them first")
            return 2
        print(f"baseline: {len(tests)} test files pass unmutated ({sec:.0f} s)")
        survivors = []
        for m in muts:
            f = work / m.path
            orig = f.read_text()
            f.write_text(orig.replace(m.old, m.new))
            try:
                code, sec = run_tests(work, m.tests, args.timeout)
            finally:
                f.write_text(orig)
            status = "killed" if code not in (0, -1) else ("TIMEOUT" if code == -1 else "SURVIVED")
            if code == 0:
                survivors.append(m.name)
            print(f"{status:<9} {m.name:<55} ({sec:.0f} s)", flush=True)
        killed = len(muts) - len(survivors)
        print(f"\nkill rate {killed}/{len(muts)} = {killed / len(muts):.0%}"
              + ("" if not survivors else "; survivors: " + "; ".join(survivors)))
        return 1 if survivors else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
