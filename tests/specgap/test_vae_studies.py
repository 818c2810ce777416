"""VAE descriptor studies (issue 14): vae-dynamics, ood, guidance in quick mode, the VAE's ELBO, the Vendi score,
and `specgap descriptors --vae` - numbers against independent routes."""
import json

import numpy as np
import pytest
import torch

from specgap.cli import main
from trained.diversity import vendi_score
from trained.vae import VAE, load_vae

from findings_ledger import check_study
from notebook_runner import run_notebook


def test_vendi_score_closed_forms():
    """n identical samples -> 1; n orthogonal samples -> n; k groups of identical orthogonal samples -> k; the
    cosine-kernel route equals the kernel route with K built by hand."""
    x = np.ones((7, 5))
    assert vendi_score(x) == pytest.approx(1.0, abs=1e-9)
    assert vendi_score(np.eye(6)) == pytest.approx(6.0, rel=1e-12)
    groups = np.repeat(np.eye(4)[:3], [5, 5, 5], axis=0)                 # 3 equal groups of 5 identical rows
    assert vendi_score(groups) == pytest.approx(3.0, rel=1e-9)
    X = np.random.default_rng(0).standard_normal((12, 30))
    Y = X / np.linalg.norm(X, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(Y @ Y.T / 12)
    lam = lam[lam > 1e-14]
    assert vendi_score(X) == pytest.approx(np.exp(-np.sum(lam * np.log(lam))), rel=1e-10)
    assert vendi_score(K=Y @ Y.T) == pytest.approx(vendi_score(X), rel=1e-10)
    with pytest.raises(ValueError, match="zero row"):
        vendi_score(np.zeros((2, 3)))


def test_elbo_against_torch_distributions():
    torch.manual_seed(0)
    vae = VAE({"d": 12, "latent": 3, "width": 16, "depth": 2, "sigma_x": 0.2}).double()
    x = torch.rand(5, 12, dtype=torch.float64)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    elbo = vae.elbo(x, generator=g1)
    mu, lv = vae.encode(x)
    eps = torch.randn(mu.shape, generator=g2, dtype=mu.dtype)
    z = mu + (0.5 * lv).exp() * eps
    N = torch.distributions.Normal
    rec = N(vae.decoder(z), 0.2).log_prob(x).sum(1)
    kl = torch.distributions.kl_divergence(N(mu, (0.5 * lv).exp()), N(torch.zeros_like(mu), 1.0)).sum(1)
    torch.testing.assert_close(elbo, rec - kl, rtol=1e-12, atol=1e-10)


def test_ood_quick_auroc_bootstrap_and_descriptors_cli(tmp_path, capsys):
    from sklearn.metrics import roc_auc_score

    from specgap.reproduce.vae_studies import reproduce_ood
    s = reproduce_ood(tmp_path, quick=True, progress=False)
    assert check_study("ood", s) == 3                               # docs/findings.md D4, D4b, D4c
    z = np.load(tmp_path / "scores.npz")
    assert s["parameters"]["n_models"] == 2
    for name in ("digits8x8", "photos", "noise"):
        for k in ("psi", "nu", "delta", "psi_rec", "nu_rec", "delta_rec", "neg_elbo"):
            row = s["auroc"][name][k]
            per = []
            for m in range(2):
                pos, neg = z[f"{k}_{name}_m{m}"], z[f"{k}_mnist_m{m}"]
                a = roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg])
                assert row["per_model"][m] == pytest.approx(a, abs=1e-12)
                assert row["ci95_per_model"][m][0] <= a <= row["ci95_per_model"][m][1]
                per.append(a)
            assert row["auroc"] == pytest.approx(np.mean(per), abs=1e-12)
    # the likelihood proxy tells noise from digits in every model; some descriptor separates them too
    assert min(s["auroc"]["noise"]["neg_elbo"]["per_model"]) > 0.95
    assert s["best_descriptor_vs_noise"]["separation"] > 0.7
    # the reconstruction map's psi at a digit = sum of the log top-k singular values of the chained autograd
    # Jacobians J_G(mu(x)) J_mu(x) (two separate torch Jacobians, multiplied here)
    from trained.vae import mnist_pixels
    vae = load_vae(tmp_path / "vae.pt")
    x = mnist_pixels()[2][:3].astype(np.float64)
    x0 = torch.as_tensor(x[0], dtype=torch.float32)
    Je = torch.autograd.functional.jacobian(lambda v: vae.encode(v[None])[0][0], x0).double()
    with torch.no_grad():
        mu0 = vae.encode(x0[None])[0][0]
    Jd = torch.autograd.functional.jacobian(vae.decoder, mu0).double()
    sv = np.linalg.svd((Jd @ Je).numpy(), compute_uv=False)[:vae.config.latent]
    assert z["psi_rec_mnist_m0"][0] == pytest.approx(np.log(sv).sum(), abs=1e-3)
    # the decoder's psi of the saved VAE at MNIST encodings, through the command line, equals the study's,
    # and both equal sum log sigma of the autograd Jacobian of the decoder
    np.save(tmp_path / "x.npy", x)
    assert main(["descriptors", "--vae", str(tmp_path / "vae.pt"), "--data", str(tmp_path / "x.npy"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert np.allclose(out["psi"], z["psi_mnist_m0"][:3], rtol=1e-6)
    J = Jd.numpy()
    assert out["psi"][0] == pytest.approx(np.log(np.linalg.svd(J, compute_uv=False)).sum(), abs=1e-3)
    # --map reconstruction: the command line reads the reconstruction map at the data, as the study does
    assert main(["descriptors", "--vae", str(tmp_path / "vae.pt"), "--data", str(tmp_path / "x.npy"),
                 "--map", "reconstruction", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert np.allclose(out["psi"], z["psi_rec_mnist_m0"][:3], rtol=1e-6)
    assert main(["descriptors", "--vae", str(tmp_path / "vae.pt"), "--map", "reconstruction"]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["descriptors", "--vae", str(tmp_path / "x.npy")]) == 2
    assert "--vae" in capsys.readouterr().err
    assert main(["reproduce", "ood", "--quick"]) == 2                          # --out is required


def test_vae_dynamics_quick(tmp_path):
    from specgap.reproduce.vae_studies import reproduce_vae_dynamics
    s = reproduce_vae_dynamics(tmp_path, quick=True, progress=False)
    assert check_study("vae-dynamics", s) == 1                      # docs/findings.md D3
    z = np.load(tmp_path / "curves.npz")
    assert [r["noise_std"] for r in s["per_noise"]] == [0.0, 0.1]
    for r in s["per_noise"]:
        psi = z[f"psi_noise{r['noise_std']:g}"]                                  # (steps, points)
        assert psi.shape == (len(s["record_steps"]), 16)
        # Spearman of the stored curve against log(step), by hand: Pearson correlation of the ranks
        m = psi.mean(1)
        rk = np.argsort(np.argsort(m)).astype(float)
        steps_rk = np.arange(m.size, dtype=float)                                  # steps are increasing
        assert r["psi"]["spearman_log_step"] == pytest.approx(np.corrcoef(rk, steps_rk)[0, 1], abs=1e-12)
        # the seed's "initial dip" of local scaling (its double ascent): psi falls first, then rises again
        # (quick: -19.2 -> -30.8 -> -20.6 without noise; the full run climbs to +4.5 at step 4000)
        m = np.asarray(r["psi"]["mean"])
        assert 0 < np.argmin(m) < m.size - 1 and m[-1] > m.min() + 3
    assert (tmp_path / "vae_dynamics.png").stat().st_size > 0


def test_guidance_quick_moves_psi_in_the_guided_direction(tmp_path):
    from specgap.reproduce.guidance import reproduce_guidance
    s = reproduce_guidance(tmp_path, quick=True, progress=False)
    assert check_study("guidance", s) == 2                          # docs/findings.md D6, D7
    top, bottom = s["per_rho"]["top"], s["per_rho"]["bottom"]
    assert top[0] == bottom[0]                                      # rho = 0: one unguided run
    assert top[-1]["psi_mean"] > top[0]["psi_ci95"][1]              # guided up beyond the unguided interval
    assert bottom[-1]["psi_mean"] < bottom[0]["psi_ci95"][0]
    assert top[-1]["top_bin_fraction"] > top[0]["top_bin_fraction"]
    z = np.load(tmp_path / "samples.npz")
    for r in top + bottom:
        assert 1.0 <= r["vendi"] <= 32 and 0 < r["quality_confidence"] <= 1
    # psi of a guided sample is the log-volume of the saved decoder's Jacobian (autograd + SVD), and the
    # Vendi score of the images is exp(entropy) of the eigenvalues of their cosine Gram matrix / n (by hand)
    vae = load_vae(tmp_path / "vae.pt")
    z0 = torch.as_tensor(z["z_top_rho8"][0], dtype=torch.float32)
    J = torch.autograd.functional.jacobian(vae.decoder, z0).double().numpy()
    assert z["psi_top_rho8"][0] == pytest.approx(np.log(np.linalg.svd(J, compute_uv=False)).sum(), abs=1e-3)
    X = z["images_top_rho8"].astype(np.float64) + 1e-9
    Y = X / np.linalg.norm(X, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(Y @ Y.T / len(Y))
    lam = lam[lam > 1e-12]
    assert top[-1]["vendi"] == pytest.approx(np.exp(-np.sum(lam * np.log(lam))), rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vae_dynamics", "ood", "guidance"])
def test_study_notebooks_run(tmp_path, name):
    from notebook_runner import assert_text_matches_stored
    nb = run_notebook(f"{name}.ipynb", quick=True, out=str(tmp_path / "o"))
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["quick"] is True
    assert_text_matches_stored(nb, f"{name}.ipynb")


def test_vae_seed_fixes_the_initial_weights_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b, c = VAE({"latent": 3}, seed=5), VAE({"latent": 3}, seed=5), VAE({"latent": 3}, seed=6)
    assert torch.equal(torch.get_rng_state(), before)
    for (n, p), q, r in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(p, q), n
        assert not torch.equal(p, r), n
