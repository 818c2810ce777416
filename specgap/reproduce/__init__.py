"""The paper reproductions and studies (application layer): one module each, one writer of artefacts.

- :mod:`specgap.reproduce.fig2`: exact-score spectra of the double-variance model, theory vs simulation;
- :mod:`specgap.reproduce.fig34`: networks trained on linear manifolds (Figs. 3 and 4);
- :mod:`specgap.reproduce.fig5`: UNets on real images (Fig. 5);
- :mod:`specgap.reproduce.relu_partition`, :mod:`specgap.reproduce.toy_ddpm`: local geometry descriptors
  (linear regions of a ReLU generator; a 2-D diffusion model on and off its data manifold);
- :mod:`specgap.reproduce.ridge_toy`, :mod:`specgap.reproduce.ridge_mnist`: random-feature score models on 2-D
  point masses, and latent diffusion on MNIST, against the ridge of the smoothed empirical density.

Each ``reproduce_<name>(out, ..., quick=...)`` returns its summary and, with ``out``, writes figures,
arrays and ``summary.json`` through ``specgap.reproduce._artefacts.write_artefacts``. Modules are
imported on use (torch is needed by Figs. 3-5 only).
"""
