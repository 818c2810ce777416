"""The explicit JAX float64 switch (no global state is changed at import; docs/theory.md section 9).

JAX computes in float32 unless ``jax_enable_x64`` is on. specgap never flips that flag globally:

- code that owns a whole JAX computation (the JAX backends of :mod:`simulate.fmatrix` and
  :mod:`simulate.spectra`, the Jacobian engine with ``dtype='float64'``) runs it inside :func:`x64`, a
  context that turns float64 on and restores the previous setting on exit;
- pure functions handed to the user (:meth:`simulate.models_jax.JaxModel.score_fn`, ...) that were asked
  for float64 check :func:`require_x64` when called and raise a ``ValueError`` that says how to turn
  float64 on (``with jax.enable_x64(True): ...``) if it is off.
"""
from __future__ import annotations

__all__ = ["x64", "x64_enabled", "require_x64"]


def x64():
    """Context manager: JAX float64 on inside the block, the previous setting restored after."""
    import jax
    ctx = getattr(jax, "enable_x64", None)
    if ctx is None:                                     # jax < 0.6
        from jax.experimental import enable_x64 as ctx
    return ctx(True)


def x64_enabled() -> bool:
    """Whether JAX float64 is on globally (``jax_enable_x64``)."""
    import jax
    return bool(jax.config.read("jax_enable_x64"))


def require_x64(what: str) -> None:
    """Raise ``ValueError`` naming ``what`` if JAX float64 is off."""
    if not x64_enabled():
        raise ValueError(f"{what} was asked for float64 but JAX float64 is off: call it inside "
                         "`with jax.enable_x64(True):` (or jax.experimental.enable_x64() on older JAX), "
                         "or ask for dtype='float32'")
