"""Score networks: a time-conditioned residual MLP (vectors), a small UNet (images), and :class:`ScoreModel`.

Every network predicts the noise ``eps`` of ``x_t = a(t) x0 + s(t) eps`` (epsilon-prediction).
:class:`ScoreModel` wraps one and returns the score in the conventions of docs/theory.md section 2:

    score(x, t) = -eps_hat(x, t) / s(t),     Jn = s(t)^2 d score/dx = -s(t) d eps_hat/dx,

with ``t`` the *process time* of an :mod:`rmt.schedules` schedule (VE: ``a = 1``, ``s^2 = t``, so ``t`` is
the noise variance and ``tau = t``; VP: ``a = e^{-t}``, ``s^2 = 1 - e^{-2t}``). The network sees
``c_in x`` with ``c_in = 1/sqrt(a^2 sigma_data^2 + s^2)`` (unit-variance input) and the noise level
``c_noise = log(tau)/4``.

Activations are separate ``nn.SiLU`` modules (one per use) so that forward hooks can read every
pre-activation (local-complexity descriptors).
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as Fn
from torch import nn

from rmt.validation import positive, positive_int
from rmt.schedules import get_schedule

__all__ = ["resolve_device", "torch_threads", "TimeEmbedding", "ResMLP", "UNet", "ScoreModel", "ARCHS", "build_model"]


def resolve_device(device="auto") -> torch.device:
    """``'auto'`` -> CUDA when ``torch.cuda.is_available()`` else CPU; ``'cpu'``, ``'cuda'``, ``'cuda:N'``.

    Raises ``ValueError`` naming ``device`` for an unknown name or CUDA requested but not available.
    """
    name = str(device).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available (use --device auto or cpu)")
    return dev


@contextlib.contextmanager
def torch_threads(n: int | None):
    """torch's CPU intra-op thread count set to ``n`` for the block and restored afterwards (None: unchanged)."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(positive_int("threads", n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


# ------------------------------------------------------------------------------------------------
# time embedding
# ------------------------------------------------------------------------------------------------
class TimeEmbedding(nn.Module):
    """Embedding of the noise level ``c = log(tau)/4`` (shape (B,)) -> (B, dim).

    ``kind='sinusoidal'``: ``[cos(f_k c), sin(f_k c)]`` with ``dim/2`` frequencies geometric in [0.1, 30];
    ``kind='fourier'``: random Gaussian frequencies ``f_k ~ N(0, scale^2)`` (fixed buffer, saved with the
    weights). Followed by a two-layer SiLU MLP.
    """

    def __init__(self, dim: int = 128, kind: str = "sinusoidal", scale: float = 16.0):
        super().__init__()
        dim = positive_int("dim", dim, minimum=2)
        if dim % 2:
            raise ValueError(f"dim must be even, got {dim}")
        if kind == "sinusoidal":
            freqs = torch.exp(torch.linspace(math.log(0.1), math.log(30.0), dim // 2))
        elif kind == "fourier":
            g = torch.Generator().manual_seed(0)
            freqs = torch.randn(dim // 2, generator=g) * positive("scale", scale)
        else:
            raise ValueError(f"time_embedding must be 'sinusoidal' or 'fourier', got {kind!r}")
        self.kind = kind
        self.register_buffer("freqs", freqs)
        self.fc1, self.act, self.fc2 = nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim)

    def forward(self, c):
        """Embedding of the noise conditioning ``c`` (B,) -> (B, dim)."""
        arg = c[:, None].to(self.freqs.dtype) * self.freqs[None]
        return self.fc2(self.act(self.fc1(torch.cat([torch.cos(arg), torch.sin(arg)], dim=1))))


# ------------------------------------------------------------------------------------------------
# residual MLP for vectors
# ------------------------------------------------------------------------------------------------
#: activations of the score networks (``activation=``); local complexity is exact (knots) for relu/leaky_relu
ACTIVATION_NAMES = ("silu", "relu", "leaky_relu", "gelu", "tanh", "softplus")


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name (one module per use, so that hooks see every pre-activation)."""
    makers = {"silu": nn.SiLU, "relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.1), "gelu": nn.GELU,
              "tanh": nn.Tanh, "softplus": nn.Softplus}
    if name not in makers:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATION_NAMES)}, got {name!r}")
    return makers[name]()


class _MLPBlock(nn.Module):
    def __init__(self, width, emb, act="silu"):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(emb, 2 * width)          # scale and shift from the noise level
        self.act1, self.fc1 = make_activation(act), nn.Linear(width, width)
        self.act2, self.fc2 = make_activation(act), nn.Linear(width, width)

    def forward(self, h, e):
        g, b = self.film(e).chunk(2, dim=1)
        return h + self.fc2(self.act2(self.fc1(self.act1(self.norm(h) * (1 + g) + b))))


class ResMLP(nn.Module):
    """Time-conditioned residual MLP ``(x (B, d), c (B,)) -> eps_hat (B, d)``.

    ``h = Linear(d, width) x``, ``depth`` blocks ``h <- h + W2 SiLU(W1 SiLU(LN(h) (1 + g(c)) + b(c)))`` (FiLM
    conditioning on the noise level), then a linear read-out ``Linear(width, d) (h * exp(G c))`` with a
    noise-dependent gain per channel (``G`` and the read-out zero-initialised, so training starts from
    ``eps_hat = 0``). The read-out is not normalised: the exact ``eps`` of Gaussian data,
    ``s (a^2 C + s^2)^{-1} x = sum_i s/(a^2 lambda_i + s^2) u_i u_i^T x``, is linear in ``x`` with
    noise-dependent gains, which the gated linear path ``W_out diag(exp(G c)) W_in`` represents exactly
    (measured: 3-5x lower score error at small ``t`` than a LayerNorm + SiLU read-out).
    """

    def __init__(self, d: int, width: int = 256, depth: int = 2, emb_dim: int = 128,
                 time_embedding: str = "sinusoidal", activation: str = "silu"):
        super().__init__()
        self.config = {"d": positive_int("d", d), "width": positive_int("width", width),
                       "depth": positive_int("depth", depth), "emb_dim": positive_int("emb_dim", emb_dim),
                       "time_embedding": time_embedding, "activation": activation}
        make_activation(activation)                               # validates the name
        self.data_shape = (d,)
        self.temb = TimeEmbedding(emb_dim, time_embedding)
        self.inp = nn.Linear(d, width)
        self.blocks = nn.ModuleList(_MLPBlock(width, emb_dim, activation) for _ in range(depth))
        self.gain = nn.Linear(emb_dim, width)     # log-gain of each residual channel at the read-out
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.gain.bias)
        self.out = nn.Linear(width, d)        # linear read-out of the residual stream (no norm: eps* is linear in x)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, c):
        """Predicted noise for inputs ``x`` (B, d) at noise conditioning ``c`` (B,): (B, d)."""
        e = self.temb(c)
        h = self.inp(x)
        for b in self.blocks:
            h = b(h, e)
        return self.out(h * torch.exp(self.gain(e)))


# ------------------------------------------------------------------------------------------------
# small UNet for images
# ------------------------------------------------------------------------------------------------
def _gn(ch):
    return nn.GroupNorm(8 if ch % 8 == 0 else 1, ch)


class _ResBlock(nn.Module):
    def __init__(self, cin, cout, emb, act="silu"):
        super().__init__()
        self.n1, self.a1, self.c1 = _gn(cin), make_activation(act), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.n2, self.a2, self.c2 = _gn(cout), make_activation(act), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.c1(self.a1(self.n1(x))) + self.emb(e)[:, :, None, None]
        return self.skip(x) + self.c2(self.a2(self.n2(h)))


class _Attention(nn.Module):
    """Multi-head self-attention over pixels (``F.scaled_dot_product_attention``), residual."""

    def __init__(self, ch, heads=4):
        super().__init__()
        self.heads = heads if ch % heads == 0 else 1
        self.norm, self.qkv, self.proj = _gn(ch), nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x, e=None):
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W).transpose(-1, -2).unbind(1)
        h = Fn.scaled_dot_product_attention(q, k, v)            # (B, heads, HW, C/heads)
        return x + self.proj(h.transpose(-1, -2).reshape(B, C, H, W))


class UNet(nn.Module):
    """Small UNet ``(x (B, C, R, R), c (B,)) -> eps_hat (B, C, R, R)``.

    Parameters
    ----------
    in_channels : 1 (grey) or 3 (RGB), any positive int works
    resolution : image side ``R``; must be divisible by ``2**(len(channel_mult) - 1)`` (28 and 32 with the
        default three levels)
    width : channels at the first level; level ``i`` has ``width * channel_mult[i]``
    channel_mult : per-level channel multipliers (number of levels = its length)
    num_res_blocks : residual blocks per level
    attention : ``False``; ``True`` = self-attention at the lowest resolution (and in the middle);
        or a list of resolutions at which to attend
    time_embedding : 'sinusoidal' or 'fourier'
    """

    def __init__(self, in_channels: int = 1, resolution: int = 28, width: int = 32,
                 channel_mult=(1, 2, 2), num_res_blocks: int = 1, attention=False, emb_dim: int = 128,
                 time_embedding: str = "sinusoidal", activation: str = "silu"):
        super().__init__()
        in_channels = positive_int("in_channels", in_channels)
        resolution = positive_int("resolution", resolution)
        width = positive_int("width", width)
        mult = [positive_int("channel_mult", c) for c in channel_mult]
        if not mult:
            raise ValueError("channel_mult must have at least one level")
        if resolution % 2 ** (len(mult) - 1):
            raise ValueError(f"resolution must be divisible by 2**(levels-1) = {2 ** (len(mult) - 1)}, "
                             f"got {resolution}")
        nres = positive_int("num_res_blocks", num_res_blocks)
        lowest = resolution // 2 ** (len(mult) - 1)
        if attention is True:
            attn_res = [lowest]
        elif attention is False or attention is None:
            attn_res = []
        else:
            attn_res = [positive_int("attention", r) for r in attention]
        self.config = {"in_channels": in_channels, "resolution": resolution, "width": width,
                       "channel_mult": mult, "num_res_blocks": nres, "attention": attn_res,
                       "emb_dim": emb_dim, "time_embedding": time_embedding, "activation": activation}
        make_activation(activation)                               # validates the name
        self.data_shape = (in_channels, resolution, resolution)
        self.temb = TimeEmbedding(emb_dim, time_embedding)
        self.inp = nn.Conv2d(in_channels, width, 3, padding=1)

        chans, ch, res = [width], width, resolution
        self.down = nn.ModuleList()
        for i, mu in enumerate(mult):
            for _ in range(nres):
                self.down.append(_ResBlock(ch, width * mu, emb_dim, activation))
                ch = width * mu
                if res in attn_res:
                    self.down.append(_Attention(ch))
                chans.append(ch)
            if i < len(mult) - 1:
                self.down.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                res //= 2
                chans.append(ch)
        mid = [_ResBlock(ch, ch, emb_dim, activation)] + ([_Attention(ch)] if attn_res else []) + [
            _ResBlock(ch, ch, emb_dim, activation)]
        self.mid = nn.ModuleList(mid)
        self.up = nn.ModuleList()
        for i, mu in reversed(list(enumerate(mult))):
            for _ in range(nres + 1):
                self.up.append(_ResBlock(ch + chans.pop(), width * mu, emb_dim, activation))
                ch = width * mu
                if res in attn_res:
                    self.up.append(_Attention(ch))
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(ch, ch, 3, padding=1)))
                res *= 2
        self.norm, self.act, self.out = _gn(ch), make_activation(activation), nn.Conv2d(ch, in_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, c):
        """Predicted noise for images ``x`` (B, C, H, W) at noise conditioning ``c`` (B,): (B, C, H, W)."""
        e = self.temb(c)
        h = self.inp(x)
        skips = [h]
        for layer in self.down:
            if isinstance(layer, _ResBlock):
                h = layer(h, e)
                skips.append(h)
            elif isinstance(layer, _Attention):
                h = layer(h)
                skips[-1] = h
            else:                                   # downsampling conv
                h = layer(h)
                skips.append(h)
        for layer in self.mid:
            h = layer(h, e)
        for layer in self.up:
            if isinstance(layer, _ResBlock):
                h = layer(torch.cat([h, skips.pop()], dim=1), e)
            elif isinstance(layer, _Attention):
                h = layer(h)
            else:
                h = layer(h)
        return self.out(self.act(self.norm(h)))


#: network architectures by name (``ModelConfig.arch``)
ARCHS = {"mlp": ResMLP, "unet": UNet}


# ------------------------------------------------------------------------------------------------
# eps-network -> score in docs/theory.md conventions
# ------------------------------------------------------------------------------------------------
class ScoreModel(nn.Module):
    """Score ``s(x, t) = -eps_hat(x, t) / s(t)`` of an epsilon-prediction network.

    Parameters
    ----------
    net : ResMLP, UNet, or any module ``(x_in (B, *shape), c (B,)) -> (B, *shape)`` with ``data_shape``
    schedule : ``'ve'`` (default), ``'vp'``, ``'ddpm'``, ``'edm'``, ``'geometric'`` or a
        :class:`~rmt.schedules.Schedule`
    sigma_data : data standard deviation per coordinate (sets ``c_in``)

    Methods take ``x`` of shape ``(B, *data_shape)`` or a single point ``data_shape`` (returned without the
    batch axis) and ``t`` the process time (> 0): a float, or a tensor of shape (B,) (a plain tensor, not a
    ``vmap``-batched one). ``forward(x, t)`` is the score. Inputs of another floating dtype than the weights
    are cast to the weights' dtype and the output back (use ``.double()`` for float64 arithmetic).
    """

    def __init__(self, net: nn.Module, schedule="ve", sigma_data: float = 1.0):
        super().__init__()
        self.net = net
        self.schedule = get_schedule(schedule)
        self.sigma_data = positive("sigma_data", sigma_data)
        self.data_shape = tuple(net.data_shape)

    @property
    def config(self) -> dict:
        """Everything :func:`build_model` needs to rebuild the architecture (JSON-serialisable)."""
        arch = next((k for k, v in ARCHS.items() if type(self.net) is v), type(self.net).__name__)
        return {"arch": arch, "net": dict(self.net.config), "schedule": self.schedule.name,
                "sigma_data": self.sigma_data}

    def conditioning(self, t, x):
        """The network's inputs at times ``t``: ``(a, s, c_noise)`` as tensors on ``x``'s device/dtype, shapes
        (B, 1, ..), (B, 1, ..), (B,), with ``c_noise = log(tau) / 4``.

        Not ``coefficients``: that name means ``(a, s^2)`` as floats for one time (:meth:`simulate.models.ExactModel.coefficients`), which the samplers read where a model has it.
        """
        B = x.shape[0]
        tt = t.detach().cpu().double().numpy() if torch.is_tensor(t) else np.asarray(t, dtype=float)
        if tt.ndim == 0:
            tt = np.full(B, float(tt))
        if tt.shape != (B,):
            raise ValueError(f"t must be a scalar or have shape (B={B},), got {tuple(tt.shape)}")
        tau = self.schedule.tau(tt)                                   # validates t > 0, finite
        a, s2 = self.schedule.a(tt), self.schedule.s2(tt)
        view = (B,) + (1,) * (x.dim() - 1)
        kw = {"dtype": x.dtype, "device": x.device}
        return (torch.as_tensor(a, **kw).reshape(view), torch.as_tensor(np.sqrt(s2), **kw).reshape(view),
                torch.as_tensor(0.25 * np.log(tau), **kw))

    def _batched(self, x):
        if x.dim() == len(self.data_shape):
            return x[None], True
        if tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, self.data_shape))}) or a single point, "
                             f"got {tuple(x.shape)}")
        return x, False

    def _eps(self, x, t):
        a, s, c = self.conditioning(t, x)
        c_in = torch.rsqrt(a * a * self.sigma_data ** 2 + s * s)
        p = next(self.net.parameters(), None)
        if p is not None and p.dtype != x.dtype and x.is_floating_point():   # e.g. float64 points, float32 net
            return self.net((c_in * x).to(p.dtype), c.to(p.dtype)).to(x.dtype), a, s
        return self.net(c_in * x, c), a, s

    def eps(self, x, t):
        """Predicted noise ``eps_hat(x, t)``, same shape as ``x``."""
        xb, single = self._batched(x)
        e = self._eps(xb, t)[0]
        return e[0] if single else e

    def score(self, x, t):
        """``-eps_hat / s(t)``, same shape as ``x``."""
        xb, single = self._batched(x)
        e, _, s = self._eps(xb, t)
        out = -e / s
        return out[0] if single else out

    forward = score

    def denoiser(self, x, t):
        """Tweedie denoiser ``(x + s^2 score) / a`` (:meth:`rmt.schedules.Schedule.denoise`), same shape as ``x``."""
        xb, single = self._batched(x)
        tt = t.detach().cpu().double().numpy() if torch.is_tensor(t) else t
        out = self.schedule.denoise(xb, tt, self.score(xb, t))
        return out[0] if single else out


def build_model(config: dict, seed: int | None = 0) -> ScoreModel:
    """Rebuild a :class:`ScoreModel` from ``ScoreModel.config`` (weights initialised from ``seed``).

    The global torch RNG is left untouched (``torch.random.fork_rng``).
    """
    try:
        arch, net_cfg = config["arch"], dict(config["net"])
    except (KeyError, TypeError):
        raise ValueError(f"model config must have 'arch' and 'net', got {config!r}") from None
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {sorted(ARCHS)}, got {arch!r}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        net = ARCHS[arch](**net_cfg)
    return ScoreModel(net, config.get("schedule", "ve"), config.get("sigma_data", 1.0))
